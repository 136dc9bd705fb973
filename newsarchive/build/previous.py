"""The database a build replaces: whether it is ours and of this version, and what an
update needs of it."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..db.bookkeeping import current_errors, stored_settings
from ..db.files import open_read_only
from ..db.schema import schema_change
from ..parse.fields import naive_zone_name
from ..relate import features, related_update
from ..relate.reprint_update import reprints_outdated
from .summary import BuildRefused


@dataclass
class Previous:
    posts: int = 0
    #: Its last build's problems, as (path, line, level, message) (an update only).
    errors: set = field(default_factory=set)


def outdated(db_path: Path) -> str | None:
    """How a database we built differs from what this build makes, so that an update
    cannot bring it level: its schema, or the zone its dates written without one were
    read in (archive.yml's `timezone`, already read). None: it does not, or the file is
    not ours, which the build itself then reports."""
    try:
        conn = open_read_only(db_path)
    except sqlite3.Error:
        return None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"posts", "_files", "builds"} <= tables:
            return None
        return schema_change(conn) or zone_change(conn) or features_change(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def zone_change(conn: sqlite3.Connection) -> str | None:
    """Whether the database's naive dates were read in another zone than this build's."""
    row = conn.execute("SELECT value FROM archive WHERE key = 'timezone'").fetchone()
    old, new = (row[0] if row else "UTC"), naive_zone_name()
    return None if old == new else f"its dates written without a zone were read in {old}, this build reads them in {new}"


def features_change(conn: sqlite3.Connection) -> str | None:
    """Whether the posts' relations features were computed with other settings than
    this build's (features.settings): an update would compare its changed posts'
    features with ones made another way, so every post is read again."""
    if stored_settings(conn, features.SETTINGS_KEY) == features.settings():
        return None
    return "its posts' relations features were computed with other settings"


def relations_outdated(db_path: Path, threshold: float) -> bool:
    """Whether the database's reprints were found at another threshold, or its related
    posts computed with other settings (or with none of their state kept): a build must
    then not leave it as it is, even with no file changed."""
    try:
        conn = open_read_only(db_path)
        try:
            return reprints_outdated(conn, threshold) or related_update.outdated(conn) is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # not ours, or from before the relations: the build finds out and starts afresh


def open_previous(db_path: Path, fresh: bool) -> tuple[sqlite3.Connection | None, Previous]:
    """The database, read-only, and its count of posts. One that is not ours is refused
    for an update, and replaced by a full build (`fresh`)."""
    if not db_path.exists():
        return None, Previous()
    conn = open_read_only(db_path)
    try:
        return conn, Previous(posts=conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not fresh:
            raise not_ours(db_path, exc) from None
        return None, Previous()


def read_previous(conn: sqlite3.Connection, previous: Previous) -> None:
    """What an update compares its problems against (its files are compared in SQL:
    plan.make_plan)."""
    previous.errors = current_errors(conn)


def not_ours(db_path: Path, exc: Exception) -> BuildRefused:
    return BuildRefused(f"{db_path} is not a database this tool built ({exc}); use --full to replace it")
