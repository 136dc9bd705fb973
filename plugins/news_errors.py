"""Error pages that hold: a path no route matches gets Datasette's 404 page (with our
security headers), not a bare 500 from the server.

Datasette 0.65's default error handler prints every error with `rich`, locals included,
when rich is importable (typer, which frictionless needs, brings it in). For a path no
route matches, that print runs outside an `except` block and raises: the visitor got
uvicorn's plain "Internal Server Error" with none of the headers of news_security.py,
and every refused query paid for a rich traceback on the event loop. Without rich,
real 500s are still logged with `traceback.print_exc()`.
"""
from datasette import hookimpl

try:
    import datasette.handle_exception as _handle_exception
except ImportError:  # a Datasette without that module has nothing to fix
    _handle_exception = None


def _no_rich_tracebacks() -> None:
    if getattr(_handle_exception, "rich", None) is not None:
        _handle_exception.rich = None


_no_rich_tracebacks()


@hookimpl
def startup(datasette):
    _no_rich_tracebacks()
