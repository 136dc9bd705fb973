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

The table is recomputed in full each build that changed something (a new post may
be closer to an old one than anything it had), and only the posts whose list
changed are rewritten; `make bench` reports its seconds as the `related` stage.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

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


class RelatedRow(NamedTuple):
    post_id: str
    related_post_id: str
    rank: int
    score: float


class Terms(NamedTuple):
    """The stored terms of one language's posts: ids sorted, and one TERM array with
    the row (post) of each entry."""

    ids: list[str]
    rows: np.ndarray
    terms: np.ndarray


def read_terms(conn: sqlite3.Connection) -> list[Terms]:
    """Per language, its posts' stored terms."""
    by_language: dict[str, tuple[list, list]] = {}
    for post_id, language, blob in conn.execute(
        "SELECT f.post_id, p.language, f.terms FROM _post_features f JOIN posts p ON p.id = f.post_id ORDER BY f.post_id"
    ):
        ids, blobs = by_language.setdefault(language or "", ([], []))
        ids.append(post_id)
        blobs.append(blob)
    found = []
    for language in list(by_language):
        ids, blobs = by_language.pop(language)
        sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // TERM.itemsize
        terms = np.frombuffer(b"".join(blobs), dtype=TERM)
        del blobs
        found.append(Terms(ids, np.repeat(np.arange(len(ids), dtype=np.int32), sizes), terms))
    return found


def _ranks(groups: np.ndarray) -> np.ndarray:
    """For an array sorted by group, each entry's place within its group (0, 1, ...)."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def vectors(terms: Terms) -> sparse.csr_matrix:
    """Each post's TF-IDF vector over its TERMS heaviest words, length 1 (one row a post).
    32-bit arrays throughout: at 100,000 posts there are 4.8 million stored terms."""
    n = len(terms.ids)
    words = terms.terms["word"]
    vocabulary = np.unique(words)  # np.unique's return_inverse would hold three times as much
    column = np.searchsorted(vocabulary, words).astype(np.int32)
    term_df = np.bincount(column, minlength=len(vocabulary)).astype(np.float32)[column]
    weight = np.log(np.float32(n) / term_df)
    weight *= 1 + np.log(terms.terms["count"].astype(np.float32))
    useful = np.flatnonzero((term_df > 1) & (weight > 0))  # a word of one post connects nothing
    del term_df
    rows, column, weight = terms.rows[useful], column[useful], weight[useful]
    # Heaviest first within each post (rows are already in order), ties by word.
    order = np.lexsort((column, -weight, rows))
    keep = order[_ranks(rows[order]) < TERMS]
    matrix = sparse.csr_matrix((weight[keep], (rows[keep], column[keep])), shape=(n, max(len(vocabulary), 1)),
                               dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1 / norms) @ matrix, dtype=np.float32)


def pruned_postings(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """The word × post index, each word's list cut to its POSTINGS heaviest posts."""
    coo = matrix.tocoo()
    order = np.lexsort((coo.row, -coo.data, coo.col))
    keep = order[_ranks(coo.col[order]) < POSTINGS]
    return sparse.csr_matrix((coo.data[keep], (coo.col[keep], coo.row[keep])), shape=matrix.shape[::-1])


def reprint_groups(conn: sqlite3.Connection) -> dict[str, str]:
    """Post id -> its reprint group's original, for every post in a group."""
    groups = {}
    for post_id, original in conn.execute("SELECT post_id, original_post_id FROM reprints"):
        groups[post_id] = original
        groups[original] = original
    return groups


def group_numbers(groups: dict[str, str], ids: list[str]) -> np.ndarray:
    """Per post (in `ids` order), a number its reprint group shares, unique otherwise."""
    position = {post_id: i for i, post_id in enumerate(ids)}
    return np.array([position.get(groups.get(post_id), i) for i, post_id in enumerate(ids)], dtype=np.int64)


def find_related(conn: sqlite3.Connection) -> Iterator[RelatedRow]:
    """Every post's related posts, language by language. Everything is read from the
    database before the first row comes, so the rows can be written as they come."""
    everything, groups = read_terms(conn), reprint_groups(conn)
    while everything:
        terms = everything.pop()
        if len(terms.ids) > 1:
            yield from _related_in(terms.ids, vectors(terms), group_numbers(groups, terms.ids))


def _related_in(ids: list[str], matrix: sparse.csr_matrix, groups: np.ndarray):
    postings = pruned_postings(matrix)
    for start in range(0, len(ids), CHUNK):
        scores = (matrix[start : start + CHUNK] @ postings).tocoo()
        row = scores.row.astype(np.int64) + start
        col = scores.col.astype(np.int64)
        micros = np.rint(scores.data * 1_000_000).astype(np.int64)  # the score, to 6 decimals
        keep = (groups[row] != groups[col]) & (micros > 0)  # itself and its reprints are out
        row, col, micros = row[keep], col[keep], micros[keep]
        # Best first within each post; equal scores by id (ids are sorted, so by column):
        # one key, as lexsort over millions of entries is several times slower.
        order = np.argsort(((row - start) * 1_000_001 + (1_000_000 - micros)) * len(ids) + col)
        row, col, micros = row[order], col[order], micros[order]
        rank = _ranks(row) + 1
        best = rank <= RELATED
        for r, c, k, v in zip(row[best].tolist(), col[best].tolist(), rank[best].tolist(), micros[best].tolist()):
            yield RelatedRow(ids[r], ids[c], k, round(v / 1_000_000, 4))


def store_related(conn: sqlite3.Connection, rows: Iterable[RelatedRow]) -> None:
    """Make related_posts hold exactly `rows`, rewriting only the posts whose list
    changed. The rows go through a temporary table, so neither they nor the table's
    old rows are held in Python (500,000 at 100,000 posts)."""
    conn.execute("CREATE TEMP TABLE related_new (post_id TEXT, related_post_id TEXT, rank INTEGER, score REAL)")
    conn.executemany("INSERT INTO temp.related_new VALUES (?, ?, ?, ?)", rows)
    conn.execute(
        """
        CREATE TEMP TABLE related_changed AS
        SELECT post_id FROM (SELECT post_id, related_post_id, rank, score FROM related_posts
                             EXCEPT SELECT * FROM temp.related_new)
        UNION
        SELECT post_id FROM (SELECT * FROM temp.related_new
                             EXCEPT SELECT post_id, related_post_id, rank, score FROM related_posts)
        """
    )
    conn.execute("DELETE FROM related_posts WHERE post_id IN (SELECT post_id FROM temp.related_changed)")
    conn.execute(
        "INSERT INTO related_posts (post_id, related_post_id, rank, score) SELECT * FROM temp.related_new"
        " WHERE post_id IN (SELECT post_id FROM temp.related_changed)"
    )
    conn.execute("DROP TABLE temp.related_new")
    conn.execute("DROP TABLE temp.related_changed")
