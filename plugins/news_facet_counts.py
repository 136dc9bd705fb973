"""Facet counts of an immutable database, counted once per server process: a repeat of
one of Datasette's facet queries is answered without SQL (newsarchive.site.memo says
which queries are kept, and for how long)."""
from datasette import hookimpl

from newsarchive.site.memo import facet_counts_kept


@hookimpl
def startup(datasette):
    datasette.execute = facet_counts_kept(datasette)
