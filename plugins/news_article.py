"""The posts row page reads like the article (newsarchive.site.article): headline, date,
category, authors, lead photo, body with captioned photos, tags, the links it makes and
the posts that cite it. Provides `article` to templates/row.html; the body is the HTML
the build rendered (post_html.article), not rendered here."""
from datasette import hookimpl

from newsarchive.site.article import ArticleSettings, PageUrls, load_article
from newsarchive.site.row_page import post_url, shown_post_id


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    post_id = shown_post_id(view_name, table, request)
    if post_id is None:
        return {}

    async def inner():
        settings = ArticleSettings(mirror=(datasette.plugin_config("news-archive") or {}).get("image_mirror") or {})
        urls = PageUrls(row=post_url(datasette, database), posts=datasette.urls.table(database, "posts"))
        return {"article": await load_article(datasette.get_database(database), post_id, settings, urls)}

    return inner
