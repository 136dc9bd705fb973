"""Table cells (newsarchive.site.cells): every post id as a link to its post, a post's
headline as a link to it, its plain text as a one-line opening, its authors and tags as
links to their posts, photo URLs as thumbnails, outbound URLs as safe links, search
snippets highlighted, posts.body as the opening the build rendered (post_html.preview),
other Markdown columns rendered from a cut text in a thread (with the allow-list of
their `markdown` setting), photos from the local mirror. Everything else is left to
Datasette."""
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils import tilde_encode
from markupsafe import Markup, escape

from newsarchive.site.cells import (
    IMAGE_FK_COLUMNS, LIST_COLUMNS, POST_ID_COLUMNS, has_stored_html, internal_link, is_link_column, is_photo_column, json_list,
    link, markdown_cell, markdown_settings, opening, short_time, stored_preview, thumbnail,
)
from newsarchive.site.search import HIGHLIGHT_OPEN, highlight

_SETTINGS: dict = {}


def _mirror(datasette):
    """The photo mirror (thumbnail cells ask for it on every row: plugins/news_plugin_config.py
    keeps the lookup)."""
    return (datasette.plugin_config("news-archive") or {}).get("image_mirror") or {}


def _markdown_settings(datasette, database, table):
    """Looked up once per table: this runs for every cell, and plugin_config is not cheap."""
    key = (id(datasette), database, table)
    if key not in _SETTINGS:
        ours = datasette.plugin_config("news-archive", database=database, table=table) or {}
        _SETTINGS[key] = markdown_settings(ours, _mirror(datasette))
    return _SETTINGS[key]


#: Markdown columns whose rendered opening the build stores: (table, column) -> SQL by id.
STORED_PREVIEWS = {("posts", "body"): "select preview, preview_cut from post_html where post_id = ?"}


def _markdown(row, value, column, table, database, datasette):
    settings = _markdown_settings(datasette, database, table)
    if column not in settings.columns:
        return None

    def row_url():
        if row is None or "id" not in row.keys():
            return None
        return datasette.urls.row(database, table, tilde_encode(str(row["id"])))

    async def cell():
        stored = await _stored_preview(row, table, column, database, datasette)
        if stored is not None:
            return stored_preview(stored["preview"], stored["preview_cut"], _mirror(datasette), row_url)
        return await markdown_cell(value, settings, row_url)

    return cell


async def _stored_preview(row, table, column, database, datasette):
    """The build's preview of this row's cell (one lookup by primary key); None when
    there is none (a database built without post_html)."""
    sql = STORED_PREVIEWS.get((table, column))
    if sql is None or row is None or "id" not in row.keys():
        return None
    db = datasette.get_database(database)
    if not await has_stored_html(db):
        return None
    return (await db.execute(sql, [row["id"]])).first()


def _image_by_id(value, database, datasette):
    if isinstance(value, dict) and isinstance(value.get("label"), str):
        # Datasette expanded the foreign key to its label, images.url: no query needed.
        return thumbnail(value["label"], _mirror(datasette), size=80)
    image_id = value.get("value") if isinstance(value, dict) else value

    async def fetch():
        db = datasette.get_database(database)
        first = (await db.execute("select url from images where id = ?", [image_id])).first()
        return thumbnail(first["url"], _mirror(datasette), size=80) if first else None

    return fetch


def _post_url(datasette, database, post_id: str) -> str:
    return datasette.urls.row(database, "posts", tilde_encode(post_id))


def _list_links(items, column, table, database, datasette) -> Markup:
    """Each name links to the rows whose array holds it (Datasette's `__arraycontains`)."""
    base = datasette.urls.table(database, table)
    return Markup(", ").join(
        internal_link(f"{base}?{urlencode({f'{column}__arraycontains': item})}", item) for item in items
    )


def _posts_cell(row, value, column, database, datasette):
    """The posts table as a reader scans it: the headline opens the post, the time reads
    to the minute, the plain text is its opening line."""
    if column == "title" and row is not None and "id" in row.keys() and isinstance(row["id"], str):
        return internal_link(_post_url(datasette, database, row["id"]), value)
    if column == "body_text":
        return escape(opening(value))
    if column == "published_at":
        return short_time(value)
    return None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column == "snippet" and isinstance(value, str) and HIGHLIGHT_OPEN in value:
        return highlight(value)
    if column in POST_ID_COLUMNS and isinstance(value, str):
        return internal_link(_post_url(datasette, database, value), value)
    if table == "posts" and isinstance(value, str):
        rendered = _posts_cell(row, value, column, database, datasette)
        if rendered is not None:
            return rendered
    if (table, column) in LIST_COLUMNS:
        items = json_list(value)
        return _list_links(items, column, table, database, datasette) if items is not None else None
    if is_photo_column(table, column):
        return thumbnail(value, _mirror(datasette)) if isinstance(value, str) else None
    if is_link_column(table, column):
        return link(value, site=_mirror(datasette).get("/")) if isinstance(value, str) else None
    if table and isinstance(value, str):
        rendered = _markdown(row, value, column, table, database, datasette)
        if rendered is not None:
            return rendered
    if (table, column) in IMAGE_FK_COLUMNS and value is not None:
        return _image_by_id(value, database, datasette)
    return None
