"""A table's search box finds Thai (and Chinese, Japanese, ...) words inside a sentence.

body_text marks the word boundaries of scripts written without spaces; Datasette's own
`_search` needs the same marks in what a person typed (newsarchive.site.web.mark_search_words).
"""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette import hookimpl

from newsarchive.site.web import mark_search_words


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def search_words_marked(scope, receive, send):
            if scope.get("type") == "http":
                query_string = scope.get("query_string", b"")
                changed = mark_search_words(query_string)
                if changed is not query_string:
                    scope = dict(scope, query_string=changed)
            await app(scope, receive, send)

        return search_words_marked

    return wrap
