"""Everything Datasette loads, as functions the hooks in plugins/ call: search.py (a
search as typed, read into a safe FTS query; snippets; a search box's word marks),
search_query.py (the search page's request and SQL), search_page.py (the search page,
its JSON and CSV), search_rank.py (the posts table's search box in rank order),
article.py (the posts row page), cells.py (thumbnails, links, Markdown previews, the
photo mirror, post ids and headlines as links), chart.py (the home page),
query_string.py (requests rewritten before Datasette reads them), columns.py (the
columns a table page selects), facets.py (facet queries: array facets counted in place,
date facets in date order), memo.py (answers kept for the server's life), security.py
(headers, CSP, SQLite limits), bounded_sql.py (string functions bounded in cost),
limits.py (arbitrary SQL's own threads, each query's deadline and result budget),
sql_gate.py (the per-site and per-client door for arbitrary SQL).

Nothing here imports the parser (newsarchive.parse, pyromark) or YAML: text helpers
shared with the build are in newsarchive.text.
"""
