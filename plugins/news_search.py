"""The search page, /<database>/search with .json and .csv (newsarchive.site.search_page):
every match counted and reachable page by page, by relevance or date, with filters, each
result linking to its post."""
from datasette import hookimpl
from datasette.utils.asgi import NotFound

from newsarchive.site.instruments import ensure_can_view_table
from newsarchive.site.search_page import respond


async def search(datasette, request):
    try:
        db = datasette.get_database(route=request.url_vars["database"])
    except KeyError:
        raise NotFound("Database not found") from None
    if not await db.table_exists("posts_fts"):
        raise NotFound(f"{db.name} has no posts to search")
    await ensure_can_view_table(datasette, request.actor, db.name, "posts")
    return await respond(datasette, request, db.name, request.url_vars.get("format") or "")


@hookimpl
def register_routes():
    return [(r"^/(?P<database>[^/]+)/search(?P<format>\.json|\.csv)?$", search)]
