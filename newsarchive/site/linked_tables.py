"""A row page's "Links from other tables" (Datasette's `foreign_key_tables`: the HTML
section and the row JSON's `?_extras=foreign_key_tables`) for whoever asks: a table
the visitor may not view is left out, its name, its count and its link.

Datasette 1.0 leaves those tables out itself. Datasette 0.65.5 counts and lists every
table that points at the row, whatever the visitor may view, and offers no hook
between the list and the page or the JSON: `row_view` is its own row view with the
list filtered, which plugins/news_linked_tables.py routes ahead of Datasette's.
"""
from __future__ import annotations

from datasette.views.row import RowView

from newsarchive.site.instruments import can_view_table

#: Datasette 0.65.5's route for a row page (app.py, `_routes`), so the view below takes
#: exactly the URLs Datasette's own row view would.
ROW_ROUTE = r"/(?P<database>[^\/\.]+)/(?P<table>[^/]+?)/(?P<pks>[^/]+?)(\.(?P<format>\w+))?$"


async def viewable_links(datasette, actor, database: str, links: list[dict]) -> list[dict]:
    """The entries of a `foreign_key_tables` list whose table the actor may view, as the
    table's own page decides (one check per table, however many columns point here)."""
    allowed: dict[str, bool] = {}
    kept = []
    for link in links:
        table = link["other_table"]
        if table not in allowed:
            allowed[table] = await can_view_table(datasette, actor, database, table)
        if allowed[table]:
            kept.append(link)
    return kept


class ViewableLinksRowView(RowView):
    """Datasette 0.65's row view, its `foreign_key_tables` limited to the tables the
    visitor may view. Datasette makes one view object per request (`as_view`), so the
    actor kept here is the one the request being answered is from."""

    actor: dict | None = None

    async def dispatch_request(self, request):
        self.actor = request.actor
        return await super().dispatch_request(request)

    async def foreign_key_tables(self, database, table, pk_values):
        links = await super().foreign_key_tables(database, table, pk_values)
        return await viewable_links(self.ds, self.actor, database, links)
