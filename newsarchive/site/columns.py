"""Which columns a table page selects, decided before Datasette reads the request.

Two rules, applied by one ASGI wrapper (plugins/news_columns.py):

- The reading columns. A table whose `news-archive` plugin settings list
  `default_columns` (posts: headline, date, category, ... and the opening of the text)
  shows those on its HTML page when the request picks no columns itself: the provenance
  and raw-text columns stay one `?_col=` or one "all columns" link (`?_columns=all`)
  away, and JSON and CSV keep every column. The columns are added as `_col=` to the
  request, so every link Datasette draws on that page (sort, facets, next page, the
  search form) keeps them, together with `_columns=all`: once a reader has a page of
  chosen columns, the column menu's "Show all columns" (which drops `_col` and
  `_nocol`) shows all of them rather than the reading set again. `_columns` (any value)
  is ours: Datasette ignores arguments that start with `_` it does not know.

- The sort column stays selected. Datasette 0.65 (and 1.0a41) answer 500 when a
  page selects columns without the column it is sorted by, a foreign key's label is
  shown and a next page exists (`/news/posts?_nocol=published_at`, the column menu's
  "Hide this column" on the date; `posts.json?_col=category&_labels=on`): the next-page
  link reads the sort value from a row that lacks it (KeyError where IndexError is
  caught). So a request that names `_col` or `_nocol` keeps its sort column: hiding it
  leaves it shown, a `_col` list without it gets it added.
"""
from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode

from datasette.utils import tilde_decode

from .query_string import rewrite_request

#: Ours: the reader has chosen the columns (or all of them); no reading columns added.
CHOSEN = "_columns"
_TABLE_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+?)(?:\.(?P<format>\w+))?$")


class TablePath(NamedTuple):
    """A request path that can be a table page; `format` None for its HTML page."""

    database: str
    table: str
    format: str | None


def table_path(path: str) -> TablePath | None:
    match = _TABLE_PATH.match(path)
    if match is None:
        return None
    return TablePath(tilde_decode(match["database"]), tilde_decode(match["table"]), match["format"])


class Argument(NamedTuple):
    """One `name=value` of a query string, and the text it was written as (kept as
    written when the query string is rewritten)."""

    name: str
    value: str
    raw: str


def arguments(query_string: bytes) -> list[Argument]:
    out = []
    for raw in query_string.decode("latin-1").split("&"):
        for name, value in parse_qsl(raw, keep_blank_values=True):
            out.append(Argument(name, value, raw))
    return out


def query_string_of(args: list[Argument]) -> bytes:
    return "&".join(arg.raw for arg in args).encode("latin-1")


def added(name: str, value: str) -> Argument:
    return Argument(name, value, urlencode({name: value}))


def with_reading_columns(args: list[Argument], columns: list[str]) -> list[Argument]:
    """`_col=` for each reading column (and `_columns=all`) unless the request picks
    its columns: a `_col`, or our `_columns`. A `_nocol` alone (the column menu's
    "Hide this column" on a page of reading columns) hides from the reading columns."""
    if not columns or any(arg.name in ("_col", CHOSEN) for arg in args):
        return args
    return [*args, *(added("_col", column) for column in columns), added(CHOSEN, "all")]


def with_sort_column(args: list[Argument], sort: str | None, table_columns: list[str]) -> list[Argument]:
    """The sort column kept among the selected ones (see the module's docstring)."""
    names = {arg.name for arg in args}
    if not sort or sort not in table_columns or not names & {"_col", "_nocol"}:
        return args
    kept = [arg for arg in args if not (arg.name == "_nocol" and arg.value == sort)]
    if "_col" in names and not any(arg.name == "_col" and arg.value == sort for arg in kept):
        kept.append(added("_col", sort))
    return kept


def sort_of(args: list[Argument], options: dict) -> str | None:
    """The column a table page is sorted by: `_sort` / `_sort_desc`, else the table's own."""
    for arg in args:
        if arg.name in ("_sort", "_sort_desc") and arg.value:
            return arg.value
    return options.get("sort") or options.get("sort_desc")


async def table_options(datasette, database: str, table: str) -> dict:
    """A table's options (sort, facets, ...): metadata in Datasette 0.65, configuration in 1.0."""
    if hasattr(datasette, "table_config"):
        return await datasette.table_config(database, table) or {}
    return datasette.table_metadata(database, table) or {}


def reading_columns(datasette, where: TablePath) -> list[str]:
    settings = datasette.plugin_config("news-archive", database=where.database, table=where.table) or {}
    return list(settings.get("default_columns") or ())


class ColumnLinks(NamedTuple):
    """For a table with reading columns: how many columns it has, and this page with
    the reading columns or with all of them (filters, sort and search kept)."""

    total: int
    reading_url: str
    all_url: str


def column_links(path: str, query_string: bytes, total: int) -> ColumnLinks:
    kept = [arg for arg in arguments(query_string) if arg.name not in ("_col", "_nocol", "_next", CHOSEN)]

    def url(args: list[Argument]) -> str:
        return path + ("?" + query_string_of(args).decode("latin-1") if args else "")

    return ColumnLinks(total, url(kept), url([*kept, added(CHOSEN, "all")]))


def choose_columns(datasette):
    """The asgi_wrapper applying both rules to every table page of every database."""

    async def rewrite(path: str, query_string: bytes) -> bytes:
        where = table_path(path)
        if where is None or where.database not in datasette.databases:
            return query_string
        args = arguments(query_string)
        is_html = where.format is None and not any(arg.name == "_format" for arg in args)
        reading = reading_columns(datasette, where) if is_html else []
        if not reading and not any(arg.name in ("_col", "_nocol") for arg in args):
            return query_string
        table_columns = await datasette.get_database(where.database).table_columns(where.table)
        if not table_columns:
            return query_string
        args = with_reading_columns(args, [column for column in reading if column in table_columns])
        sort = sort_of(args, await table_options(datasette, where.database, where.table))
        args = with_sort_column(args, sort, table_columns)
        return query_string_of(args)

    return rewrite_request(rewrite)
