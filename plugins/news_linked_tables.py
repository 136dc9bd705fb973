"""A row page lists, under "Links from other tables" and in its JSON's
`?_extras=foreign_key_tables`, only the tables the visitor may view
(newsarchive.site.linked_tables). Datasette 1.0 does so itself; on 0.65 the row view
that does is routed ahead of Datasette's own."""
import datasette as _datasette
from datasette import hookimpl

from newsarchive.site.linked_tables import ViewableLinksRowView, row_route

_V1 = int(_datasette.__version__.split(".")[0]) >= 1


@hookimpl
def register_routes(datasette):
    route = None if _V1 else row_route(datasette)
    return [(route, ViewableLinksRowView.as_view(datasette))] if route else []
