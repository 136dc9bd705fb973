"""Related posts: for each post, the RELATED posts of its language closest in subject,
its reprints left out.

Each post is a TF-IDF vector over its most frequent words (features.top_terms,
stored by the parser workers): weight (1 + log tf) · log(N / df), N and df counted
among the posts of its language, so words most posts use weigh little. A post keeps
its TERMS heaviest words, normalised to length 1; the score of two posts is the
cosine of their vectors. The posts are compared through an inverted index (a sparse
matrix product, scipy) whose lists keep only each word's POSTINGS heaviest posts, so
a common word does not make the work quadratic. The method compares words, so it
works within one language: a translation is not found.

Memory is bounded by the vocabulary, not by the archive: a language's posts are read
from `_post_features` READ_CHUNK at a time in three passes (the words' document
counts; the inverted index, merged chunk by chunk; the products), and what is held
for the whole language is 16 bytes a post (its rowid and reprint group), the
vocabulary with its counts and the index (at most POSTINGS entries a word).

The table is recomputed in full each build that changed something (a new post may
be closer to an old one than anything it had), and only the posts whose list
changed are rewritten; `make bench` reports its seconds as the `related` stage.
"""
from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from typing import BinaryIO, NamedTuple

import numpy as np
from scipy import sparse

from .features import TERM

#: Related posts a post gets.
RELATED = 5
#: Words a post's vector keeps.
TERMS = 12
#: Posts an inverted list keeps for each word (its heaviest).
POSTINGS = 24
#: Rows multiplied at once: bounds the product held in memory.
CHUNK = 1000
#: Posts whose rows store_related compares and rewrites at once.
STORE_BATCH = 1000
#: Posts read from the database at once (each pass; a multiple of CHUNK).
READ_CHUNK = 20_000


class RelatedRow(NamedTuple):
    """A related post, its posts named by their `_post_features` rowid (store_related
    writes their ids)."""

    post_rowid: int
    related_rowid: int
    rank: int
    score: float


class TermChunk(NamedTuple):
    """The stored terms of READ_CHUNK posts of one language: their rowids, one TERM
    array, and the row (post, 0-based in the chunk) of each entry."""

    rowids: np.ndarray
    rows: np.ndarray
    terms: np.ndarray


class Vocabulary(NamedTuple):
    """A language's words (sorted CRC-32s), how many of its posts keep each (df), and
    its posts' rowids in post_id order (a post's place there is its number)."""

    words: np.ndarray
    df: np.ndarray
    rowids: np.ndarray


def languages(conn: sqlite3.Connection) -> Iterator[np.ndarray]:
    """Per language, its posts' rowids in post_id order (one pass over the posts; the
    other passes read `_post_features` alone, by rowid)."""
    codes: dict[str, int] = {}
    rowids, languages = [], []
    cursor = conn.execute(
        "SELECT f.rowid, coalesce(p.language, '') FROM _post_features f CROSS JOIN posts p ON p.id = f.post_id"
        " ORDER BY f.post_id"
    )
    while batch := cursor.fetchmany(READ_CHUNK):
        rowids.append(np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch)))
        languages.append(np.fromiter((codes.setdefault(row[1], len(codes)) for row in batch), dtype=np.int32,
                                     count=len(batch)))
    if not rowids:
        return
    rowids, languages = np.concatenate(rowids), np.concatenate(languages)
    for code in sorted(codes.values(), key=list(codes).__getitem__):
        yield rowids[languages == code]


def term_chunks(conn: sqlite3.Connection, rowids: np.ndarray) -> Iterator[TermChunk]:
    """The posts' terms, in the order of `rowids`, READ_CHUNK posts at a time."""
    for start in range(0, len(rowids), READ_CHUNK):
        wanted = rowids[start : start + READ_CHUNK]
        blobs = [row[0] for row in conn.execute(
            "SELECT f.terms FROM json_each(?) j CROSS JOIN _post_features f ON f.rowid = j.value ORDER BY j.key",
            (json.dumps(wanted.tolist()),),
        )]
        sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // TERM.itemsize
        terms = np.frombuffer(b"".join(blobs), dtype=TERM)
        yield TermChunk(wanted, np.repeat(np.arange(len(blobs), dtype=np.int32), sizes), terms)


def vocabulary(conn: sqlite3.Connection, rowids: np.ndarray) -> Vocabulary:
    """First pass: the language's words and their document counts."""
    words, df = np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int64)
    for chunk in term_chunks(conn, rowids):
        found, counts = np.unique(chunk.terms["word"], return_counts=True)
        words, where = np.unique(np.r_[words, found], return_inverse=True)
        df = np.bincount(where, weights=np.r_[df, counts], minlength=len(words)).astype(np.int64)
    return Vocabulary(words, df, rowids)


def _ranks(groups: np.ndarray) -> np.ndarray:
    """For an array sorted by group, each entry's place within its group (0, 1, ...)."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def vectors(chunk: TermChunk, vocab: Vocabulary) -> sparse.csr_matrix:
    """The chunk's posts' TF-IDF vectors over their TERMS heaviest words, length 1 (one
    row a post, a column a word of the vocabulary). 32-bit arrays throughout."""
    n = len(vocab.rowids)
    column = np.searchsorted(vocab.words, chunk.terms["word"]).astype(np.int32)
    term_df = vocab.df[column].astype(np.float32)
    weight = np.log(np.float32(n) / term_df)
    weight *= 1 + np.log(chunk.terms["count"].astype(np.float32))
    useful = np.flatnonzero((term_df > 1) & (weight > 0))  # a word of one post connects nothing
    rows, column, weight = chunk.rows[useful], column[useful], weight[useful]
    # Heaviest first within each post (rows are already in order), ties by word.
    order = np.lexsort((column, -weight, rows))
    keep = order[_ranks(rows[order]) < TERMS]
    matrix = sparse.csr_matrix((weight[keep], (rows[keep], column[keep])),
                               shape=(len(chunk.rowids), max(len(vocab.words), 1)), dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1 / norms) @ matrix, dtype=np.float32)


def postings(conn: sqlite3.Connection, vocab: Vocabulary, spill: BinaryIO) -> sparse.csr_matrix:
    """Second pass: the word × post index, each word's list cut to its POSTINGS heaviest
    posts (ties by post), merged chunk by chunk: the best of a word's kept entries and
    a chunk's are its best overall. Each chunk's vectors go to `spill` (96 bytes a
    post, on disk) for the third pass."""
    word, weight, post = np.empty(0, np.int32), np.empty(0, np.float32), np.empty(0, np.int64)
    start = 0
    for chunk in term_chunks(conn, vocab.rowids):
        matrix = vectors(chunk, vocab)
        for part in (matrix.indptr, matrix.indices, matrix.data):
            np.save(spill, part)
        coo = matrix.tocoo()
        word, weight = np.r_[word, coo.col.astype(np.int32)], np.r_[weight, coo.data]
        post = np.r_[post, coo.row.astype(np.int64) + start]
        order = np.lexsort((post, -weight, word))
        keep = order[_ranks(word[order]) < POSTINGS]
        word, weight, post = word[keep], weight[keep], post[keep]
        start += len(chunk.rowids)
    shape = (max(len(vocab.words), 1), len(vocab.rowids))
    return sparse.csr_matrix((weight, (word, post)), shape=shape, dtype=np.float32)


def spilled(spill: BinaryIO, vocab: Vocabulary) -> Iterator[tuple[int, sparse.csr_matrix]]:
    """(first post's number, vectors) of each chunk `postings` spilled."""
    spill.seek(0)
    columns = max(len(vocab.words), 1)
    for start in range(0, len(vocab.rowids), READ_CHUNK):
        indptr, indices, data = np.load(spill), np.load(spill), np.load(spill)
        yield start, sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, columns))


def group_numbers(conn: sqlite3.Connection, rowids: np.ndarray) -> np.ndarray:
    """Per post (by number), a number its reprint group shares (its original's), its own
    otherwise."""
    groups = np.arange(len(rowids), dtype=np.int64)
    pairs = np.array(conn.execute(
        "SELECT a.rowid, b.rowid FROM reprints r JOIN _post_features a ON a.post_id = r.post_id"
        " JOIN _post_features b ON b.post_id = r.original_post_id"
    ).fetchall(), dtype=np.int64).reshape(-1, 2)
    sorter = np.argsort(rowids)
    place = np.minimum(np.searchsorted(rowids, pairs, sorter=sorter), max(len(rowids) - 1, 0))
    number = sorter[place] if len(rowids) else place
    here = (rowids[number] == pairs).all(axis=1) if len(rowids) else np.zeros(len(pairs), bool)
    groups[number[here, 0]] = number[here, 1]
    groups[number[here, 1]] = number[here, 1]
    return groups


def find_related(conn: sqlite3.Connection) -> Iterator[RelatedRow]:
    """Every post's related posts, language by language."""
    for rowids in languages(conn):
        if len(rowids) > 1:
            yield from _related_in(conn, vocabulary(conn, rowids))


def _related_in(conn: sqlite3.Connection, vocab: Vocabulary) -> Iterator[RelatedRow]:
    """Third pass: each chunk's products with the index, best first."""
    groups = group_numbers(conn, vocab.rowids)
    with tempfile.TemporaryFile() as spill:
        index = postings(conn, vocab, spill)
        for first, matrix in spilled(spill, vocab):
            for offset in range(0, matrix.shape[0], CHUNK):
                yield from _best(vocab.rowids, groups, first + offset, matrix[offset : offset + CHUNK] @ index)


def _best(rowids: np.ndarray, groups: np.ndarray, start: int, product) -> Iterator[RelatedRow]:
    scores = product.tocoo()
    row = scores.row.astype(np.int64) + start
    col = scores.col.astype(np.int64)
    micros = np.rint(scores.data * 1_000_000).astype(np.int64)  # the score, to 6 decimals
    keep = (groups[row] != groups[col]) & (micros > 0)  # itself and its reprints are out
    row, col, micros = row[keep], col[keep], micros[keep]
    # Best first within each post; equal scores by id (numbers follow post_id): one
    # key, as lexsort over millions of entries is several times slower.
    order = np.argsort(((row - start) * 1_000_001 + (1_000_000 - micros)) * len(rowids) + col)
    row, col, micros = row[order], col[order], micros[order]
    rank = _ranks(row) + 1
    best = rank <= RELATED
    for r, c, k, v in zip(rowids[row[best]].tolist(), rowids[col[best]].tolist(), rank[best].tolist(),
                          micros[best].tolist()):
        yield RelatedRow(r, c, k, round(v / 1_000_000, 4))


def store_related(conn: sqlite3.Connection, rows: Iterable[RelatedRow]) -> None:
    """Make related_posts hold exactly `rows` (a post's rows together, as find_related
    gives them), rewriting only the posts whose list changed, STORE_BATCH posts at a
    time: neither the new rows nor the old are held whole, in Python or in SQLite's
    temporary store (in memory on the build's connection)."""
    (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM _post_features").fetchone()
    seen = bytearray(top + 1)  # posts given rows, by rowid
    batch: list[tuple[int, list[RelatedRow]]] = []
    for post, group in groupby(rows, key=itemgetter(0)):
        seen[post] = 1
        batch.append((post, list(group)))
        if len(batch) == STORE_BATCH:
            _store_batch(conn, batch)
            batch = []
    _store_batch(conn, batch)
    stale = [(post_id,) for post_id, rowid in conn.execute(
        "SELECT DISTINCT r.post_id, f.rowid FROM related_posts r LEFT JOIN _post_features f ON f.post_id = r.post_id"
    ) if rowid is None or not seen[rowid]]
    conn.executemany("DELETE FROM related_posts WHERE post_id = ?", stale)


def _store_batch(conn: sqlite3.Connection, batch: list[tuple[int, list[RelatedRow]]]) -> None:
    old: dict[int, list[RelatedRow]] = {}
    for row in conn.execute(
        "SELECT f.rowid, coalesce(g.rowid, -1), r.rank, r.score FROM json_each(?) j"
        " CROSS JOIN _post_features f ON f.rowid = j.value JOIN related_posts r ON r.post_id = f.post_id"
        " LEFT JOIN _post_features g ON g.post_id = r.related_post_id ORDER BY f.rowid, r.rank",
        (json.dumps([post for post, _ in batch]),),
    ):
        old.setdefault(row[0], []).append(RelatedRow(*row))
    changed = [(post, group) for post, group in batch if old.get(post) != group]
    conn.executemany("DELETE FROM related_posts WHERE post_id = (SELECT post_id FROM _post_features WHERE rowid = ?)",
                     [(post,) for post, _ in changed])
    new = [r for _, group in changed for r in group]
    ids = dict(conn.execute(
        "SELECT rowid, post_id FROM _post_features WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({rowid for r in new for rowid in r[:2]})),),
    ))
    conn.executemany("INSERT INTO related_posts (post_id, related_post_id, rank, score) VALUES (?, ?, ?, ?)",
                     [(ids[r.post_rowid], ids[r.related_rowid], r.rank, r.score) for r in new])
