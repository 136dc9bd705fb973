"""A table's search box finds Thai (and Chinese, Japanese, ...) words inside a sentence.

body_text marks the word boundaries of scripts written without spaces; Datasette's own
`_search` needs the same marks in what a person typed (newsarchive.site.search.mark_search_words).
"""
from datasette import hookimpl

from newsarchive.site.query_string import rewrite_query_string
from newsarchive.site.search import mark_search_words


@hookimpl
def asgi_wrapper(datasette):
    return rewrite_query_string(mark_search_words)
