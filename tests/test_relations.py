"""Reprints and related posts on a generated corpus with planted cases: known reprint
groups (copies edited at several distances), look-alikes that are not copies (the
same subject in other words, a story rewritten at length, translations), checked
against ground truth the test computes itself."""
from __future__ import annotations

import random
from collections import Counter
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from newsarchive.build import build
from newsarchive.relate.reprints import DEFAULT_THRESHOLD

from .test_build import dump

SHINGLE = 5  # words a shingle, as docs/relations.md documents


class Planted(NamedTuple):
    path: str
    post_id: str
    title: str
    date: str
    language: str
    paragraphs: list[str]
    group: str | None  # the planted reprint group, None for a post that is nobody's copy
    topic: int


def _words(rng: random.Random, vocabulary: list[str], topic_words: list[str], n: int) -> str:
    # A third of the words from the subject's own vocabulary: same-subject posts share
    # many words and few five-word runs.
    return " ".join(rng.choice(topic_words) if rng.random() < 0.33 else rng.choice(vocabulary) for _ in range(n))


def _paragraphs(rng, vocabulary, topic_words, count=6):
    return [_words(rng, vocabulary, topic_words, rng.randint(40, 60)) + "." for _ in range(count)]


def _syllable_word(rng: random.Random) -> str:
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


def _edit_words(rng, paragraphs, vocabulary, changes):
    words = " ".join(paragraphs).split(" ")
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return _resplit(" ".join(words), len(paragraphs))


def _resplit(text: str, count: int) -> list[str]:
    words = text.split(" ")
    size = -(-len(words) // count)
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def planted_corpus(seed: int = 7) -> list[Planted]:
    rng = random.Random(seed)
    vocabulary = sorted({_syllable_word(rng) for _ in range(4000)})
    topics = [[_syllable_word(rng) for _ in range(12)] for _ in range(8)]
    translation = {word: _syllable_word(rng) + "x" for word in vocabulary + [w for t in topics for w in t]}
    posts: list[Planted] = []

    def add(name, title, day, paragraphs, group, topic, language="en"):
        post_id = f"P{len(posts):03d}-{name}"
        posts.append(Planted(f"{post_id}.md", post_id, title, f"2024-03-{day:02d}", language, paragraphs, group, topic))

    for story in range(8):
        topic = topics[story]
        original = _paragraphs(rng, vocabulary, topic)
        group = f"g{story}"
        add("original", f"Story {story}", 10, original, group, story)
        add("words", f"Story {story}, a few words changed", 11, _edit_words(rng, original, vocabulary, 6), group, story)
        add("added", f"Story {story} with more", 12, original + _paragraphs(rng, vocabulary, topic, 1), group, story)
        add("cut", f"Story {story} cut", 13, original[:2] + original[3:], group, story)
        add("headline", f"Another headline for story {story}", 14, list(original), group, story)
        if story % 2:
            # The earliest of its group though filed as a copy: the original is by date.
            add("earlier", f"Story {story}, seen first", 9, _edit_words(rng, original, vocabulary, 3), group, story)
        # Not copies: the subject in other words, the story rewritten at length, a
        # translation, and the same text labelled as another language.
        add("lookalike", f"Story {story} retold", 15, _paragraphs(rng, vocabulary, topic), None, story)
        add("rewritten", f"Story {story} rewritten", 16, original[:2] + _paragraphs(rng, vocabulary, topic, 4), None, story)
        add("translated", f"Story {story} translated", 17,
            [" ".join(translation[w.rstrip(".")] for w in p.split(" ")) + "." for p in original], None, story, "de")
        add("relabelled", f"Story {story} in French", 18, list(original), None, story, "fr")
    return posts


def write_corpus(folder: Path, posts: list[Planted]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for post in posts:
        body = "\n\n".join(post.paragraphs)
        (folder / post.path).write_text(
            f"---\ncode: {post.post_id}\ntitle: {post.title}\ndate: {post.date}\nlanguage: {post.language}\n---\n\n{body}\n"
        )
    return folder


def expected_reprints(posts: list[Planted]) -> dict[str, str]:
    """Copy -> original for the planted groups, the original being the earliest by date, then id."""
    groups: dict[str, list[Planted]] = {}
    for post in posts:
        if post.group:
            groups.setdefault(post.group, []).append(post)
    expected = {}
    for members in groups.values():
        first = min(members, key=lambda p: (p.date, p.post_id))
        expected.update({p.post_id: first.post_id for p in members if p is not first})
    return expected


def shingle_set(paragraphs: list[str]) -> set:
    words = re.findall(r"[a-z]+", " ".join(paragraphs).lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def exact_jaccard(a: Planted, b: Planted) -> float:
    x, y = shingle_set(a.paragraphs), shingle_set(b.paragraphs)
    return len(x & y) / len(x | y)


def found_reprints(db: Path) -> dict[str, tuple[str, float]]:
    conn = sqlite3.connect(db)
    try:
        return {p: (o, s) for p, o, s in conn.execute("SELECT post_id, original_post_id, similarity FROM reprints")}
    finally:
        conn.close()


@pytest.fixture
def planted(relations_corpus):
    """The planted corpus (tests/conftest.py builds it once for the session)."""
    return relations_corpus


def test_planted_reprint_groups_are_found_exactly(planted):
    posts, db = planted
    expected = expected_reprints(posts)
    found = found_reprints(db)
    pairs_found = {(p, o) for p, (o, _) in found.items()}
    pairs_expected = set(expected.items())
    true = len(pairs_found & pairs_expected)
    precision = true / len(pairs_found) if pairs_found else 0.0
    recall = true / len(pairs_expected)
    print(f"reprints at threshold {DEFAULT_THRESHOLD}: precision {precision:.3f}, recall {recall:.3f}"
          f" ({len(pairs_found)} found, {len(pairs_expected)} planted)")
    assert precision >= 0.95 and recall >= 0.95
    assert pairs_found == pairs_expected


def test_similarity_is_the_exact_jaccard_of_word_shingles(planted):
    posts, db = planted
    by_id = {p.post_id: p for p in posts}
    for post_id, (original, similarity) in found_reprints(db).items():
        assert similarity == pytest.approx(exact_jaccard(by_id[post_id], by_id[original]), abs=1e-4)
        assert similarity >= DEFAULT_THRESHOLD
    # The look-alikes really are below the threshold, so the groups above are no accident.
    for post in posts:
        if post.group is None and post.language == "en":
            original = next(p for p in posts if p.topic == post.topic and p.post_id.endswith("original"))
            assert exact_jaccard(post, original) < DEFAULT_THRESHOLD


def test_related_posts_rank_a_same_subject_post_first_and_leave_out_reprints(planted):
    posts, db = planted
    by_id = {p.post_id: p for p in posts}
    expected = expected_reprints(posts)
    group = {p: o for p, o in expected.items()} | {o: o for o in expected.values()}
    conn = sqlite3.connect(db)
    related = {}
    for post_id, other, rank, score in conn.execute(
        "SELECT post_id, related_post_id, rank, score FROM related_posts ORDER BY post_id, rank"
    ):
        related.setdefault(post_id, []).append((other, rank, score))
    conn.close()
    for post in posts:
        if post.post_id.endswith("lookalike"):
            first, rank, _ = related[post.post_id][0]
            assert rank == 1 and by_id[first].topic == post.topic, (post.post_id, first)
        listed = related.get(post.post_id, [])
        assert [rank for _, rank, _ in listed] == list(range(1, len(listed) + 1)) and len(listed) <= 5
        assert [s for _, _, s in listed] == sorted((s for _, _, s in listed), reverse=True)
        for other, _, _ in listed:
            assert by_id[other].language == post.language and other != post.post_id
            assert post.post_id not in group or group.get(other) != group[post.post_id], "a reprint is not related"
    # Each original's planted look-alike (same subject, own words) is its first related post.
    for post in posts:
        if post.post_id.endswith("original"):
            first = related[post.post_id][0][0]
            assert by_id[first].topic == post.topic and by_id[first].group is None, (post.post_id, first)


def test_incremental_equals_full_when_groups_split_merge_and_lose_their_original(tmp_path):
    posts = planted_corpus(seed=11)
    folder = write_corpus(tmp_path / "posts", posts)
    db = tmp_path / "news.db"
    build(folder, db, quiet=True)
    g0 = [p for p in posts if p.group == "g0"]
    g1 = [p for p in posts if p.group == "g1"]
    # Split: a copy of story 0 is rewritten into a story of its own.
    split = next(p for p in g0 if p.post_id.endswith("words"))
    rng = random.Random(3)
    changed = [split._replace(paragraphs=[" ".join(_syllable_word(rng) for _ in range(50)) + "." for _ in range(6)],
                              group=None)]
    # Merge: story 2's look-alike becomes a copy of story 1's original.
    merged = next(p for p in posts if p.post_id.endswith("lookalike") and p.topic == 2)
    original1 = next(p for p in g1 if p.post_id.endswith("original"))
    changed.append(merged._replace(paragraphs=original1.paragraphs[:5], group="g1"))
    write_corpus(folder, changed)
    # The original of story 3 goes: the next earliest of its group takes its place.
    removed = next(p for p in posts if p.group == "g3" and p.post_id.endswith("earlier"))
    (folder / removed.path).unlink()
    now = {p.post_id: p for p in posts} | {p.post_id: p for p in changed}
    del now[removed.post_id]
    second = build(folder, db, quiet=True)
    assert (second.updated, second.removed) == (2, 1)
    expected = expected_reprints(list(now.values()))
    assert {p: o for p, (o, _) in found_reprints(db).items()} == expected
    assert merged.post_id in expected and split.post_id not in expected
    full = tmp_path / "full.db"
    build(folder, full, full=True, quiet=True)
    assert dump(db) == dump(full)


def test_the_threshold_is_a_build_option(tmp_path):
    posts = planted_corpus()
    folder = write_corpus(tmp_path / "posts", posts)
    strict = tmp_path / "strict.db"
    build(folder, strict, quiet=True, reprint_threshold=0.99)
    by_id = {p.post_id: p for p in posts}
    found = found_reprints(strict)
    # Only the copies whose text is the original's, word for word (the new headline).
    assert found and all(by_id[p].paragraphs == by_id[o].paragraphs for p, (o, _) in found.items())
    assert len(found) == sum(1 for p in posts if p.post_id.endswith("headline"))


def test_words_of_unspaced_scripts_end_at_the_builds_word_marks():
    from newsarchive.relate.features import words
    from newsarchive.text.words import MARK, mark_words

    thai = "ผู้ว่าราชการจังหวัดเปิดท่าเรือใหม่"
    marked = mark_words(thai)
    assert MARK in marked
    # Each word as the build marks it (ICU's breaks), whole, Thai vowel and tone marks included.
    assert words(marked + " Harbour, reopened.") == marked.split(MARK) + ["harbour", "reopened"]


def test_posts_sharing_boilerplate_are_grouped_as_all_pairs_would_group_them(tmp_path):
    """Eighty short posts end with the same long paragraph, so whole bands of their
    signatures coincide (buckets past reprints.LARGE_BUCKET); the groups are still those
    of every pair compared exactly."""
    from newsarchive.relate.reprints import LARGE_BUCKET, banding

    rng = random.Random(5)
    vocabulary = sorted({_syllable_word(rng) for _ in range(3000)})
    boilerplate = " ".join(rng.choice(vocabulary) for _ in range(70))
    posts = [
        Planted(f"B{i:03d}.md", f"B{i:03d}", f"Notice {i}", f"2024-05-{1 + i % 28:02d}", "en",
                [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(15, 60))) + ".", boilerplate],
                None, 0)
        for i in range(80)
    ]
    folder = write_corpus(tmp_path / "posts", posts)
    db = tmp_path / "news.db"
    build(folder, db, quiet=True)
    conn = sqlite3.connect(db)
    bands, rows = banding(DEFAULT_THRESHOLD)
    biggest = max(
        max(Counter(blob[band * rows * 4 : (band + 1) * rows * 4] for (blob,) in conn.execute(
            "SELECT signature FROM _post_features")).values())
        for band in range(bands)
    )
    conn.close()
    assert biggest > LARGE_BUCKET
    parent = {p.post_id: p.post_id for p in posts}

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, a in enumerate(posts):
        for b in posts[i + 1 :]:
            if exact_jaccard(a, b) >= DEFAULT_THRESHOLD:
                parent[root(a.post_id)] = root(b.post_id)
    groups: dict[str, list[Planted]] = {}
    for post in posts:
        groups.setdefault(root(post.post_id), []).append(post)
    expected = {}
    for members in groups.values():
        first = min(members, key=lambda p: (p.date, p.post_id))
        expected.update({p.post_id: first.post_id for p in members if p is not first})
    assert len(expected) > 10
    assert {p: o for p, (o, _) in found_reprints(db).items()} == expected


def test_the_stages_read_in_chunks_and_partitions_with_the_same_result(planted, tmp_path, monkeypatch):
    """The relations stages bound their memory by reading a few posts at a time and
    sorting band keys a partition at a time: chunks of a handful of posts, many
    partitions, tiny pair batches and slabs of signatures give the same tables as one
    chunk does."""
    from newsarchive.relate import related, reprints

    posts, db = planted
    assert len(posts) > 3 * 7, "the planted corpus spans several chunks"
    monkeypatch.setattr(reprints, "READ_CHUNK", 7)
    monkeypatch.setattr(reprints, "PARTITION_RECORDS", 50)
    monkeypatch.setattr(reprints, "PAIR_CHUNK", 3)
    monkeypatch.setattr(reprints, "SLAB_BYTES", 5 * reprints.NUM_PERM * 4)
    monkeypatch.setattr(reprints, "READ_THROUGH", 1)
    monkeypatch.setattr(reprints, "BODIES_KEPT", 2)
    monkeypatch.setattr(related, "READ_CHUNK", 6)
    monkeypatch.setattr(related, "CHUNK", 3)
    monkeypatch.setattr(related, "STORE_BATCH", 2)
    small = tmp_path / "news.db"
    build(write_corpus(tmp_path / "posts", posts), small, quiet=True)
    for sql in ("SELECT post_id, original_post_id, similarity FROM reprints ORDER BY post_id",
                "SELECT post_id, related_post_id, rank, score FROM related_posts ORDER BY post_id, rank"):
        assert rows_of(small, sql) == rows_of(db, sql) and rows_of(db, sql), sql


@pytest.mark.parametrize("slab_posts, read_through", [(None, None), (5, 0), (7, 2), (1, 0)])
def test_the_signatures_of_each_candidate_are_read_by_slabs_and_runs(tmp_path, monkeypatch, slab_posts, read_through):
    """likely_pairs reads the spilled signatures a slab of the file and a run of nearby
    posts at a time: with slabs of a few posts, runs cut at every gap and the pairs in
    no order, it keeps exactly the pairs whose own two signatures estimate near the
    threshold, in the order given."""
    from newsarchive.relate import reprints

    if slab_posts is not None:
        monkeypatch.setattr(reprints, "SLAB_BYTES", slab_posts * reprints.NUM_PERM * 4)
        monkeypatch.setattr(reprints, "READ_THROUGH", read_through)
    monkeypatch.setattr(reprints, "PAIR_CHUNK", 3)
    rng = np.random.default_rng(5)
    # Copies of a few signatures, each with a share of its values replaced: pairs of
    # the same one estimate anywhere from 0 to 1.
    bases = rng.integers(0, 2**32, (4, reprints.NUM_PERM), dtype=np.uint32)
    signatures = bases[rng.integers(0, 4, 90)]
    replaced = rng.random(signatures.shape) < rng.random((90, 1))
    signatures[replaced] = rng.integers(0, 2**32, replaced.sum(), dtype=np.uint32)
    signatures.astype("<u4").tofile(tmp_path / "signatures")
    spill = reprints.Spill(str(tmp_path / "signatures"), [], np.arange(90), np.arange(90))
    i, j = np.triu_indices(90, k=1)
    pairs = np.column_stack([i, j])[rng.random(len(i)) < 0.3]
    pairs = pairs[rng.permutation(len(pairs))].astype(np.int64)

    kept = reprints.likely_pairs(spill, pairs, DEFAULT_THRESHOLD)

    expected = pairs[reprints.likely(signatures[pairs[:, 0]], signatures[pairs[:, 1]], DEFAULT_THRESHOLD)]
    assert 50 < len(expected) < len(pairs) - 50
    assert kept.tolist() == expected.tolist()
    assert reprints.likely_pairs(spill, pairs[:0], DEFAULT_THRESHOLD).shape == (0, 2)


def rows_of(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_related_scores_are_rounded_to_four_decimals_as_python_rounds():
    """A chunk's scores, kept in millionths, are stored as round(score, 4): the values
    an earlier database holds, which an update compares its lists with."""
    import numpy as np

    from newsarchive.relate.related import Lists

    micros = list(range(1_000_001))  # every score a product can give
    chunk = Lists(*(np.zeros(len(micros), dtype=np.int64) for _ in range(3)), np.array(micros, dtype=np.int64))
    assert chunk.scores() == [round(m / 10**6, 4) for m in micros]
