"""A public instance that holds: every connection capped in how large a value one SQL
expression may build, and every response sent with security headers
(Content-Security-Policy with hashed inline scripts, nosniff, frame-ancestors)."""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pathlib import Path

import datasette as datasette_package
from datasette import hookimpl

from newsarchive.security import MAX_SQL_BYTES, MAX_VALUE_BYTES, inline_script_hashes, limit_connection, security_headers

_HEADERS = security_headers(inline_script_hashes(Path(datasette_package.__file__).parent / "templates"))


@hookimpl
def prepare_connection(conn, datasette):
    config = datasette.plugin_config("news-archive") or {}
    limit_connection(conn, int(config.get("max_value_bytes", MAX_VALUE_BYTES)), int(config.get("max_sql_bytes", MAX_SQL_BYTES)))


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def with_headers(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    names = {name.lower() for name, _ in event.get("headers", [])}
                    extra = [(n, v) for n, v in _HEADERS if n not in names]
                    event = dict(event, headers=list(event.get("headers", [])) + extra)
                await send(event)

            return await app(scope, receive, send_with_headers)

        return with_headers

    return wrap
