"""What the build keeps about itself: each file as it was built (`_files`, what an
incremental build compares the folder against), every build with its problems
(`builds`, `build_errors`), and the settings each stage's kept state was computed
with (`_relations`: features, reprints, related posts, summaries)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .files import read_only_uri
from .schema import INSERT, ROW

#: A `_files` row: path, size, mtime_ns, sha256, post_id, id_line.
FileRow = ROW["_files"]
#: A `builds` row without its id: started_at, finished_at, mode, the counts, version.
BuildRow = ROW["builds"]
BuildErrorRow = ROW["build_errors"]


def stored_settings(conn: sqlite3.Connection, key: str):
    """The JSON value `_relations` keeps under `key`, or None."""
    row = conn.execute("SELECT value FROM _relations WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def store_settings(conn: sqlite3.Connection, settings, key: str) -> None:
    conn.execute("INSERT OR REPLACE INTO _relations (key, value) VALUES (?, ?)",
                 (key, json.dumps(settings, sort_keys=True)))


def current_errors(conn: sqlite3.Connection) -> set[tuple]:
    """The problems of the last build, as (path, line, level, message)."""
    return {tuple(row) for row in conn.execute("SELECT path, line, level, message FROM current_errors")}


def last_warnings(conn: sqlite3.Connection) -> list[tuple]:
    """The warnings of the last build, as (path, line, level, message)."""
    return conn.execute("SELECT path, line, level, message FROM current_errors WHERE level = 'warning'").fetchall()


def record_files(conn: sqlite3.Connection, rows: list[FileRow]) -> None:
    conn.executemany(INSERT["_files"], rows)


def forget_files(conn: sqlite3.Connection, paths: list[str]) -> None:
    conn.executemany("DELETE FROM _files WHERE path = ?", [(path,) for path in paths])


def restamp_files(conn: sqlite3.Connection, stamps: list[tuple[int, str]]) -> None:
    """New modification times, as (mtime_ns, path), for files whose bytes did not change."""
    conn.executemany("UPDATE _files SET mtime_ns = ? WHERE path = ?", stamps)


def record_build(conn: sqlite3.Connection, build: BuildRow, problems: list[tuple], history: Path | None = None) -> int:
    """Append a build and its problems, as (path, line, level, message), to `builds`
    and `build_errors`; first, if `history` names the database this one replaces, the
    builds recorded there. Returns the new build's id."""
    if history is not None and history.exists():
        _copy_history(conn, history)
    build_id = conn.execute(INSERT["builds"], build).lastrowid
    conn.executemany(INSERT["build_errors"], [BuildErrorRow(build_id, *problem) for problem in problems])
    return build_id


def _copy_history(conn: sqlite3.Connection, old_db: Path) -> None:
    try:
        conn.execute("ATTACH DATABASE ? AS old", (read_only_uri(old_db),))
    except sqlite3.DatabaseError:
        return
    try:
        conn.execute("INSERT INTO builds SELECT * FROM old.builds")
        conn.execute("INSERT INTO build_errors SELECT * FROM old.build_errors")
    except sqlite3.DatabaseError:
        pass
    # SQLite detaches a database only outside a transaction.
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE old")
    conn.execute("BEGIN")
