"""Related posts: for each post, the RELATED posts of its language closest in subject,
its reprints left out. This module is the method and its full pass;
related_update.py runs the stage, updating only the lists that can change.

Each post is a TF-IDF vector over its most frequent words (features.top_terms,
stored by the parser workers): weight (1 + ln tf) · (ln N - round(QUANTISE · ln df) /
QUANTISE), df counted among the posts of its language and N its number of posts
rounded up to a power of two (scale_of), so words most posts use weigh little. N and
df are rounded so that a post added or removed leaves every other weight as it was,
except those of words whose df moves to another bin: that is what lets an update be
both small and exact. A post keeps its TERMS heaviest words, normalised to length 1;
the score of two posts is the cosine of their vectors. The posts are compared
through an inverted index (a sparse matrix product, scipy) whose lists keep only each
word's POSTINGS heaviest posts, so a common word does not make the work quadratic.
The method compares words, so it works within one language: a translation is not
found.

Memory is bounded by the vocabulary, not by the archive: a language's posts are read
from `_post_features` a chunk at a time in three passes (the words' document
counts, READ_CHUNK posts at a time; the inverted index, merged part by part; the
products), and what is held for the whole language is 20 bytes a post (its rowid,
part and reprint group), the vocabulary with its counts and the index (at most
POSTINGS entries a word). The second and third passes go through the posts part by
part: a post's part is a hash of its id (post_part), so a part's vector entries are
the same rows of `_related_entries` whether a full pass or an update wrote them.

Only the posts whose list changed are rewritten; `make bench` reports the stage's
seconds as `related`.
"""
from __future__ import annotations

import json
import sqlite3
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Protocol

import numpy as np

from .features import TERM

if TYPE_CHECKING:
    # Imported by the functions that compute (scipy: 0.1 s, ~14 MiB): a build reads
    # this module's settings before its parser processes fork from it, and an update
    # with nothing changed computes nothing.
    from scipy import sparse

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
#: Posts a part holds at most on average (parts_of): the second and third passes
#: hold one part's terms and vectors at a time.
PART_POSTS = 16_384
#: A word's document count is binned on a log scale, QUANTISE bins to a factor of e:
#: round(QUANTISE · ln df). Exact up to df 9; past it a bin spans 13% of df.
QUANTISE = 8


class RelatedRow(NamedTuple):
    """A related post, its posts named by their `_post_features` rowid (store_related
    writes their ids)."""

    post_rowid: int
    related_rowid: int
    rank: int
    score: float


class TermChunk(NamedTuple):
    """The stored terms of some posts of one language (READ_CHUNK of them, a part, or
    the posts an update computes again): their rowids, one TERM array, the row (post,
    0-based in the chunk) of each entry, and each post's id and terms as stored."""

    rowids: np.ndarray
    rows: np.ndarray
    terms: np.ndarray
    ids: list[str]
    blobs: list[bytes]


class Vocabulary(NamedTuple):
    """A language's words (their 32-bit hashes, sorted), how many of its posts keep each (df), its
    posts' rowids in post_id order (a post's place there is its number), its size as
    the weights count it (scale_of) and each post's part (post_part), by number."""

    words: np.ndarray
    df: np.ndarray
    rowids: np.ndarray
    scale: int
    parts: np.ndarray | None = None


def scale_of(posts: int) -> int:
    """The N of a language's weights: its number of posts rounded up to a power of two,
    so that a post added or removed changes no weight until the count crosses one."""
    return 1 << max(posts - 1, 0).bit_length()


def parts_of(scale: int) -> int:
    """How many parts a language of this scale is cut into: PART_POSTS posts a part at
    most on average. A function of the scale, which an update never moves (a post
    count crossing a power of two runs the full pass)."""
    return max(1, scale // PART_POSTS)


def post_hash(post_id: str) -> int:
    """The hash of a post's id its part is taken from: the id's CRC-32."""
    return zlib.crc32(post_id.encode("utf-8", "surrogatepass"))


def post_part(post_id: str, parts: int) -> int:
    """The part a post is in: its id's hash modulo the number of parts."""
    return post_hash(post_id) % parts


def run_edges(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts, and one past the last: a run is
    values[edges[k]:edges[k + 1]]."""
    if len(values) == 0:
        return np.zeros(1, np.int64)
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1], True])


def df_bins(df: np.ndarray) -> np.ndarray:
    """Each document count's bin, round(QUANTISE · ln df); -1 for a word of one post
    (or none), which connects nothing and gets no weight."""
    bins = np.rint(QUANTISE * np.log(np.maximum(df, 1).astype(np.float64))).astype(np.int64)
    return np.where(df > 1, bins, -1)


def idf(df: np.ndarray, scale: int) -> np.ndarray:
    """ln(scale) - bin / QUANTISE for each word (float32): ln(N / df) with N the
    language's scale and df rounded to its bin."""
    return (np.log(np.float64(scale)) - df_bins(df) / QUANTISE).astype(np.float32)


class Language(NamedTuple):
    """A language's code ('' for none), its posts' rowids in post_id order and each
    post's id hashed (post_hash)."""

    code: str
    rowids: np.ndarray
    hashes: np.ndarray


def languages(conn: sqlite3.Connection) -> Iterator[Language]:
    """Every language with posts (one pass over the posts; the other passes read
    `_post_features` alone, by rowid)."""
    codes: dict[str, int] = {}
    rowids, languages, hashes = [], [], []
    cursor = conn.execute(
        "SELECT f.rowid, coalesce(p.language, ''), f.post_id FROM _post_features f CROSS JOIN posts p"
        " ON p.id = f.post_id ORDER BY f.post_id"
    )
    while batch := cursor.fetchmany(READ_CHUNK):
        rowids.append(np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch)))
        languages.append(np.fromiter((codes.setdefault(row[1], len(codes)) for row in batch), dtype=np.int32,
                                     count=len(batch)))
        hashes.append(np.fromiter((post_hash(row[2]) for row in batch), dtype=np.uint32, count=len(batch)))
    if not rowids:
        return
    rowids, languages, hashes = np.concatenate(rowids), np.concatenate(languages), np.concatenate(hashes)
    for language, code in sorted(codes.items()):
        yield Language(language, rowids[languages == code], hashes[languages == code])


def term_chunks(conn: sqlite3.Connection, rowids: np.ndarray) -> Iterator[TermChunk]:
    """The posts' terms, in the order of `rowids`, READ_CHUNK posts at a time."""
    for start in range(0, len(rowids), READ_CHUNK):
        wanted = rowids[start : start + READ_CHUNK]
        found = conn.execute(
            "SELECT f.post_id, f.terms FROM json_each(?) j CROSS JOIN _post_features f ON f.rowid = j.value"
            " ORDER BY j.key", (json.dumps(wanted.tolist()),),
        ).fetchall()
        yield term_chunk(wanted, [row[0] for row in found], [row[1] for row in found])


def term_chunk(rowids: np.ndarray, ids: list[str], blobs: list[bytes]) -> TermChunk:
    sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // TERM.itemsize
    terms = np.frombuffer(b"".join(blobs), dtype=TERM)
    return TermChunk(rowids, np.repeat(np.arange(len(blobs), dtype=np.int32), sizes), terms, ids, blobs)


def vocabulary(conn: sqlite3.Connection, language: Language) -> Vocabulary:
    """First pass: the language's words and their document counts."""
    words, df = np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int64)
    for chunk in term_chunks(conn, language.rowids):
        found, counts = np.unique(chunk.terms["word"], return_counts=True)
        words, where = np.unique(np.r_[words, found], return_inverse=True)
        df = np.bincount(where, weights=np.r_[df, counts], minlength=len(words)).astype(np.int64)
    scale = scale_of(len(language.rowids))
    parts = (language.hashes % np.uint32(parts_of(scale))).astype(np.int32)
    return Vocabulary(words, df, language.rowids, scale, parts)


def part_numbers(vocab: Vocabulary) -> Iterator[tuple[int, np.ndarray]]:
    """Each part holding posts, and its posts' numbers (ascending)."""
    order = np.argsort(vocab.parts, kind="stable")
    parts = vocab.parts[order]
    edges = run_edges(parts)
    for start, end in zip(edges[:-1].tolist(), edges[1:].tolist()):
        yield int(parts[start]), order[start:end]


def read_terms(conn: sqlite3.Connection, rowids: np.ndarray) -> TermChunk:
    """These posts' terms, in the order of `rowids`, in one read."""
    found = conn.execute(
        "SELECT f.post_id, f.terms FROM json_each(?) j CROSS JOIN _post_features f ON f.rowid = j.value"
        " ORDER BY j.key", (json.dumps(rowids.tolist()),),
    ).fetchall()
    return term_chunk(rowids, [row[0] for row in found], [row[1] for row in found])


def _ranks(groups: np.ndarray) -> np.ndarray:
    """For an array sorted by group, each entry's place within its group (0, 1, ...)."""
    if len(groups) == 0:
        return groups
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def vectors(chunk: TermChunk, vocab: Vocabulary) -> sparse.csr_matrix:
    """The chunk's posts' TF-IDF vectors over their TERMS heaviest words, length 1 (one
    row a post, a column a word of the vocabulary). 32-bit arrays throughout. A row
    depends on its post's terms, the df bins of their words and the scale alone (the
    columns only order it, as the words do), so the update (related_update) gets the
    very row a full pass gets from a vocabulary of just its posts' words."""
    from scipy import sparse

    column = np.searchsorted(vocab.words, chunk.terms["word"]).astype(np.int32)
    term_df = vocab.df[column]
    weight = idf(term_df, vocab.scale)
    weight *= 1 + np.log(chunk.terms["count"].astype(np.float32))
    useful = np.flatnonzero((term_df > 1) & (weight > 0))  # a word of one post connects nothing
    rows, column, weight = _heaviest(chunk.rows[useful], column[useful], weight[useful], len(chunk.rowids))
    matrix = sparse.csr_matrix((weight, (rows, column)),
                               shape=(len(chunk.rowids), max(len(vocab.words), 1)), dtype=np.float32)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1 / norms) @ matrix, dtype=np.float32)


def _heaviest(rows: np.ndarray, column: np.ndarray, weight: np.ndarray, posts: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each post's TERMS heaviest entries, ties by column, post by post (`rows` ascending).
    Sorted a post's row at a time in a posts × terms table (a post keeps at most
    TERMS_KEPT terms), three times faster than one sort of every entry by all three."""
    place = _ranks(rows)
    width = int(place.max()) + 1 if len(place) else 1
    weights = np.full((posts, width), np.inf, dtype=np.float32)  # empty places sort last
    columns = np.zeros((posts, width), dtype=column.dtype)
    weights[rows, place], columns[rows, place] = -weight, column
    order = np.lexsort((columns, weights), axis=1)[:, :TERMS]
    weights, columns = np.take_along_axis(weights, order, 1), np.take_along_axis(columns, order, 1)
    kept = np.isfinite(weights)
    return np.nonzero(kept)[0].astype(rows.dtype), columns[kept], -weights[kept]


class State(Protocol):
    """Where the full pass hands each language's vocabulary and each part's vectors
    (related_update.StateWriter keeps them for updates)."""

    def add_language(self, language: str, vocab: Vocabulary) -> None: ...

    def add_vectors(self, language: str, chunk: TermChunk, matrix: sparse.csr_matrix, part: int,
                    words: np.ndarray) -> None: ...


def postings(conn: sqlite3.Connection, vocab: Vocabulary, spill: BinaryIO,
             keep: Callable[[TermChunk, sparse.csr_matrix, int], None] | None = None
             ) -> tuple[sparse.csr_matrix, dict[int, list[int]]]:
    """Second pass: the word × post index, each word's list cut to its POSTINGS heaviest
    posts (ties by post), merged part by part: the best of a word's kept entries and
    a part's are its best overall. Each part's vectors go to `keep` when given, and to
    `spill` (96 bytes a post, on disk) for the third pass, cut by READ_CHUNK posts in
    post_id order (a block): the index and where in the spill each block's pieces are."""
    from scipy import sparse

    word, weight, post = np.empty(0, np.int32), np.empty(0, np.float32), np.empty(0, np.int64)
    places: dict[int, list[int]] = {}
    for part, numbers in part_numbers(vocab):
        chunk = read_terms(conn, vocab.rowids[numbers])
        matrix = vectors(chunk, vocab)
        if keep is not None:
            keep(chunk, matrix, part)
        blocks = numbers // READ_CHUNK
        edges = run_edges(blocks)
        for start, end in zip(edges[:-1].tolist(), edges[1:].tolist()):
            places.setdefault(int(blocks[start]), []).append(spill.tell())
            piece = matrix[start:end]
            for array in (numbers[start:end], piece.indptr, piece.indices, piece.data):
                np.save(spill, array)
        coo = matrix.tocoo()
        word, weight = np.r_[word, coo.col.astype(np.int32)], np.r_[weight, coo.data]
        post = np.r_[post, numbers[coo.row]]
        order = np.lexsort((post, -weight, word))
        keep_entries = order[_ranks(word[order]) < POSTINGS]
        word, weight, post = word[keep_entries], weight[keep_entries], post[keep_entries]
    shape = (max(len(vocab.words), 1), len(vocab.rowids))
    return sparse.csr_matrix((weight, (word, post)), shape=shape, dtype=np.float32), places


def spilled(spill: BinaryIO, vocab: Vocabulary, places: dict[int, list[int]]
            ) -> Iterator[tuple[np.ndarray, sparse.csr_matrix]]:
    """(its posts' numbers, ascending, and their vectors) of each block `postings`
    spilled, in post_id order: the lists come out, and are stored, in the order of
    related_posts' key."""
    from scipy import sparse

    columns = max(len(vocab.words), 1)
    for block in sorted(places):
        numbers, pieces = [], []
        for offset in places[block]:
            spill.seek(offset)
            numbers.append(np.load(spill))
            indptr, indices, data = np.load(spill), np.load(spill), np.load(spill)
            pieces.append(sparse.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, columns)))
        numbers = np.concatenate(numbers)
        order = np.argsort(numbers)
        yield numbers[order], sparse.csr_matrix(sparse.vstack(pieces, format="csr")[order], dtype=np.float32)


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


def find_related(conn: sqlite3.Connection, state: State | None = None) -> Iterator[Lists]:
    """Every post's related posts, language by language, a chunk of posts at a time;
    each language's vocabulary and each part's vectors handed to `state` when given."""
    for language in languages(conn):
        vocab = vocabulary(conn, language)
        keep = None
        if state is not None:
            state.add_language(language.code, vocab)
            keep = partial(state.add_vectors, language.code, words=vocab.words)
        if len(language.rowids) > 1 or keep is not None:
            yield from _related_in(conn, vocab, keep)


def _related_in(conn: sqlite3.Connection, vocab: Vocabulary, keep=None) -> Iterator[Lists]:
    """Third pass: each chunk's products with the index, best first."""
    groups = group_numbers(conn, vocab.rowids)
    with tempfile.TemporaryFile() as spill:
        index, places = postings(conn, vocab, spill, keep)
        for numbers, matrix in spilled(spill, vocab, places):
            for offset in range(0, matrix.shape[0], CHUNK):
                yield best(vocab.rowids, groups, numbers[offset : offset + CHUNK], matrix[offset : offset + CHUNK] @ index)


class Lists(NamedTuple):
    """The related posts of a chunk of posts, as arrays a row each, a post's rows
    together and best first: the post's and the related post's `_post_features`
    rowids, the rank (1 to RELATED) and the score in millionths."""

    posts: np.ndarray
    related: np.ndarray
    ranks: np.ndarray
    micros: np.ndarray

    def scores(self) -> list[float]:
        """The scores as stored: what Python's round(micros / 10**6, 4) gives, as earlier
        builds stored them (numpy's round differs for 4,417 of the million possible
        scores, those near a half). Away from a half the 4-decimal value is plain
        integer rounding of the millionths, and q / 10**4 is the float nearest it, as
        round returns; the halves (a score in a hundred) go through round itself."""
        micros = self.micros.astype(np.int64)
        scores = ((micros + 50) // 100) / 10_000
        halves = np.flatnonzero(micros % 100 == 50)
        scores[halves] = [round(m / 1_000_000, 4) for m in micros[halves].tolist()]
        return scores.tolist()

    def rows(self) -> Iterator[RelatedRow]:
        return map(RelatedRow._make, zip(self.posts.tolist(), self.related.tolist(), self.ranks.tolist(),
                                        self.scores()))


def best(rowids: np.ndarray, groups: np.ndarray, numbers: np.ndarray, product) -> Lists:
    """The RELATED best of each row of `product` (row i: the post numbered numbers[i],
    in ascending order; a column: the post of that number): a post's rowid is
    rowids[number], its group groups[number]."""
    scores = product.tocoo()
    local = scores.row.astype(np.int64)
    row = numbers[local]
    col = scores.col.astype(np.int64)
    micros = np.rint(scores.data * 1_000_000).astype(np.int64)  # the score, to 6 decimals
    keep = (groups[row] != groups[col]) & (micros > 0)  # itself and its reprints are out
    local, row, col, micros = local[keep], row[keep], col[keep], micros[keep]
    # Best first within each post; equal scores by id (numbers follow post_id): one
    # key, as lexsort over millions of entries is several times slower.
    order = np.argsort((local * 1_000_001 + (1_000_000 - micros)) * len(rowids) + col)
    row, col, micros = row[order], col[order], micros[order]
    rank = _ranks(row) + 1
    best = rank <= RELATED
    return Lists(rowids[row[best]], rowids[col[best]], rank[best], micros[best])


def store_related(conn: sqlite3.Connection, chunks: Iterable[Lists]) -> None:
    """Make related_posts hold exactly the rows of `chunks` (as find_related gives
    them), rewriting only the posts whose list changed, STORE_BATCH posts at a time:
    neither the new rows nor the old are held whole, in Python or in SQLite's
    temporary store (in memory on the build's connection). Into an empty table (a new
    database) the rows are only inserted: there is nothing to compare."""
    if conn.execute("SELECT 1 FROM related_posts LIMIT 1").fetchone() is None:
        for chunk in chunks:
            _insert(conn, chunk.posts.tolist(), chunk.related.tolist(), chunk.ranks.tolist(), chunk.scores())
        return
    rows = (row for chunk in chunks for row in chunk.rows())
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


def store_lists(conn: sqlite3.Connection, batch: list[tuple[int, list[RelatedRow]]]) -> int:
    """Make related_posts hold these posts' rows (a post by its rowid, with every row it
    gets, none for an empty list), rewriting only the posts whose list changed; the
    number of posts rewritten."""
    return _store_batch(conn, batch)


def _store_batch(conn: sqlite3.Connection, batch: list[tuple[int, list[RelatedRow]]]) -> None:
    old: dict[int, list[RelatedRow]] = {}
    for row in conn.execute(
        "SELECT f.rowid, coalesce(g.rowid, -1), r.rank, r.score FROM json_each(?) j"
        " CROSS JOIN _post_features f ON f.rowid = j.value JOIN related_posts r ON r.post_id = f.post_id"
        " LEFT JOIN _post_features g ON g.post_id = r.related_post_id ORDER BY f.rowid, r.rank",
        (json.dumps([post for post, _ in batch]),),
    ):
        old.setdefault(row[0], []).append(RelatedRow(*row))
    changed = [(post, group) for post, group in batch if old.get(post, []) != group]
    conn.executemany("DELETE FROM related_posts WHERE post_id = (SELECT post_id FROM _post_features WHERE rowid = ?)",
                     [(post,) for post, _ in changed])
    new = [r for _, group in changed for r in group]
    if new:
        _insert(conn, *map(list, zip(*new)))
    return len(changed)


def _insert(conn: sqlite3.Connection, posts: list[int], related: list[int], ranks: list[int], scores: list[float]
            ) -> None:
    """Insert these rows into related_posts, their posts given by rowid."""
    ids = dict(conn.execute(
        "SELECT rowid, post_id FROM _post_features WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(set(posts) | set(related))),),
    ))
    conn.executemany("INSERT INTO related_posts (post_id, related_post_id, rank, score) VALUES (?, ?, ?, ?)",
                     zip(map(ids.__getitem__, posts), map(ids.__getitem__, related), ranks, scores))
