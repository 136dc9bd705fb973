"""Everything Datasette loads, as functions the hooks in plugins/ call: search.py (safe
FTS queries, snippets, a search box's word marks), article.py (the posts row page),
cells.py (thumbnails, links, Markdown previews, the photo mirror), chart.py (the home
page), query_string.py (requests rewritten before Datasette reads them), memo.py
(answers kept for the server's life), security.py (headers, CSP, SQLite limits).

Nothing here imports the parser (newsarchive.parse, pyromark) or YAML: text helpers
shared with the build are in newsarchive.text.
"""
