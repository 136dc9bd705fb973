"""FTS5 over a few texts in a private in-memory table, with the posts index's own
tokenizer, so a text matches exactly as the post it came from did.

FTS5's auxiliary functions (snippet(), highlight()) run on the whole column of a row of
the posts index, and one call cannot be stopped by SQLite's time limit: a 4 MB post of
one word held a CPU for minutes. The search page's snippets and the concordance give
them bounded text instead (a window of each post), indexed here. Callers run these
functions off the event loop.
"""
from __future__ import annotations

from typing import Iterable

from datasette.utils.sqlite import sqlite3

TOKENIZER = "porter"  # as db.schema.add_fts makes the posts index


class LocalIndex:
    """An in-memory FTS5 table of one column, `column`, for one request's texts."""

    def __init__(self, column: str = "text"):
        self.conn = sqlite3.connect(":memory:")
        self.column, self.tables = column, 0

    def __enter__(self) -> "LocalIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def table(self, rows: Iterable[tuple[int, str]]) -> str:
        """A new table of (rowid, text) rows; its name."""
        self.tables += 1
        name = f"texts{self.tables}"
        self.conn.execute(f"create virtual table {name} using fts5([{self.column}], tokenize='{TOKENIZER}')")
        self.conn.executemany(f"insert into {name}(rowid, [{self.column}]) values (?, ?)", rows)
        return name

    def matching(self, table: str, wanted: str) -> list[int]:
        """The rowids of `table` that match the FTS5 query `wanted`, in order."""
        sql = f"select rowid from {table} where {table} match ? order by rowid"
        return [rowid for (rowid,) in self.conn.execute(sql, (wanted,))]

    def highlighted(self, table: str, wanted: str, open_: str, close: str) -> dict[int, str]:
        """Each matching row's text with the matches of `wanted` between open_ and close."""
        sql = f"select rowid, highlight({table}, 0, ?, ?) from {table} where {table} match ?"
        return dict(self.conn.execute(sql, (open_, close, wanted)))


def highlighted(rows: Iterable[tuple[int, str]], wanted: str, open_: str, close: str,
                column: str = "text") -> dict[int, str]:
    """highlight() of the rows (rowid, text) that match `wanted`, in a table of their own."""
    with LocalIndex(column) as index:
        return index.highlighted(index.table(rows), wanted, open_, close)
