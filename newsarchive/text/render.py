"""A post body -> the HTML the site shows: the article (captioned photos as <figure>,
the headline not repeated) and the table preview (the body's opening).

The build renders both for every post (parse.rows.extract, in the parser workers,
each file with its time limit) and stores them in `post_html`; the site serves them
as stored, after one linear pass that maps URLs (site.cells.serve_html). What the
site still renders at request time (Markdown columns of other tables, a database
without `post_html`) goes through `preview_html` on a cut text, off the event loop.

Markdown is markdown-it-py (CommonMark, linear in its input) and the sanitiser is
nh3 (Ammonia, an HTML5 parser in Rust, linear in its input), with the allow-list of
datasette-render-markdown plus the extra tags of metadata.yml and our figure markup.
Nothing here imports the parser or YAML: the site may import this module.
"""
from __future__ import annotations

import contextlib
import html as html_lib
import signal
import threading
import time
from typing import NamedTuple

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import escape

from .credits import CREDIT, collapse, parse_credit
from .sitegen import read_templates

#: datasette-render-markdown's tags, then the `extra_tags` metadata.yml gives posts.body.
BASE_TAGS = frozenset({
    "a", "abbr", "acronym", "b", "blockquote", "code", "em", "i", "li", "ol", "strong", "ul",
    "pre", "p", "h1", "h2", "h3", "h4", "h5", "h6", "img",
})
EXTRA_TAGS = frozenset({"hr", "br", "table", "thead", "tbody", "tr", "th", "td", "del", "sup", "sub"})
#: Our own markup: captioned photos (figure_html) and the credit set apart.
FIGURE_TAGS = frozenset({"figure", "figcaption", "span"})
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "loading"},
    "th": {"align"},
    "td": {"align"},
    "figure": {"class"},
    "figcaption": {"class"},
    "span": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

#: How much of a body the table preview shows: at least this many characters, to the
#: next blank line, and never more than PREVIEW_MAX (a body without blank lines).
PREVIEW_CHARS = 600
PREVIEW_MAX = 2400
#: Seconds one post's rendering may take in the build before it falls back to its
#: text in paragraphs (the renderers are linear: a 5 MiB body takes about a second).
RENDER_SECONDS = 20

_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class RenderedPost(NamedTuple):
    """A post's stored HTML (the row of post_html without its id), and why it fell back."""

    article: str
    preview: str
    #: 1 when the preview is the opening of a longer body (the page adds a link to the rest).
    preview_cut: int
    warning: str | None = None


def sanitise(html: str, tags=None, attributes=None) -> str:
    """HTML reduced to the allow-list: other tags stripped (their text kept, but not that
    of <script>/<style>), other attributes and URL schemes dropped, links given
    rel="noopener noreferrer"."""
    return nh3.clean(
        html,
        tags=set(tags) if tags is not None else set(BASE_TAGS | EXTRA_TAGS | FIGURE_TAGS),
        attributes={k: set(v) for k, v in (attributes if attributes is not None else ATTRIBUTES).items()},
        url_schemes=set(URL_SCHEMES),
    )


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


# ----------------------------------------------------------------------------- the article


def _inline_text(token: Token) -> str:
    return collapse("".join(c.content for c in (token.children or []) if c.type in ("text", "code_inline")) or token.content)


def article_html(markdown: str, headline: str | None = None) -> str:
    """A post body as sanitised HTML in which each photo is a captioned figure.

    The specimen repeats each photo's caption as the paragraph after it; that
    paragraph is folded into the figure so the caption shows once. The empty `# `
    heading the specimen starts with is dropped, and so is a first paragraph equal to
    `headline` (the specimen's real headline is the body's first line, shown above).
    URLs stay as written: the site maps them (site.cells.serve_html).
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
    return _sanitise_blocks(_top_level_blocks(out))


def _sanitise_blocks(blocks, tags=None, attributes=None) -> str:
    """Each top-level block that holds raw HTML is sanitised on its own: an unclosed
    tag in it (`<table>` without `</table>`, `<b>` in a paragraph) would otherwise
    swallow every block after it. Runs of blocks without any, whose tags the renderer
    wrote and closed, are sanitised together (fewer calls)."""
    parts, run = [], []
    for block in blocks:
        html = _MD.renderer.render(block, _MD.options, {})
        if _closed(block):
            run.append(html)
            continue
        if run:
            parts.append(sanitise("".join(run), tags, attributes))
            run = []
        parts.append(sanitise(html, tags, attributes))
    if run:
        parts.append(sanitise("".join(run), tags, attributes))
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


# ----------------------------------------------------------------------------- the preview


def markdown_preview(markdown: str, limit: int = PREVIEW_CHARS, most: int = PREVIEW_MAX) -> tuple[str, bool]:
    """The opening blocks of a Markdown text, at least `limit` characters of it when
    there are that many, cut at a blank line, else at a line end or space before
    `most` characters whatever its shape; and whether anything was cut."""
    head = markdown[: most + 1].replace("\r\n", "\n").replace("\r", "\n")
    if len(markdown) <= limit:
        return head, False
    end = head.find("\n\n", limit)
    if limit <= end <= most:
        return head[:end], True
    if len(markdown) <= most:
        return head, False
    end = max(head.rfind("\n", limit, most), head.rfind(" ", limit, most))
    if end == -1:
        end = most
    return head[:end], True


def preview_html(markdown: str, tags=None, attributes=None) -> tuple[str, bool]:
    """The body's opening (markdown_preview) as sanitised HTML, and whether it was cut."""
    text, cut = markdown_preview(markdown)
    html = _sanitise_blocks(_top_level_blocks(_MD.parse(read_templates(text))), tags, attributes)
    # Photos as wide as the cell at most, as datasette-render-markdown shows them. The
    # sanitiser writes every tag anew, so `<img ` in its output is always a tag.
    html = html.replace("<img ", '<img style="max-width: 100%" ')
    return f'<div style="white-space: normal">{html}</div>', cut


# ----------------------------------------------------------------------------- one post


class RenderTimeout(Exception):
    """A post's rendering ran past RENDER_SECONDS."""


def render_post(markdown: str, headline: str | None = None) -> RenderedPost:
    """Article and preview of one post; when rendering fails or runs out of time, the
    body's text escaped in paragraphs, with a warning saying why."""
    try:
        with _time_limit(RENDER_SECONDS):
            article = article_html(markdown, headline)
            preview, cut = preview_html(markdown)
        return RenderedPost(article, preview, int(cut))
    except RenderTimeout:
        why = f"its HTML did not render within {RENDER_SECONDS} s"
    except RecursionError:
        why = "its Markdown is nested too deeply to render"
    except Exception as exc:  # a renderer bug must not cost the post its row
        why = f"its HTML did not render ({type(exc).__name__}: {exc})"
    text, cut = markdown_preview(markdown)
    return RenderedPost(plain_html(markdown), plain_html(text), int(cut), f"{why}: the page shows its text as written")


def plain_html(text: str) -> str:
    """Text as escaped paragraphs, one per blank-line-separated block."""
    blocks = (b.strip() for b in text.replace("\r\n", "\n").split("\n\n"))
    return "".join(f"<p>{html_lib.escape(b)}</p>" for b in blocks if b)


@contextlib.contextmanager
def _time_limit(seconds: float):
    """SIGALRM after `seconds`, in the main thread (a parser worker, or the build parsing
    in-process). An alarm already set (a test runner's) is put back afterwards with
    what remained of it; one due sooner than ours is left to fire on its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    if 0 < remaining <= seconds:
        yield
        return

    def expire(signum, frame):
        raise RenderTimeout()

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 1e-3), interval)
