"""Facets: the posts table's facets over all posts read from the build's counts
(`_facet_counts`, newsarchive.build.summaries); the counts of a filtered page of an
immutable database counted once per server process (a
repeat of one of Datasette's facet queries is answered without SQL; newsarchive.site.memo
says which are kept, and for how long); array facets counted from the array column
alone, and a date facet's values in date order, newest first (newsarchive.site.facets); a
page filtered by category, language and month alone counted from the build's
`_facet_cube` (newsarchive.site.facet_cube)."""
from datasette import hookimpl

from newsarchive.site.facet_cube import install as cube_installed
from newsarchive.site.facets import facet_queries_rewritten
from newsarchive.site.memo import facet_counts_kept


@hookimpl
def startup(datasette):
    # Kept answers are keyed by the query Datasette asked, rewritten below them.
    date_columns = (datasette.plugin_config("news-archive") or {}).get("date_facets") or ()
    datasette.execute = facet_queries_rewritten(datasette, date_columns)
    cube_installed(datasette, date_columns)  # sees Datasette's own SQL: above the rewrites
    datasette.execute = facet_counts_kept(datasette)
