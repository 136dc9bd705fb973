"""Facet counts of an immutable database, counted once per server process.

Datasette runs one GROUP BY per facet for every table page it serves, one after
the other: on the 100,000-post benchmark the three facets of the posts page are
~17 ms of its ~50. A database opened immutable (as production runs it, `-i`)
cannot change while the server runs, so the counts a facet query returns cannot
either: they are kept here (at most MAX_KEPT answers of at most MAX_ROWS rows,
least recently used dropped) and a repeat of the same facet query (same table,
filters and parameters) is answered without SQL. Only Datasette's own facet
queries are kept, never other SQL, and none that could depend on the moment
(random(), 'now', current_date ...). A mutable database is always asked.
"""
from __future__ import annotations

import re
from collections import OrderedDict

from datasette import hookimpl

MAX_KEPT = 512
#: Larger answers (`_facet_size=max`) are not kept: 512 of these at most stay small.
MAX_ROWS = 101
#: The queries datasette.facets builds (ColumnFacet, DateFacet) on 0.65 and 1.0.
FACET_SQL = re.compile(r"\s*select (?:date\()?(?:\[[^\]]+\]|\w+)\)? as value, count\(\*\) as count from \(")
MOMENT = re.compile(r"random|'now'|current_(?:date|time|timestamp)|julianday\(\s*\)", re.IGNORECASE)


def _key(db_name, sql, params, truncate, page_size):
    """A hashable key for one query, or None when its parameters are not plain values."""
    if params is None:
        values = ()
    elif isinstance(params, dict):
        values = tuple(sorted(params.items()))
    else:
        values = tuple(params)
    try:
        hash(values)
    except TypeError:
        return None
    return (db_name, sql, values, truncate, page_size)


@hookimpl
def startup(datasette):
    ask = datasette.execute  # the bound method: every other query goes straight to it
    kept: OrderedDict = OrderedDict()

    async def execute(db_name, sql, params=None, truncate=False, custom_time_limit=None, page_size=None,
                      log_sql_errors=True):
        db = datasette.databases.get(db_name)
        key = None
        if db is not None and not db.is_mutable and FACET_SQL.match(sql) and not MOMENT.search(sql):
            key = _key(db_name, sql, params, truncate, page_size)
        if key is not None and key in kept:
            kept.move_to_end(key)
            return kept[key]
        results = await ask(db_name, sql, params, truncate=truncate, custom_time_limit=custom_time_limit,
                            page_size=page_size, log_sql_errors=log_sql_errors)
        if key is not None and len(results.rows) <= MAX_ROWS:  # one that timed out or failed raised above
            kept[key] = results
            if len(kept) > MAX_KEPT:
                kept.popitem(last=False)
        return results

    datasette.execute = execute
