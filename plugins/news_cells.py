"""Table cells: photo URLs as thumbnails, outbound URLs as safe links, search snippets
highlighted, Markdown columns (posts.body) rendered by datasette-render-markdown with
their photos from the local mirror. Everything else is left to Datasette."""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette import hookimpl

from newsarchive.web import highlight, link, mirror_images, thumbnail, HIGHLIGHT_OPEN

IMAGE_FK_COLUMNS = {("posts", "lead_image_id"), ("post_images", "image_id")}
URL_COLUMNS = {("posts", "origin_url"), ("links", "url")}


def _mirror(datasette):
    return (datasette.plugin_config("news-archive") or {}).get("image_mirror") or {}


def _markdown(value, column, table, database, datasette):
    """What datasette-render-markdown shows for a configured column, photos mirrored.

    Left to that plugin, every photo of a post body (on the table page and in the row
    page's "All columns") would be loaded from its original host.
    """
    config = datasette.plugin_config("datasette-render-markdown", database=database, table=table) or {}
    if column not in (config.get("columns") or []):
        return None
    from datasette_render_markdown import render_markdown

    html = render_markdown(value, config.get("extensions") or [], config.get("extra_tags") or [], config.get("extra_attrs") or {})
    return mirror_images(html, _mirror(datasette))


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column == "snippet" and isinstance(value, str) and HIGHLIGHT_OPEN in value:
        return highlight(value)
    if (table, column) == ("images", "url") or (table is None and column in ("image_url", "lead_image_url")) or (
        table in ("photos", "posts_flat") and column in ("image_url", "lead_image_url")
    ):
        return thumbnail(value, _mirror(datasette)) if isinstance(value, str) else None
    if (table, column) in URL_COLUMNS or (table is None and column in ("origin_url", "url")):
        return link(value) if isinstance(value, str) else None
    if table and isinstance(value, str):
        rendered = _markdown(value, column, table, database, datasette)
        if rendered is not None:
            return rendered
    if (table, column) in IMAGE_FK_COLUMNS and value is not None:
        image_id = value.get("value") if isinstance(value, dict) else value

        async def fetch():
            db = datasette.get_database(database)
            result = await db.execute("select url from images where id = ?", [image_id])
            first = result.first()
            return thumbnail(first["url"], _mirror(datasette), size=80) if first else None

        return fetch
    return None
