"""Pure functions behind the Datasette plugins in plugins/: safe search queries,
sanitised article HTML with figures, photo URLs, and the home page chart.

Kept here rather than in plugins/ so that they are importable and unit-tested; each
file in plugins/ is then one hook that calls into this module.
"""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from html import unescape as html_unescape
from urllib.parse import parse_qsl, urlencode

import bleach
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup, escape

from ..text.credits import CREDIT, collapse, parse_credit
from ..text.sitegen import read_templates
from ..text.words import MARK, mark_words

# ----------------------------------------------------------------------------- search


def _mark_ranges() -> str:
    """A regex class body of the combining marks (Unicode M*) of the Basic Multilingual Plane.

    `\\w` leaves them out, so a Thai, Hindi or Arabic word with a vowel or tone mark
    fell apart into several terms, each required anywhere in the post.
    """
    ranges, start, prev = [], None, None
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if start is None:
                start = code
            elif code != prev + 1:
                ranges.append((start, prev))
                start = code
            prev = code
    ranges.append((start, prev))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


#: A word as typed: letters, digits and combining marks (and MARK, should someone paste
#: marked text), with an optional `*` for a prefix search.
_COMBINING = _mark_ranges()
_TERM = re.compile(f"[\\w{_COMBINING}{MARK}]+\\*?")
MAX_TERMS = 32
HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧: plain in CSV, <mark> in HTML


def fts_query(text: str | None) -> str:
    """Turn what a person types into a safe FTS5 query: every word quoted, all required.

    FTS5 query syntax (quotes, NEAR, column filters, a stray `-`) raises errors on
    ordinary input such as `US-China "trade`; quoting each word avoids that. A
    trailing `*` keeps prefix search. Empty input gives `""`, which matches nothing.
    A term in a script written without spaces gets its word boundaries marked (see
    newsarchive.text.words), as body_text has them: FTS5 then reads it as a phrase.
    """
    terms = _TERM.findall(text or "")[:MAX_TERMS]
    if not terms:
        return '""'
    terms = [mark_words(t) for t in terms]
    return " ".join(f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"' for t in terms)


def mark_search_words(query_string: bytes) -> bytes:
    """A table page's query string with the words of `_search` and `_search_<column>` marked.

    Datasette quotes each space-separated term of a table search itself; a Thai term
    typed without spaces has to carry its word marks (see newsarchive.text.words) to match
    body_text, as the search page's terms do. Any other query string comes back as is.
    """
    if b"_search" not in query_string:
        return query_string
    try:
        pairs = parse_qsl(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return query_string
    marked = [(name, mark_words(value) if name == "_search" or name.startswith("_search_") else value)
              for name, value in pairs]
    if marked == pairs:
        return query_string
    return urlencode(marked).encode("ascii")


_CLOSE_BEFORE_MARKS = re.compile(f"{HIGHLIGHT_CLOSE}([{_COMBINING}]+)")


def whole_letters(snippet: str | None) -> str | None:
    """A search snippet as a reader wants it: highlights that end after the vowel and tone
    marks of their last letter, and no word marks (newsarchive.text.words).

    FTS5 counts combining marks (Thai vowels and tone marks, Devanagari vowel signs) as
    separators, so a highlight of ผลไม้ closed before its final tone mark, which
    then sat on the closing bracket instead of its letter. The word marks are for the
    index; in a snippet, shown or downloaded, they would only be invisible noise.
    """
    if not snippet:
        return snippet
    if MARK in snippet:
        snippet = snippet.replace(MARK, "")
    if HIGHLIGHT_CLOSE not in snippet:
        return snippet
    return _CLOSE_BEFORE_MARKS.sub(lambda m: m[1] + HIGHLIGHT_CLOSE, snippet)


def highlight(snippet: str) -> Markup:
    """HTML for a search snippet: escaped text with the matched words in <mark>."""
    html = str(escape(snippet))
    return Markup(html.replace(HIGHLIGHT_OPEN, "<mark>").replace(HIGHLIGHT_CLOSE, "</mark>"))


# ----------------------------------------------------------------------------- photos

SAFE_URL = re.compile(r"^(https?://|/(?!/))", re.IGNORECASE)


def mirror_url(url: str | None, mirror: dict | None) -> str | None:
    """The URL to load a photo from: a local mirror by prefix, else the URL itself."""
    if not url:
        return url
    for prefix, replacement in (mirror or {}).items():
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


_IMG_SRC = re.compile(r'(<img\b(?:\s+[^\s=>]+(?:="[^"]*")?)*?\s+src=")([^"]*)(")', re.IGNORECASE)


def mirror_images(html: str, mirror: dict | None) -> Markup:
    """Sanitised HTML (attributes double-quoted) with every <img src> mapped by mirror_url.

    For datasette-render-markdown's output, which would otherwise load every photo of a
    post body from its original host.
    """

    def swap(m: re.Match) -> str:
        return m.group(1) + str(escape(mirror_url(html_unescape(m.group(2)), mirror))) + m.group(3)

    return Markup(_IMG_SRC.sub(swap, str(html)))


PREVIEW_CHARS = 600


def markdown_preview(markdown: str, limit: int = PREVIEW_CHARS) -> tuple[str, bool]:
    """The opening blocks of a Markdown text, at least `limit` characters of it when
    there are that many, cut at a blank line; and whether anything was cut."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) <= limit:
        return text, False
    end = text.find("\n\n", limit)
    if end == -1:
        return text, False
    return text[:end], True


def is_safe_url(url: str | None) -> bool:
    """Only http(s) and site-relative URLs become links or image sources."""
    return bool(url) and bool(SAFE_URL.match(url.strip()))


def thumbnail(url: str, mirror: dict | None = None, size: int = 120) -> Markup:
    """A small image linking to the full one; unsafe URLs stay as escaped text."""
    if not is_safe_url(url):
        return Markup(escape(url))
    src = mirror_url(url, mirror)
    return Markup(
        f'<a href="{escape(src)}" class="news-thumb"><img src="{escape(src)}" loading="lazy" alt="" '
        f'style="max-width:{size}px;max-height:{size}px"></a><br><span class="news-url">{escape(url)}</span>'
    )


def link(url: str, text: str | None = None) -> Markup:
    """An external link that leaks nothing back (noopener, noreferrer)."""
    if not is_safe_url(url):
        return Markup(escape(url))
    return Markup(f'<a href="{escape(url)}" rel="nofollow noopener noreferrer">{escape(text or url)}</a>')


# ----------------------------------------------------------------------------- article

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


def figure_html(url: str, alt: str | None, caption: str | None, mirror: dict | None) -> str:
    """A <figure> with the photo and its caption, the credit set apart."""
    parts = [f'<figure class="news-photo"><img src="{escape(mirror_url(url, mirror))}" alt="{escape(alt or "")}" loading="lazy">']
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
                block.content = figure_html(image.attrs.get("src", ""), image.content, caption, mirror) + "\n"
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
    return mirror_images(html, mirror)


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


# ----------------------------------------------------------------------------- chart

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def month_chart_svg(rows, max_categories: int = 7, width: int = 900, height: int = 280) -> Markup:
    """A stacked bar chart (SVG, no script, nothing fetched) of posts per month by category.

    `rows` are (month 'YYYY-MM', category or None, count). Categories beyond the
    largest `max_categories` are summed as "other".
    """
    totals: dict[str, int] = defaultdict(int)
    for _, category, count in rows:
        totals[category or "(none)"] += count
    top = [c for c, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:max_categories]]
    series: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for month, category, count in rows:
        name = category or "(none)"
        series[month][name if name in top else "other"] += count
    months = sorted(series)
    names = top + (["other"] if any("other" in v for v in series.values()) else [])
    if not months:
        return Markup('<p class="news-chart-empty">No dated posts yet.</p>')
    left, bottom, top_pad, legend_w = 44, 40, 12, 150
    plot_w, plot_h = width - left - legend_w, height - bottom - top_pad
    peak = max(sum(v.values()) for v in series.values()) or 1
    bar_w = plot_w / len(months)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="news-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" aria-label="Posts per month by category">',
        f"<title>Posts per month by category, {escape(months[0])} to {escape(months[-1])}</title>",
    ]
    for tick in range(0, 5):
        value = round(peak * tick / 4)
        y = top_pad + plot_h - plot_h * value / peak
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value}</text>')
    label_every = max(1, len(months) // 12)
    for index, month in enumerate(months):
        x = left + index * bar_w
        y = top_pad + plot_h
        for n, name in enumerate(names):
            count = series[month].get(name, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(month)} {escape(name)}: {count}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" font-size="11">{escape(month)}</text>'
            )
    for n, name in enumerate(names):
        y = top_pad + 14 + n * 18
        parts.append(f'<rect x="{width - legend_w + 10}" y="{y - 10}" width="12" height="12" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{width - legend_w + 28}" y="{y}" font-size="12">{escape(name)} ({totals.get(name, sum(series[m].get(name, 0) for m in months))})</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
