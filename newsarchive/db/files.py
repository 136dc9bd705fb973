"""Opening a database file read-only, whatever its path holds."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def read_only_uri(path) -> str:
    """The SQLite URI that opens `path` read-only. The path is percent-encoded
    (Path.as_uri): pasted into "file:...", a '#' or '?' in a folder's name would end
    the path there and open another file, or none."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def open_read_only(path, **options) -> sqlite3.Connection:
    """A connection that can only read `path` (sqlite3.connect's keywords besides)."""
    return sqlite3.connect(read_only_uri(path), uri=True, **options)
