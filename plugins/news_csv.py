"""CSV streams of a table fetch 1,000 rows per query, however small its HTML pages are:
a stream request that names no `_size` gets `_size=max`
(newsarchive.site.query_string.with_max_pages says why)."""
from datasette import hookimpl

from newsarchive.site.query_string import rewrite_query_string, with_max_pages


@hookimpl
def asgi_wrapper(datasette):
    return rewrite_query_string(with_max_pages, applies=lambda path: path.endswith(".csv"))
