"""Reprints and related posts on the article page (newsarchive.site.related): `related`
for templates/_news_related.html, which templates/row.html includes."""
from datasette import hookimpl
from datasette.utils import tilde_encode, urlsafe_components

from newsarchive.site.related import post_relations


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    if view_name != "row" or table != "posts" or request is None:
        return {}

    async def inner():
        pks = request.url_vars.get("pks")
        if pks is None:
            return {"related": {}}
        (post_id,) = urlsafe_components(pks)
        db = datasette.get_database(database)
        return {"related": await post_relations(db, post_id, lambda pk: datasette.urls.row(database, "posts", tilde_encode(pk)))}

    return inner
