"""A Post -> the rows it contributes: the post itself, its photos, captions, credits,
links, tags and authors.

Pure functions, run in the build's workers. `extract` reads one group of fields per
helper; lookups are keyed by their text, images and captions by a hash of it
(fields.hash_id).
"""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

from ..relate.features import feature_rows
from ..text.credits import collapse, parse_credit
from .render import render_post
from ..text.words import mark_words
from .body import BodyParts, Image, Link, body_events, walk_body
from .bylines import AUTHOR_KEYS, read_bylines
from .fields import (
    code_timestamp, file_name_date, hash_id, iso_utc, normalize_language, normalize_name, parse_date,
    post_site_path, resolve_url, site_path_key, split_list, text_value, url_facts,
)
from .reader import Post, PostError

#: Frontmatter keys that have columns of their own; everything else goes to `extra`.
MODELED_KEYS = (
    "code", "title", "description", "category", "language", "date", "origin_url", "image", "tags", "categories",
    *AUTHOR_KEYS,
)
#: The tables a post adds rows to besides `posts`.
ROW_TABLES = (
    "categories", "languages", "images", "captions", "credits", "post_images", "links", "tags", "post_tags",
    "authors", "post_authors", "post_html",
)


@dataclass
class Record:
    """All rows one post contributes: `post` keyed by posts column, `rows` by table
    (ROW_TABLES), each a list of tuples in the table's column order; `warnings`, what
    the build reports of it without refusing it, as (line, message)."""

    post: dict
    rows: dict
    warnings: list = field(default_factory=list)


class _Frontmatter:
    """The frontmatter as extract reads it, and `extra`: the keys without a column of
    their own, modeled keys whose value has the wrong shape (kept, not dropped), and
    the earlier values of keys written twice (`title (line 2)`)."""

    __slots__ = ("meta", "extra")

    def __init__(self, post: Post):
        self.meta = post.meta
        self.extra = {k: v for k, v in post.meta.items() if k not in MODELED_KEYS}
        for duplicate in post.duplicates:
            self.extra[duplicate.extra_key] = duplicate.value

    def keep(self, key: str):
        """Keep a modeled key's value in extra: its shape does not fit its column."""
        if self.meta.get(key) is not None:
            self.extra[key] = self.meta[key]

    def text(self, key: str) -> str | None:
        """The key's text (fields.text_value), or None with the value kept in extra."""
        value = text_value(self.meta.get(key))
        if value is None:
            self.keep(key)
        return value


def post_id_for(post: Post) -> str:
    """`code` from the frontmatter, else the path without its extension: stable across rebuilds."""
    code = text_value(post.meta.get("code"))
    if code and code.strip():
        return code.strip()
    stem, _ = posixpath.splitext(post.path)
    return stem


def extract(post: Post, features: bool = True) -> Record:
    """Build every row for one post, or raise PostError (with the line of the offending key).

    features=False leaves `_post_features` empty for the caller to fill: the parser
    processes compute a chunk's features together (relate.features.feature_batch)."""
    fm = _Frontmatter(post)
    post_id = post_id_for(post)
    fm.text("code")  # e.g. `code: [A1]`: the id comes from the path, the value is kept
    events = body_events(post.body_lf)  # one parse for the walk and the rendering
    parts = walk_body(post.body_lf, events)
    rows = {table: [] for table in ROW_TABLES}
    title, title_source = _title(fm, parts, post_id)
    description = _description(fm)
    category = _category(fm, rows)
    language = _language(fm, rows)
    published, date_source, code_time = _dates(post)
    published_at = iso_utc(published) if published else None
    origin_url = fm.text("origin_url")
    origin_url = origin_url.strip() if origin_url else None
    lead_image_id = _images(fm, rows, post_id, parts.images)
    _links(rows, post_id, origin_url, parts.links)
    tags = _tags(fm, rows, post_id)
    authors = _authors(fm, rows, post_id)
    if features:
        rows["_post_features"] = feature_rows(post_id, parts.text)
    source_domain, origin_key = url_facts(origin_url)
    if not origin_url:
        origin_key = site_path_key(post_site_path(post))
    record = {
        "id": post_id,
        "title": title,
        "title_source": title_source,
        "description": description,
        "category": category,
        "language": language,
        "authors": _json_list(authors),
        "tags": _json_list(tags),
        "published_at": published_at,
        "published_month": published_at[:7] if published_at else None,
        "date_source": date_source,
        "code_time": iso_utc(code_time) if code_time else None,
        "origin_url": origin_url,
        "source_domain": source_domain,
        "url_key": origin_key,
        "lead_image_id": lead_image_id,
        "body": post.body,
        "body_text": parts.text,
        "word_count": parts.word_count,
        "image_count": len(rows["post_images"]),
        "link_count": len(rows["links"]),
        "path": post.path,
        "sha256": post.sha256,
        "extra": json.dumps(fm.extra, ensure_ascii=False) if fm.extra else None,
        "title_words": words_copy(title),
        "description_words": words_copy(description),
        "frontmatter": post.frontmatter_text,
        "file_format": _file_format(post),
    }
    return Record(post=record, rows=rows, warnings=_render(rows, post_id, post.body, title, title_source, events))


def _render(rows: dict, post_id: str, body: str, title: str, title_source: str, events: tuple) -> list:
    """The post's article and table preview as the site serves them (post_html)."""
    rendered = render_post(body, headline=title if title_source == "body" else None, events=events)
    rows["post_html"].append((post_id, rendered.article, rendered.preview, rendered.preview_cut))
    return [(None, rendered.warning)] if rendered.warning else []


def _title(fm: _Frontmatter, parts: BodyParts, post_id: str) -> tuple[str, str]:
    """The title and where it came from: the frontmatter, the body's first line, the path."""
    title = fm.text("title")
    title = collapse(title) if title else ""
    if title:
        return title, "frontmatter"
    if parts.first_line:
        return parts.first_line, "body"
    return posixpath.basename(post_id), "path"


def _description(fm: _Frontmatter) -> str | None:
    description = fm.text("description")
    if description is None:
        excerpt = fm.meta.get("excerpt") or fm.meta.get("summary")
        description = excerpt if isinstance(excerpt, str) else None
    return description.strip() if description else None


def _category(fm: _Frontmatter, rows: dict) -> str | None:
    """The category; a list names its first, and is kept in extra when it names more."""
    category = fm.meta.get("category")
    if isinstance(category, list):
        names = split_list(category)
        category = names[0] if names else None
        if len(names) > 1:
            fm.extra["category"] = fm.meta["category"]
    category = text_value(category)
    if category is None:
        fm.keep("category")
        return None
    name = normalize_name(category)
    if not name:
        return None
    rows["categories"].append((name,))
    return name


def _language(fm: _Frontmatter, rows: dict) -> str | None:
    language = None
    for key in ("language", "lang", "locale"):
        language = text_value(fm.meta.get(key))
        if language and language.strip():
            break
    # A value with no letters at all (`language: "--"`) would become a language "".
    code = normalize_language(language) if language else ""
    if not code:
        fm.keep("language")
        return None
    rows["languages"].append((code,))
    return code


def _dates(post: Post):
    """(published, date_source, code_time): the date from the frontmatter, else the
    file name, else the article code; a frontmatter date that is not one is an error."""
    published, date_source = None, None
    if post.meta.get("date") not in (None, ""):
        try:
            published, date_source = parse_date(post.meta["date"]), "frontmatter"
        except ValueError as exc:
            raise PostError(str(exc), post.key_lines.get("date")) from None
    code_time = code_timestamp(text_value(post.meta.get("code")))
    if published is None:
        published = file_name_date(post.path)
        date_source = "filename" if published else None
    if published is None and code_time is not None:
        published, date_source = code_time, "code"
    return published, date_source, code_time


def _images(fm: _Frontmatter, rows: dict, post_id: str, body_images: list[Image]) -> int | None:
    """The lead photo (`image`, position 0) and the body's photos after it; the lead's id."""
    lead_image_id = None
    image_url = fm.text("image")
    if image_url and image_url.strip():
        caption = None
        for key in ("image_caption", "image_figcaption", "caption"):
            if isinstance(fm.meta.get(key), str) and fm.meta[key].strip():
                caption = collapse(fm.meta[key])
                break
        alt = fm.meta.get("image_alt") if isinstance(fm.meta.get("image_alt"), str) else None
        lead = Image(url=image_url.strip(), alt=alt, caption=caption, role="lead")
        lead_image_id = _add_image(rows, post_id, 0, lead)
    for position, image in enumerate((i for i in body_images if i.url), start=1):
        _add_image(rows, post_id, position, image)
    return lead_image_id


def _add_image(rows: dict, post_id: str, position: int, image: Image) -> int:
    image_id = hash_id("image", image.url)
    rows["images"].append((image_id, image.url))
    caption_id = None
    if image.caption:
        kind, name = parse_credit(image.caption)
        if name:
            rows["credits"].append((name,))
        caption_id = hash_id("caption", image.caption)
        rows["captions"].append((caption_id, image.caption, name or None, kind, words_copy(image.caption)))
    rows["post_images"].append((post_id, position, image_id, image.role, image.alt, caption_id))
    return image_id


def _links(rows: dict, post_id: str, origin_url: str | None, links: list[Link]):
    for index, link in enumerate(links):
        if not link.url:
            continue
        # A site-relative link (`/world/2904976/slug`) points into the post's own site.
        domain, target_key = url_facts(resolve_url(origin_url, link.url))
        if target_key is None and not origin_url:
            target_key = site_path_key(link.url)  # a static site's posts (see fields.post_site_path)
        rows["links"].append((post_id, index, link.url, link.text, domain, target_key))


def _tags(fm: _Frontmatter, rows: dict, post_id: str) -> list[str]:
    """The post's tags, from `tags` then (Jekyll's) `categories`, each name once."""
    names = []
    for field_name in ("tags", "categories"):
        value = fm.meta.get(field_name)
        if value is not None and not isinstance(value, (list, str)):
            fm.keep(field_name)
        for name in split_list(value):
            rows["tags"].append((name,))
            rows["post_tags"].append((post_id, name, field_name))
            if name not in names:
                names.append(name)
    return names


def _authors(fm: _Frontmatter, rows: dict, post_id: str) -> list[str]:
    """The post's people in order (see bylines); a value of a shape not understood stays in extra."""
    byline = read_bylines(fm.meta)
    for key in byline.kept:
        fm.keep(key)
    for position, (name, key) in enumerate(byline.names):
        rows["authors"].append((name,))
        rows["post_authors"].append((post_id, position, name, key))
    return [name for name, _ in byline.names]


def _json_list(names: list[str]) -> str | None:
    """A JSON array of names, the form Datasette's array facets read; None for none."""
    return json.dumps(names, ensure_ascii=False) if names else None


def _file_format(post: Post) -> str:
    """How the file was stored, so an export can write it back byte for byte: the
    fence lines as written too when they are not plain (`----`, `--- ` with a blank)."""
    newline = {"\n": "lf", "\r\n": "crlf", "\r": "cr"}.get(post.newline, "lf")
    fence = "toml" if post.fence == "+++" else "yaml"
    stored = f"{post.encoding};{newline};{fence}"
    if post.fence_lines and post.fence_lines != (post.fence, post.fence):
        stored += ";" + ";".join(post.fence_lines)
    return stored


def words_copy(text: str | None) -> str | None:
    """`text` with its word boundaries marked (newsarchive.text.words), or None when marking
    changes nothing: the stored copy exists only where search needs it."""
    marked = mark_words(text)
    return None if marked is text else marked
