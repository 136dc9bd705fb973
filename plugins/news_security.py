"""A public instance that holds (newsarchive.site.security): every connection capped in
how large a value one SQL expression may build (and, where a visitor's SQL runs, with
the bounded string functions), and every response sent with security headers
(Content-Security-Policy with hashed inline scripts, nosniff, frame-ancestors)."""
from datasette import hookimpl

from newsarchive.site.limits import on_arbitrary_sql_thread
from newsarchive.site.security import (
    MAX_SQL_BYTES, MAX_VALUE_BYTES, datasette_scripts, limit_connection, with_security_headers,
)

_SCRIPTS = datasette_scripts()


@hookimpl
def prepare_connection(conn, datasette):
    config = datasette.plugin_config("news-archive") or {}
    limit_connection(conn, int(config.get("max_value_bytes", MAX_VALUE_BYTES)), int(config.get("max_sql_bytes", MAX_SQL_BYTES)),
                     bounded=on_arbitrary_sql_thread())


@hookimpl
def asgi_wrapper():
    return lambda app: with_security_headers(app, _SCRIPTS)
