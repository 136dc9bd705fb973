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

from datasette.version import __version__ as datasette_version

from newsarchive.site.security import MAX_SQL_BYTES, MAX_VALUE_BYTES, InlineScripts, limit_connection, security_headers

# base.html (1.0) says `window.datasetteVersion = '{{ datasette_version }}'`; error pages
# render it without the variable, as ''.
_SCRIPTS = InlineScripts(
    Path(datasette_package.__file__).parent / "templates", known={"datasette_version": [datasette_version, ""]}
)
_HEADERS = security_headers(_SCRIPTS.hashes, _SCRIPTS.handler_hashes)


@hookimpl
def prepare_connection(conn, datasette):
    config = datasette.plugin_config("news-archive") or {}
    limit_connection(conn, int(config.get("max_value_bytes", MAX_VALUE_BYTES)), int(config.get("max_sql_bytes", MAX_SQL_BYTES)))


def _with_headers(event, headers):
    names = {name.lower() for name, _ in event.get("headers", [])}
    extra = [(n, v) for n, v in headers if n not in names]
    return dict(event, headers=list(event.get("headers", [])) + extra)


def _is_html(event) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in event.get("headers", []))


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def with_headers(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            # Datasette 0.65: every inline script is known in advance, one header for all.
            # Datasette 1.0 pages carry inline scripts with per-page JSON data: an HTML
            # response is held until complete, and those scripts (only those matching
            # Datasette's own templates) are added to its CSP by hash.
            held = {}

            async def send_with_headers(event):
                if event["type"] == "http.response.start":
                    if _SCRIPTS.patterns and _is_html(event):
                        held.update(start=event, body=[])
                        return
                    event = _with_headers(event, _HEADERS)
                elif event["type"] == "http.response.body" and held:
                    held["body"].append(event.get("body", b""))
                    if event.get("more_body"):
                        return
                    body = b"".join(held["body"])
                    extra = _SCRIPTS.page_hashes(body.decode("utf-8", "replace"))
                    start = held.pop("start")
                    held.clear()
                    await send(_with_headers(start, security_headers(_SCRIPTS.hashes + extra, _SCRIPTS.handler_hashes)))
                    event = {"type": "http.response.body", "body": body, "more_body": False}
                await send(event)

            return await app(scope, receive, send_with_headers)

        return with_headers

    return wrap
