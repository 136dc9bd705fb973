"""Reprints and related posts on the article page (newsarchive.site.related): `related`
for templates/_news_related.html, which templates/row.html includes."""
from datasette import hookimpl

from newsarchive.site.instruments import can_view_table
from newsarchive.site.related import post_relations
from newsarchive.site.row_page import post_url, shown_post_id


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    post_id = shown_post_id(view_name, table, request)
    if post_id is None:
        return {}

    async def inner():
        db = datasette.get_database(database)
        # Each part reads one table beyond the post: it is shown to whoever that
        # table's own page is shown to.
        shown = {table: await can_view_table(datasette, request.actor, database, table)
                 for table in ("reprints", "related_posts")}
        return {"related": await post_relations(
            db, post_id, post_url(datasette, database), reprints=shown["reprints"], related=shown["related_posts"])}

    return inner
