"""The posts row page as an article: headline, dateline, byline, lead photo, the body as
sanitised HTML with captioned photos (rendered by the build: post_html.article), its
tags, the links it makes and the posts that cite it.

`load_article` runs the page's queries (each by primary key or index) and
`article_vars` assembles what templates/row.html shows as `article`.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Callable, NamedTuple
from urllib.parse import urlencode

from ..text.render import article_html, figure_html
from .cells import has_stored_html, is_safe_url, mirror_url, serve_html, site_url

#: A database without post_html (built by an older version) renders the article on
#: request, from this much of its body at most.
LIVE_ARTICLE_CHARS = 20_000


# ----------------------------------------------------------------------------- the page

POST_SQL = """select posts.*, images.url as lead_image_url
              from posts left join images on images.id = posts.lead_image_id
              where posts.id = ?"""
PHOTOS_SQL = """select post_images.position, post_images.role, post_images.alt, images.url,
                       captions.text as caption, captions.credit, captions.credit_kind
                from post_images join images on images.id = post_images.image_id
                left join captions on captions.id = post_images.caption_id
                where post_images.post_id = ? order by post_images.position"""
LINKS_SQL = """select links.url, links.text, links.domain, links.target_post_id, target.title as target_title
               from links left join posts as target on target.id = links.target_post_id
               where links.post_id = ? order by links.position"""
ARTICLE_SQL = "select article from post_html where post_id = ?"
CITED_BY_SQL = """select distinct posts.id, posts.title, posts.published_at
                  from links join posts on posts.id = links.post_id
                  where links.target_post_id = ? order by posts.published_at"""


@dataclass(frozen=True)
class ArticleSettings:
    """The photo mirror (identity.photo_mirror; "/" names the archive's home site)."""

    mirror: dict = field(default_factory=dict)


class PageUrls(NamedTuple):
    """Where the article links to: another post's page, and the posts table (filtered
    by a query string appended to it)."""

    row: Callable[[str], str]
    posts: str

    def posts_where(self, column: str, value: str) -> str:
        return f"{self.posts}?{urlencode({column: value})}"


class PostsLink(NamedTuple):
    """An author, a tag or a category, and the posts page filtered to it."""

    name: str
    url: str


async def load_article(db, post_id: str, settings: ArticleSettings, urls: PageUrls) -> dict:
    """The `article` of one post (empty when there is no such post), read from a
    Datasette database."""
    post = (await db.execute(POST_SQL, [post_id])).first()
    if post is None:
        return {}
    photos = (await db.execute(PHOTOS_SQL, [post_id])).rows
    links = (await db.execute(LINKS_SQL, [post_id])).rows
    cited_by = (await db.execute(CITED_BY_SQL, [post_id])).rows
    article = await _stored_article(db, post_id)
    if article is None:
        article = await asyncio.get_running_loop().run_in_executor(None, _live_article, post["body"], _headline(post))
    return article_vars(post, photos, links, cited_by, settings, urls, article)


async def _stored_article(db, post_id: str) -> str | None:
    """The article the build rendered; None in a database without post_html."""
    if not await has_stored_html(db):
        return None
    row = (await db.execute(ARTICLE_SQL, [post_id])).first()
    return row["article"] if row else None


def _live_article(body: str | None, headline: str | None) -> str:
    """The article of a database built without post_html, from the body's first
    LIVE_ARTICLE_CHARS characters (run in a thread: the event loop keeps serving)."""
    return article_html((body or "")[:LIVE_ARTICLE_CHARS], headline)


def _headline(post) -> str | None:
    """The title when it is the body's first line (article_html leaves it out)."""
    return post["title"] if post["title_source"] == "body" else None


def _names(array: str | None) -> list[str]:
    """posts.authors and posts.tags hold JSON arrays of text (NULL: none)."""
    return [name for name in json.loads(array or "[]") if isinstance(name, str)]


def _shown_link(link, site: str | None, target_url: str | None) -> dict:
    """A row of links as the page lists it: a site-relative URL read against the archive's
    site (a link only when there is one)."""
    href = site_url(link["url"], site)
    return dict(link) | {"url": href or link["url"], "safe": is_safe_url(href), "target_url": target_url}


def article_vars(post, photos, links, cited_by, settings: ArticleSettings, urls: PageUrls, article: str) -> dict:
    """What templates/row.html shows, from the rows of load_article's queries: only safe
    URLs become links or images, and the body is the sanitised `article` with its URLs
    mapped (serve_html). Authors (in the order
    the post names them), tags and the category link to the posts filtered to them,
    through the same array filter a reader can type (`?authors__arraycontains=`)."""
    mirror = settings.mirror
    lead = next((p for p in photos if p["role"] == "lead"), None)
    lead_src = mirror_url(lead["url"], mirror) if lead else None
    origin_url = site_url(post["origin_url"], mirror.get("/"))

    def url_of(post_id):
        return urls.row(post_id) if post_id else None

    return {
        "id": post["id"],
        "title": post["title"],
        "description": post["description"],
        "published_at": post["published_at"],
        "category": PostsLink(post["category"], urls.posts_where("category", post["category"])) if post["category"] else None,
        "language": post["language"],
        "authors": [PostsLink(name, urls.posts_where("authors__arraycontains", name)) for name in _names(post["authors"])],
        "tags": [PostsLink(tag, urls.posts_where("tags__arraycontains", tag)) for tag in _names(post["tags"])],
        "origin_url": origin_url if is_safe_url(origin_url) else None,
        "lead_html": figure_html(lead_src, lead["alt"], lead["caption"]) if is_safe_url(lead_src) else None,
        "lead_image_url": mirror_url(post["lead_image_url"], mirror),
        "body_html": serve_html(article, mirror),
        "photos": [dict(p) for p in photos],
        "links": [_shown_link(link, mirror.get("/"), url_of(link["target_post_id"])) for link in links],
        "cited_by": [dict(citing) | {"url": url_of(citing["id"])} for citing in cited_by],
        "word_count": post["word_count"],
    }
