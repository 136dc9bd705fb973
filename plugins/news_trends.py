"""Term trends, /<database>/trends with .json and .csv (newsarchive.site.trends): how
many posts match each of up to five terms, month by month, against all posts."""
from datasette import hookimpl

from newsarchive.site.instruments import posts_database
from newsarchive.site.trends import respond


async def trends(datasette, request):
    db = await posts_database(datasette, request)
    return await respond(datasette, request, db, request.url_vars.get("format") or "")


@hookimpl
def register_routes():
    return [(r"^/(?P<database>[^/]+)/trends(?P<format>\.json|\.csv)?$", trends)]
