"""What the research pages (trends, concordance, feeds) share: finding the database a
URL names, the permission to read its posts, reading a month, and writing CSV."""
from __future__ import annotations

import csv
import io
import re
from typing import Mapping

from datasette.utils.asgi import Forbidden, NotFound

_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")


class RequestError(ValueError):
    """A parameter that cannot be read; the message says how to write it."""


async def posts_database(datasette, request):
    """The Database a route's `database` names, once the visitor may read its posts
    table (the permission the posts table's own page asks for)."""
    try:
        db = datasette.get_database(route=request.url_vars["database"])
    except KeyError:
        raise NotFound("Database not found") from None
    if not await db.table_exists("posts_fts"):
        raise NotFound(f"{db.name} has no posts")
    await ensure_can_view_table(datasette, request.actor, db.name, "posts")
    return db


async def ensure_can_view_table(datasette, actor, database: str, table: str) -> None:
    """The permission the table's own page asks for, in each Datasette's terms: a page
    built from a table shows no more than the table does to the same visitor."""
    try:
        from datasette.resources import TableResource  # Datasette 1.0
    except ImportError:
        await datasette.ensure_permissions(
            actor, [("view-table", (database, table)), ("view-database", database), "view-instance"])
    else:
        await datasette.ensure_permission(
            action="view-table", resource=TableResource(database=database, table=table), actor=actor)


async def can_view_table(datasette, actor, database: str, table: str) -> bool:
    """Whether ensure_can_view_table lets the actor in: for a section of a page that is
    left out, rather than the whole page refused, when its table is closed to the visitor."""
    try:
        await ensure_can_view_table(datasette, actor, database, table)
    except Forbidden:
        return False
    return True


def read_month(args: Mapping[str, str], name: str, end: bool) -> str | None:
    """`name` as a month 'YYYY-MM' (a year alone is its first month, or with `end` its
    last); None when not given."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    m = _MONTH.fullmatch(text)
    if m is None or not 1 <= int(m[2] or 1) <= 12:
        raise RequestError(f"{name} is a month as YYYY-MM (or a year, YYYY), not “{text}”.")
    return f"{m[1]}-{m[2] or ('12' if end else '01')}"


def whole_number(args: Mapping[str, str], name: str, default: int, least: int, most: int | None) -> int:
    """`name` as a whole number from `least` to `most` (None: no upper bound)."""
    text = (args.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < least or (most is not None and int(text) > most):
        upto = f" to {most:,}" if most is not None else " or more"
        raise RequestError(f"{name} is a whole number from {least}{upto}, not “{text}”.")
    return int(text)


def month_range(first: str, last: str) -> list[str]:
    """Every month 'YYYY-MM' from first to last, both included."""
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def csv_text(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()
