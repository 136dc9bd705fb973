"""The concordance, /<database>/concordance with .json and .csv
(newsarchive.site.concordance, concordance_page): every occurrence of a word or phrase
in the posts' body text with the words around it; and the small script of the article
page that offers the concordance of a selected word (templates/news-select-word.js)."""
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response

from newsarchive.site.concordance_page import respond
from newsarchive.site.instruments import posts_database

#: In the templates folder, which every way of serving the site carries; served from
#: this site because the pages' CSP allows scripts from 'self' only.
SCRIPT = "news-select-word.js"
SCRIPT_PATH = "/-/news-static/news-select-word.js"


async def concordance(datasette, request):
    db = await posts_database(datasette, request)
    return await respond(datasette, request, db, request.url_vars.get("format") or "")


async def select_word_script(datasette):
    return Response((Path(datasette.template_dir) / SCRIPT).read_text(encoding="utf-8"), content_type="text/javascript; charset=utf-8",
                    headers={"cache-control": "max-age=3600"})


@hookimpl
def register_routes():
    return [
        (r"^/(?P<database>[^/]+)/concordance(?P<format>\.json|\.csv)?$", concordance),
        (r"^/-/news-static/news-select-word\.js$", select_word_script),
    ]


@hookimpl
def extra_template_vars(view_name, table, database, datasette):
    if view_name != "row" or table != "posts" or database is None:
        return {}
    base = datasette.urls.database(database)
    return {"news_select_word": {"script": datasette.urls.path(SCRIPT_PATH), "concordance": base + "/concordance",
                                 "trends": base + "/trends"}}
