"""Photo provenance and the citation network (newsarchive.site.provenance): on the article
page, the other posts that ran its photos and the chain of posts citing it (`provenance`
for templates/_news_provenance.html); and /<database>/provenance, each credit's share of
the photos per month as a chart, with the credits and the photos run most often."""
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

from newsarchive.site.instruments import can_view_table, ensure_can_view_table
from newsarchive.site.provenance import SiteUrls, post_provenance, provenance_page
from newsarchive.site.row_page import post_url, shown_post_id

TEMPLATE = "news_provenance.html"


def site_urls(datasette, database: str) -> SiteUrls:
    return SiteUrls(
        row=post_url(datasette, database),
        query=lambda name, params: f"{datasette.urls.query(database, name)}?{urlencode(params)}",
    )


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    post_id = shown_post_id(view_name, table, request)
    if post_id is None:
        return {}

    async def inner():
        db = datasette.get_database(database)
        # Each section reads one table beyond the post: it is shown to whoever that
        # table's own page is shown to.
        shown = {table: await can_view_table(datasette, request.actor, database, table) for table in ("photos", "links")}
        return {"provenance": await post_provenance(
            db, post_id, site_urls(datasette, database), photos=shown["photos"], chain=shown["links"])}

    return inner


async def provenance(datasette, request):
    try:
        db = datasette.get_database(route=request.url_vars["database"])
    except KeyError:
        raise NotFound("Database not found") from None
    if "credit_share" not in await db.view_names():
        raise NotFound(f"{db.name} has no photo credits to chart")
    await ensure_can_view_table(datasette, request.actor, db.name, "photos")
    context = await provenance_page(db)
    urls = site_urls(datasette, db.name)
    context |= {
        "database": db.name,
        "credit_share_url": datasette.urls.table(db.name, "credit_share"),
        "photos_url": datasette.urls.table(db.name, "photos"),
        "by_credit_url": lambda credit: urls.query("photos_by_credit", {"credit": credit}),
        "reuse_url": lambda image_url: urls.query("photo_reuse", {"image_url": image_url}),
        "all_reuse_url": urls.query("photo_reuse", {"image_url": ""}),
    }
    return Response.html(await datasette.render_template(TEMPLATE, context, request=request))


@hookimpl
def register_routes():
    return [(r"^/(?P<database>[^/]+)/provenance$", provenance)]
