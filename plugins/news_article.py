"""The posts row page reads like the article (newsarchive.site.article): headline, date,
category, authors, lead photo, body with captioned photos, tags, the links it makes and
the posts that cite it. Provides `article` to templates/row.html; the body is the HTML
the build rendered (post_html.article), not rendered here."""
from datasette import hookimpl
from datasette.utils import tilde_encode, urlsafe_components

from newsarchive.site.article import ArticleSettings, PageUrls, load_article


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    if view_name != "row" or table != "posts" or request is None:
        return {}

    async def article():
        pks = request.url_vars.get("pks")
        if pks is None:
            return {}
        (post_id,) = urlsafe_components(pks)
        settings = ArticleSettings(mirror=(datasette.plugin_config("news-archive") or {}).get("image_mirror") or {})
        urls = PageUrls(row=lambda pk: datasette.urls.row(database, "posts", tilde_encode(pk)),
                        posts=datasette.urls.table(database, "posts"))
        return await load_article(datasette.get_database(database), post_id, settings, urls)

    async def inner():
        return {"article": await article()}

    return inner
