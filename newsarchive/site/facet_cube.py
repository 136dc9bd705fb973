"""A posts page filtered by its column facets alone, counted from the build's cube.

Clicking a facet value (`/news/posts?category=news`) makes Datasette count the
matching posts and each facet within them: at a million posts, 239,399 posts in
`news`, the count reads 239,399 index entries (32 ms) and the language facet reads
each of those rows from the table (12 s, cut off at the facet time limit on every
request). The build stores posts by category, language and month together
(`_facet_cube`, newsarchive.build.summaries: 1,440 rows at a million posts), so a
page whose only filters are `column = value` on those columns sums a few of its rows:
the same where clause reads the cube's columns of the same names.

Recognised: the count `select count(*) from posts where "c" = :p0 [and ...]` (0.65;
1.0 counts the same rows up to its count limit) and a column facet over the same
filter, as Datasette 0.65 and 1.0 write them. Anything else
(a search, another filter, `_where`, an array facet) goes to Datasette's own SQL.
"""
from __future__ import annotations

import re
from typing import Iterable

from .facets import in_date_order

CUBE_TABLE = "_facet_cube"
CUBE_COLUMNS = ("category", "language", "published_month")

_COLUMN = "|".join(CUBE_COLUMNS)
_TERM = rf'"(?:{_COLUMN})" = :p\d+'
#: Datasette's where clause of a page filtered only by `column=value` on cube columns.
_WHERE = rf"(?P<where>{_TERM}(?: and {_TERM})*)"
_COUNT = re.compile(rf"\s*select count\(\*\) from posts where {_WHERE}\s*$")
#: Datasette 1.0 counts at most `count_limit + 1` rows (shown as "10,000+").
_COUNT_LIMITED = re.compile(
    rf"\s*select count\(\*\) from \(select \* from posts where {_WHERE}\s*limit (?P<limit>\d+)\)\s*$")
#: ColumnFacet's query (datasette/facets.py), the inner query being the page's rows.
_FACET = re.compile(
    rf"\s*select (?P<q>\[?)(?P<column>{_COLUMN})\]? as value, count\(\*\) as count from \(\s*"
    rf"select (?:(?! where ).)* from posts where {_WHERE}\s*\)\s*"
    rf"where (?P=q)(?P=column)\]? is not null\s*group by (?P=q)(?P=column)\]?\s*"
    rf"order by (?P<order>count desc, value|value desc) limit (?P<limit>\d+)\s*$",
    re.DOTALL,
)


def cube_sql(sql: str) -> str | None:
    """The same question asked of the cube, or None when `sql` is not one it answers."""
    count = _COUNT.match(sql)
    if count is not None:
        return f"select coalesce(sum(posts), 0) as [count(*)] from {CUBE_TABLE} where {count['where']}"
    count = _COUNT_LIMITED.match(sql)
    if count is not None:
        return (f"select min(coalesce(sum(posts), 0), {count['limit']}) as [count(*)]"
                f" from {CUBE_TABLE} where {count['where']}")
    facet = _FACET.match(sql)
    if facet is not None:
        column = facet["column"]
        return (f"select {column} as value, sum(posts) as count from {CUBE_TABLE}"
                f" where {facet['where']} and {column} is not null group by {column}"
                f" order by {facet['order']} limit {facet['limit']}")
    return None


def _plain(params) -> bool:
    """Datasette's filter values: a dict of p0, p1 ... of plain values."""
    return isinstance(params, dict) and all(isinstance(v, (str, int, float)) for v in params.values())


def database_execute(db, has_cube):
    """`db.execute` (sql, params, ...) answering the cube's questions from the cube."""
    ask = db.execute

    async def execute(sql, params=None, *args, **kwargs):
        rewritten = cube_sql(sql) if isinstance(sql, str) and _plain(params) else None
        if rewritten is not None and await has_cube(db):
            return await ask(rewritten, params, *args, **kwargs)
        return await ask(sql, params, *args, **kwargs)

    return execute


def datasette_execute(datasette, has_cube, date_columns: Iterable[str]):
    """`datasette.execute` (db_name, sql, params, ...) answering the facets from the cube,
    a date facet's newest first as newsarchive.site.facets orders it."""
    ask = datasette.execute
    columns = frozenset(date_columns)

    async def execute(db_name, sql, params=None, *args, **kwargs):
        db = datasette.databases.get(db_name)
        asked = db is not None and isinstance(sql, str) and _plain(params)
        rewritten = cube_sql(in_date_order(sql, columns)) if asked else None
        if rewritten is not None and await has_cube(db):
            return await ask(db_name, rewritten, params, *args, **kwargs)
        return await ask(db_name, sql, params, *args, **kwargs)

    return execute


async def has_cube(db) -> bool:
    """An immutable database (one served as production serves it) holding the cube: a
    mutable one could be written after its build, the cube left behind."""
    return not db.is_mutable and CUBE_TABLE in await db.table_names()


def install(datasette, date_columns: Iterable[str]) -> None:
    """Answer the count and facets of every database's posts pages from its cube (from a
    `startup` hook: the count goes to the database's execute, the facets to Datasette's)."""
    for db in datasette.databases.values():
        db.execute = database_execute(db, has_cube)
    datasette.execute = datasette_execute(datasette, has_cube, date_columns)
