"""CSV streams of a table fetch 1,000 rows per query, however small its HTML pages are.

Datasette 0.65 asks for the largest page (`_size=max`) for the first page of a
`?_stream=on` download only: every following page falls back to the table's page
size, 20 for posts, so streaming 100,000 posts took 5,000 queries and twice as long
as with pages of 50. A stream request that names no `_size` gets `_size=max`, which
the CSV links Datasette draws already carry.
"""
from urllib.parse import parse_qsl

from datasette import hookimpl


def with_max_pages(query_string: bytes) -> bytes:
    """The query string of a CSV stream, with `_size=max` unless it names a size."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = {name for name, value in pairs}
    if not any(name == "_stream" and value for name, value in pairs) or "_size" in names:
        return query_string
    return query_string + (b"&" if query_string else b"") + b"_size=max"


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def csv_streams_in_big_pages(scope, receive, send):
            if scope.get("type") == "http" and scope.get("path", "").endswith(".csv"):
                query_string = scope.get("query_string", b"")
                changed = with_max_pages(query_string)
                if changed != query_string:
                    scope = dict(scope, query_string=changed)
            await app(scope, receive, send)

        return csv_streams_in_big_pages

    return wrap
