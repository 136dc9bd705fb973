"""The posts row page as an article: headline, dateline, byline, lead photo, the body as
sanitised HTML with captioned photos, its tags, the links it makes and the posts that
cite it.

`load_article` runs the page's queries (each by primary key or index) and
`article_vars` assembles what templates/row.html shows as `article`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, NamedTuple
from urllib.parse import urlencode

import bleach
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape

from ..text.credits import CREDIT, collapse, parse_credit
from ..text.sitegen import read_templates
from .cells import is_safe_url, mirror_images, mirror_url, resolve_links, site_url

BASE_TAGS = [
    "a", "abbr", "acronym", "b", "blockquote", "code", "em", "i", "li", "ol", "strong", "ul",
    "pre", "p", "h1", "h2", "h3", "h4", "h5", "h6", "img",
]
BASE_ATTRS = {"a": ["href"], "img": ["src", "alt"]}
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def sanitizer(extra_tags=None, extra_attrs=None) -> bleach.Cleaner:
    """The same allow-list datasette-render-markdown applies, plus our figure markup.

    extra_attrs replaces the defaults for a tag (as in datasette-render-markdown), so
    metadata.yml repeats `a: [href, title]` and `img: [src, alt, title]`.
    """
    attrs = dict(BASE_ATTRS)
    attrs.update(extra_attrs or {})
    attrs["figure"] = ["class"]
    attrs["figcaption"] = ["class"]
    attrs["span"] = ["class"]
    img = set(attrs.get("img", [])) | {"loading"}
    attrs["img"] = sorted(img)
    tags = sorted(set(BASE_TAGS) | set(extra_tags or []) | {"figure", "figcaption", "span"})
    return bleach.Cleaner(tags=tags, attributes=attrs, protocols=["http", "https", "mailto"], strip=True)


def split_caption(caption: str) -> tuple[str, str | None]:
    """('Caption text', 'Photo: Reuters') from 'Caption text (Photo: Reuters)'."""
    kind, name = parse_credit(caption)
    if not name:
        return caption, None
    m = CREDIT.search(caption)
    return caption[: m.start()].rstrip(), f"{kind}: {name}"


def figure_html(src: str, alt: str | None, caption: str | None) -> str:
    """A <figure> with the photo (from `src`, as it is) and its caption, the credit set apart."""
    parts = [f'<figure class="news-photo"><img src="{escape(src)}" alt="{escape(alt or "")}" loading="lazy">']
    if caption:
        text, credit = split_caption(caption)
        parts.append(f"<figcaption>{escape(text)}")
        if credit:
            parts.append(f' <span class="credit">({escape(credit)})</span>')
        parts.append("</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _inline_text(token: Token) -> str:
    return collapse("".join(c.content for c in (token.children or []) if c.type in ("text", "code_inline")) or token.content)


def article_html(markdown: str, mirror: dict | None = None, extra_tags=None, extra_attrs=None, headline: str | None = None) -> Markup:
    """Render a post body as sanitised HTML in which each photo is a captioned figure.

    The specimen repeats each photo's caption as the paragraph after it; that
    paragraph is folded into the figure so the caption shows once. The empty `# `
    heading the specimen starts with is dropped, and so is a first paragraph equal to
    `headline` (the specimen's real headline is the body's first line, shown above).
    """
    tokens = _MD.parse(read_templates(markdown or ""))  # a Jekyll or Hugo post as its site shows it
    out: list[Token] = []
    pending_caption = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type in ("paragraph_open", "heading_open") and i + 2 < len(tokens):
            inline = tokens[i + 1]
            children = [c for c in (inline.children or []) if not (c.type == "text" and not c.content.strip()) and c.type not in ("softbreak", "hardbreak")]
            if token.type == "heading_open" and not inline.content.strip():
                i += 3
                continue
            if headline and _inline_text(inline) == collapse(headline):
                headline = None
                i += 3
                continue
            headline = None
            if token.type == "paragraph_open" and len(children) == 1 and children[0].type == "image":
                image = children[0]
                caption = collapse(image.content or "") or None
                block = Token("html_block", "", 0, meta={"figure": True})
                # Its src is read against the mirror with every other <img> below.
                block.content = figure_html(image.attrs.get("src", ""), image.content, caption) + "\n"
                out.append(block)
                pending_caption = caption
                i += 3
                continue
            if token.type == "paragraph_open" and pending_caption and _inline_text(inline) == pending_caption:
                pending_caption = None
                i += 3
                continue
            pending_caption = None
        out.append(token)
        i += 1
    html = _sanitise(_top_level_blocks(out), sanitizer(extra_tags, extra_attrs))
    # Photos written as raw HTML <img> load from the mirror too.
    return resolve_links(mirror_images(html, mirror), (mirror or {}).get("/"))



def _sanitise(blocks, cleaner) -> str:
    """Each top-level block that holds raw HTML is sanitised on its own: an unclosed
    tag in it (`<table>` without `</table>`, `<b>` in a paragraph) would otherwise
    swallow every block after it. Runs of blocks without any, whose tags the renderer
    wrote and closed, are sanitised together: one call per block cost ~3.5 of the
    4.5 ms an article of the benchmark took to render.
    """
    parts, run = [], []
    for block in blocks:
        html = _MD.renderer.render(block, _MD.options, {})
        if _closed(block):
            run.append(html)
            continue
        if run:
            parts.append(cleaner.clean("".join(run)))
            run = []
        parts.append(cleaner.clean(html))
    if run:
        parts.append(cleaner.clean("".join(run)))
    return "".join(parts)


def _closed(block: list[Token]) -> bool:
    """No raw HTML in the block but our own figures (figure_html, whose tags are closed)."""
    for token in block:
        if token.type == "html_block" and not token.meta.get("figure"):
            return False
        if token.children and any(child.type == "html_inline" for child in token.children):
            return False
    return True


def _top_level_blocks(tokens: list[Token]):
    """Split block tokens into top-level blocks (an open token through its close)."""
    block: list[Token] = []
    depth = 0
    for token in tokens:
        block.append(token)
        depth += token.nesting
        if depth == 0:
            yield block
            block = []
    if block:
        yield block


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
CITED_BY_SQL = """select distinct posts.id, posts.title, posts.published_at
                  from links join posts on posts.id = links.post_id
                  where links.target_post_id = ? order by posts.published_at"""


@dataclass(frozen=True)
class ArticleSettings:
    """The photo mirror and the Markdown allow-list (the `markdown` setting of posts)."""

    mirror: dict = field(default_factory=dict)
    extra_tags: list | None = None
    extra_attrs: dict | None = None


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
    return article_vars(post, photos, links, cited_by, settings, urls)


def _names(array: str | None) -> list[str]:
    """posts.authors and posts.tags hold JSON arrays of text (NULL: none)."""
    return [name for name in json.loads(array or "[]") if isinstance(name, str)]


def _shown_link(link, site: str | None, target_url: str | None) -> dict:
    """A row of links as the page lists it: a site-relative URL read against the archive's
    site (a link only when there is one)."""
    href = site_url(link["url"], site)
    return dict(link) | {"url": href or link["url"], "safe": is_safe_url(href), "target_url": target_url}


def article_vars(post, photos, links, cited_by, settings: ArticleSettings, urls: PageUrls) -> dict:
    """What templates/row.html shows, from the rows of load_article's queries: only safe
    URLs become links or images, and the body is sanitised HTML. Authors (in the order
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
        "body_html": article_html(
            post["body"], mirror, settings.extra_tags, settings.extra_attrs,
            headline=post["title"] if post["title_source"] == "body" else None,
        ),
        "photos": [dict(p) for p in photos],
        "links": [_shown_link(link, mirror.get("/"), url_of(link["target_post_id"])) for link in links],
        "cited_by": [dict(citing) | {"url": url_of(citing["id"])} for citing in cited_by],
        "word_count": post["word_count"],
    }
