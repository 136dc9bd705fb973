"""Which integrity checks a new database gets before it is swapped in, and running them."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ..db.check import check_changed, check_file

#: Below this size the full checks take well under a second: always run them.
CHEAP_CHECK_BYTES = 256 * 1024 * 1024


def choose_checks(requested: str, fresh: bool, changed: int, posts: int, path: Path) -> str:
    """`auto`: a fresh database gets the checks fit for indexes filled in bulk; a
    large database that a small update changed, checks of the rows it wrote; any
    other, every check. `changed` counts the posts written and removed."""
    if requested != "auto":
        return requested
    if fresh:
        return "fresh"
    if changed <= max(100, posts // 100) and path.stat().st_size > CHEAP_CHECK_BYTES:
        return "changed"
    return "full"


def run_checks(kind: str, path: Path, written_ids: list[str], posts: int) -> list[str]:
    """The problems found (none: an empty list)."""
    if kind == "changed":
        conn = sqlite3.connect(path)
        try:
            return check_changed(conn, written_ids, expected_posts=posts)
        finally:
            conn.close()
    return check_file(path, expected_posts=posts, quick=(kind == "quick"), fts_content=(kind != "fresh"))
