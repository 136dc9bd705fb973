"""The door a visitor's SQL comes through (used by plugins/news_limits.py).

A request that carries SQL of the visitor's own (`?sql=` on a database page, in any
format, or `?_where=` on a table page) is let in while fewer than `slots` such
requests run, and fewer than `per_client` of them for its client; otherwise it is
answered at once, 503 (the site's share is full) or 429 (this client's is), both with
Retry-After. A request that carries a LIKE or GLOB pattern of the visitor's (a table
filter: `?title__contains=`, `__startswith`, `__endswith`, `__like`, `__notlike`,
`__glob`) is a page of the site and always let in.

Either is marked (limits.CURRENT_REQUEST) so that its queries run on the arbitrary-SQL
threads, whose connections have the bounded string functions
(newsarchive.site.bounded_sql); every other connection keeps SQLite's own, which are
faster, since nothing a visitor writes reaches them. Its client is watched: when it
hangs up, the queries it left running are interrupted and their thread is free again.
Canned queries, table pages, rows and search never wait here.
"""
from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from urllib.parse import parse_qsl

from . import limits

#: Query-string keys whose value Datasette runs as SQL of the visitor's.
SQL_KEYS = ("sql", "_where")
#: Table filters whose value Datasette makes a LIKE or GLOB pattern of.
PATTERN_FILTERS = ("__contains", "__startswith", "__endswith", "__like", "__notlike", "__glob")


def visitors_own(scope) -> str | None:
    """"sql" for a request with the visitor's SQL, "pattern" for one with only their
    LIKE/GLOB patterns, None for any other."""
    query = scope.get("query_string") or b""
    if not any(key.encode() in query for key in (*SQL_KEYS, *PATTERN_FILTERS)):
        return None
    found = None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if value.strip() and key in SQL_KEYS:
            return "sql"
        if value.strip() and key.endswith(PATTERN_FILTERS):
            found = "pattern"
    return found


def client_of(scope, header: str | None) -> str:
    """The client's address: the connection's, or behind a proxy the header it sets
    (a header the client cannot write itself, e.g. Fly-Client-IP or X-Real-IP)."""
    if header:
        wanted = header.lower().encode("latin-1")
        for name, value in scope.get("headers") or []:
            if name.lower() == wanted:
                return value.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "-"


class SqlGate:
    """ASGI middleware: bounded slots for a visitor's SQL, per site and per client, and
    the arbitrary-SQL threads for their SQL and patterns."""

    def __init__(self, app, slots: int, per_client: int, retry_after_s: float, client_header: str | None = None):
        self.app = app
        self.slots = slots
        self.per_client = per_client
        self.retry_after = str(max(1, math.ceil(retry_after_s)))
        self.client_header = client_header
        self.running = 0
        self.by_client: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):
        kind = visitors_own(scope) if scope["type"] == "http" else None
        if kind is None:
            return await self.app(scope, receive, send)
        if kind == "pattern":
            return await self.marked(scope, receive, send)
        client = client_of(scope, self.client_header)
        if self.by_client[client] >= self.per_client:
            return await self.refuse(scope, send, 429, f"Too many SQL queries at once from one client: {self.per_client} at a time")
        if self.running >= self.slots:
            return await self.refuse(scope, send, 503, f"The site is running as many SQL queries as it takes ({self.slots}); try again shortly")
        self.running += 1
        self.by_client[client] += 1
        try:
            await self.marked(scope, receive, send)
        finally:
            self.running -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]

    async def marked(self, scope, receive, send):
        request = limits.SqlRequest()
        token = limits.CURRENT_REQUEST.set(request)
        try:
            await self.watched(scope, receive, send, request)
        finally:
            limits.CURRENT_REQUEST.reset(token)

    async def watched(self, scope, receive, send, request: limits.SqlRequest):
        """Run the app while reading the client's messages: they are handed on to the
        app as it asks, and an http.disconnect interrupts the request's queries."""
        inbox: asyncio.Queue = asyncio.Queue()

        async def watch():
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    limits.interrupt(request)
                    return

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, inbox.get, send)
        finally:
            watcher.cancel()

    async def refuse(self, scope, send, status: int, message: str):
        if scope.get("path", "").endswith(".json"):
            body = json.dumps({"ok": False, "error": message, "status": status}).encode()
            content_type = b"application/json; charset=utf-8"
        else:
            body = (message + "\n").encode()
            content_type = b"text/plain; charset=utf-8"
        headers = [
            (b"content-type", content_type), (b"retry-after", self.retry_after.encode()), (b"cache-control", b"no-store"),
            # Sent before the pages' own headers are added: nothing in it may run or be framed.
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
            (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
