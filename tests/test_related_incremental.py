"""Related posts in updates: a build that adds, edits or removes posts recomputes only
the lists that can change, and leaves exactly what a full build of the same folder
leaves (every table, the stage's hidden ones included; Archive.update compares them).
The planted corpus of test_relations.py, changed one way at a time and at random; the
full build is the reference for the rows, and the posts an update must recompute are
worked out here from the method as docs/relations.md states it, in plain Python."""
from __future__ import annotations

import json
import math
import random
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from newsarchive.build.pipeline import build
from newsarchive.relate import features, related, related_update

from .test_relations import _edit_words, _paragraphs, _syllable_word, planted_corpus
from .test_relations_incremental import Archive

TERM = np.dtype([("word", "<u4"), ("count", "<u2")])  # a stored term, as features.py documents it


@pytest.fixture
def passes(monkeypatch):
    """Every RelatedPass the builds' related stage returns, in order (the real stage,
    its result recorded). The changes here are a few posts of some 80, past the shares
    at which an update runs the full pass instead: those are lifted."""
    monkeypatch.setattr(related_update, "FULL_SHARE", 1.0)
    monkeypatch.setattr(related_update, "SPREAD_SHARE", 1.0)
    seen = []
    stage = related_update.refresh_related

    def recorded(conn, **options):
        seen.append(stage(conn, **options))
        return seen[-1]

    # The build calls the stage through its module.
    monkeypatch.setattr(related_update, "refresh_related", recorded)
    return seen


@pytest.fixture
def archive(tmp_path):
    return Archive(tmp_path, planted_corpus(seed=11))


# ----------------------------------------------------------------- the method, in plain Python


def method_state(db: Path) -> dict:
    """Per language, each post's vector and each word's top list, from the posts' stored
    terms: weight (1 + ln tf)(ln N' - round(8 ln df) / 8), N' the language's post count
    rounded up to a power of two, words of one post left out; a post's 12 heaviest
    (ties by word), length 1; a word's POSTINGS heaviest posts (ties by id; 24, unless
    a test sets fewer). Floats in double
    precision: only which vectors and lists differ is used, to 1e-5."""
    conn = sqlite3.connect(db)
    posts = conn.execute("SELECT f.post_id, coalesce(p.language, ''), f.terms FROM _post_features f"
                         " JOIN posts p ON p.id = f.post_id").fetchall()
    groups = dict(conn.execute("SELECT post_id, original_post_id FROM reprints"))
    lists = {}
    for post_id, other, rank, score in conn.execute("SELECT post_id, related_post_id, rank, score FROM related_posts"):
        lists.setdefault(post_id, {})[rank] = (other, score)
    conn.close()
    terms = {post_id: np.frombuffer(blob, TERM).tolist() for post_id, _, blob in posts}
    language = {post_id: lang for post_id, lang, _ in posts}
    vectors, tops = {}, {}
    for lang in set(language.values()):
        ids = [p for p in terms if language[p] == lang]
        df = Counter(word for p in ids for word, _ in terms[p])
        scale = 2 ** math.ceil(math.log2(len(ids)))
        for p in ids:
            weights = [((1 + math.log(count)) * (math.log(scale) - round(8 * math.log(df[word])) / 8), word)
                       for word, count in terms[p] if df[word] > 1]
            kept = sorted((w for w in weights if w[0] > 0), key=lambda w: (-w[0], w[1]))[:12]
            norm = math.sqrt(sum(w * w for w, _ in kept)) or 1.0
            vectors[p] = {(lang, word): w / norm for w, word in kept}
        holders: dict = {}
        for p in ids:
            for key, weight in vectors[p].items():
                holders.setdefault(key, []).append((-weight, p))
        tops.update({key: sorted(entries)[: related.POSTINGS] for key, entries in holders.items()})
    return {"vectors": vectors, "tops": tops, "group": {p: groups.get(p, p) for p in terms}, "lists": lists}


def _same(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-5 for k in a)


def _same_top(a: list | None, b: list | None) -> bool:
    a, b = a or [], b or []
    return [p for _, p in a] == [p for _, p in b] and all(abs(x - y) < 1e-5 for (x, _), (y, _) in zip(a, b))


def must_recompute(old: dict, new: dict) -> set[str]:
    """The posts whose lists an update from `old` to `new` must compute, as the module
    docstring of related_update argues: V, the posts whose vector changed; every post
    whose vector holds a word whose top list changed; every member of a group that
    gained or lost a post. Only posts present after the update."""
    changed = {p for p in old["vectors"].keys() | new["vectors"].keys()
               if not _same(old["vectors"].get(p), new["vectors"].get(p))}
    words = {w for w in old["tops"].keys() | new["tops"].keys() if not _same_top(old["tops"].get(w), new["tops"].get(w))}
    regrouped = {p for p in old["group"].keys() | new["group"].keys() if old["group"].get(p) != new["group"].get(p)}
    keys = {old["group"].get(p) for p in regrouped} | {new["group"].get(p) for p in regrouped}
    members = {p for state in (old, new) for p, g in state["group"].items() if g in keys}
    holding = {p for p, vector in new["vectors"].items() if words & vector.keys()}
    return (changed | holding | members | regrouped) & new["vectors"].keys()


def update_checked(archive: Archive, passes: list, **options):
    """archive.update(), and the update's pass recomputed exactly the posts the method
    says it must (when it was an incremental one); the pass, or None."""
    before = method_state(archive.db)
    count = len(passes)
    archive.update(**options)
    after = method_state(archive.db)
    update = passes[count] if len(passes) - count == 2 else None  # the update's pass, then the full build's
    if update is not None and update.mode == "incremental":
        assert set(update.recomputed) == must_recompute(before, after)
        lists_changed = {p for p in before["lists"].keys() | after["lists"].keys()
                         if before["lists"].get(p) != after["lists"].get(p)}
        assert update.rewritten == len(lists_changed)
    return update


# ----------------------------------------------------------------------------- the tests


def test_the_method_as_documented(archive):
    """The stored vectors are the documented weights (the plain-Python computation)."""
    state = method_state(archive.db)
    conn = sqlite3.connect(archive.db)
    stored = {post_id: (lang, np.frombuffer(blob, related_update.VECTOR).tolist())
              for post_id, lang, blob in conn.execute("SELECT post_id, language, vector FROM _related_vectors")}
    conn.close()
    assert stored.keys() == state["vectors"].keys()
    for post_id, (lang, vector) in stored.items():
        assert _same({(lang, w): x for w, x in vector}, state["vectors"][post_id]), post_id
    assert sum(1 for v in state["vectors"].values() if v) > 60


def test_an_edited_post_recomputes_only_the_lists_it_can_change(archive, passes):
    rng = random.Random(1)
    post = archive.find(3, "lookalike")
    archive.write(post._replace(paragraphs=_edit_words(rng, post.paragraphs, [_syllable_word(rng)], 30)))
    update = update_checked(archive, passes)
    print(f"one post of {len(archive.posts)} edited: {update.vectors} vectors changed, {update.lists} lists"
          f" computed, {update.rewritten} rewritten")
    assert (update.mode, update.changed) == ("incremental", 1)
    assert 1 <= update.lists < len(archive.posts) / 2


def test_added_and_removed_posts(archive, passes):
    rng = random.Random(2)
    vocabulary = [_syllable_word(rng) for _ in range(300)]
    topic = [_syllable_word(rng) for _ in range(12)]
    new = archive.find(1, "original")._replace(path="N1.md", post_id="N1", title="New", group=None,
                                               paragraphs=_paragraphs(rng, vocabulary, topic))
    archive.write(new)
    assert update_checked(archive, passes).mode == "incremental"
    archive.remove(archive.find(2, "lookalike"), archive.find(4, "rewritten"))
    assert update_checked(archive, passes).mode == "incremental"


def test_a_copy_rewritten_out_of_its_group_can_be_related_to_it_again(archive, passes):
    """A reprint is left out of its group's lists; edited just enough to leave the group,
    it is a post like any other to its former group, whose lists were not recomputed
    for any word: the group's change alone brings them in."""
    rng = random.Random(3)
    copy = archive.find(5, "cut")
    archive.write(copy._replace(paragraphs=_edit_words(rng, copy.paragraphs, [_syllable_word(rng) for _ in range(50)],
                                                       120), group=None))
    update = update_checked(archive, passes)
    assert update.mode == "incremental"
    conn = sqlite3.connect(archive.db)
    listing = {row[0] for row in conn.execute("SELECT post_id FROM related_posts WHERE related_post_id = ?",
                                              (copy.post_id,))}
    conn.close()
    group = {p.post_id for p in archive.posts.values() if p.group == "g5"}
    assert listing & group, "the former group lists it"


def test_groups_changed_with_no_post_changed(archive, passes):
    """A new reprint threshold splits the groups and changes no vector: the lists of
    the groups' members are recomputed for that alone, and now hold their former
    copies (a copy scores highest of all against its original)."""
    update = update_checked(archive, passes, reprint_threshold=0.99)
    assert (update.mode, update.changed) == ("incremental", 0) and update.vectors == 0
    conn = sqlite3.connect(archive.db)
    first = dict(conn.execute("SELECT post_id, related_post_id FROM related_posts WHERE rank = 1"))
    conn.close()
    original = archive.find(2, "original").post_id
    assert archive.posts[first[original]].group == "g2", "its former copy comes first"


def test_a_post_moved_to_another_language(archive, passes):
    archive.write(archive.find(6, "lookalike")._replace(language="fr"))
    update_checked(archive, passes)


@pytest.mark.parametrize("part_posts, postings", [(related.PART_POSTS, related.POSTINGS), (4, 3)],
                         ids=["one part", "parts of 4, top lists of 3"])
@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25])
def test_random_changes_build_after_build(tmp_path, passes, seed, part_posts, postings, monkeypatch):
    """Random edits, additions, removals, copies and languages, five builds in a row,
    each held against a full build; an update runs the full pass exactly when a
    language's post count crosses a power of two. With parts of 4 posts, a language
    is cut into many parts, whose rows of `_related_entries` the update rewrites; top
    lists of 3 make a word's top list the best of several parts' heads."""
    monkeypatch.setattr(related, "PART_POSTS", part_posts)
    monkeypatch.setattr(related, "POSTINGS", postings)
    rng = random.Random(seed)
    archive = Archive(tmp_path, planted_corpus(seed=seed))
    vocabulary = [_syllable_word(rng) for _ in range(200)]
    modes = []
    for step in range(5):
        counts = Counter(p.language for p in archive.posts.values())
        for _ in range(rng.randint(1, 3)):
            post = rng.choice(sorted(archive.posts.values()))
            action = rng.choice(["edit", "remove", "copy", "language", "add"])
            if action == "edit":
                archive.write(post._replace(paragraphs=_edit_words(rng, post.paragraphs, vocabulary, rng.choice([3, 40]))))
            elif action == "remove" and len(archive.posts) > 60:
                archive.remove(post)
            elif action == "copy":
                archive.write(post._replace(path=f"C{step}{rng.randint(0, 999):03d}.md", post_id=f"C{step}-{post.post_id}",
                                            paragraphs=_edit_words(rng, post.paragraphs, vocabulary, 2)))
            elif action == "language":
                archive.write(post._replace(language=rng.choice(["en", "de", "fr"])))
            else:
                archive.write(post._replace(path=f"A{step}{rng.randint(0, 999):03d}.md", post_id=f"A{step}-{post.post_id}",
                                            paragraphs=_paragraphs(rng, vocabulary, vocabulary[:12])))
        now = Counter(p.language for p in archive.posts.values())
        update = update_checked(archive, passes, allow_shrink=True)
        if update is None:
            continue
        crossed = any(_scale(counts[lang]) != _scale(now[lang]) for lang in counts.keys() | now.keys())
        assert (update.mode, update.reason) == (("full", "scale") if crossed else ("incremental", None))
        modes.append(update.mode)
    assert "incremental" in modes
    conn = sqlite3.connect(archive.db)
    (parts,) = conn.execute("SELECT count(DISTINCT part) FROM _related_entries").fetchone()
    conn.close()
    assert (parts > 1) == (part_posts == 4)


def _scale(posts: int) -> int:
    return 2 ** math.ceil(math.log2(posts)) if posts > 1 else 1


def test_the_full_pass_past_the_share_of_changed_posts(archive, monkeypatch):
    """Past FULL_SHARE of the posts changed (by count: added, edited, removed), the full
    pass; at it, the update."""
    seen = []
    stage = related_update.refresh_related
    monkeypatch.setattr(related_update, "refresh_related",
                        lambda conn, **options: seen.append(stage(conn, **options)) or seen[-1])
    monkeypatch.setattr(related_update, "FULL_SHARE", 3 / len(archive.posts))
    monkeypatch.setattr(related_update, "SPREAD_SHARE", 1.0)
    rng = random.Random(4)
    english = sorted(p for p in archive.posts.values() if p.language == "en")
    for count, mode in ((3, "incremental"), (4, "full")):
        archive.write(*[p._replace(paragraphs=_edit_words(rng, p.paragraphs, ["qqq"], 5)) for p in rng.sample(english, count)])
        archive.update()
        assert (seen[-2].mode, seen[-2].changed) == (mode, count)
        assert seen[-2].reason == (None if mode == "incremental" else "share")


def test_an_update_that_would_recompute_too_many_posts_runs_the_full_pass(archive, passes, monkeypatch):
    """Past SPREAD_SHARE of a language's posts to compute again, the update stops and
    the full pass writes over what it had written: still the full build's tables."""
    rng = random.Random(5)
    post = archive.find(3, "lookalike")
    archive.write(post._replace(paragraphs=_edit_words(rng, post.paragraphs, [_syllable_word(rng)], 30)))
    english = sum(1 for p in archive.posts.values() if p.language == "en")
    monkeypatch.setattr(related_update, "SPREAD_SHARE", 1.5 / english)  # the edited post's own vector passes
    archive.update()
    assert (passes[0].mode, passes[0].reason, passes[0].changed) == ("full", "spread", 1)
    archive.write(post)
    monkeypatch.setattr(related_update, "SPREAD_SHARE", 1.0)
    archive.update()
    assert passes[2].mode == "incremental"


def test_other_settings_recompute_in_full(archive, passes):
    conn = sqlite3.connect(archive.db)
    with conn:
        (value,) = conn.execute("SELECT value FROM _relations WHERE key = 'related'").fetchone()
        conn.execute("UPDATE _relations SET value = ? WHERE key = 'related'",
                     (json.dumps(json.loads(value) | {"quantise": 4}),))
    conn.close()
    post = archive.find(0, "lookalike")
    archive.write(post._replace(title="Retitled"))  # a file changed, its body the same
    summary = archive.update()
    assert (passes[0].mode, passes[0].reason) == ("full", "settings")
    assert summary.notes == ["related posts recomputed in full: the settings are quantise 8, the database's were"
                             " computed with quantise 4"]
    assert "related:full" in summary.timings


def _lists(db: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(db)
    lists: dict[str, list[str]] = {}
    for post_id, other in conn.execute("SELECT post_id, related_post_id FROM related_posts ORDER BY post_id, rank"):
        lists.setdefault(post_id, []).append(other)
    conn.close()
    return lists


def test_other_settings_recompute_in_full_with_no_file_changed(archive, passes, monkeypatch):
    """A build with fewer words a vector than the database's lists were computed with
    computes them again though no file changed (Archive.update holds every table
    against a full build at those settings), and says so; built again at the same
    settings, it leaves the database alone."""
    before = _lists(archive.db)
    monkeypatch.setattr(related, "TERMS", 4)
    summary = archive.update()
    assert summary.written and summary.seen == summary.unchanged
    assert [(p.mode, p.reason) for p in passes] == [("full", "settings"), ("full", "new")]
    assert summary.notes == ["related posts recomputed in full: the settings are terms 4, the database's were"
                             " computed with terms 12"]
    assert "related:full" in summary.timings
    assert _lists(archive.db) != before, "4 words a vector relate other posts than 12"
    again = build(archive.folder, archive.db, quiet=True)
    assert not again.written and not again.notes and len(passes) == 2


def test_other_features_settings_read_every_post_again(archive, monkeypatch):
    """Posts' stored features made with another TERMS_KEPT cannot be weighed with new
    ones: with no file changed, the build reads every post again (Archive.update holds
    the result against a full build at the new setting), and says why."""
    monkeypatch.setattr(features, "TERMS_KEPT", 5)
    summary = archive.update()
    assert summary.written and summary.added == len(archive.posts)
    assert any("relations features were computed with other settings" in note for note in summary.notes)
    conn = sqlite3.connect(archive.db)
    kept = [len(np.frombuffer(blob, dtype=TERM)) for (blob,) in conn.execute("SELECT terms FROM _post_features")]
    conn.close()
    assert kept and max(kept) == 5
    again = build(archive.folder, archive.db, quiet=True)
    assert not again.written and not again.notes


@pytest.mark.parametrize("emptied", ["DELETE FROM _relations WHERE key = 'related'", "DELETE FROM _related_vectors"],
                         ids=["settings", "vectors"])
def test_state_missing_recomputes_in_full_with_no_file_changed(archive, passes, emptied):
    """A database that holds posts but none of the stage's state (its record of the
    settings, or its vectors) has its related posts computed again with no file
    changed, as a full build computes them."""
    conn = sqlite3.connect(archive.db)
    with conn:
        conn.execute(emptied)
        conn.execute("DELETE FROM related_posts")
    conn.close()
    summary = archive.update()
    assert summary.written and summary.seen == summary.unchanged
    assert (passes[0].mode, passes[0].reason) == ("full", "missing")
    assert len(summary.notes) == 1 and summary.notes[0].startswith("related posts recomputed in full: the database holds")
    assert _lists(archive.db), "the lists are back"


def test_nothing_to_do_when_no_post_changed(archive):
    conn = sqlite3.connect(archive.db)
    try:
        result = related_update.refresh_related(conn)
    finally:
        conn.close()
    assert (result.mode, result.lists, result.rewritten) == ("unchanged", 0, 0)


_BUILD = ("import sys; from newsarchive.build.pipeline import build;"
          " summary = build(sys.argv[1], sys.argv[2], quiet=True); print(summary.written, 'scipy' in sys.modules)")


def test_an_update_with_nothing_changed_loads_no_scipy(archive):
    """The update reads the related settings (to find them unchanged) without loading
    scipy, 0.1 s of a 1 s update at 100,000 posts; a post whose words changed does
    load it."""
    def update() -> list[str]:
        return subprocess.run([sys.executable, "-c", _BUILD, str(archive.folder), str(archive.db)],
                              capture_output=True, text=True, check=True).stdout.split()

    assert update() == ["False", "False"]
    post = archive.find(0, "lookalike")
    archive.write(post._replace(paragraphs=_edit_words(random.Random(6), post.paragraphs, ["qqq"], 5)))
    assert update() == ["True", "True"]
