"""Table cells: photo URLs as thumbnails, outbound URLs as safe links, search snippets
highlighted, Markdown columns (posts.body) rendered with datasette-render-markdown's
renderer (with the allow-list of our `markdown` setting) and photos from the local
mirror. Everything else is left to Datasette."""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import functools
import json

from datasette import hookimpl
from datasette.utils import tilde_encode
from markupsafe import Markup

from newsarchive.text.sitegen import read_templates
from newsarchive.site.web import HIGHLIGHT_OPEN, highlight, link, markdown_preview, mirror_images, thumbnail

IMAGE_FK_COLUMNS = {("posts", "lead_image_id"), ("post_images", "image_id")}
URL_COLUMNS = {("posts", "origin_url"), ("links", "url")}


def _mirror(datasette):
    """The photo mirror (thumbnail cells ask for it on every row: plugins/news_plugin_config.py
    keeps the lookup)."""
    return (datasette.plugin_config("news-archive") or {}).get("image_mirror") or {}


def _markdown(row, value, column, table, database, datasette):
    """A configured Markdown column (posts.body) as datasette-render-markdown renders it,
    photos from the local mirror, cut to its opening paragraphs with a link to the rest.

    A table page shows 50 bodies: rendering and sanitising them whole took most of a
    second; the opening keeps the page fast and readable, and the row page shows the
    whole article. Rendered previews are cached (the database is immutable).
    """
    columns, config_json, mirror_json = _markdown_settings(datasette, database, table)
    if column not in columns:
        return None
    preview, cut = markdown_preview(value)
    html = _render(preview, config_json, mirror_json)
    if cut and row is not None and "id" in row.keys():
        url = datasette.urls.row(database, table, tilde_encode(str(row["id"])))
        html = Markup(f'{html}<p><a href="{url}">… read the whole post</a></p>')
    return html


_SETTINGS: dict = {}


def _markdown_settings(datasette, database, table) -> tuple:
    """A table's Markdown columns, renderer settings and photo mirror (as cache keys),
    looked up once per table: this runs for every cell, and plugin_config is not cheap."""
    key = (id(datasette), database, table)
    if key not in _SETTINGS:
        ours = datasette.plugin_config("news-archive", database=database, table=table) or {}
        config = ours.get("markdown") or {}
        _SETTINGS[key] = (
            frozenset(ours.get("markdown_columns") or ()),
            json.dumps(config, sort_keys=True),
            json.dumps(_mirror(datasette), sort_keys=True),
        )
    return _SETTINGS[key]


@functools.lru_cache(maxsize=4096)
def _render(markdown, config_json, mirror_json):
    from datasette_render_markdown import render_markdown

    config = json.loads(config_json)
    html = render_markdown(read_templates(markdown), config.get("extensions") or [], config.get("extra_tags") or [], config.get("extra_attrs") or {})
    return mirror_images(html, json.loads(mirror_json))


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
        rendered = _markdown(row, value, column, table, database, datasette)
        if rendered is not None:
            return rendered
    if (table, column) in IMAGE_FK_COLUMNS and value is not None:
        if isinstance(value, dict) and isinstance(value.get("label"), str):
            # Datasette expanded the foreign key to its label, images.url: no query needed.
            return thumbnail(value["label"], _mirror(datasette), size=80)
        image_id = value.get("value") if isinstance(value, dict) else value

        async def fetch():
            db = datasette.get_database(database)
            result = await db.execute("select url from images where id = ?", [image_id])
            first = result.first()
            return thumbnail(first["url"], _mirror(datasette), size=80) if first else None

        return fetch
    return None
