"""The home page (`/`) of immutable databases, made once per server process for the
visitor who is not signed in.

Datasette's own index view asks a permission for every table and view of every
database on each request, and on Datasette 0.65 each answer runs a query on
sqlite_master and copies the whole metadata: 107 SQL statements per page of the
sample archive (Datasette's tracer, tests/test_home_page.py); 129 ms median at 100,000 posts and 135 ms at
1,000,000 (bench/results-scale.md), whatever the archive's size. Kept, the page is
3.3 ms and 3.5 ms median (15 sequential requests to the production command on
127.0.0.1, after 2 warm-ups).

None of it can change while the server runs when every database is immutable (as
production opens them, `-i`) and the metadata is fixed at start-up, so the page
Datasette renders for an anonymous request with no cookie, no Authorization header and
no query string is kept and served again as it was made. Any other request (a signed-in
actor, a flash message in a cookie, `?_sort=`, a mutable database) goes to Datasette's
view every time.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from datasette.utils.asgi import Response
from datasette.views.index import IndexView

#: Pages kept per server, one per scheme and host asked for (the page links to itself
#: through the host it was asked by); the oldest goes first beyond this.
MAX_HOSTS_KEPT = 8


@dataclass(frozen=True)
class KeptPage:
    """A rendered home page, as Datasette's view returned it."""

    body: str | bytes
    status: int
    headers: tuple[tuple[str, str], ...]
    content_type: str

    def response(self) -> Response:
        # A new Response each time: Datasette adds message cookies to the one it sends.
        return Response(self.body, status=self.status, headers=dict(self.headers), content_type=self.content_type)


_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_shared_request(request) -> bool:
    """A request whose page is the same for everyone: nobody signed in, nothing sent
    that could name someone or leave a message, nothing asked of the page."""
    return (request.actor is None and not request.query_string
            and "cookie" not in request.headers and "authorization" not in request.headers)


def all_immutable(datasette) -> bool:
    """Every database the page could list cannot change while the server runs
    (Datasette's own `_internal` is never shown to an anonymous visitor)."""
    return all(not db.is_mutable for name, db in datasette.databases.items() if name != "_internal")


async def home_page(datasette, request, send):
    """Datasette's index page, kept when the request and databases allow (module doc)."""
    if not (is_shared_request(request) and all_immutable(datasette)):
        return await IndexView.as_view(datasette)(request, send)
    pages = _kept.setdefault(datasette, {})
    key = (request.scheme, request.host)
    page = pages.get(key)
    if page is None:
        response = await IndexView.as_view(datasette)(request, send)
        if response.status != 200 or response._set_cookie_headers:
            return response
        page = KeptPage(response.body, response.status, tuple(response.headers.items()), response.content_type)
        if len(pages) >= MAX_HOSTS_KEPT:
            pages.pop(next(iter(pages)))
        pages[key] = page
    return page.response()
