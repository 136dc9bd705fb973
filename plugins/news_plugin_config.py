"""Plugin configuration read once per server process, not once per table cell
(newsarchive.site.memo.plugin_config_kept says why)."""
from datasette import hookimpl

from newsarchive.site.memo import plugin_config_kept


@hookimpl
def startup(datasette):
    datasette.plugin_config = plugin_config_kept(datasette)
