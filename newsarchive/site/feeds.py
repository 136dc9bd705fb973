"""Atom feeds of the newest posts, `/<database>/feed.atom` (plugins/news_feeds.py routes
it here): every dated post, or those of one category (`?category=`), one author
(`?author=`) or one search (`?q=`, in the search page's syntax), newest first.

Written with the standard library's ElementTree, which escapes every value; characters
XML cannot hold at all (C0 controls) are dropped first. Why not datasette-atom: see
docs/design.md.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from datasette.database import QueryInterrupted
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response

from .instruments import RequestError
from .search import SearchSyntaxError, read_search
from .search_query import DATE_INDEX
from ..text.words import MARK

#: Entries in a feed: the newest posts.
FEED_SIZE = 50
#: Words of body text a summary holds when the post has no description.
SUMMARY_WORDS = 60
ATOM = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
#: Characters XML 1.0 does not allow anywhere, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: A feed must say when it last changed; one without entries says the epoch.
NO_ENTRIES_UPDATED = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class FeedRequest:
    category: str = ""
    author: str = ""
    q: str = ""
    fts: str | None = None

    def params(self) -> dict[str, str]:
        return {k: v for k, v in (("category", self.category), ("author", self.author), ("q", self.q)) if v}

    def describe(self) -> str:
        parts = [f"in {self.category}" if self.category else "", f"by {self.author}" if self.author else "",
                 f"matching {self.q}" if self.q else ""]
        return " ".join(p for p in parts if p)


def read_request(args: Mapping[str, str]) -> FeedRequest:
    q = (args.get("q") or "").strip()
    try:
        fts = read_search(q).fts if q else None
    except SearchSyntaxError as exc:
        raise RequestError(str(exc)) from None
    if q and fts is None:
        raise RequestError(f"“{q}” has no word to search for.")
    return FeedRequest((args.get("category") or "").strip(), (args.get("author") or "").strip(), q, fts)


def entries_sql(request: FeedRequest) -> tuple[str, dict]:
    """The newest dated posts the request keeps, newest first (then by id), as the date
    index runs: SQLite walks it and stops at the FEED_SIZE-th."""
    conditions, params = ["published_at is not null"], {"size": FEED_SIZE}
    if request.category:
        conditions.append("category = :category")
        params["category"] = request.category
    if request.author:
        conditions.append("id in (select post_id from post_authors where author = :author)")
        params["author"] = request.author
    if request.fts:
        conditions.append("rowid in (select rowid from posts_fts where posts_fts match :fts)")
        params["fts"] = request.fts
    sql = (f"select id, title, description, published_at, category, authors,"
           f" substr(body_text, 1, 2000) as opening from posts indexed by {DATE_INDEX}"
           f" where {' and '.join(conditions)} order by published_at desc, id limit :size")
    return sql, params


def _text(value) -> str:
    return _NOT_XML.sub("", str(value or "")).replace(MARK, "")


def summary(description: str | None, opening: str | None) -> str:
    """The post's description, or the first SUMMARY_WORDS words of its body text."""
    if description and description.strip():
        return _text(description).strip()
    words = _text(opening).split()
    return " ".join(words[:SUMMARY_WORDS]) + (" …" if len(words) > SUMMARY_WORDS else "")


def _sub(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _text(text)
    return element


def atom_time(value: str) -> str:
    """published_at (ISO 8601, UTC, maybe with milliseconds) as Atom's date-time."""
    value = value.replace(" ", "T")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value += "T00:00:00"
    return value if value.endswith("Z") or re.search(r"[+-]\d{2}:\d{2}$", value) else value + "Z"


def add_entry(feed: ET.Element, row, url: str) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", url)
    _sub(entry, "title", row["title"] or row["id"])
    _sub(entry, "link", rel="alternate", type="text/html", href=url)
    _sub(entry, "published", atom_time(row["published_at"]))
    _sub(entry, "updated", atom_time(row["published_at"]))
    for name in json.loads(row["authors"] or "[]"):
        _sub(_sub(entry, "author"), "name", name)
    if row["category"]:
        _sub(entry, "category", term=row["category"])
    _sub(entry, "summary", summary(row["description"], row["opening"]), type="text")


async def feed_title(db) -> str:
    try:
        rows = (await db.execute("select value from archive where key = 'title'")).rows
    except Exception:  # a database without an archive table (built before it had one)
        rows = []
    return rows[0][0] if rows and rows[0][0] else db.name


def build_feed(title: str, archive: str, feed_url: str, page_url: str, rows, post_url) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", feed_url)
    _sub(feed, "title", title)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=page_url)
    _sub(feed, "updated", atom_time(rows[0]["published_at"]) if rows else NO_ENTRIES_UPDATED)
    _sub(feed, "generator", "news-archive")
    # Atom asks every entry for an author: the archive stands for the posts that name none.
    _sub(_sub(feed, "author"), "name", archive)
    for row in rows:
        add_entry(feed, row, post_url(row["id"]))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def page_path(base: str, request: FeedRequest) -> str:
    """The HTML page that lists what the feed holds."""
    if request.q:
        return f"{base}/search?{urlencode({**request.params(), 'sort': 'date'})}"
    if request.author and not request.category:
        return f"{base}/authors/{tilde_encode(request.author)}"
    params = {"category": request.category} if request.category else {}
    return f"{base}/posts" + (f"?{urlencode(params)}" if params else "")


async def respond(datasette, http_request, db):
    try:
        request = read_request(http_request.args)
        sql, params = entries_sql(request)
        rows = (await db.execute(sql, params)).rows
    except RequestError as exc:
        return Response.text(str(exc) + "\n", status=400)
    except QueryInterrupted:
        return Response.text("The feed took longer than the time limit: narrow its search.\n", status=400)
    base = datasette.urls.database(db.name)
    query = urlencode(request.params())
    feed_url = datasette.absolute_url(http_request, f"{base}/feed.atom" + (f"?{query}" if query else ""))
    archive = await feed_title(db)
    title = f"{archive}: posts {request.describe()}" if request.describe() else archive

    def post_url(post_id: str) -> str:
        return datasette.absolute_url(http_request, datasette.urls.row(db.name, "posts", tilde_encode(post_id)))

    page_url = datasette.absolute_url(http_request, page_path(base, request))
    body = build_feed(title, archive, feed_url, page_url, rows, post_url)
    return Response(body, content_type=CONTENT_TYPE)


def feed_link(base: str, params: dict[str, str], title: str) -> dict:
    """A page's <link rel=alternate> to a feed: its href and title."""
    kept = {k: v for k, v in params.items() if v}
    return {"href": f"{base}/feed.atom" + (f"?{urlencode(kept)}" if kept else ""), "title": title}
