"""Plugin configuration read once per server process, not once per table cell.

Datasette calls every plugin's render_cell hook for every cell it shows, and
datasette-render-markdown's hook starts by asking `datasette.plugin_config`, which
merges the metadata for the cell's database and table afresh each time (~15 us). A
search page of 100 rows has 500 cells: ~8 ms of a ~45 ms page went to those
lookups, ~3 ms of the posts page. The configuration is the metadata the server was
started with, and nothing here changes it while the server runs (a new build
restarts the server), so each answer is kept: at most MAX_KEPT of them, one per
plugin, database and table asked about.
"""
from datasette import hookimpl

MAX_KEPT = 4096


@hookimpl
def startup(datasette):
    ask = datasette.plugin_config  # the bound method
    kept = {}

    def plugin_config(plugin_name, database=None, table=None, fallback=True):
        key = (plugin_name, database, table, fallback)
        try:
            return kept[key]
        except KeyError:
            pass
        except TypeError:  # a name that is not hashable: nothing to keep it by
            return ask(plugin_name, database=database, table=table, fallback=fallback)
        value = ask(plugin_name, database=database, table=table, fallback=fallback)
        if len(kept) < MAX_KEPT:
            kept[key] = value
        return value

    datasette.plugin_config = plugin_config
