"""Reprints: posts whose body is a near copy of an earlier post's. The method, and the
pass over every post (a full build, or a new threshold).

Two posts of the same language are copies when the Jaccard similarity of their
sets of five-word shingles (features.shingle_keys) is at least the threshold. Finding the
pairs without comparing all of them is MinHash LSH: each post's signature
(datasketch's MinHash, made by the parser workers) is cut into bands (banding), and
two posts become candidates when a band's key (its values, the band's number and the
post's language, hashed) is equal: they share a bucket. The buckets are sorted numpy
arrays rather than datasketch's MinHashLSH, whose Python dicts and sets hold ~1 GB
for 100,000 signatures; the banding is the same. A candidate pair is kept when the
signatures' estimate is near the threshold, then its similarity is computed exactly
from the two bodies.

Copies are grouped as the connected pairs (a copy of a copy is in the group); the
group's original is its earliest post by published_at, then id, and every other
post gets a row with its exact similarity to the original.

Every rule here is a function of the pair of posts alone, or of one bucket's members,
so that an update can recompute the groups of the posts it changed and get what this
pass gets (reprint_update.py); the pass stores the buckets for it (reprint_index.py).
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import NamedTuple

import numpy as np

from .features import NUM_PERM, jaccard, read_words, shingle_keys
from .reprint_index import BLOCKS, block_of, entry_order, post_number

#: The default threshold: a copy with a few words changed, a paragraph added to or cut
#: from a five-paragraph story, or another headline scores 0.7 to 0.95; two stories on
#: the same subject in their own words score under 0.1.
DEFAULT_THRESHOLD = 0.6
#: The least chance that a pair exactly at the threshold becomes a candidate (see banding).
RECALL_AT_THRESHOLD = 0.98
#: A bucket holding more posts than this is boilerplate (a sign-off or a standard
#: paragraph many short posts end with), not a group of copies: its posts are paired
#: each with the next and with the first, in post_id order, rather than all with all,
#: which would be quadratic (one band of a generated 100,000-post corpus holds 569
#: posts: 161,596 pairs). Copies among them still meet in their other bands.
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


def settings(threshold: float) -> dict:
    """Everything the groups depend on besides the posts: stored with the index, so a
    build with another threshold (or another method) knows to start over."""
    bands, rows = banding(threshold)
    return {"threshold": threshold, "bands": bands, "rows": rows, "large_bucket": LARGE_BUCKET,
            "estimate_margin": ESTIMATE_MARGIN}


class ReprintRow(NamedTuple):
    post_id: str
    original_post_id: str
    similarity: float


def language_codes(languages: Sequence[str]) -> np.ndarray:
    """A 64-bit code of each language (its name hashed), part of every band key."""
    codes = {lang: int.from_bytes(blake2b(lang.encode(), digest_size=8).digest(), "little") for lang in set(languages)}
    return np.array([codes[lang] for lang in languages], dtype=np.uint64)


_BAND = np.uint64(0xFF51AFD7ED558CCD)
_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5],
                        dtype=np.uint64)


def band_keys(matrix: np.ndarray, language: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Each post's bucket key in each band, (posts, bands) int64: the band's values,
    the band's number and the language code, hashed (odd multipliers, wrapping). An
    accidental equal key only adds a candidate, which the estimate then drops."""
    keys = np.empty((len(matrix), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = language ^ (np.uint64(band + 1) * _BAND)
            for k in range(rows):
                key = (key ^ matrix[:, band * rows + k].astype(np.uint64)) * _MULTIPLIERS[k % 4] + np.uint64(k + 1)
            keys[:, band] = key
    return keys.view(np.int64)


def bucket_pairs(members: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The candidate pairs of each bucket (members[starts[k]:starts[k+1]], each bucket's
    members in post_id order), lower position first: every pair, or for a bucket over
    LARGE_BUCKET each member with the next and with the first. The pairs come grouped
    by the buckets' sizes, not in bucket order."""
    sizes = np.diff(np.r_[starts, len(members)]).astype(np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    pairs = [np.empty((0, 2), dtype=np.int64)]
    # The buckets of one size share their pattern of pairs: one triu_indices a size,
    # whatever the number of buckets (tens of thousands of small ones at 100,000 posts).
    for size in np.unique(sizes[(sizes > 1) & (sizes <= LARGE_BUCKET)]).tolist():
        first = starts[sizes == size][:, None]
        a, b = np.triu_indices(size, k=1)
        pairs.append(np.column_stack([members[(first + a).ravel()], members[(first + b).ravel()]]))
    large = sizes > LARGE_BUCKET
    if large.any():
        first, size = starts[large], sizes[large]
        # Each member but the last, with the next.
        step = np.repeat(first, size - 1) + _places(size - 1)
        pairs.append(np.column_stack([members[step], members[step + 1]]))
        # The first with every member from the third on.
        later = np.repeat(first, size - 2) + _places(size - 2) + 2
        pairs.append(np.column_stack([members[np.repeat(first, size - 2)], members[later]]))
    return np.concatenate(pairs).astype(np.int64)


def _places(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., counts[k] - 1 for each k in turn, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(ends[-1] if len(ends) else 0, dtype=np.int64) - np.repeat(ends - counts, counts)


def likely(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """Which pairs of signatures (rows of a and b) estimate a similarity within
    ESTIMATE_MARGIN of the threshold."""
    # A count over the width is the same float as the mean of the booleans, made
    # without converting them to floats first.
    return np.count_nonzero(a == b, axis=1) / a.shape[1] >= threshold - ESTIMATE_MARGIN


#: Posts whose shingle keys are kept for the exact comparisons (a few MB).
BODIES_KEPT = 2048


class Bodies:
    """Shingle keys of a post, by its id or its `_post_features` rowid, the BODIES_KEPT
    last used kept (pairs come in post order, so a post's pairs come together)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.by_rowid = lru_cache(maxsize=BODIES_KEPT)(self._by_rowid)
        self.by_id = lru_cache(maxsize=BODIES_KEPT)(self._by_id)

    def _by_rowid(self, rowid: int) -> np.ndarray:
        (text,) = self.conn.execute(
            "SELECT p.body_text FROM _post_features f JOIN posts p ON p.id = f.post_id WHERE f.rowid = ?", (rowid,)
        ).fetchone()
        return shingle_keys(read_words(text or "").hashes)

    def _by_id(self, post_id: str) -> np.ndarray:
        (text,) = self.conn.execute("SELECT body_text FROM posts WHERE id = ?", (post_id,)).fetchone()
        return shingle_keys(read_words(text or "").hashes)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The similarity a row reports: the exact Jaccard similarity, to 4 decimals."""
    return round(jaccard(a, b), 4)


def originals_first(conn: sqlite3.Connection, post_ids: list[str]) -> list[str]:
    """A group's posts, its original first: by published_at (undated last), then id."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM posts WHERE id IN (SELECT value FROM json_each(?))"
        " ORDER BY published_at IS NULL, published_at, id", (json.dumps(post_ids),)
    )]


def root(parent: dict, i):
    """The representative of i's group (union-find, paths halved)."""
    while parent.setdefault(i, i) != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


# --------------------------------------------------------------------------- the full pass

#: Band-key records (16 bytes each, `bands` of them a post) a partition holds: one
#: partition is sorted in memory at a time.
PARTITION_RECORDS = 1_000_000
#: Posts read from the database at once.
READ_CHUNK = 20_000
#: Candidate pairs whose signatures are compared at once.
PAIR_CHUNK = 4096
#: The spilled signatures are read for the comparisons a slab of the file of this size
#: at a time, at most two slabs held (likely_pairs): the whole file at 16,384 posts,
#: and a slab is read again for each slab before it, so larger slabs read less. At a
#: million posts the build's process holds 260 MiB in this stage without them: two
#: slabs must fit under the 286 MiB (300 MB) of the memory target.
SLAB_BYTES = 8 * 2**20
#: Posts between two wanted signatures read through rather than skipped with another
#: read: 8 KiB from the page cache cost about what one more system call does.
READ_THROUGH = 16
#: A band-key record: the bucket's key and the post's place (in post_id order).
RECORD = np.dtype([("key", "<i8"), ("post", "<i8")])


class Spill(NamedTuple):
    """What one pass over the signatures leaves on disk and in memory: the signatures in
    post order (a file of NUM_PERM uint32 a post), the band-key records split into
    partitions by key range (in ascending order of key), and each post's
    `_post_features` rowid and number (16 bytes a post)."""

    signatures: str
    partitions: list[str]
    rowids: np.ndarray
    numbers: np.ndarray


def _partition(keys: np.ndarray, count: int) -> np.ndarray:
    """Each key's partition: ranges of whole index blocks (reprint_index.block_of), the
    lowest keys first."""
    return block_of(keys) * count // BLOCKS


def spill_signatures(conn: sqlite3.Connection, folder: str, threshold: float, index=None) -> Spill:
    """One pass over the stored signatures in post_id order, READ_CHUNK at a time: each
    chunk's signatures appended to a file, its band keys to the partitions, and when
    given an `index` (reprint_index.IndexWriter) each post's row to it."""
    (count,) = conn.execute("SELECT count(*) FROM _post_features").fetchone()
    bands, rows = banding(threshold)
    paths = [os.path.join(folder, f"bands{p}") for p in range(max(1, -(-count * bands // PARTITION_RECORDS)))]
    outputs = [open(path, "wb") for path in paths]
    rowids, numbers, start = [], [], 0
    cursor = conn.execute(
        "SELECT f.rowid, f.post_id, coalesce(p.language, ''), p.sha256, p.published_at, f.signature"
        " FROM _post_features f CROSS JOIN posts p ON p.id = f.post_id ORDER BY f.post_id"
    )
    with open(os.path.join(folder, "signatures"), "wb") as signatures:
        while batch := cursor.fetchmany(READ_CHUNK):
            rowid, post_id, language, sha256, published_at, signature = zip(*batch)
            blob = b"".join(signature)
            signatures.write(blob)
            matrix = np.frombuffer(blob, dtype="<u4").reshape(len(batch), NUM_PERM)
            keys = band_keys(matrix, language_codes(language), bands, rows)
            rowids.append(np.array(rowid, dtype=np.int64))
            number = [post_number(post) for post in post_id]
            numbers.append(np.array(number, dtype=np.int64))
            if index is not None:
                # A post's keys are its row of the matrix: slices of one copy of it.
                packed, width = keys.tobytes(), bands * 8
                index.add_posts(zip(post_id, number, sha256, published_at, language,
                                    [packed[at : at + width] for at in range(0, len(packed), width)]))
            records = np.empty(keys.shape, dtype=RECORD)
            records["key"] = keys
            records["post"] = np.arange(start, start + len(batch))[:, None]
            records = records.ravel()
            where = _partition(records["key"], len(paths))
            for p, output in enumerate(outputs):
                output.write(records[where == p])
            start += len(batch)
    for output in outputs:
        output.close()
    empty = np.empty(0, dtype=np.int64)
    return Spill(os.path.join(folder, "signatures"), paths,
                 np.concatenate(rowids) if rowids else empty, np.concatenate(numbers) if numbers else empty)


def candidate_pairs(records: np.ndarray, numbers: np.ndarray, index=None) -> np.ndarray:
    """(i, j) post places, i < j, sharing a bucket among one partition's records,
    distinct: an (m, 2) array. The partition's buckets go to `index` when given."""
    # Sorted once, the way the index stores them (by key, then number); only the order
    # within the large buckets matters to the pairs, and those are few.
    entry_numbers = numbers[records["post"]]
    order = entry_order(records["key"], entry_numbers)
    keys, posts = records["key"][order], records["post"][order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    if index is not None:
        index.add_buckets(keys, entry_numbers[order], ordered=True)
    pairs = bucket_pairs(_large_by_post(posts, starts, len(numbers)), starts)
    codes = distinct(np.minimum(pairs[:, 0], pairs[:, 1]) * np.int64(2**32) + np.maximum(pairs[:, 0], pairs[:, 1]))
    return np.column_stack([codes >> 32, codes & (2**32 - 1)])


def distinct(values: np.ndarray) -> np.ndarray:
    """The values sorted, each once: np.unique, which hashes them first, takes
    many times as long on a partition's pair codes."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _large_by_post(posts: np.ndarray, starts: np.ndarray, count: int) -> np.ndarray:
    """`posts` with the members of each bucket over LARGE_BUCKET put in post order (of
    `count` posts), as bucket_pairs pairs them."""
    sizes = np.diff(np.r_[starts, len(posts)])
    large = np.flatnonzero(sizes > LARGE_BUCKET)
    if len(large) == 0:
        return posts
    posts = posts.copy()
    bucket = np.repeat(np.arange(len(large), dtype=np.int64), sizes[large])
    where = np.repeat(starts[large], sizes[large]) + _places(sizes[large])
    members = posts[where]
    posts[where] = members[np.argsort(bucket * count + members)]
    return posts


def likely_pairs(spill: Spill, pairs: np.ndarray, threshold: float) -> np.ndarray:
    """The candidates whose estimated similarity is within ESTIMATE_MARGIN of the
    threshold, in the order given.

    The file is cut into slabs of SLAB_BYTES; the pairs are taken a slab of their first
    post at a time, grouped by the slab of their second, so no more than two slabs'
    signatures are held. Within a slab the wanted signatures are read a run of nearby
    posts at a time (SignatureRows): a slab most of whose posts have candidates is read
    in a few large reads, one with few a post at a time. A mapped file would keep
    resident every page it touched, and with the page cache's large folios whole
    stretches of the file beside them."""
    keep = np.zeros(len(pairs), dtype=bool)
    if len(pairs) == 0:
        return pairs[keep]
    slab = max(1, SLAB_BYTES // (NUM_PERM * 4))
    order = np.lexsort((pairs[:, 1] // slab, pairs[:, 0] // slab))
    first, second = pairs[order, 0] // slab, pairs[order, 1] // slab
    edges = np.flatnonzero(np.r_[True, (first[1:] != first[:-1]) | (second[1:] != second[:-1]), True])
    with open(spill.signatures, "rb") as file:
        left_slab, left = -1, None
        for start, end in zip(edges[:-1].tolist(), edges[1:].tolist()):
            a, b = int(first[start]), int(second[start])
            if a != left_slab:
                # The pairs within slab a find their second posts among the same rows.
                stop = int(np.searchsorted(first, a, "right"))
                here = order[start:stop]
                inner = here[second[start:stop] == a]
                left = None  # freed before the next slab's rows are read
                left_slab, left = a, SignatureRows(file.fileno(), distinct(np.r_[pairs[here, 0], pairs[inner, 1]]))
            group = order[start:end]
            right = left if b == a else SignatureRows(file.fileno(), distinct(pairs[group, 1]))
            for part in range(0, len(group), PAIR_CHUNK):
                chunk = group[part : part + PAIR_CHUNK]
                keep[chunk] = likely(left.of(pairs[chunk, 0]), right.of(pairs[chunk, 1]), threshold)
            right = None  # freed before the next group's rows are read
    return pairs[keep]


class SignatureRows:
    """The spilled signatures of some posts (sorted, distinct), read with one read a
    run of posts READ_THROUGH or fewer apart, the posts between kept too: rows of a slab
    hold at most the slab."""

    def __init__(self, fd: int, posts: np.ndarray):
        size = NUM_PERM * 4
        breaks = np.flatnonzero(np.diff(posts) > READ_THROUGH) + 1
        self.first = posts[np.r_[0, breaks]].astype(np.int64)
        lengths = posts[np.r_[breaks - 1, len(posts) - 1]] - self.first + 1
        self.offsets = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
        self.matrix = np.empty((int(lengths.sum()), NUM_PERM), dtype="<u4")
        view = memoryview(self.matrix).cast("B")
        for post, offset, length in zip(self.first.tolist(), self.offsets.tolist(), lengths.tolist()):
            if os.preadv(fd, [view[offset * size : (offset + length) * size]], post * size) != length * size:
                raise OSError(f"short read of the spilled signatures at post {post}")

    def of(self, posts: np.ndarray) -> np.ndarray:
        """The signatures of these posts (each among those read), a row each."""
        run = np.searchsorted(self.first, posts, "right") - 1
        return self.matrix[self.offsets[run] + posts - self.first[run]]


def find_reprints(conn: sqlite3.Connection, threshold: float = DEFAULT_THRESHOLD, index=None) -> list[ReprintRow]:
    """Every reprint of the database's posts, by post_id; with an `index`
    (reprint_index.IndexWriter), every post's buckets written to it on the way.
    Memory: 16 bytes a post, one partition of band keys, two slabs of signatures
    (SLAB_BYTES) and the pairs that pass the estimate."""
    with tempfile.TemporaryDirectory(prefix="news-reprints-") as folder:
        spill = spill_signatures(conn, folder, threshold, index)
        likely_found = [likely_pairs(spill, candidate_pairs(np.fromfile(path, dtype=RECORD), spill.numbers, index),
                                     threshold) for path in spill.partitions]
    codes = distinct(np.concatenate(likely_found or [np.empty((0, 2), np.int64)]) @ np.array([2**32, 1], np.int64))
    bodies, parent = Bodies(conn), {}
    for i, j in spill.rowids[np.column_stack([codes >> 32, codes & (2**32 - 1)])].tolist():
        if jaccard(bodies.by_rowid(i), bodies.by_rowid(j)) >= threshold:
            parent[root(parent, i)] = root(parent, j)
    return sorted(_group_rows(conn, parent, bodies))


def _group_rows(conn, parent: dict[int, int], bodies: Bodies) -> Iterator[ReprintRow]:
    groups: dict[int, list[int]] = {}
    for rowid in list(parent):
        groups.setdefault(root(parent, rowid), []).append(rowid)
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = conn.execute(
            "SELECT f.rowid, f.post_id FROM _post_features f JOIN posts p ON p.id = f.post_id"
            " WHERE f.rowid IN (SELECT value FROM json_each(?))"
            " ORDER BY p.published_at IS NULL, p.published_at, p.id", (json.dumps(members),)
        ).fetchall()
        original, original_id = ordered[0]
        for rowid, post_id in ordered[1:]:
            yield ReprintRow(post_id, original_id, similarity(bodies.by_rowid(rowid), bodies.by_rowid(original)))


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
