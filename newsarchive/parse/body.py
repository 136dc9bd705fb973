"""The Markdown walk: a body's plain text (each caption once), first line, photos and links.

Markdown is walked with pulldown-cmark through pyromark (captions hold brackets and
parentheses, so regexes over Markdown would misread them); raw HTML inside the
Markdown is walked with the standard library's HTMLParser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pyromark
from markdown_it.common.normalize_url import normalizeLink, validateLink

from ..text.credits import collapse
from ..text.sitegen import read_templates
from ..text.words import MARK, mark_words

#: CommonMark plus the two extensions the article page (markdown-it-py) enables.
_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH
#: Destinations markdown-it's normalizeLink (mdurl) returns unchanged: an http(s)
#: host with an optional port, a root-relative path or a relative one with no
#: scheme, then only characters it does not percent-encode, or %XX escapes.
#: A property test checks the shortcut against normalizeLink itself.
_PLAIN_URL = re.compile(
    r"(?:https?://(?=[A-Za-z0-9.-]{1,253}(?:[:/?#]|$))(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::[0-9]{1,5})?(?=[/?#]|$)"
    r"|/(?!/)|[A-Za-z0-9._~-]+(?=[/?#]|$)|(?=[?#]|$))"
    r"(?:[A-Za-z0-9;/?:@&=+$,\-_.!~*'()#]|%[0-9A-Fa-f]{2})*"
)


#: Block-quote and list markers at the start of a line (`> > - 1. `).
_CONTAINER_PREFIX = re.compile(r"^[ \t]*(?:(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))[ \t]*)+", re.M)
#: Deepest container nesting (block quotes, lists) parsed as structure; deeper
#: bodies are read without their container markers (see _flatten_if_deep).
MAX_CONTAINER_DEPTH = 20
_MAX_INDENT = 200
#: Searched in "\n" + body: a literal first character lets the regex engine skip from
#: line to line (`^` with re.M would be tried at every character, 4x slower).
_TOO_DEEP = re.compile(
    rf"\n(?:[ \t]{{{_MAX_INDENT}}}|[ \t]*(?:(?:>|[-+*](?=[ \t]|$)|\d{{1,9}}[.)](?=[ \t]|$))[ \t]*){{{MAX_CONTAINER_DEPTH + 1}}})",
    re.M,
)

#: Ends of blocks whose text becomes one line of body_text, and the kind each counts as
#: (pulldown-cmark's names; headings end with a dict and count as "heading").
_BLOCK_ENDS = {"Paragraph": "paragraph", "Item": "paragraph", "TableCell": "td"}
#: Starts of blocks (as plain names) before which pending text ends its line.
_BLOCK_STARTS = {"Paragraph", "Item", "HtmlBlock", "TableHead", "TableRow", "TableCell"}


def _flatten_if_deep(markdown: str) -> str:
    """The body to parse: itself, or without container markers when nested too deep.

    A body of `>>>>>>...` or of thousands of nested list items is noise as structure
    but its words belong in body_text and search. markdown-it-py (the article page)
    drops text past 20 levels; reading such a body without its quote and list
    markers keeps every word, on the page and in the build, which reads the body as
    the page does. (The stored `body` is never changed.)
    """
    if not _TOO_DEEP.search("\n" + markdown):
        return markdown
    return "\n".join(line.lstrip() for line in _CONTAINER_PREFIX.sub("", markdown).split("\n"))


def _link_url(url: str) -> str:
    """A destination as markdown-it writes it into href and src: percent-encoded, IDNA host.

    Most destinations are plain ASCII that normalizeLink would return unchanged;
    they skip its ~20 us (the tests check the shortcut agrees with it).
    """
    return url if _PLAIN_URL.fullmatch(url) else normalizeLink(url)


@dataclass
class Image:
    """A photo: its URL as the page writes it, alt text, caption, and role (`lead` or `inline`)."""

    url: str
    alt: str | None
    caption: str | None
    role: str = "inline"


@dataclass
class Link:
    """A link: its URL as the page writes it, and its text."""

    url: str
    text: str


@dataclass
class BodyParts:
    """What a body holds: its plain text (captions once), first line, photos and links."""

    text: str
    first_line: str | None
    images: list = field(default_factory=list)
    links: list = field(default_factory=list)
    word_count: int = 0  # words between white space (as wc -w counts them) or word marks


class _HtmlScan(HTMLParser):
    """Feeds raw HTML found in Markdown into a _Walker: text, <img>, <a href>, <figcaption>."""

    _SKIP = {"script", "style", "template", "noscript", "iframe", "object", "svg", "math"}

    def __init__(self, walker):
        super().__init__(convert_charrefs=True)
        self.walker = walker
        self.skip_depth = 0
        self.figure_images = []
        self.figcaption = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self._SKIP:
            self.skip_depth += 1
            return
        if tag == "img" and attrs.get("src"):
            image = self.walker.add_image(attrs["src"], attrs.get("alt"), attrs.get("alt") or attrs.get("title"))
            self.figure_images.append(image)
        elif tag == "a" and attrs.get("href"):
            self.walker.open_link(attrs["href"])
        elif tag == "figure":
            self.figure_images = []
        elif tag == "figcaption":
            self.figcaption = []
        elif tag in ("br", "p", "div", "li", "tr", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.walker.add_text(" ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self._SKIP:
            self.skip_depth -= 1

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "a":
            self.walker.close_link()
        elif tag == "figcaption" and self.figcaption is not None:
            text = collapse("".join(self.figcaption))
            if text and self.figure_images:
                self.figure_images[-1].caption = text
            self.figcaption = None
        elif tag in ("p", "div", "li", "td", "th"):
            self.walker.add_text(" ")

    def handle_data(self, data):
        if self.skip_depth:
            return
        if self.figcaption is not None:
            self.figcaption.append(data)
        self.walker.add_text(data)


class _Walker:
    """What a body holds, collected in document order while pulldown-cmark's events
    and the raw HTML among them (through _HtmlScan) are visited."""

    __slots__ = (
        "blocks", "current", "images", "links", "open_links", "first_line", "pending_caption", "caption_block",
        "scan", "block_scan", "image", "alt", "image_depth", "link_ends",
    )

    def __init__(self):
        self.blocks: list[str] = []  # the lines of body_text
        self.current: list[str] = []  # the text of the line being read
        self.images: list[Image] = []
        self.links: list[Link] = []
        self.open_links: list[tuple[str, list[str]]] = []  # (href, text parts) of each link open
        self.first_line: str | None = None
        self.pending_caption: str | None = None
        self.caption_block = 0  # the line of body_text the pending caption's photo is on
        self.scan = None  # one HTML scanner per block, for inline HTML split over several events
        self.block_scan = None  # the scanner of an HTML block
        self.image = None  # while inside a photo: its Image event's data,
        self.alt: list[str] | None = None  # the parts of its alt text so far,
        self.image_depth = 0  # and how many photos deep the alt text is
        self.link_ends: list[str | None] = []  # per open Markdown link: None, or the text that closes a refused one

    def add_text(self, text: str):
        self.current.append(text)
        if self.open_links:
            for _, parts in self.open_links:
                parts.append(text)

    def add_image(self, url: str, alt: str | None, caption: str | None) -> Image:
        caption = collapse(caption or "") or None
        image = Image(url=url.strip(), alt=alt, caption=caption)
        self.images.append(image)
        if caption:
            self.add_text(caption)
            self.pending_caption = caption
            self.caption_block = len(self.blocks)
        return image

    def open_link(self, href: str):
        self.open_links.append((href.strip(), []))

    def close_link(self):
        if self.open_links:
            href, parts = self.open_links.pop()
            self.links.append(Link(url=href, text=collapse("".join(parts))))

    def end_block(self, kind: str):
        """End a line of body_text (the inline HTML scanned so far belongs to it).

        Also called at a block's start: text pending there (a tight list item's,
        before its nested list) is a line of its own.
        """
        if self.scan is not None:
            self.scan.close()
            self.scan = None
        text = collapse("".join(self.current))
        self.current.clear()  # in place: walk_body holds its append
        if not text:
            return
        only_caption = self.pending_caption is not None and text == self.pending_caption
        if only_caption and kind == "paragraph" and len(self.blocks) > self.caption_block:
            # The specimen repeats each photo's caption as the next paragraph: keep it once.
            self.pending_caption = None
            return
        if self.first_line is None and kind in ("paragraph", "heading") and not only_caption:
            self.first_line = text
        if not only_caption:
            self.pending_caption = None
        self.blocks.append(text)

    def start(self, start):
        """A Start event other than text's: a block name, or a dict for links, photos and the like."""
        if self.alt is not None:
            if start.__class__ is dict and "Image" in start:
                self.image_depth += 1
        elif start.__class__ is str:
            if start in _BLOCK_STARTS:
                if self.current or self.scan is not None:
                    self.end_block("paragraph")
                if start == "HtmlBlock":
                    self.block_scan = _HtmlScan(self)
        elif "Link" in start:
            self.start_link(start["Link"])
        elif "Image" in start:
            self.image, self.alt, self.image_depth = start["Image"], [], 1
        else:  # Heading, CodeBlock, List, BlockQuote, Table
            self.end_block("paragraph")

    def start_link(self, info: dict):
        """A link markdown-it would refuse (see walk_body) stays text, as written."""
        url = info["dest_url"]
        if info["link_type"] == "Email":
            url = "mailto:" + url
        if validateLink(url):
            self.open_link(_link_url(url))
            self.link_ends.append(None)
        elif info["link_type"] in ("Autolink", "Email"):
            self.add_text("<")
            self.link_ends.append(">")
        else:
            self.add_text("[")
            self.link_ends.append(f"]({info['dest_url']})")

    def end(self, end):
        """An End event, named as its Start was."""
        if self.alt is not None:
            if end == "Image":
                self.image_depth -= 1
                if not self.image_depth:
                    self.end_image()
        elif end.__class__ is str:
            if end == "Link":
                closing = self.link_ends.pop() if self.link_ends else None
                if closing is None:
                    self.close_link()
                else:
                    self.add_text(closing)
            elif end in _BLOCK_ENDS:
                self.end_block(_BLOCK_ENDS[end])
            elif end == "CodeBlock":
                self.end_block("code")
            elif end == "HtmlBlock":
                if self.block_scan is not None:
                    self.block_scan.close()
                    self.block_scan = None
                self.end_block("html")
        elif "Heading" in end:
            self.end_block("heading")

    def end_image(self):
        info, alt = self.image, "".join(self.alt)
        self.image = self.alt = None
        url = info["dest_url"]
        if validateLink(url):
            self.add_image(_link_url(url), alt, alt or info["title"])
        else:
            self.add_text(f"![{alt}]({url})")

    def inline_html(self, html: str):
        if self.alt is None:
            if self.scan is None:
                self.scan = _HtmlScan(self)
            self.scan.feed(html)

    def block_html(self, html: str):
        if self.block_scan is not None:
            self.block_scan.feed(html)

    def finish(self):
        if self.scan is not None:
            self.scan.close()
        while self.open_links:
            self.close_link()


def body_events(markdown: str) -> tuple:
    """A body's events as the build reads it: templates read (text.sitegen), nesting
    too deep flattened (_flatten_if_deep). The walk and the build's renderer
    (parse.render) share one parse."""
    return tuple(pyromark.events(_flatten_if_deep(read_templates(markdown)), options=_OPTIONS))


def walk_body(markdown: str, events: tuple | None = None) -> BodyParts:
    """Walk a Markdown body: plain text with each caption once, the first line, photos, links.

    pulldown-cmark (through pyromark) parses the body into a flat stream of events,
    about four times faster than markdown-it.rs builds a tree; both follow CommonMark,
    so the article page (markdown-it-py) shows the same links and photos. What
    markdown-it refuses as a link or photo (javascript:, vbscript:, file: and
    non-image data: destinations) stays text here too. The stream is flat, so no
    body can exhaust Python's recursion. This loop runs for every event of every
    post: text, the most common event, is handled in it, the rest by _Walker.
    """
    walker = _Walker()
    add_text, append_text, open_links = walker.add_text, walker.current.append, walker.open_links
    on_start, on_end = walker.start, walker.end
    for event in body_events(markdown) if events is None else events:
        if event.__class__ is str:  # SoftBreak, HardBreak, Rule
            if event == "Rule":
                continue
            text = " "
        else:
            text = event.get("Text")
            if text is None:
                text = event.get("Code")
        if text is not None:
            alt = walker.alt
            if alt is not None:
                alt.append(text)
            elif open_links:
                add_text(text)
            else:
                append_text(text)
            continue
        start = event.get("Start")
        if start is not None:
            on_start(start)
            continue
        end = event.get("End")
        if end is not None:
            on_end(end)
            continue
        html = event.get("InlineHtml")
        if html is not None:
            walker.inline_html(html)
        else:
            html = event.get("Html")
            if html is not None:
                walker.block_html(html)
    walker.finish()
    # Thai and other scripts written without spaces get their word boundaries marked,
    # so search finds a word inside a sentence (see newsarchive.text.words).
    text = mark_words("\n".join(walker.blocks))
    return BodyParts(
        text=text,
        first_line=walker.first_line,
        images=walker.images,
        links=walker.links,
        # Each block is collapsed to words joined by single spaces, one block a line;
        # words of unspaced scripts are joined by MARK.
        word_count=text.count(" ") + text.count(MARK) + len(walker.blocks),
    )
