"""What the reprints stage keeps between builds, so an update recomputes only the
groups of the posts it changed (reprint_update.py): every post's bucket keys, every
bucket's posts, and the settings the groups were found with. Hidden tables, declared
in db/schema.py; none of it is in the data package.

    _reprint_posts    a row a post of `_post_features`: what its groups depend on
                      (the file's sha256, published_at, language) as the stage last saw
                      it, its number (post_number) and its bucket keys
    _reprint_buckets  every (bucket key, post number) entry, sorted, in BLOCKS blocks
                      by the key's top bits: a row a block, its keys and numbers as
                      two int64 arrays
    _relations        key 'reprints': the settings (reprints.settings), as JSON

A row a bucket would be 3.2 million rows at 100,000 posts, which SQLite took 18 s to
insert; 4,096 blocks of arrays take a fraction of a second, and a key is found by
reading its block and a binary search. Blocks are fixed ranges of keys, so each table
holds the same rows after an update as after a full build of the same posts.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from hashlib import blake2b
from typing import NamedTuple

import numpy as np

SETTINGS_KEY = "reprints"
#: The bucket entries are kept in 2**BLOCK_BITS blocks (rows), by the key's top bits:
#: about 800 entries (13 KB) a block at 100,000 posts, 8,000 at a million.
BLOCK_BITS = 12
BLOCKS = 1 << BLOCK_BITS
_INSERT_POST = ("INSERT INTO _reprint_posts (post_id, number, sha256, published_at, language, keys)"
                " VALUES (?, ?, ?, ?, ?, ?)")


class PostBands(NamedTuple):
    """What the index stores of a post: a row of `_reprint_posts`."""

    post_id: str
    number: int
    sha256: str | None
    published_at: str | None
    language: str
    keys: bytes


def post_number(post_id: str) -> int:
    """A post's number in the stored buckets: 62 bits of a hash of its id, the same
    in every build (a number given in order of arrival would differ between an update
    and a full build). Two of a million posts share one with odds of about 1 in 10^7."""
    return int.from_bytes(blake2b(post_id.encode(), digest_size=8).digest(), "little") >> 2


def block_of(keys: np.ndarray) -> np.ndarray:
    """The block of each bucket key (int64): its top BLOCK_BITS bits, as if unsigned
    after the sign bit is flipped, so blocks ascend with the keys."""
    flipped = keys.astype(np.int64, copy=False).view(np.uint64) ^ np.uint64(1 << 63)
    return (flipped >> np.uint64(64 - BLOCK_BITS)).astype(np.int64)


def entry_order(keys: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """The order of the entries by key, then number (as np.lexsort((numbers, keys))
    puts them, but for the order among entries equal in both, which are the same bytes).
    One plain argsort of the keys, then the entries whose key is shared sorted by
    bucket and number's rank, a single int64 key: a lexsort of two int64 columns takes
    several times as long."""
    order = np.argsort(keys)
    ordered = keys[order]
    tied = np.r_[False, ordered[1:] == ordered[:-1]]
    shared = np.flatnonzero(tied | np.r_[tied[1:], False])
    if len(shared):
        entries = order[shared]
        bucket = np.cumsum(~tied[shared])
        rank = np.empty(len(entries), dtype=np.int64)
        rank[np.argsort(numbers[entries])] = np.arange(len(entries))
        order[shared] = entries[np.argsort(bucket * len(entries) + rank)]
    return order


def _block_rows(keys: np.ndarray, numbers: np.ndarray, ordered: bool = False) -> list[tuple[int, bytes, bytes]]:
    """(block, keys, numbers) rows of these entries, sorted by key, then number
    (`ordered`: they are already)."""
    if len(keys) == 0:
        return []
    if not ordered:
        order = entry_order(keys, numbers)
        keys, numbers = keys[order], numbers[order]
    keys, numbers = keys.astype("<i8", copy=False), numbers.astype("<i8", copy=False)
    blocks = block_of(keys)
    edges = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1], True])
    return [(int(blocks[s]), keys[s:e].tobytes(), numbers[s:e].tobytes()) for s, e in zip(edges[:-1], edges[1:])]


class IndexWriter:
    """Fills the emptied index during the full pass (reprints.find_reprints): the posts
    chunk by chunk, the buckets partition by partition (each a range of whole blocks)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        for table in ("_reprint_posts", "_reprint_buckets"):
            conn.execute(f"DELETE FROM {table}")

    def add_posts(self, rows: Iterable[tuple]) -> None:
        """Rows of `_reprint_posts`, each a PostBands or a tuple of its fields in order."""
        self.conn.executemany(_INSERT_POST, rows)

    def add_buckets(self, keys: np.ndarray, numbers: np.ndarray, ordered: bool = False) -> None:
        """One partition's entries: numbers[i] is in the bucket keys[i] (`ordered`: by
        key, then number, as entry_order puts them)."""
        self.conn.executemany("INSERT INTO _reprint_buckets (block, keys, posts) VALUES (?, ?, ?)",
                              _block_rows(keys, numbers, ordered))


class Buckets:
    """The stored blocks holding some keys, read once: each bucket's posts, and the
    entries changed and written back."""

    def __init__(self, conn: sqlite3.Connection, keys: Iterable[int]):
        self.conn = conn
        wanted = np.unique(block_of(np.fromiter(keys, dtype=np.int64)))
        self.blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {
            block: (np.frombuffer(k, "<i8"), np.frombuffer(p, "<i8")) for block, k, p in conn.execute(
                "SELECT b.block, b.keys, b.posts FROM json_each(?) j CROSS JOIN _reprint_buckets b ON b.block = j.value",
                (json.dumps(wanted.tolist()),),
            )
        }

    def members(self, key: int) -> np.ndarray:
        """The numbers of the posts in the bucket `key`, ascending (none for a key no
        post has)."""
        keys, posts = self.blocks.get(int(block_of(np.array([key]))[0]), (np.empty(0, np.int64),) * 2)
        return posts[np.searchsorted(keys, key, "left") : np.searchsorted(keys, key, "right")].astype(np.int64)

    def replace(self, leaving: np.ndarray, old_keys: np.ndarray, new_keys: np.ndarray, new_posts: np.ndarray) -> None:
        """Take the posts `leaving` (numbers; old_keys, their keys) out of their buckets,
        put new_posts[i] into the bucket new_keys[i], and write the blocks that changed."""
        new_blocks = block_of(new_keys)
        changed = np.union1d(block_of(old_keys), new_blocks).tolist()
        rows = []
        for block in changed:
            keys, posts = self.blocks.get(block, (np.empty(0, np.int64),) * 2)
            keep = ~np.isin(posts, leaving)
            here = new_blocks == block
            rows += _block_rows(np.r_[keys[keep], new_keys[here]], np.r_[posts[keep], new_posts[here]])
        self.conn.executemany("DELETE FROM _reprint_buckets WHERE block = ?", [(block,) for block in changed])
        self.conn.executemany("INSERT INTO _reprint_buckets (block, keys, posts) VALUES (?, ?, ?)", rows)
        for block in changed:
            self.blocks[block] = (np.empty(0, np.int64),) * 2
        self.blocks.update({block: (np.frombuffer(k, "<i8"), np.frombuffer(p, "<i8")) for block, k, p in rows})


class Changes(NamedTuple):
    """The posts whose reprints may differ from what the stage last saw: `added` (new
    to `_post_features`), `edited` (their file, date or language changed) and
    `removed` (gone from `_post_features`: deleted, or under 25 words now), by id."""

    added: list[str]
    edited: list[str]
    removed: list[str]

    def __len__(self) -> int:
        return len(self.added) + len(self.edited) + len(self.removed)


def changed_posts(conn: sqlite3.Connection) -> Changes:
    """`_post_features` and the posts against `_reprint_posts`: one merge of the three
    tables in post_id order inside SQLite, giving back only the posts that differ."""
    added, edited = [], []
    for post_id, known in conn.execute(
        "SELECT f.post_id, r.post_id IS NOT NULL FROM _post_features f CROSS JOIN posts p ON p.id = f.post_id"
        " LEFT JOIN _reprint_posts r ON r.post_id = f.post_id"
        " WHERE r.post_id IS NULL OR r.sha256 IS NOT p.sha256 OR r.published_at IS NOT p.published_at"
        " OR r.language IS NOT coalesce(p.language, '')"
    ):
        (edited if known else added).append(post_id)
    removed = [row[0] for row in conn.execute(
        "SELECT r.post_id FROM _reprint_posts r LEFT JOIN _post_features f ON f.post_id = r.post_id"
        " WHERE f.post_id IS NULL"
    )]
    return Changes(added, edited, removed)


def post_rows(conn: sqlite3.Connection, post_ids: Iterable[str]) -> dict[str, PostBands]:
    """The stored rows of these posts, by id."""
    return {row[0]: PostBands(*row) for row in conn.execute(
        "SELECT r.post_id, r.number, r.sha256, r.published_at, r.language, r.keys FROM json_each(?) j"
        " CROSS JOIN _reprint_posts r ON r.post_id = j.value", (json.dumps(sorted(post_ids)),)
    )}


def ids_of(conn: sqlite3.Connection, numbers: Iterable[int]) -> dict[int, str]:
    """Post ids by number."""
    return dict(conn.execute(
        "SELECT r.number, r.post_id FROM json_each(?) j CROSS JOIN _reprint_posts r ON r.number = j.value",
        (json.dumps(sorted(set(numbers))),),
    ))


def replace_posts(conn: sqlite3.Connection, gone: list[str], new: list[PostBands]) -> None:
    conn.executemany("DELETE FROM _reprint_posts WHERE post_id = ?", [(post_id,) for post_id in gone])
    conn.executemany(_INSERT_POST, new)
