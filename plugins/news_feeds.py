"""Atom feeds, /<database>/feed.atom with ?category=, ?author=, ?q= (newsarchive.site.feeds),
and the <link rel=alternate> that lets a feed reader find them from the posts table, a
category's or an author's page (the search page writes its own)."""
from datasette import hookimpl
from datasette.utils import tilde_decode

from newsarchive.site.feeds import feed_link, respond
from newsarchive.site.instruments import posts_database


async def feed(datasette, request):
    db = await posts_database(datasette, request)
    return await respond(datasette, request, db)


@hookimpl
def register_routes():
    return [(r"^/(?P<database>[^/]+)/feed\.atom$", feed)]


def _params(view_name, table, request) -> dict | None:
    """The feed a page lists the posts of, as feed.atom's parameters (None: no feed)."""
    args = request.args
    if view_name == "table" and table == "posts":
        return {"category": args.get("category") or args.get("category__exact") or "",
                "author": args.get("authors__arraycontains") or ""}
    pks = request.url_vars.get("pks")
    if view_name == "row" and table in ("categories", "authors") and pks:
        return {"category" if table == "categories" else "author": tilde_decode(pks)}
    return None


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    if request is None or database is None:
        return {}
    params = _params(view_name, table, request)
    if params is None:
        return {}
    what = " ".join(f"{'in' if k == 'category' else 'by'} {v}" for k, v in params.items() if v)
    title = "Newest posts" + (f" {what}" if what else "")
    return {"news_feed": feed_link(datasette.urls.database(database), params, title)}
