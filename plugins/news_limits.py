"""Bounded SQL for a public instance (newsarchive.site.limits and sql_gate): arbitrary
SQL on threads of its own behind a per-site and per-client door, a query interrupted
when its client hangs up, and a cap on the bytes one query's result may carry.

Configured under `plugins: news-archive: sql_limits:` in metadata.yml (docs/security.md).
"""
import importlib
from concurrent import futures

from datasette import hookimpl
from datasette.utils.sqlite import sqlite3

from newsarchive.site import limits
from newsarchive.site.security import cap_sqlite_heap
from newsarchive.site.sql_gate import SqlGate

limits.return_freed_memory()
# Datasette turns these on; a refused call would print a traceback, and the driver
# keeps the last one printed (sys.last_traceback), with the cursor its frames hold, to be
# freed later on whichever thread prints the next.
sqlite3.enable_callback_tracebacks(False)


def _settings(datasette) -> dict:
    config = (datasette.plugin_config("news-archive") or {}).get("sql_limits") or {}
    return {
        "threads": int(config.get("arbitrary_sql_threads", limits.ARBITRARY_SQL_THREADS)),
        "per_client": int(config.get("per_client", 1)),
        "max_result_bytes": int(config.get("max_result_bytes", limits.MAX_RESULT_BYTES)),
        "client_header": config.get("client_header") or None,
        "max_sqlite_heap_bytes": int(config.get("max_sqlite_heap_bytes", limits.MAX_SQLITE_HEAP_BYTES)),
    }


@hookimpl
def prepare_connection(conn, datasette):
    module = importlib.import_module(type(conn).__module__)
    conn.text_factory = limits.count_text(module.OperationalError)
    conn.row_factory = limits.count_row(module.Row, module.OperationalError)
    limits.register_connection(conn)


@hookimpl
def startup(datasette):
    settings = _settings(datasette)
    cap_sqlite_heap(sqlite3, settings["max_sqlite_heap_bytes"])
    if isinstance(datasette.executor, futures.ThreadPoolExecutor):
        datasette.executor = limits.SqlExecutor(
            datasette.executor, settings["threads"], datasette.setting("sql_time_limit_ms") / 1000,
            settings["max_result_bytes"], sqlite3,
        )


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        settings = _settings(datasette)
        return SqlGate(app, settings["threads"], settings["per_client"],
                       datasette.setting("sql_time_limit_ms") / 1000, settings["client_header"])

    return wrap
