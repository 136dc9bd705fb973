"""Table cells: photo URLs as thumbnails, outbound URLs as safe links, search snippets
highlighted. Everything else is left to Datasette (and datasette-render-markdown)."""
from datasette import hookimpl

from newsarchive.web import highlight, link, thumbnail, HIGHLIGHT_OPEN

IMAGE_FK_COLUMNS = {("posts", "lead_image_id"), ("post_images", "image_id")}
URL_COLUMNS = {("posts", "origin_url"), ("links", "url")}


def _mirror(datasette):
    return (datasette.plugin_config("news-archive") or {}).get("image_mirror") or {}


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
    if (table, column) in IMAGE_FK_COLUMNS and value is not None:
        image_id = value.get("value") if isinstance(value, dict) else value

        async def fetch():
            db = datasette.get_database(database)
            result = await db.execute("select url from images where id = ?", [image_id])
            first = result.first()
            return thumbnail(first["url"], _mirror(datasette), size=80) if first else None

        return fetch
    return None
