"""Answers Datasette would work out again on every request, kept for the life of the
server process: facet counts of an immutable database, and plugin configuration.

Both replace a bound method of the Datasette object (from a `startup` hook), so every
other call still goes straight to Datasette.
"""
from __future__ import annotations

import re
from collections import OrderedDict

from .facets import FACET_SQL

#: Facet answers kept; the least recently used goes first.
MAX_FACETS_KEPT = 512
#: Larger answers (`_facet_size=max`) are not kept: 512 of these at most stay small.
MAX_FACET_ROWS = 101
MOMENT = re.compile(r"random|'now'|current_(?:date|time|timestamp)|julianday\(\s*\)", re.IGNORECASE)
#: Plugin configuration answers kept: one per plugin, database and table asked about.
MAX_CONFIGS_KEPT = 4096


def query_key(db_name, sql, params, truncate, page_size):
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


def is_lasting_facet_query(sql: str) -> bool:
    """One of Datasette's own facet queries, with nothing that could depend on the moment."""
    return bool(FACET_SQL.match(sql)) and not MOMENT.search(sql)


def facet_counts_kept(datasette):
    """`datasette.execute` answering a repeat of a facet query of an immutable database
    (same table, filters and parameters) without SQL.

    Datasette runs one GROUP BY per facet for every table page it serves, one after the
    other: on the 100,000-post benchmark the three facets of the posts page are ~17 ms
    of its ~50. A database opened immutable (as production runs it, `-i`) cannot change
    while the server runs, so neither can its counts: at most MAX_FACETS_KEPT answers of
    at most MAX_FACET_ROWS rows are kept. Only Datasette's own facet queries are, never
    other SQL, and none that could depend on the moment (random(), 'now', current_date
    ...). A mutable database is always asked.
    """
    ask = datasette.execute  # the bound method
    kept: OrderedDict = OrderedDict()

    async def execute(db_name, sql, params=None, truncate=False, custom_time_limit=None, page_size=None,
                      log_sql_errors=True):
        db = datasette.databases.get(db_name)
        key = None
        if db is not None and not db.is_mutable and is_lasting_facet_query(sql):
            key = query_key(db_name, sql, params, truncate, page_size)
        if key is not None and key in kept:
            kept.move_to_end(key)
            return kept[key]
        results = await ask(db_name, sql, params, truncate=truncate, custom_time_limit=custom_time_limit,
                            page_size=page_size, log_sql_errors=log_sql_errors)
        if key is not None and len(results.rows) <= MAX_FACET_ROWS:  # one that timed out or failed raised above
            kept[key] = results
            if len(kept) > MAX_FACETS_KEPT:
                kept.popitem(last=False)
        return results

    return execute


def plugin_config_kept(datasette):
    """`datasette.plugin_config` answering each plugin, database and table once.

    Datasette calls every plugin's render_cell hook for every cell it shows, and
    datasette-render-markdown's hook starts by asking `datasette.plugin_config`, which
    merges the metadata for the cell's database and table afresh each time (~15 us): ~8
    ms of a ~45 ms search page of 100 rows, ~3 ms of the posts page. The configuration
    is the metadata the server was started with and does not change while it runs (a
    new build restarts the server).
    """
    ask = datasette.plugin_config  # the bound method
    kept = {}

    def plugin_config(plugin_name, database=None, table=None, fallback=True):
        key = (plugin_name, database, table, fallback)
        try:
            return kept[key]
        except KeyError:
            pass
        except TypeError:  # a name that is not hashable: nothing to keep it by
            return ask(plugin_name, database=database, table=table, fallback=fallback)
        value = ask(plugin_name, database=database, table=table, fallback=fallback)
        if len(kept) < MAX_CONFIGS_KEPT:
            kept[key] = value
        return value

    return plugin_config
