"""A row page's "Links from other tables" (Datasette's `foreign_key_tables`: the HTML
section and the row JSON's `?_extras=foreign_key_tables`) for whoever asks: a table
the visitor may not view is left out, its name, its count and its link.

Datasette 1.0 leaves those tables out itself. Datasette 0.65.5 counts and lists every
table that points at the row, whatever the visitor may view, and offers no hook
between the list and the page or the JSON: ViewableLinksRowView is its row view with
the list filtered, which plugins/news_linked_tables.py routes ahead of Datasette's.
"""
from __future__ import annotations

import asyncio
import re

from datasette.utils import tilde_encode
from datasette.utils.asgi import Forbidden
from datasette.views.row import RowView


def row_route(datasette) -> str | None:
    """Datasette 0.65.5's route for a row page (app.py, `_routes`) narrowed to the
    databases served: a plugin's route comes before all of Datasette's, and the bare
    three-segment pattern would also take /-/static/app.css, the static mounts' files and
    the other plugins' files. A database named like a static mount is left to
    Datasette, whose static route comes first. None when no database is served."""
    mounts = {mount for mount, _ in datasette.static_mounts}
    names = sorted(re.escape(tilde_encode(db.route)) for db in datasette.databases.values() if db.route not in mounts)
    if not names:
        return None
    return rf"^/(?P<database>{'|'.join(names)})/(?P<table>[^/]+?)/(?P<pks>[^/]+?)(\.(?P<format>\w+))?$"


async def viewable_links(datasette, actor, database: str, links: list[dict]) -> list[dict]:
    """The entries of a `foreign_key_tables` list whose table the actor may view."""
    viewable = await viewable_tables(datasette, actor, database, {link["other_table"]: None for link in links})
    return [link for link in links if link["other_table"] in viewable]


async def viewable_tables(datasette, actor, database: str, tables) -> set[str]:
    """The tables the actor may view, decided as Datasette 0.65's table page decides
    (view-table, else view-database, else view-instance: the first that answers).

    Each view-table answer is a query on sqlite_master and then copies of the whole
    metadata, so they are asked together, the queries on the SQL threads side by side;
    the other two are the same for every table of the database and asked once."""
    tables = list(tables)
    answers = await asyncio.gather(
        *(datasette.permission_allowed(actor, "view-table", (database, table), default=None) for table in tables))
    database_answer = None
    if None in answers:
        database_answer = await _may_view_database(datasette, actor, database)
    return {table for table, answer in zip(tables, answers) if (database_answer if answer is None else answer)}


async def _may_view_database(datasette, actor, database: str) -> bool:
    try:
        await datasette.ensure_permissions(actor, [("view-database", database), "view-instance"])
    except Forbidden:
        return False
    return True


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
