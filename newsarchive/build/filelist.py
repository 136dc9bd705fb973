"""The build's list of files, kept in a temporary SQLite database: what the scan found,
how each file compares with the database being updated, and the ids of the posts the
writer wrote.

A build holds this for its whole run, one row a file; as Python objects it was about
0.3 KiB a file (the scan's entries, the previous build's `_files` rows, the parse
tasks, lookups by path and by id), some 300 MiB at a million files. Here the build
holds SQLite's page cache of it (FILELIST_CACHE_KIB) at any size: the list of a
100,000-file archive (7 MB) fits in it, a larger one spills to the file. SQLite
deletes the file when the connection closes, and unlinks it as soon as it is made,
so a killed build leaves nothing behind.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import NamedTuple

from ..db.files import read_only_uri

#: SQLite's page cache for the list, in KiB.
FILELIST_CACHE_KIB = 8 * 1024
#: Rows read at a time.
CHUNK = 1000


class Task(NamedTuple):
    """A file for a parser process to read, and what the writer records of it."""

    path: str
    abspath: str
    #: The id the post takes instead of its own: it lost its id to another file (build.write).
    as_id: str | None = None
    size: int = 0
    mtime_ns: int = 0
    #: The database being updated was built from this file (it is in its `_files`).
    known: bool = False


class State(IntEnum):
    """What the plan decided for a file."""

    PARSE = 0  # new or changed (every file, in a full build)
    UNCHANGED = 1  # as it was built
    RESTAMPED = 2  # as it was built, with a new modification time (the same bytes)
    COMPARE = 3  # the same size, a new modification time: its bytes decide (plan.py)


class Entry(NamedTuple):
    """A file in the folder, as the list holds it."""

    path: str
    size: int
    mtime_ns: int
    state: State
    known: bool


_SCHEMA = [
    # The folder's post files. known: the database being updated has the file in its
    # `_files`; renamed: with its path as its post's id (see plan._reread_renamed).
    """CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,
        state INTEGER NOT NULL DEFAULT 0, known INTEGER NOT NULL DEFAULT 0, renamed INTEGER NOT NULL DEFAULT 0)
        WITHOUT ROWID""",
    # Files the database being updated was built from that the folder no longer has.
    "CREATE TABLE removed (path TEXT PRIMARY KEY, old_id TEXT) WITHOUT ROWID",
    # The ids of the posts the writer wrote, in order (rowid 1, 2, ...).
    "CREATE TABLE written (id TEXT)",
    # The scan's files in the order it meets them, until sort_in() moves them to `files`:
    # appending to a table without an index is the cheapest insert SQLite has.
    "CREATE TABLE found (path TEXT, size INTEGER, mtime_ns INTEGER)",
]

_ADD = "INSERT INTO found (path, size, mtime_ns) VALUES (?1, ?2, ?3)"
_SORT_IN = "INSERT INTO files (path, size, mtime_ns) SELECT path, size, mtime_ns FROM found ORDER BY path"
# One statement compares every file with its `_files` row. The files are sorted first
# (LIMIT -1 stops SQLite from dropping a subquery's ORDER BY), so the lookups walk
# old_db's index of paths page after page, and `files` is filled in key order.
_SORT_IN_COMPARED = f"""
    INSERT INTO files (path, size, mtime_ns, state, known, renamed)
    SELECT f.path, f.size, f.mtime_ns, CASE
            WHEN k.path IS NULL OR k.post_id IS NULL OR k.size IS NOT f.size THEN {State.PARSE}
            WHEN k.mtime_ns IS f.mtime_ns THEN {State.UNCHANGED}
            ELSE {State.COMPARE} END,
        k.path IS NOT NULL, k.post_id IS f.path
    FROM (SELECT path, size, mtime_ns FROM found ORDER BY path LIMIT -1) AS f
    LEFT JOIN old._files AS k ON k.path = f.path
"""


class FileList:
    """The files of one build. `root` is the posts folder (its real path)."""

    def __init__(self, root: str = ""):
        self.root = root
        #: The database an update compares the files with (its `_files`): compare_with.
        self.old_db: Path | None = None
        # "": a private database on disk, deleted when closed (SQLite's temporary database).
        self.conn = sqlite3.connect("", isolation_level=None, uri=True)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute(f"PRAGMA cache_size = -{FILELIST_CACHE_KIB}")
        for sql in _SCHEMA:
            self.conn.execute(sql)
        self._written = 0

    def compare_with(self, old_db: Path) -> None:
        """Compare the files sorted in from now on with old_db's `_files`. Raises
        sqlite3.DatabaseError if it is not a database."""
        self.conn.execute("ATTACH DATABASE ? AS old", (read_only_uri(old_db),))
        self.conn.execute("SELECT count(*) FROM old.sqlite_master").fetchone()
        self.old_db = old_db

    def _writing(self) -> sqlite3.Connection:
        # One transaction for the list's life: nothing is written to the file until
        # the page cache is full (a commit a batch wrote every page again each time).
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
        return self.conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "FileList":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, found: Iterable[tuple[str, int, int]]) -> None:
        """Files as (path, size, mtime_ns); the list holds them once sort_in() is called."""
        self._writing().executemany(_ADD, found)

    def sort_in(self) -> None:
        """Put the files added into the list, by path, each compared with its row in
        old_db's `_files` if there is an old_db. Raises sqlite3.DatabaseError if old_db
        cannot be read."""
        self._writing().execute(_SORT_IN if self.old_db is None else _SORT_IN_COMPARED)
        self.conn.execute("DELETE FROM found")

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def counts(self) -> dict[State, int]:
        return {State(state): n for state, n in self.conn.execute("SELECT state, count(*) FROM files GROUP BY state")}

    def note_removed(self) -> int:
        """Record the files of old_db the folder no longer has; return how many."""
        if self.old_db is None:
            return 0
        (known,) = self.conn.execute("SELECT count(*) FROM files WHERE known").fetchone()
        (built,) = self.conn.execute("SELECT count(*) FROM old._files").fetchone()
        if built > known:  # else every file it was built from is here: no need to look
            self._writing().execute("INSERT INTO removed SELECT path, post_id FROM old._files AS k"
                              " WHERE NOT EXISTS (SELECT 1 FROM files WHERE files.path = k.path)")
        return self.conn.execute("SELECT count(*) FROM removed").fetchone()[0]

    def abspath(self, path: str) -> str:
        return f"{self.root}/{path}"

    def entry(self, path: str) -> Entry | None:
        row = self.conn.execute("SELECT path, size, mtime_ns, state, known FROM files WHERE path = ?", (path,)).fetchone()
        return None if row is None else Entry(row[0], row[1], row[2], State(row[3]), bool(row[4]))

    def task(self, path: str, as_id: str | None = None) -> Task:
        """The task that parses the file at `path`, which the list holds."""
        found = self.entry(path)
        return Task(path, self.abspath(path), as_id, found.size, found.mtime_ns, found.known)

    def tasks(self) -> Iterator[Task]:
        """The files to parse, by path."""
        root = self.root
        for path, size, mtime_ns, known in self._rows(
                f"SELECT path, size, mtime_ns, known FROM files WHERE state = {State.PARSE} ORDER BY path"):
            yield Task(path, f"{root}/{path}", None, size, mtime_ns, bool(known))

    def to_compare(self, after: str = "") -> list[tuple[str, str | None]]:
        """(path, old_db's sha256) of up to CHUNK files to compare by content whose path
        sorts after `after`, by path: read this way, their states can be changed
        between two calls."""
        return self.conn.execute(
            f"SELECT f.path, k.sha256 FROM files AS f JOIN old._files AS k ON k.path = f.path"
            f" WHERE f.path > ? AND f.state = {State.COMPARE} ORDER BY f.path LIMIT ?", (after, CHUNK)).fetchall()

    def reread_renamed(self) -> None:
        """Files whose post took its path as its id are parsed again (plan._reread_renamed)."""
        self._writing().execute(f"UPDATE files SET state = {State.PARSE} WHERE renamed AND state != {State.PARSE}")

    def restamped(self) -> Iterator[tuple[int, str]]:
        """(mtime_ns, path) of the files whose bytes stand with a new modification time."""
        return self._rows(f"SELECT mtime_ns, path FROM files WHERE state = {State.RESTAMPED} ORDER BY path")

    def gone(self) -> Iterator[list[tuple[str, str | None]]]:
        """(path, its post's id in old_db) of every file whose post goes: removed, or to
        be parsed again; CHUNK at a time."""
        if self.old_db is None:
            return
        rows = self._rows("SELECT path, old_id FROM removed UNION ALL"
                          " SELECT f.path, k.post_id FROM files AS f JOIN old._files AS k ON k.path = f.path"
                          f" WHERE f.state = {State.PARSE} AND f.known")
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def set_states(self, rows: Iterable[tuple[State, str]]) -> None:
        """(state, path) pairs."""
        self._writing().executemany("UPDATE files SET state = ? WHERE path = ?", ((int(s), p) for s, p in rows))

    def record_written(self, post_ids: list[str]) -> None:
        self._writing().executemany("INSERT INTO written (id) VALUES (?)", [(i,) for i in post_ids])
        self._written += len(post_ids)

    def written_ids(self) -> "WrittenIds":
        """The ids written, as a sequence read from disk a slice at a time."""
        return WrittenIds(self.conn, self._written)

    def _rows(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        # fetchmany: rows arrive CHUNK at a time; a cursor left open while other
        # statements write to the list's other tables is fine in SQLite.
        cursor = self.conn.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


class WrittenIds(Sequence):
    """The written post ids, in order; slices are read from the list's database."""

    def __init__(self, conn: sqlite3.Connection, count: int):
        self.conn = conn
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(self.count)
            if step != 1:
                return list(self)[index]
            rows = self.conn.execute("SELECT id FROM written WHERE rowid > ? AND rowid <= ? ORDER BY rowid", (start, stop))
            return [row[0] for row in rows]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.conn.execute("SELECT id FROM written WHERE rowid = ?", (index + 1,)).fetchone()[0]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, self.count, CHUNK):
            yield from self[start : start + CHUNK]
