"""Requests rewritten before Datasette reads them: ASGI wrappers that change a request's
query string, and the change CSV streams need (search words have theirs in
newsarchive.site.search.mark_search_words, table columns in newsarchive.site.columns)."""
from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import parse_qsl


def with_max_pages(query_string: bytes) -> bytes:
    """The query string of a CSV stream, with `_size=max` unless it names a size.

    Datasette 0.65 asks for the largest page (`_size=max`) for the first page of a
    `?_stream=on` download only: every following page falls back to the table's page
    size, 20 for posts, so streaming 100,000 posts took 5,000 queries and twice as long
    as with pages of 50. The CSV links Datasette draws already carry `_size=max`.
    """
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = {name for name, value in pairs}
    if not any(name == "_stream" and value for name, value in pairs) or "_size" in names:
        return query_string
    return query_string + (b"&" if query_string else b"") + b"_size=max"


def rewrite_request(rewrite: Callable[[str, bytes], Awaitable[bytes]]):
    """An asgi_wrapper: HTTP requests reach Datasette with the query string that
    `await rewrite(path, query_string)` returns."""

    def wrap(app):
        async def rewritten(scope, receive, send):
            if scope.get("type") == "http":
                query_string = scope.get("query_string", b"")
                changed = await rewrite(scope.get("path", ""), query_string)
                if changed != query_string:
                    scope = dict(scope, query_string=changed)
            await app(scope, receive, send)

        return rewritten

    return wrap


def rewrite_query_string(rewrite: Callable[[bytes], bytes], applies: Callable[[str], bool] = lambda path: True):
    """An asgi_wrapper: HTTP requests to a path that `applies` to reach Datasette with
    their query string passed through `rewrite`."""

    async def rewrite_if_applies(path: str, query_string: bytes) -> bytes:
        return rewrite(query_string) if applies(path) else query_string

    return rewrite_request(rewrite_if_applies)
