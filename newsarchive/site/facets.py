"""Datasette's facet queries: recognised (their answers can be kept, newsarchive.site.memo),
those of the whole posts table answered from the build's counts, an array facet's
counted without copying every row, a date facet's ordered by date.

The posts page opened without a filter facets every post: five GROUP BYs over the
whole table per process (the array facets, authors and tags, are not kept: see memo).
The build counts the same (`_facet_counts`, newsarchive.build.summaries), so such a
facet query, recognised by its inner query (`select <columns> from posts`, nothing
after it) and no parameters, reads the few rows of its facet instead. A page with a
filter, a search or a `_where` is counted by Datasette: its counts depend on it.

Array facets (`_facet_array=tags`, posts.authors and posts.tags): Datasette counts them
as `select distinct j.value, inner.* from json_each(...) j join inner`, which copies
every column of every row, the bodies included, to drop a value repeated within one
array: 0.42 s for the tags of the 509 posts of the 18F blog, past the facet time limit
(500 ms) on a cold page, minutes on 100,000 posts. The same counts come from counting
each value at its first place in its array (`j.key` is the lowest of the keys holding
that value), which reads the array column only: 15 ms. (Datasette's distinct also folds
rows that are equal in every column, which a table with a primary key has none of.)

Datasette lists a facet's values by count, most first, which for `published_month`
reads 2016-03, 2015-03, 2016-04, ...: a month facet is a timeline, so its values come
newest first. Datasette builds the same SQL for a facet on 0.65 and 1.0 (datasette/facets.py);
the facet's `order by count desc, value` becomes `order by value desc` for a date facet
(`_facet_date=`, `date(column)`) or a column facet of a column named in the
`news-archive` setting `date_facets` (published_month). The limit stays: the newest
months are shown, and the facet's "…" link lists every month, in order.
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

#: ColumnFacet and DateFacet (`select col as value, count(*) as count from (` ...) and
#: ArrayFacet (`with inner as (` ..., `deduped_array_items as (`), on 0.65 and 1.0.
FACET_SQL = re.compile(
    r"\s*(?:select (?P<expr>date\((?:\[[^\]]+\]|\w+)\)|\[[^\]]+\]|\w+) as value, count\(\*\) as count from \("
    r"|with inner as \(.*\),\s*deduped_array_items as \()",
    re.DOTALL,
)
_BY_COUNT = re.compile(r"order by count desc, value limit (\d+)\s*$")
#: ArrayFacet's query, whole (datasette/facets.py, the same on 0.65 and 1.0).
_ARRAY_FACET = re.compile(
    r"\s*with inner as \((?P<inner>.*)\),\s*deduped_array_items as \(\s*select\s+distinct j\.value,\s*inner\.\*"
    r"\s+from\s+json_each\(\[inner\]\.(?P<column>\[[^\]]+\]|\w+)\) j\s+join inner\s*\)"
    r"\s*select\s+value as value,\s*count\(\*\) as count\s+from\s+deduped_array_items"
    r"\s+group by\s+value\s+order by\s+count\(\*\) desc, value limit (?P<limit>\d+)\s*$",
    re.DOTALL,
)


def facet_column(sql: str) -> tuple[str, bool] | None:
    """The column of a column or date facet's query, and whether it is a date facet."""
    match = FACET_SQL.match(sql)
    if match is None or match["expr"] is None:
        return None
    expr = match["expr"]
    is_date = expr.startswith("date(")
    column = expr[len("date("):-1] if is_date else expr
    return column.removeprefix("[").removesuffix("]"), is_date


def in_date_order(sql: str, date_columns: Iterable[str]) -> str:
    """A facet query of a date facet ordered newest first; any other SQL as it is."""
    found = facet_column(sql)
    if found is None or not (found[1] or found[0] in date_columns):
        return sql
    return _BY_COUNT.sub(r"order by value desc limit \1", sql)


def array_counted_in_place(sql: str) -> str:
    """An array facet's query that reads only the array column; any other SQL as it is."""
    match = _ARRAY_FACET.match(sql)
    if match is None:
        return sql
    column = match["column"]
    return (
        f"with inner as ({match['inner']})\n"
        f"select j.value as value, count(*) as count\nfrom inner join json_each(inner.{column}) j\n"
        f"where j.key = (select min(k.key) from json_each(inner.{column}) k where k.value is j.value)\n"
        f"group by j.value order by count desc, value limit {match['limit']}"
    )


#: The posts table with nothing filtered: the inner query of a facet of the posts page
#: opened without a filter, a search or a `_where`.
_WHOLE_POSTS = re.compile(r"\s*select (?:(?! where ).)* from posts\s*$", re.DOTALL)
#: Facets the build counts over all posts (newsarchive.build.summaries, `_facet_counts`).
SUMMED_COLUMNS = ("category", "language", "published_month")
SUMMED_ARRAYS = ("authors", "tags")
SUMMARY_TABLE = "_facet_counts"


class Summed(NamedTuple):
    """A facet of the unfiltered posts table, answered from the build's counts."""

    column: str
    limit: int
    newest_first: bool


def summed_facet(sql: str, params, date_columns: Iterable[str]) -> Summed | None:
    """What a facet query of the whole posts table asks, or None for any other query."""
    if params:
        return None
    array = _ARRAY_FACET.match(sql)
    if array is not None:
        column = array["column"].removeprefix("[").removesuffix("]")
        if column in SUMMED_ARRAYS and _WHOLE_POSTS.match(array["inner"]):
            return Summed(column, int(array["limit"]), False)
        return None
    found = facet_column(sql)
    if found is None or found[1] or found[0] not in SUMMED_COLUMNS:
        return None
    inner = sql.split("count(*) as count from (", 1)[1].rsplit(")", 1)[0]
    limit = _BY_COUNT.search(sql)
    if limit is None or not _WHOLE_POSTS.match(inner):
        return None
    return Summed(found[0], int(limit[1]), found[0] in date_columns)


def summed_sql(summed: Summed) -> str:
    """The build's counts of one facet, in the order and number Datasette's query gives."""
    order = "value desc" if summed.newest_first else "count desc, value"
    not_null = " and value is not null" if summed.column in SUMMED_COLUMNS else ""
    return (f"select value, posts as count from {SUMMARY_TABLE} where facet = :facet{not_null}"
            f" order by {order} limit {summed.limit}")


def facet_queries_rewritten(datasette, date_columns: Iterable[str]):
    """`datasette.execute` answering facets of the whole posts table from the build's
    counts, running array facets' queries in place and date facets' in date order
    (replaces the bound method from a `startup` hook)."""
    ask = datasette.execute  # the bound method
    columns = frozenset(date_columns)

    async def execute(db_name, sql, params=None, **kwargs):
        summed = summed_facet(sql, params, columns)
        if summed is not None and await _has_summary(datasette, db_name):
            return await ask(db_name, summed_sql(summed), {"facet": summed.column}, **kwargs)
        return await ask(db_name, array_counted_in_place(in_date_order(sql, columns)), params, **kwargs)

    return execute


async def _has_summary(datasette, db_name: str) -> bool:
    db = datasette.databases.get(db_name)
    return db is not None and SUMMARY_TABLE in await db.table_names()
