"""What the reprints stage keeps between builds, so an update recomputes only the
groups of the posts it changed (reprint_update.py): every post's bucket keys, every
bucket's posts, and the settings the groups were found with. Hidden tables, declared
in db/schema.py; none of it is in the data package.

    _reprint_posts    a row a post of `_post_features`: what its groups depend on
                      (the file's sha256, published_at, language) as the stage last saw
                      it, its number (reprints.post_number) and its bucket keys
    _reprint_buckets  a row a bucket: its key, and its posts' numbers (int64, ascending)
    _relations        key 'reprints': the settings (reprints.settings), as JSON

Each holds the same rows after an update as after a full build of the same posts.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from .reprints import PostBands

SETTINGS_KEY = "reprints"
_INSERT_POST = ("INSERT INTO _reprint_posts (post_id, number, sha256, published_at, language, keys)"
                " VALUES (?, ?, ?, ?, ?, ?)")


def stored_settings(conn: sqlite3.Connection) -> dict | None:
    row = conn.execute("SELECT value FROM _relations WHERE key = ?", (SETTINGS_KEY,)).fetchone()
    return json.loads(row[0]) if row else None


def store_settings(conn: sqlite3.Connection, settings: dict) -> None:
    conn.execute("INSERT OR REPLACE INTO _relations (key, value) VALUES (?, ?)",
                 (SETTINGS_KEY, json.dumps(settings, sort_keys=True)))


def members(blob: bytes | None) -> np.ndarray:
    return np.frombuffer(blob or b"", dtype="<i8").astype(np.int64)


class IndexWriter:
    """Fills the emptied index during the full pass (reprints.find_reprints): the posts
    chunk by chunk, the buckets partition by partition, in ascending key order, so
    SQLite appends to the table's b-tree instead of inserting all over it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        for table in ("_reprint_posts", "_reprint_buckets"):
            conn.execute(f"DELETE FROM {table}")

    def add_posts(self, rows: list[PostBands]) -> None:
        self.conn.executemany(_INSERT_POST, rows)

    def add_buckets(self, keys: np.ndarray, numbers: np.ndarray, starts: np.ndarray) -> None:
        """One partition's buckets: `keys` sorted, numbers[i] the post of keys[i], and
        starts where each bucket begins."""
        if len(keys) == 0:  # a partition no post's bands fell into
            return
        order = np.lexsort((numbers, keys))  # keys stay grouped; each bucket's numbers ascending
        blob = memoryview(numbers[order].astype("<i8").tobytes())
        ends = np.r_[starts[1:], len(keys)]
        self.conn.executemany(
            "INSERT INTO _reprint_buckets (key, posts) VALUES (?, ?)",
            zip(keys[starts].tolist(), [blob[s * 8 : e * 8] for s, e in zip(starts.tolist(), ends.tolist())]),
        )


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


def buckets(conn: sqlite3.Connection, keys: Iterable[int]) -> dict[int, np.ndarray]:
    """The stored buckets with these keys: key -> its posts' numbers (a key with no
    bucket is left out)."""
    return {key: members(blob) for key, blob in conn.execute(
        "SELECT b.key, b.posts FROM json_each(?) j CROSS JOIN _reprint_buckets b ON b.key = j.value",
        (json.dumps(sorted(set(keys))),),
    )}


def write_buckets(conn: sqlite3.Connection, changed: dict[int, np.ndarray]) -> None:
    """Replace these buckets (numbers in any order); an empty one is deleted."""
    conn.executemany("DELETE FROM _reprint_buckets WHERE key = ?", [(key,) for key in changed])
    conn.executemany("INSERT INTO _reprint_buckets (key, posts) VALUES (?, ?)",
                     [(key, np.sort(posts).astype("<i8").tobytes()) for key, posts in changed.items() if len(posts)])


def replace_posts(conn: sqlite3.Connection, gone: list[str], new: list[PostBands]) -> None:
    conn.executemany("DELETE FROM _reprint_posts WHERE post_id = ?", [(post_id,) for post_id in gone])
    conn.executemany(_INSERT_POST, new)
