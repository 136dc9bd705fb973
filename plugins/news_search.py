"""SQL functions for the search query: news_fts_query(text), what a person typed as a
safe FTS5 query, and news_snippet(text), a snippet whose highlights keep whole letters.

Registered on every connection so canned queries can say
`where posts_fts match news_fts_query(:q)` and never raise an FTS syntax error.
"""
from datasette import hookimpl

from newsarchive.site.search import fts_query, whole_letters


@hookimpl
def prepare_connection(conn):
    conn.create_function("news_fts_query", 1, fts_query, deterministic=True)
    conn.create_function("news_snippet", 1, whole_letters, deterministic=True)
