"""The related stage of a build: the lists of the posts that can have changed since
the last pass recomputed, the rest left as they are; the same rows as a full pass
(related.find_related) over the same posts, and the same hidden tables.

What a post's list depends on (related.py): its vector; for each of its words, the
POSTINGS heaviest posts of that word's entries (the word's top list) with their
weights; and which posts share its reprint group. A vector depends on the post's
terms, the df bins of its words and its language's scale (its post count rounded up
to a power of two). So, with the scale unchanged:

- V, the posts whose vector changed: the posts added, edited or removed, and those
  holding a word whose df bin changed. A word's bin changes only when a changed post
  gains or loses it; a post is affected only if the word is in its vector, or in its
  terms and its weight rose (it may enter the vector).
- W, the words whose top list changed (members or weights): only words of the old or
  new vectors of V can change.
- The score of p and q sums p_w · q_w over p's words w with q in top(w). It can change
  only if p is in V, or a word of p's vector is in W (q entered or left top(w), or
  q_w changed, which changes top(w) too). A list can change without its scores when
  the post's group gains or loses a member, and only then.

The stage recomputes V, the posts whose vector holds a word of W, and every member
of a group that gained or lost a post; every other post keeps its scores and its
group, so its list. The lists are computed by the full pass's own functions
(related.vectors, related.best) on the same float32 values, so they are the same
bits.

Kept between builds, in hidden tables (db/schema.py): `_related_vectors` (each
post's language, terms, group and vector as last computed), `_related_words` (each
word's df), `_related_entries` (every vector entry: a row a word and part, its posts
heaviest first, ties by id) and in `_relations` the settings and each language's
post count. A build whose settings
differ or whose database kept none of that state (outdated: the build runs the stage
for it even with no file changed), whose changes pass FULL_SHARE of the posts, or that
moves a language's scale runs the full pass instead, and so does an update that finds
it would compute again more than SPREAD_SHARE of a language's posts.
"""
from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..db.bookkeeping import store_settings, stored_settings
from . import features, related
from .features import TERM
from .related import (CHUNK, READ_CHUNK, RelatedRow, TermChunk, Vocabulary, best, df_bins, find_related, parts_of,
                      post_part, run_edges, scale_of, store_lists, store_related, term_chunk, vectors)

if TYPE_CHECKING:
    from scipy import sparse  # imported by _recompute, as related.py does: outdated() computes nothing

#: Past this share of the posts changed, the full pass runs (as for reprints).
FULL_SHARE = 0.01
#: Past this share of a language's posts to compute again (vectors or lists), an
#: update gives way to the full pass, which costs about as much a list: a word many
#: posts keep whose df moves to another bin changes all their vectors.
SPREAD_SHARE = 0.2
SETTINGS_KEY = "related"
COUNTS_KEY = "related:posts"
#: A stored vector: its words ascending, each with its weight.
VECTOR = np.dtype([("word", "<u4"), ("weight", "<f4")])
_INSERT_POST = "INSERT OR REPLACE INTO _related_vectors (post_id, language, original, terms, vector) VALUES (?, ?, ?, ?, ?)"
_INSERT_ENTRY = "INSERT INTO _related_entries (language, word, part, posts, weights) VALUES (?, ?, ?, ?, ?)"
#: A stored entry's weight, in a row's `weights`.
WEIGHT = np.dtype("<f4")


def settings() -> dict:
    """The settings the lists are computed with, read from their modules when asked."""
    return {"method": "tf-idf, df in log bins", "related": related.RELATED, "terms": related.TERMS,
            "postings": related.POSTINGS, "quantise": related.QUANTISE, "terms_kept": features.TERMS_KEPT}


@dataclass
class RelatedPass:
    """What the stage did: `mode` full, incremental or unchanged, and why a full pass
    ran (`reason`: new, settings, missing (the database kept none of the stage's
    state), share, scale, or spread: the update would have computed too many posts
    again); how many posts changed; how many
    posts' vectors changed; the posts whose lists were computed (every post in a full
    pass: `lists`, their number); how many lists were rewritten; notes for the
    build's summary."""

    mode: str
    reason: str | None = None
    changed: int = 0
    vectors: int = 0
    lists: int = 0
    recomputed: list[str] = field(default_factory=list)
    rewritten: int = 0
    notes: list[str] = field(default_factory=list)


def refresh_related(conn: sqlite3.Connection, fresh: bool = False) -> RelatedPass:
    """Bring related_posts (and the stage's hidden tables) up to date with the posts;
    `fresh`: a new database, which has none."""
    if fresh or (stored_settings(conn, SETTINGS_KEY) is None and not _holds_posts(conn)):
        return full_pass(conn, "new")
    stale = outdated(conn)
    if stale is not None:
        return full_pass(conn, stale.reason, stale.note)
    changes = changed_posts(conn)
    if not changes:
        return RelatedPass("unchanged")
    counts = stored_settings(conn, COUNTS_KEY) or {}
    if changes.count > FULL_SHARE * max(sum(counts.values()), 1):
        return full_pass(conn, "share", changed=changes.count)
    new_counts = changes.counts(counts)
    if any(scale_of(new_counts.get(language, 0)) != scale_of(counts.get(language, 0))
           for language in set(counts) | set(new_counts)):
        return full_pass(conn, "scale", changed=changes.count)
    try:
        return update_related(conn, changes, new_counts)
    except TooWide:
        # What the update wrote is written over: the full pass empties the hidden
        # tables and leaves related_posts exactly its rows.
        return full_pass(conn, "spread", changed=changes.count)


class Outdated(NamedTuple):
    """Why a database's related posts are computed again in full whatever changed:
    `reason` settings (computed with others) or missing (posts, but none of the
    stage's state kept for them), and the note that says so."""

    reason: str
    note: str


def outdated(conn: sqlite3.Connection) -> Outdated | None:
    """Why the database's related posts cannot be brought up to date from its hidden
    tables, or None when they can (or there is nothing to relate)."""
    stored = stored_settings(conn, SETTINGS_KEY)
    if stored is not None and stored != settings():
        return Outdated("settings", "related posts recomputed in full: " + _settings_differ(stored, settings()))
    if not _holds_posts(conn):
        return None
    if stored is None:
        return Outdated("missing", "related posts recomputed in full: the database holds no record of their settings")
    if conn.execute("SELECT 1 FROM _related_vectors LIMIT 1").fetchone() is None:
        return Outdated("missing", "related posts recomputed in full: the database holds none of their vectors")
    return None


def _settings_differ(stored: dict, wanted: dict) -> str:
    if stored.keys() != wanted.keys() or stored["method"] != wanted["method"]:
        return "the database's were computed with another method"
    keys = [key for key in sorted(wanted) if stored[key] != wanted[key]]
    return (f"the settings are {' and '.join(f'{key} {wanted[key]}' for key in keys)}, the database's were"
            f" computed with {' and '.join(f'{key} {stored[key]}' for key in keys)}")


def _holds_posts(conn: sqlite3.Connection) -> bool:
    """Whether any post is compared (the full pass gives each a `_related_vectors` row)."""
    return conn.execute("SELECT 1 FROM _post_features f CROSS JOIN posts p ON p.id = f.post_id LIMIT 1"
                        ).fetchone() is not None


class TooWide(Exception):
    """An update would compute again more than SPREAD_SHARE of a language's posts."""


def _check_width(posts: list[str], count: int) -> None:
    if len(posts) > SPREAD_SHARE * max(count, 1):
        raise TooWide


def full_pass(conn: sqlite3.Connection, reason: str, note: str | None = None, changed: int | None = None
              ) -> RelatedPass:
    """Every list computed again and the hidden tables written afresh."""
    state = StateWriter(conn)
    store_related(conn, find_related(conn, state))
    store_settings(conn, settings(), SETTINGS_KEY)
    store_settings(conn, state.counts, COUNTS_KEY)
    posts = sum(state.counts.values())
    return RelatedPass("full", reason, posts if changed is None else changed, posts, posts,
                       notes=[note] if note else [])


class StateWriter:
    """Fills the emptied hidden tables during the full pass (related.find_related):
    each language's words with their df, and each chunk's vectors."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.counts: dict[str, int] = {}
        for table in ("_related_vectors", "_related_words", "_related_entries"):
            conn.execute(f"DELETE FROM {table}")

    def add_language(self, language: str, vocab: Vocabulary) -> None:
        self.counts[language] = len(vocab.rowids)
        self.conn.executemany("INSERT INTO _related_words (language, word, df) VALUES (?, ?, ?)",
                              zip([language] * len(vocab.words), vocab.words.tolist(), vocab.df.tolist()))

    def add_vectors(self, language: str, chunk: TermChunk, matrix: sparse.csr_matrix, part: int,
                    words: np.ndarray) -> None:
        """One part's posts (chunk.ids ascending) and their vectors (`matrix`'s rows)."""
        originals = current_originals(self.conn, chunk.ids)
        blobs = vector_blobs(matrix, words)
        self.conn.executemany(_INSERT_POST, [(post_id, language, originals[post_id], terms, blob)
                                             for post_id, terms, blob in zip(chunk.ids, chunk.blobs, blobs)])
        self.conn.executemany(_INSERT_ENTRY, entry_rows(language, part, chunk.ids, blobs))


def vector_blobs(matrix: sparse.csr_matrix, words: np.ndarray) -> list[bytes]:
    """Each row's vector as stored (VECTOR, by word)."""
    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))  # by post, then word (columns follow the words)
    entries = np.empty(len(order), dtype=VECTOR)
    entries["word"], entries["weight"] = words[coo.col[order]], coo.data[order]
    ends = np.searchsorted(coo.row[order], np.arange(1, matrix.shape[0] + 1))
    raw = entries.tobytes()
    return [raw[a * VECTOR.itemsize : b * VECTOR.itemsize] for a, b in zip(np.r_[0, ends[:-1]].tolist(), ends.tolist())]


def entry_rows(language: str, part: int, post_ids: list[str], blobs: list[bytes]) -> Iterator[tuple]:
    """The `_related_entries` rows of a whole part: these posts (ascending, every post
    of the part with a vector) with their vectors. A row a word, its posts heaviest
    first, ties by id (the order of post_ids), as a JSON list, and their weights."""
    sizes = [len(blob) // VECTOR.itemsize for blob in blobs]
    entries = np.frombuffer(b"".join(blobs), dtype=VECTOR)
    owner = np.repeat(np.arange(len(blobs)), sizes)
    order = np.lexsort((owner, -entries["weight"], entries["word"]))
    words, weights, owner = entries["word"][order], entries["weight"][order].astype(WEIGHT), owner[order]
    edges = run_edges(words)
    for start, end in zip(edges[:-1].tolist(), edges[1:].tolist()):
        yield (language, int(words[start]), part, json.dumps([post_ids[i] for i in owner[start:end].tolist()]),
               weights[start:end].tobytes())


def current_originals(conn: sqlite3.Connection, post_ids) -> dict[str, str]:
    """Each post's reprint group as the reprints table has it now: its original's id,
    its own when it is in no group."""
    return dict(conn.execute(
        "SELECT j.value, coalesce(r.original_post_id, j.value) FROM json_each(?) j"
        " LEFT JOIN reprints r ON r.post_id = j.value", (json.dumps(sorted(post_ids)),),
    ))


# --------------------------------------------------------------------------- what changed


class Post(NamedTuple):
    """A post as the stage sees it: stored (its last pass) or current."""

    post_id: str
    language: str
    terms: bytes
    original: str
    vector: bytes | None = None


class Changes(NamedTuple):
    """`before`: the stored rows of the posts removed or edited (terms or language);
    `after`: the current rows of the posts added or edited; `regrouped`: post ->
    (stored original, current original), for every post whose group differs (None for
    a post not stored or not compared now)."""

    before: list[Post]
    after: list[Post]
    regrouped: dict[str, tuple[str | None, str | None]]

    @property
    def count(self) -> int:
        return len({post.post_id for post in self.before} | {post.post_id for post in self.after})

    def __bool__(self) -> bool:
        return bool(self.before or self.after or self.regrouped)

    def counts(self, counts: dict[str, int]) -> dict[str, int]:
        """Each language's post count once these changes are made."""
        new = dict(counts)
        for post in self.before:
            new[post.language] -= 1
        for post in self.after:
            new[post.language] = new.get(post.language, 0) + 1
        return {language: n for language, n in new.items() if n}


def changed_posts(conn: sqlite3.Connection) -> Changes:
    """`_post_features`, the posts and the reprints against `_related_vectors`: one
    merge in post_id order inside SQLite, giving back only the posts that differ."""
    before, after, regrouped = [], [], {}
    for post_id, language, terms, original, known, old_language, old_terms, old_original, vector in conn.execute(
        "SELECT f.post_id, coalesce(p.language, ''), f.terms, coalesce(r.original_post_id, f.post_id),"
        " v.post_id IS NOT NULL, v.language, v.terms, v.original, v.vector"
        " FROM _post_features f CROSS JOIN posts p ON p.id = f.post_id"
        " LEFT JOIN reprints r ON r.post_id = f.post_id LEFT JOIN _related_vectors v ON v.post_id = f.post_id"
        " WHERE v.post_id IS NULL OR v.terms IS NOT f.terms OR v.language IS NOT coalesce(p.language, '')"
        " OR v.original IS NOT coalesce(r.original_post_id, f.post_id)"
    ):
        if not known or old_original != original:
            regrouped[post_id] = (old_original, original)
        if known and (old_terms != terms or old_language != language):
            before.append(Post(post_id, old_language, old_terms, old_original, vector))
        if not known or old_terms != terms or old_language != language:
            after.append(Post(post_id, language, terms, original))
    for row in conn.execute(
        "SELECT v.post_id, v.language, v.terms, v.original, v.vector FROM _related_vectors v"
        " LEFT JOIN _post_features f ON f.post_id = v.post_id WHERE f.post_id IS NULL"
    ):
        before.append(Post(*row))
        regrouped[row[0]] = (row[3], None)
    return Changes(before, after, regrouped)


# --------------------------------------------------------------------------- the update


def update_related(conn: sqlite3.Connection, changes: Changes, counts: dict[str, int]) -> RelatedPass:
    """The hidden tables and the lists brought up to date with `changes` (see the
    module's docstring for why the lists recomputed are enough)."""
    done = RelatedPass("incremental", changed=changes.count)
    regrouped = _group_members(conn, changes.regrouped)
    languages = sorted({post.language for post in changes.before} | {post.language for post in changes.after}
                       | set(regrouped))
    for language in languages:
        before = [post for post in changes.before if post.language == language]
        after = [post for post in changes.after if post.language == language]
        scale = scale_of(counts.get(language, 0))
        changed_vectors = _update_language(conn, language, scale, before, after, counts.get(language, 0))
        done.vectors += len(changed_vectors.vectors)
        wanted = changed_vectors.present | _holders(conn, language, changed_vectors.words) | regrouped.get(language, set())
        done.rewritten += _recompute(conn, language, scale, wanted, done, counts.get(language, 0))
    gone = sorted(post_id for post_id, (_, now) in changes.regrouped.items() if now is None)  # not compared now
    (listed,) = conn.execute("SELECT count(DISTINCT r.post_id) FROM json_each(?) j CROSS JOIN related_posts r"
                             " ON r.post_id = j.value", (json.dumps(gone),)).fetchone()
    done.rewritten += listed
    conn.executemany("DELETE FROM _related_vectors WHERE post_id = ?", [(post_id,) for post_id in gone])
    conn.executemany("DELETE FROM related_posts WHERE post_id = ?", [(post_id,) for post_id in gone])
    conn.executemany("UPDATE _related_vectors SET original = ? WHERE post_id = ?",
                     [(new, post_id) for post_id, (_, new) in changes.regrouped.items() if new is not None])
    store_settings(conn, counts, COUNTS_KEY)
    done.recomputed.sort()
    return done


def _group_members(conn: sqlite3.Connection, regrouped: dict[str, tuple]) -> dict[str, set[str]]:
    """By language, every post now in a group that gained or lost a post: the members,
    stored and current, of the groups of `regrouped` before and after."""
    keys = sorted({original for pair in regrouped.values() for original in pair if original is not None})
    members = {row[0] for row in conn.execute(
        "SELECT v.post_id FROM json_each(?) j CROSS JOIN _related_vectors v ON v.original = j.value",
        (json.dumps(keys),),
    )}
    members |= {row[0] for row in conn.execute(
        "SELECT r.post_id FROM json_each(?) j CROSS JOIN reprints r ON r.original_post_id = j.value",
        (json.dumps(keys),),
    )}
    by_language: dict[str, set[str]] = defaultdict(set)
    for post_id, language in _present(conn, members | set(keys) | set(regrouped)):
        by_language[language].add(post_id)
    return by_language


def _present(conn: sqlite3.Connection, post_ids) -> list[tuple[str, str]]:
    """(post, its language) of those of the posts compared now."""
    return conn.execute(
        "SELECT f.post_id, coalesce(p.language, '') FROM json_each(?) j CROSS JOIN _post_features f"
        " ON f.post_id = j.value CROSS JOIN posts p ON p.id = f.post_id", (json.dumps(sorted(post_ids)),),
    ).fetchall()


class Changed(NamedTuple):
    """Of one language: the posts whose vector changed (removed ones included), those
    of them still in it, and the words whose top list changed (W)."""

    vectors: set[str]
    present: set[str]
    words: set[int]


def _update_language(conn, language: str, scale: int, before: list[Post], after: list[Post], count: int) -> Changed:
    """The language's df, vectors and entries brought up to date."""
    rose, moved = _update_df(conn, language, before, after)
    candidates = {post.post_id for post in after} | _holders(conn, language, moved) | _term_holders(conn, language, rose)
    chunk = _current_terms(conn, language, candidates)
    _check_width(chunk.ids, count)
    blobs = vector_blobs(vectors(chunk, _local_vocabulary(conn, language, chunk, scale)), _local_words(chunk))
    stored = {row[0]: row[1:] for row in conn.execute(
        "SELECT v.post_id, v.language, v.vector FROM json_each(?) j CROSS JOIN _related_vectors v ON v.post_id = j.value",
        (json.dumps(sorted(chunk.ids)),),
    )}
    old = {post.post_id: post.vector for post in before}  # removed from the language, or edited
    old.update({post_id: vector for post_id, (lang, vector) in stored.items() if lang == language})
    new = dict(zip(chunk.ids, blobs))
    changed = {post_id for post_id in set(old) | set(new) if old.get(post_id) != new.get(post_id)}
    words = sorted({int(w) for post_id in changed for blob in (old.get(post_id), new.get(post_id)) if blob
                    for w in np.frombuffer(blob, VECTOR)["word"].tolist()})
    tops = _tops(conn, language, words)
    _replace_entries(conn, language, parts_of(scale), {p: old.get(p) for p in changed}, {p: new.get(p) for p in changed})
    originals = current_originals(conn, chunk.ids)
    conn.executemany(_INSERT_POST, [(post_id, language, originals[post_id], terms, new[post_id])
                                    for post_id, terms in zip(chunk.ids, chunk.blobs)])
    now = _tops(conn, language, words)
    return Changed(changed, changed & set(new), {w for w in words if tops[w] != now[w]})


def _update_df(conn, language: str, before: list[Post], after: list[Post]) -> tuple[list[int], list[int]]:
    """Add the words of `after` to the language's df and take those of `before` away;
    the words whose bin rose in weight (fewer posts, or newly in two), and every word
    whose bin moved."""
    gone = _words_of(before)
    came = _words_of(after)
    words, where = np.unique(np.r_[gone, came], return_inverse=True)
    delta = np.bincount(where, weights=np.r_[-np.ones(len(gone)), np.ones(len(came))], minlength=len(words))
    delta = delta.astype(np.int64)
    words, delta = words[delta != 0], delta[delta != 0]
    stored = dict(conn.execute(
        "SELECT w.word, w.df FROM json_each(?) j CROSS JOIN _related_words w ON w.language = ? AND w.word = j.value",
        (json.dumps(words.tolist()), language),
    ))
    old = np.array([stored.get(w, 0) for w in words.tolist()], dtype=np.int64)
    new = old + delta
    conn.executemany("DELETE FROM _related_words WHERE language = ? AND word = ?",
                     [(language, w) for w in words[new == 0].tolist()])
    conn.executemany("INSERT OR REPLACE INTO _related_words (language, word, df) VALUES (?, ?, ?)",
                     [(language, w, n) for w, n in zip(words[new > 0].tolist(), new[new > 0].tolist())])
    old_bin, new_bin = df_bins(old), df_bins(new)
    rose = (new_bin >= 0) & ((old_bin < 0) | (new_bin < old_bin))
    return words[rose].tolist(), words[old_bin != new_bin].tolist()


def _words_of(posts: list[Post]) -> np.ndarray:
    return np.frombuffer(b"".join(post.terms for post in posts), dtype=TERM)["word"].astype(np.int64)


def _replace_entries(conn, language: str, parts: int, old: dict[str, bytes | None], new: dict[str, bytes | None]
                     ) -> None:
    """The entries of these posts' old vectors taken out of the language's rows, those
    of their new ones put in: each row they touch (a word of a part) read, changed,
    put back in order (heaviest first, ties by id), or deleted when emptied."""
    leaving: dict[tuple[int, int], set[str]] = defaultdict(set)
    coming: dict[tuple[int, int], list[tuple[float, str]]] = defaultdict(list)
    for post_id, blob in old.items():
        for word in np.frombuffer(blob or b"", VECTOR)["word"].tolist():
            leaving[word, post_part(post_id, parts)].add(post_id)
    for post_id, blob in new.items():
        vector = np.frombuffer(blob or b"", VECTOR)
        for word, weight in zip(vector["word"].tolist(), vector["weight"].tolist()):
            coming[word, post_part(post_id, parts)].append((weight, post_id))
    for word, part in sorted(leaving.keys() | coming.keys()):
        row = conn.execute("SELECT posts, weights FROM _related_entries WHERE language = ? AND word = ? AND part = ?",
                           (language, word, part)).fetchone()
        kept = [] if row is None else [entry for entry in _entries(*row) if entry[1] not in leaving[word, part]]
        entries = sorted(kept + coming[word, part], key=_heaviest_first)
        conn.execute("DELETE FROM _related_entries WHERE language = ? AND word = ? AND part = ?", (language, word, part))
        if entries:
            conn.execute(_INSERT_ENTRY, (language, word, part, json.dumps([post_id for _, post_id in entries]),
                                         np.array([weight for weight, _ in entries], dtype=WEIGHT).tobytes()))


def _heaviest_first(entry: tuple[float, str]) -> tuple[float, str]:
    """The order of a row's entries (weight, post): heaviest first, ties by id."""
    return -entry[0], entry[1]


def _entries(posts: str, weights: bytes) -> list[tuple[float, str]]:
    """A stored row's entries, as (weight, post)."""
    return list(zip(np.frombuffer(weights, WEIGHT).tolist(), json.loads(posts)))


def _holders(conn, language: str, words) -> set[str]:
    """The posts whose vector holds any of these words."""
    return {row[0] for row in conn.execute(
        "SELECT p.value FROM json_each(?) j CROSS JOIN _related_entries e ON e.language = ? AND e.word = j.value"
        " CROSS JOIN json_each(e.posts) p",
        (json.dumps(sorted(words)), language),
    )}


def _term_holders(conn, language: str, words: list[int]) -> set[str]:
    """The stored posts of the language whose terms hold any of these words: one read
    of the language's stored terms, READ_CHUNK posts at a time."""
    if not words:
        return set()
    wanted = np.array(sorted(words), dtype=np.uint32)
    found: set[str] = set()
    cursor = conn.execute("SELECT post_id, terms FROM _related_vectors WHERE language = ?", (language,))
    while batch := cursor.fetchmany(READ_CHUNK):
        chunk = term_chunk(np.zeros(len(batch), np.int64), [row[0] for row in batch], [row[1] for row in batch])
        rows = np.unique(chunk.rows[np.isin(chunk.terms["word"], wanted)])
        found.update(chunk.ids[i] for i in rows.tolist())
    return found


def _current_terms(conn, language: str, post_ids) -> TermChunk:
    """The current terms of those of the posts now in the language, in post_id order."""
    found = conn.execute(
        "SELECT f.rowid, f.post_id, f.terms FROM json_each(?) j CROSS JOIN _post_features f ON f.post_id = j.value"
        " CROSS JOIN posts p ON p.id = f.post_id WHERE coalesce(p.language, '') = ? ORDER BY f.post_id",
        (json.dumps(sorted(post_ids)), language),
    ).fetchall()
    return term_chunk(np.array([row[0] for row in found], dtype=np.int64), [row[1] for row in found],
                      [row[2] for row in found])


def _local_words(chunk: TermChunk) -> np.ndarray:
    return np.unique(chunk.terms["word"])


def _local_vocabulary(conn, language: str, chunk: TermChunk, scale: int) -> Vocabulary:
    """The words of these posts with their df: the vocabulary a full pass has, cut to
    the columns these posts use (vectors depends on the columns' order only)."""
    words = _local_words(chunk)
    stored = dict(conn.execute(
        "SELECT w.word, w.df FROM json_each(?) j CROSS JOIN _related_words w ON w.language = ? AND w.word = j.value",
        (json.dumps(words.tolist()), language),
    ))
    df = np.array([stored.get(w, 0) for w in words.tolist()], dtype=np.int64)
    return Vocabulary(words, df, chunk.rowids, scale)


def _tops(conn, language: str, words: list[int]) -> dict[int, list[tuple[str, float]]]:
    """Each word's top list: its POSTINGS heaviest entries, ties by post: the best of
    the heads of its rows (one a part), each in that order already."""
    tops = {}
    for word in words:
        heads = [entry for posts, weights in conn.execute(
            "SELECT posts, weights FROM _related_entries WHERE language = ? AND word = ?", (language, word),
        ) for entry in _entries(posts, weights)[: related.POSTINGS]]
        tops[word] = [(post_id, weight) for weight, post_id in
                      sorted(heads, key=_heaviest_first)[: related.POSTINGS]]
    return tops


def _recompute(conn, language: str, scale: int, post_ids: set[str], done: RelatedPass, count: int) -> int:
    """The lists of these posts (those now in the language) computed as the full pass
    computes them, and stored; the number of lists rewritten."""
    chunk = _current_terms(conn, language, post_ids)
    _check_width(chunk.ids, count)
    done.recomputed += chunk.ids
    done.lists += len(chunk.ids)
    if not chunk.ids:
        return 0
    from scipy import sparse

    vocab = _local_vocabulary(conn, language, chunk, scale)
    matrix = vectors(chunk, vocab)
    used = np.unique(matrix.indices)
    tops = _tops(conn, language, vocab.words[used].tolist())
    everyone = sorted(set(chunk.ids) | {post_id for top in tops.values() for post_id, _ in top})
    number = {post_id: i for i, post_id in enumerate(everyone)}
    columns, posts, weights = [], [], []
    for column, word in zip(used.tolist(), vocab.words[used].tolist()):
        for post_id, weight in tops[word]:
            columns.append(column)
            posts.append(number[post_id])
            weights.append(weight)
    index = sparse.csr_matrix((np.array(weights, dtype=np.float32), (columns, posts)),
                              shape=(max(len(vocab.words), 1), len(everyone)), dtype=np.float32)
    rowid = dict(conn.execute(
        "SELECT f.post_id, f.rowid FROM json_each(?) j CROSS JOIN _post_features f ON f.post_id = j.value",
        (json.dumps(everyone),),
    ))
    rowids = np.array([rowid[post_id] for post_id in everyone], dtype=np.int64)
    originals = current_originals(conn, everyone)
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(originals[post_id], len(group_of)) for post_id in everyone], dtype=np.int64)
    numbers = np.array([number[post_id] for post_id in chunk.ids], dtype=np.int64)
    lists: dict[int, list[RelatedRow]] = {int(r): [] for r in chunk.rowids.tolist()}
    for offset in range(0, len(chunk.ids), CHUNK):
        product = matrix[offset : offset + CHUNK] @ index
        for row in best(rowids, groups, numbers[offset : offset + CHUNK], product).rows():
            lists[row.post_rowid].append(row)
    return store_lists(conn, sorted(lists.items()))
