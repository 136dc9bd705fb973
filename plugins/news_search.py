"""SQL function news_fts_query(text): what a person typed, as a safe FTS5 query.

Registered on every connection so canned queries can say
`where posts_fts match news_fts_query(:q)` and never raise an FTS syntax error.
"""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette import hookimpl

from newsarchive.web import fts_query


@hookimpl
def prepare_connection(conn):
    conn.create_function("news_fts_query", 1, fts_query, deterministic=True)
