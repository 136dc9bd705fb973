"""Reprints: posts whose body is a near copy of an earlier post's.

Two posts of the same language are copies when the Jaccard similarity of their
sets of five-word shingles (features.shingle_keys) is at least the threshold. Finding the
pairs without comparing all of them is MinHash LSH: each post's signature
(datasketch's MinHash, made by the parser workers) is cut into bands (banding), and
two posts of a language become candidates when any band is equal. The buckets are
sorted numpy arrays rather than datasketch's MinHashLSH, whose Python dicts and sets
hold ~1 GB for 100,000 signatures; the banding is the same. A candidate pair is
kept when the signatures' estimate is near the threshold, then its similarity is
computed exactly from the two bodies.

Copies are grouped as the connected pairs (a copy of a copy is in the group); the
group's original is its earliest post by published_at, then id, and every other
post gets a row with its exact similarity to the original.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from .features import NUM_PERM, jaccard, shingle_keys, word_hashes, words

#: The default threshold: a copy with a few words changed, a paragraph added to or cut
#: from a five-paragraph story, or another headline scores 0.7 to 0.95; two stories on
#: the same subject in their own words score under 0.1.
DEFAULT_THRESHOLD = 0.6
#: The least chance that a pair exactly at the threshold becomes a candidate (see banding).
RECALL_AT_THRESHOLD = 0.98
#: A band shared by more posts than this is boilerplate (a sign-off or a standard
#: paragraph many short posts end with), not a group of copies: its posts are paired
#: each with the next and with the first rather than all with all, which would be
#: quadratic (one band of a generated 100,000-post corpus holds 569 posts: 161,596
#: pairs). Copies among them still meet in their other bands.
LARGE_BUCKET = 32
#: Candidates whose estimated similarity (the share of equal signature values) falls
#: this far below the threshold are dropped before the exact comparison: over four
#: standard deviations of the estimate at 128 values.
ESTIMATE_MARGIN = 0.18


def banding(threshold: float) -> tuple[int, int]:
    """(bands, rows): the longest bands (fewest chance candidates) that still make a
    pair at `threshold` a candidate with probability RECALL_AT_THRESHOLD, which is
    1 - (1 - t^rows)^bands. At 0.6: 32 bands of 4 (0.985; 0.9993 at 0.7, 0.001 at 0.1)."""
    best = (NUM_PERM, 1)
    for rows in range(1, NUM_PERM + 1):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= RECALL_AT_THRESHOLD:
            best = (bands, rows)
    return best


class ReprintRow(NamedTuple):
    post_id: str
    original_post_id: str
    similarity: float


class Signatures(NamedTuple):
    """Every compared post: ids, language, and signatures as one (n, NUM_PERM) array."""

    ids: list[str]
    languages: list[str | None]
    matrix: np.ndarray


def read_signatures(conn: sqlite3.Connection) -> Signatures:
    """Every stored signature, copied row by row into one array (holding the blobs too
    would double the stage's memory: 51 MB at 100,000 posts)."""
    (count,) = conn.execute("SELECT count(*) FROM _post_features").fetchone()
    matrix = np.empty((count, NUM_PERM), dtype=np.uint32)
    ids, languages = [], []
    for row, (post_id, language, blob) in enumerate(conn.execute(
        "SELECT f.post_id, p.language, f.signature FROM _post_features f JOIN posts p ON p.id = f.post_id"
        " ORDER BY f.post_id"
    )):
        matrix[row] = np.frombuffer(blob, dtype="<u4")
        ids.append(post_id)
        languages.append(language)
    return Signatures(ids, languages, matrix[: len(ids)])


def candidate_pairs(sigs: Signatures, threshold: float) -> np.ndarray:
    """(i, j) index pairs, i < j, of the same language sharing a band: an (m, 2) array."""
    if len(sigs.ids) < 2:
        return np.empty((0, 2), dtype=np.int64)
    bands, rows = banding(threshold)
    _, language = np.unique(np.array([l or "" for l in sigs.languages], dtype=object), return_inverse=True)
    # A band's values and the language as one 64-bit key (odd multipliers, wrapping):
    # an accidental equal key only adds a candidate, which the estimate then drops.
    multipliers = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                           dtype=np.uint64)
    found = []
    with np.errstate(over="ignore"):
        for band in range(bands):
            keys = language.astype(np.uint64) * np.uint64(0xFF51AFD7ED558CCD)
            for k in range(rows):
                column = sigs.matrix[:, band * rows + k].astype(np.uint64)
                keys = (keys ^ column) * multipliers[k % 4] + np.uint64(k + 1)
            found.append(_equal_key_pairs(keys))
    n = np.int64(len(sigs.ids))
    codes = np.unique(np.concatenate([pairs[:, 0] * n + pairs[:, 1] for pairs in found]))
    return np.column_stack([codes // n, codes % n])


def _equal_key_pairs(keys: np.ndarray) -> np.ndarray:
    """Every pair of positions with the same key, lower position first."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    twos = starts[sizes == 2]
    pairs = [np.column_stack([order[twos], order[twos + 1]])]  # the usual bucket: one pair, in a vector
    for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist()):
        members = order[start : start + size]
        if size > LARGE_BUCKET:
            # Each post with the next and with the first, not every pair: see LARGE_BUCKET.
            pairs.append(np.column_stack([members[:-1], members[1:]]))
            pairs.append(np.column_stack([np.repeat(members[0], size - 2), members[2:]]))
            continue
        a, b = np.triu_indices(size, k=1)
        pairs.append(np.column_stack([members[a], members[b]]))
    pairs = np.concatenate(pairs).astype(np.int64)
    return np.sort(pairs, axis=1)


def likely_pairs(sigs: Signatures, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """The candidates whose estimated similarity is within ESTIMATE_MARGIN of the threshold."""
    keep = []
    for start in range(0, len(pairs), 20_000):  # 20,000 pairs of signatures: 20 MB
        chunk = pairs[start : start + 20_000]
        estimate = (sigs.matrix[chunk[:, 0]] == sigs.matrix[chunk[:, 1]]).mean(axis=1)
        keep.append(chunk[estimate >= threshold - ESTIMATE_MARGIN])
    return np.concatenate(keep) if keep else pairs


class _Bodies:
    """Shingle keys of the posts the exact comparison needs, read once each (8 bytes a
    shingle: a group of thousands of wire copies holds a few MB)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, post_id: str) -> np.ndarray:
        if post_id not in self.cache:
            (text,) = self.conn.execute("SELECT body_text FROM posts WHERE id = ?", (post_id,)).fetchone()
            self.cache[post_id] = shingle_keys(word_hashes(words(text)))
        return self.cache[post_id]


def find_reprints(conn: sqlite3.Connection, threshold: float = DEFAULT_THRESHOLD) -> list[ReprintRow]:
    """Every reprint of the database's posts, by post_id."""
    sigs = read_signatures(conn)
    bodies = _Bodies(conn)
    parent = list(range(len(sigs.ids)))
    for i, j in likely_pairs(sigs, candidate_pairs(sigs, threshold), threshold).tolist():
        if jaccard(bodies[sigs.ids[i]], bodies[sigs.ids[j]]) >= threshold:
            parent[_root(parent, i)] = _root(parent, j)
    return sorted(_group_rows(conn, sigs.ids, parent, bodies))


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _group_rows(conn, ids: list[str], parent: list[int], bodies: _Bodies) -> Iterator[ReprintRow]:
    groups: dict[int, list[str]] = {}
    for i in range(len(ids)):
        groups.setdefault(_root(parent, i), []).append(ids[i])
    for members in groups.values():
        if len(members) < 2:
            continue
        marks = ", ".join("?" for _ in members)
        ordered = [r[0] for r in conn.execute(
            f"SELECT id FROM posts WHERE id IN ({marks}) ORDER BY published_at IS NULL, published_at, id", members
        )]
        original = ordered[0]
        for post_id in ordered[1:]:
            yield ReprintRow(post_id, original, round(jaccard(bodies[post_id], bodies[original]), 4))


def store_reprints(conn: sqlite3.Connection, rows: list[ReprintRow]) -> int:
    """Make the reprints table hold exactly `rows`, touching only the rows that differ.
    Returns how many rows were written or deleted."""
    old = set(conn.execute("SELECT post_id, original_post_id, similarity FROM reprints"))
    new = set(map(tuple, rows))
    gone = old - new
    added = new - old
    conn.executemany("DELETE FROM reprints WHERE post_id = ?", [(row[0],) for row in gone])
    conn.executemany("INSERT INTO reprints (post_id, original_post_id, similarity) VALUES (?, ?, ?)", sorted(added))
    return len(gone) + len(added)
