"""Markdown -> the HTML the site shows, as far as the site and the build share it: the
allow-list and sanitiser, the captioned-photo markup, the preview's cut, and the
site's own renderer for what it renders at request time.

Two renderers write this HTML. The build's (newsarchive.parse.render) renders every
post's article and table preview in the parser workers from pulldown-cmark's events
(pyromark), at a small part of the parse's cost, and stores them in `post_html`;
the site serves them as stored, after one linear pass that maps URLs
(site.cells.serve_html). What the site still renders at request time (Markdown
columns of other tables, a database without `post_html`) is rendered here with
markdown-it-py, on a cut text (markdown_preview), in a thread off the event loop:
the site must not load pyromark or the parser, and the cut keeps that work small.
Both follow CommonMark with GitHub tables and strikethrough, and sanitise each
top-level block that holds raw HTML on its own (sanitise_blocks), so the two agree.

The sanitiser is nh3 (Ammonia, an HTML5 parser in Rust, linear in its input), with
the allow-list of datasette-render-markdown plus the extra tags of metadata.yml and
our figure markup. Nothing here imports the parser or YAML: the site imports this module.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable

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
ALL_TAGS = BASE_TAGS | EXTRA_TAGS | FIGURE_TAGS
_ATTRIBUTES = tuple(sorted((tag, frozenset(names)) for tag, names in ATTRIBUTES.items()))

#: How much of a body the table preview shows: at least this many characters, to the
#: next blank line, and never more than PREVIEW_MAX (a body without blank lines).
PREVIEW_CHARS = 600
PREVIEW_MAX = 2400
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# Strikethrough as <del> (in the allow-list), as the build's renderer writes it; <s> is not.
_MD.add_render_rule("s_open", lambda self, tokens, idx, options, env: "<del>")
_MD.add_render_rule("s_close", lambda self, tokens, idx, options, env: "</del>")


def sanitise(html: str, tags=None, attributes=None) -> str:
    """HTML reduced to the allow-list: other tags stripped (their text kept, but not that
    of <script>/<style>), other attributes and URL schemes dropped, links given
    rel="noopener noreferrer"."""
    return _cleaner(
        frozenset(tags) if tags is not None else ALL_TAGS,
        tuple(sorted((tag, frozenset(names)) for tag, names in attributes.items())) if attributes is not None else _ATTRIBUTES,
    ).clean(html)


@functools.lru_cache(maxsize=16)
def _cleaner(tags: frozenset, attributes: tuple) -> nh3.Cleaner:
    """One nh3 Cleaner per allow-list: building one costs several times the cleaning
    of a typical post, so they are built once (a Cleaner may be shared by threads)."""
    return nh3.Cleaner(tags=set(tags), attributes={tag: set(names) for tag, names in attributes},
                       url_schemes=set(URL_SCHEMES))


def sanitise_blocks(blocks: Iterable[tuple[str, bool]], tags=None, attributes=None) -> str:
    """Top-level blocks, each (html, raw), as sanitised HTML. A block the body wrote raw
    HTML into is sanitised on its own: an unclosed tag in it (`<table>` without
    `</table>`, `<b>` in a paragraph) would otherwise swallow every block after it.
    Runs of blocks without any, whose tags the renderer wrote and closed, are
    sanitised together (fewer calls)."""
    parts, run = [], []
    for html, raw in blocks:
        if not raw:
            run.append(html)
            continue
        if run:
            parts.append(sanitise("".join(run), tags, attributes))
            run = []
        parts.append(sanitise(html, tags, attributes))
    if run:
        parts.append(sanitise("".join(run), tags, attributes))
    return "".join(parts)


# ----------------------------------------------------------------------------- the sanitiser's own output
# The sanitiser parses its input and writes every tag anew (html5ever's serialiser).
# HTML written the way it writes it, with only allowed tags and attributes and URLs it
# keeps, comes out unchanged: the build's renderer writes its own markup so and skips
# the sanitiser for it (tests/test_render_fixed_point.py holds the two equal).

#: What the sanitiser adds to every link, after its other attributes.
LINK_REL = ' rel="noopener noreferrer"'


def escape_text(text: str) -> str:
    """Text as the sanitiser writes it: &, <, > and no-break spaces escaped, quotes not."""
    if "&" in text or "<" in text or ">" in text or "\xa0" in text:
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("\xa0", "&nbsp;"))
    return text


def escape_attr(value: str) -> str:
    """An attribute value as the sanitiser writes it between double quotes."""
    if "&" in value or '"' in value or "<" in value or ">" in value or "\xa0" in value:
        return (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
                .replace(">", "&gt;").replace("\xa0", "&nbsp;"))
    return value


#: URLs the sanitiser keeps as written, told apart without its URL parser (the WHATWG
#: one). An http(s) URL with a host of letters, digits and hyphens whose last label
#: starts with a letter (so it is no IPv4 address) and no punycode label (which the
#: parser decodes and may refuse), an optional short port, then anything; mailto:
#: without an authority; or a relative URL (no scheme), which the parser refuses
#: without parsing further, so the sanitiser passes it through. Anything else (another
#: scheme, an address, user info, a space or control character) may be dropped: the
#: caller sanitises it rather than guess.
_KEPT_WEB = re.compile(
    r"https?://(?:(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*(?!xn--)[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?::[0-9]{1,4})?(?:[/?#].*)?|mailto:(?!/).*",
    re.IGNORECASE | re.DOTALL,
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_BLANK = re.compile(r"[\x00-\x20]")


def kept_url(url: str) -> bool:
    """Whether the sanitiser keeps `url` in an href or src as it is (False: it may not)."""
    if _BLANK.search(url):
        return False
    return _SCHEME.match(url) is None or _KEPT_WEB.fullmatch(url) is not None


def preview_wrap(html: str) -> str:
    """A sanitised preview as the table cell shows it: photos as wide as the cell at
    most, as datasette-render-markdown shows them. The sanitiser writes every tag
    anew, so `<img ` in its output is always a tag."""
    html = html.replace("<img ", '<img style="max-width: 100%" ')
    return f'<div style="white-space: normal">{html}</div>'


def split_caption(caption: str) -> tuple[str, str | None]:
    """('Caption text', 'Photo: Reuters') from 'Caption text (Photo: Reuters)'."""
    kind, name = parse_credit(caption)
    if not name:
        return caption, None
    m = CREDIT.search(caption)
    return caption[: m.start()].rstrip(), f"{kind}: {name}"


def figure_html(src: str, alt: str | None, caption: str | None, as_sanitised: bool = False) -> str:
    """A <figure> with the photo (from `src`, as it is) and its caption, the credit set
    apart. `as_sanitised`: escaped as the sanitiser writes it, so that with a URL it
    keeps (kept_url) the figure is its own sanitised form (the build's renderer does
    not sanitise it again)."""
    text_of, attr_of = (escape_text, escape_attr) if as_sanitised else (escape, escape)
    parts = [f'<figure class="news-photo"><img src="{attr_of(src)}" alt="{attr_of(alt or "")}" loading="lazy">']
    if caption:
        text, credit = split_caption(caption)
        parts.append(f"<figcaption>{text_of(text)}")
        if credit:
            parts.append(f' <span class="credit">({text_of(credit)})</span>')
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
    heading the specimen starts with is dropped, and so is the first top-level
    paragraph or heading when it equals `headline` (the specimen's real headline is
    the body's first line, shown above); a list item or a quote reading the same is
    kept, as the build's renderer keeps it (parse.render.article_html).
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
            top = token.level == 0  # not inside a list item or a quote
            if top and headline and _inline_text(inline) == collapse(headline):
                headline = None
                i += 3
                continue
            if top:
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
    """markdown-it's top-level blocks as sanitised HTML (sanitise_blocks)."""
    return sanitise_blocks(((_MD.renderer.render(block, _MD.options, {}), not _closed(block)) for block in blocks),
                           tags, attributes)


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
    return preview_wrap(_sanitise_blocks(_top_level_blocks(_MD.parse(read_templates(text))), tags, attributes)), cut
