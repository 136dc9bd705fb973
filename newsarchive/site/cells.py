"""Table cells: photo URLs as thumbnails from the local mirror, outbound URLs as safe
links, and Markdown columns as a rendered opening with a link to the rest: posts.body
as the build stored it (post_html.preview), any other as rendered here from a cut text,
off the event loop (text.render.preview_html).

The photo mirror and the URL check serve the article page too (newsarchive.site.article).
"""
from __future__ import annotations

import asyncio
import functools
import json
import re
import weakref
from html import unescape as html_unescape
from typing import Callable, NamedTuple
from urllib.parse import urljoin

from markupsafe import Markup, escape

from ..text.render import BASE_TAGS, markdown_preview, preview_html

SAFE_URL = re.compile(r"^(https?://|/(?!/))", re.IGNORECASE)


#: A URL with a scheme (`https:`, `javascript:`) or a host (`//host/`): not site-relative.
_NOT_SITE_RELATIVE = re.compile(r"^([a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


def site_url(url: str | None, site: str | None) -> str | None:
    """A site-relative URL (`/a.png`, `a.png`, `../a.png`) read against the archive's home
    site (`site`, ending in /); None without one, as it would point at this site instead.
    Any other URL as it is."""
    if not url or _NOT_SITE_RELATIVE.match(url.strip()):
        return url
    return urljoin(site, url.strip()) if site else None


def mirror_url(url: str | None, mirror: dict | None) -> str | None:
    """The URL to load a photo from: site-relative URLs read against the site the
    mirror's "/" names (identity.photo_mirror), then a local mirror by prefix, else the
    URL itself. None for a site-relative URL and no site."""
    mirror = mirror or {}
    url = site_url(url, mirror.get("/"))
    if not url:
        return url
    for prefix, replacement in mirror.items():
        if prefix != "/" and url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


_IMG_SRC = re.compile(r'(<img\b(?:\s+[^\s=>]+(?:="[^"]*")?)*?\s+src=")([^"]*)(")', re.IGNORECASE)


def mirror_images(html: str, mirror: dict | None) -> Markup:
    """Sanitised HTML (attributes double-quoted) with every <img src> mapped by mirror_url.

    For datasette-render-markdown's output, which would otherwise load every photo of a
    post body from its original host.
    """

    def swap(m: re.Match) -> str:
        return m.group(1) + str(escape(mirror_url(html_unescape(m.group(2)), mirror) or "")) + m.group(3)

    return Markup(_IMG_SRC.sub(swap, str(html)))


_A_HREF = re.compile(r'(<a\b[^>]*?)\s+href="([^"]*)"', re.IGNORECASE)


def resolve_links(html: str, site: str | None) -> Markup:
    """Sanitised HTML with each site-relative link read against the archive's home site
    (site_url), or without its href when there is none: left as it is, it would
    point at a page of this site. Links within the page (`#notes`) stay."""

    def swap(m: re.Match) -> str:
        href = html_unescape(m.group(2))
        if href.startswith("#"):
            return m.group(0)
        resolved = site_url(href, site)
        return m.group(1) + (f' href="{escape(resolved)}"' if resolved else "")

    return Markup(_A_HREF.sub(swap, str(html)))


def serve_html(html: str, mirror: dict | None) -> Markup:
    """HTML the build rendered and sanitised, as a page shows it: photos from the mirror,
    site-relative URLs read against the archive's home site or dropped. Two regular
    expression passes, linear in the HTML."""
    mirror = mirror or {}
    return resolve_links(mirror_images(html, mirror), mirror.get("/"))


def is_safe_url(url: str | None) -> bool:
    """Only http(s) and site-relative URLs become links or image sources."""
    return bool(url) and bool(SAFE_URL.match(url.strip()))


def thumbnail(url: str, mirror: dict | None = None, size: int = 120) -> Markup:
    """A small image linking to the full one; unsafe URLs stay as escaped text."""
    src = mirror_url(url, mirror)
    if not is_safe_url(src):
        return Markup(escape(url))
    return Markup(
        f'<a href="{escape(src)}" class="news-thumb"><img src="{escape(src)}" loading="lazy" alt="" '
        f'style="max-width:{size}px;max-height:{size}px"></a><br><span class="news-url">{escape(url)}</span>'
    )


def internal_link(href: str, text: str) -> Markup:
    """A link within the site (href built by Datasette's URL helpers)."""
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


#: How much of a post's plain text a table row shows.
OPENING_CHARS = 200


def opening(text: str, limit: int = OPENING_CHARS) -> str:
    """The start of a plain text on one line, cut after a whole word near `limit`
    characters (mid-word in scripts written without spaces), with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", limit // 2, limit)
    return flat[: cut if cut != -1 else limit].rstrip(" ,;:") + "…"


_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")


def short_time(value: str) -> Markup | None:
    """An ISO 8601 time (posts.published_at, UTC) to the minute, `2024-09-03 02:10`, the
    full value in its `datetime` and tooltip; None for anything else."""
    match = _ISO_TIME.match(value)
    if match is None:
        return None
    return Markup(f'<time datetime="{escape(value)}" title="{escape(value)}">{match[1]} {match[2]}</time>')


def json_list(value) -> list[str] | None:
    """A JSON array of strings (posts.authors, posts.tags) as a list; else None."""
    try:
        items = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return None
    return items


def link(url: str, text: str | None = None, site: str | None = None) -> Markup:
    """An external link that leaks nothing back (noopener, noreferrer); a site-relative
    URL read against the archive's home site (site_url)."""
    href = site_url(url, site)
    if not is_safe_url(href):
        return Markup(escape(url))
    return Markup(f'<a href="{escape(href)}" rel="nofollow noopener noreferrer">{escape(text or url)}</a>')


# ----------------------------------------------------------------------------- which cells

#: Foreign keys to images: shown as the photo, not its id.
IMAGE_FK_COLUMNS = frozenset({("posts", "lead_image_id"), ("post_images", "image_id")})
URL_COLUMNS = frozenset({("posts", "origin_url"), ("links", "url")})
#: Photo URL columns of the views and of arbitrary SQL (table None).
_PHOTO_COLUMNS = ("image_url", "lead_image_url")


def is_photo_column(table: str | None, column: str) -> bool:
    """A column of photo URLs: images.url, and image_url/lead_image_url of the views or of SQL."""
    return (table, column) == ("images", "url") or (table in (None, "photos", "posts_flat") and column in _PHOTO_COLUMNS)


#: Columns that hold a post id, in any table, view or SQL result: shown as a link to the post.
POST_ID_COLUMNS = frozenset({"post_id", "target_post_id"})
#: posts' JSON arrays, shown as names that each link to the posts that carry them.
LIST_COLUMNS = frozenset({("posts", "authors"), ("posts", "tags"), ("posts_flat", "authors"), ("posts_flat", "tags")})


def is_link_column(table: str | None, column: str) -> bool:
    """A column of outbound URLs: posts.origin_url and links.url, or those names in SQL."""
    return (table, column) in URL_COLUMNS or (table is None and column in ("origin_url", "url"))


# ----------------------------------------------------------------------------- Markdown


class MarkdownSettings(NamedTuple):
    """A table's Markdown columns, and the renderer's settings and photo mirror as JSON
    (hashable, so that rendered previews can be cached by them)."""

    columns: frozenset[str]
    config_json: str
    mirror_json: str


def markdown_settings(table_config: dict, mirror: dict) -> MarkdownSettings:
    """From a table's `news-archive` plugin settings (markdown_columns, markdown) and the mirror."""
    return MarkdownSettings(
        frozenset(table_config.get("markdown_columns") or ()),
        json.dumps(table_config.get("markdown") or {}, sort_keys=True),
        json.dumps(mirror, sort_keys=True),
    )


def with_more_link(html: Markup, url: str | None) -> Markup:
    """A cut preview with its link to the whole row (None: no link)."""
    if url is None:
        return html
    return Markup(f'{html}<p><a href="{escape(url)}">… read the whole post</a></p>')


_STORED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


async def has_stored_html(db) -> bool:
    """Whether a Datasette database holds post_html (a build of this version), asked
    once per database: a database built without it renders on request instead."""
    if db not in _STORED:
        _STORED[db] = await db.table_exists("post_html")
    return _STORED[db]


def stored_preview(preview: str, cut: bool, mirror: dict, row_url: Callable[[], str | None]) -> Markup:
    """posts.body as the build rendered its opening (post_html.preview)."""
    return with_more_link(serve_html(preview, mirror), row_url() if cut else None)


async def markdown_cell(markdown: str, settings: MarkdownSettings, row_url: Callable[[], str | None]) -> Markup:
    """A Markdown cell rendered here: its opening (at most PREVIEW_MAX characters, whatever
    its shape), rendered in a thread so that the event loop keeps serving, photos from
    the mirror, with a link to the whole row (`row_url()`, asked only for a cut cell)."""
    preview, cut = markdown_preview(markdown)
    html = await asyncio.get_running_loop().run_in_executor(
        None, _render, preview, settings.config_json, settings.mirror_json)
    return with_more_link(html, row_url() if cut else None)


@functools.lru_cache(maxsize=4096)
def _render(markdown: str, config_json: str, mirror_json: str) -> Markup:
    """Cached: the database is immutable, so a preview renders the same every time. The
    allow-list is datasette-render-markdown's with the table's `markdown` setting
    (extra_attrs replaces a tag's defaults, as there)."""
    config = json.loads(config_json)
    attributes = {"a": ["href"], "img": ["src", "alt"]} | (config.get("extra_attrs") or {})
    tags = BASE_TAGS | set(config.get("extra_tags") or [])
    html, _ = preview_html(markdown, tags, attributes)
    return serve_html(html, json.loads(mirror_json))
