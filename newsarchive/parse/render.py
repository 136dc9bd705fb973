"""The build's renderer: a post body -> the article and table preview stored in post_html.

Runs in the parser workers for every post (parse.rows), so it must cost a small
part of the parse. The body is parsed by pulldown-cmark through pyromark (as
parse.body reads it: the same templates read, the same extensions, the same
flattening of absurdly deep nesting), and HTML is written here from its flat stream
of events. Writing it here, rather than post-processing pyromark's own HTML, is what
lets the article shape itself as it is written: a paragraph holding only a photo
becomes a <figure> with its caption, the caption paragraph after it and the
headline are left out, and the HTML of each top-level block is known, so a block
holding raw HTML is sanitised on its own (an unclosed tag in it cannot swallow the
blocks after it). The rest is written as the sanitiser would write it (its escaping,
its rel on links, no attribute it drops), so it is not sanitised: a block whose
output the sanitiser might still change (a URL it may drop, a NUL or CR, a link in a
link) is sanitised on its own too. The allow-list, sanitiser, figure markup and preview cut are
shared with the site (newsarchive.text.render), whose markdown-it-py renderer
serves only what the site renders at request time; the site never imports this
module (it would load pyromark).

Both renderers follow CommonMark with GitHub tables and strikethrough, and refuse
the same link destinations (markdown-it's validateLink), so the site's fallback
and the stored HTML agree.
"""
from __future__ import annotations

import contextlib
import html as html_lib
import signal
import threading
import time
from typing import NamedTuple

from markdown_it.common.normalize_url import validateLink

from ..text.credits import collapse
from ..text.render import LINK_REL, escape_attr, escape_text, figure_html, kept_url, markdown_preview, preview_wrap, sanitise
from .body import _link_url, body_events

#: What a top-level block holds, as the writer marks it: only markup written as the
#: sanitiser writes it (WRITTEN, passed as it is), markup the sanitiser might still
#: change (CHECK), or HTML of the body's own (RAW); CHECK and RAW blocks are sanitised
#: each on its own.
WRITTEN, CHECK, RAW = 0, 1, 2

#: Tags written for block and inline starts and ends named by a plain string.
_OPEN = {
    "Paragraph": "<p>", "Item": "<li>", "Emphasis": "<em>", "Strong": "<strong>",
    "Strikethrough": "<del>", "TableHead": "<thead>\n<tr>\n", "HtmlBlock": "",
}
_CLOSE = {
    "Paragraph": "</p>\n", "Item": "</li>\n", "Emphasis": "</em>", "Strong": "</strong>",
    "Strikethrough": "</del>", "TableRow": "</tr>\n", "CodeBlock": "</code></pre>\n", "HtmlBlock": "",
}
_BREAKS = {"SoftBreak": "\n", "HardBreak": "<br>\n", "Rule": "<hr>\n"}
#: Characters the sanitiser's HTML parser drops or rewrites in text and attributes alike.
_REWRITTEN = ("\x00", "\r")


#: Seconds one post's rendering may take in the build before it falls back to its
#: text in paragraphs (rendering is linear: a 5 MiB body takes well under a second).
RENDER_SECONDS = 20


class RenderedPost(NamedTuple):
    """A post's stored HTML (the row of post_html without its id), and why it fell back."""

    article: str
    preview: str
    #: 1 when the preview is the opening of a longer body (the page adds a link to the rest).
    preview_cut: int
    warning: str | None = None


_escape, _attr = escape_text, escape_attr


def _end_of(events: tuple, i: int) -> int:
    """Index of the End of the paragraph or heading starting at `i` (neither nests)."""
    j = i + 1
    while True:
        event = events[j]
        if event.__class__ is dict and "End" in event:
            end = event["End"]
            if end == "Paragraph" or (end.__class__ is dict and "Heading" in end):
                return j
        j += 1


def _text(events: tuple, start: int, end: int) -> str:
    """The plain text of events[start:end] (what a reader sees), whitespace collapsed."""
    parts = []
    for event in events[start:end]:
        if event.__class__ is str:
            if event in ("SoftBreak", "HardBreak"):
                parts.append(" ")
        elif "Text" in event:
            parts.append(event["Text"])
        elif "Code" in event:
            parts.append(event["Code"])
    return collapse("".join(parts))


def _image_end(events: tuple, i: int) -> int:
    """Index of the End of the photo starting at `i` (photos nest in alt text)."""
    depth, j = 0, i
    while True:
        event = events[j]
        if event.__class__ is dict:
            if _is_image(event.get("Start")):
                depth += 1
            elif event.get("End") == "Image":
                depth -= 1
                if not depth:
                    return j
        j += 1


def _is_image(start) -> bool:
    return start.__class__ is dict and "Image" in start


def _only_photo(events: tuple, start: int, end: int) -> int | None:
    """End index of the photo starting at `start` when nothing but white space and
    line breaks follows it before `end` (its paragraph's End); else None."""
    image_end = _image_end(events, start)
    for event in events[image_end + 1:end]:
        if event.__class__ is str:
            if event not in ("SoftBreak", "HardBreak"):
                return None
        elif event.get("Text", "x").strip():
            return None
    return image_end


class _Article:
    """What the article leaves out or reshapes: the headline, empty headings, photos
    alone in a paragraph (a figure) and the caption paragraph after each."""

    __slots__ = ("headline", "caption", "unkept")

    def __init__(self, headline: str | None):
        self.headline = collapse(headline) if headline else None
        self.caption: str | None = None  # of the last figure, until the next paragraph
        self.unkept = False  # whether the last figure's URL is one the sanitiser may drop

    @property
    def pending(self) -> bool:
        """Whether the next paragraph may be the headline or a caption."""
        return self.headline is not None or self.caption is not None

    def block(self, events: tuple, i: int, top: bool) -> tuple[int, str | None]:
        """For the paragraph or heading at `i` (`top`: not inside a list item or a
        quote): (index after it, HTML to write instead) when it is reshaped or left
        out, else (i, None). Most paragraphs are none of these and are told apart by
        the event after their start alone. Only a top-level block is the headline: a
        list item reading the same stays, whether its list is tight or loose."""
        is_heading = events[i]["Start"].__class__ is dict
        following = events[i + 1]
        if is_heading and following.__class__ is dict and "End" in following:
            return i + 2, ""  # an empty heading
        headline, caption = self.headline if top else None, self.caption
        photo = not is_heading and following.__class__ is dict and _is_image(following.get("Start"))
        if headline is None and caption is None and not photo:
            return i, None
        if top:
            self.headline = None
        self.caption = None
        end = _end_of(events, i)
        if headline is not None and _text(events, i + 1, end) == headline:
            return end + 1, ""
        if photo:
            image_end = _only_photo(events, i + 1, end)
            figure = self.figure(events, i + 1, image_end) if image_end is not None else None
            if figure is not None:
                return end + 1, figure
        if caption is not None and not is_heading and _text(events, i + 1, end) == caption:
            return end + 1, ""
        return i, None

    def figure(self, events: tuple, start: int, end: int) -> str | None:
        info = events[start]["Start"]["Image"]
        if not validateLink(info["dest_url"]):
            return None
        alt = _alt(events, start + 1, end)
        self.caption = collapse(alt) or None
        url = _link_url(info["dest_url"])
        self.unkept = not kept_url(url)
        return figure_html(url, alt, self.caption, as_sanitised=True) + "\n"


def _alt(events: tuple, start: int, end: int) -> str:
    """A photo's alt text: the text of what its brackets hold, markup left out."""
    parts = []
    for event in events[start:end]:
        if event.__class__ is str:
            if event in ("SoftBreak", "HardBreak"):
                parts.append("\n")
        else:
            text = event.get("Text") or event.get("Code") or event.get("InlineHtml")
            if text:
                parts.append(text)
    return "".join(parts)


# ----------------------------------------------------------------------------- HTML from events


class _Writer:
    """HTML from pulldown-cmark's events, one top-level block at a time: a list of
    (html, kind) pairs, kind WRITTEN for a run of blocks of our markup alone, CHECK or
    RAW for a block to sanitise (see WRITTEN)."""

    __slots__ = ("events", "article", "blocks", "out", "run", "block", "kind", "depth", "closers", "table")

    def __init__(self, events: tuple, article: _Article | None):
        self.events, self.article = events, article
        self.blocks: list[tuple[str, int]] = []
        self.out: list[str] = []  # the HTML written so far
        self.run = 0  # where in `out` the run of WRITTEN blocks starts
        self.block = 0  # where in `out` the block being written starts
        self.kind = WRITTEN  # that block's
        self.depth = 0  # how many blocks and inlines are open
        self.closers: list[str] = []  # per open link or refused photo: what its End writes
        self.table = [False, False]  # in the table's head row, its body opened

    def check(self):
        """Mark the block being written as one the sanitiser might change."""
        if self.kind == WRITTEN:
            self.kind = CHECK

    def flush(self):
        """End a top-level block: one to sanitise ends the run before it and stands alone."""
        out = self.out
        if self.kind != WRITTEN:
            self.end_run(self.block)
            self.blocks.append(("".join(out[self.block:]), self.kind))
            self.run, self.kind = len(out), WRITTEN
        self.block = len(out)

    def end_run(self, stop: int):
        """The run of WRITTEN blocks up to `stop`, as one block; a NUL or CR in it (rare:
        bodies are read with LF line ends) makes it one to sanitise."""
        if stop > self.run:
            html = "".join(self.out[self.run:stop])
            self.blocks.append((html, CHECK if _REWRITTEN[0] in html or _REWRITTEN[1] in html else WRITTEN))

    def finish(self) -> list[tuple[str, int]]:
        self.flush()
        self.end_run(len(self.out))
        return self.blocks

    def write(self) -> list[tuple[str, int]]:
        """Every event, in order. Text, the commonest, and plain ends are written in
        this loop; the rest by the methods below."""
        events, out, n = self.events, self.out, len(self.events)
        i = 0
        while i < n:
            event = events[i]
            if event.__class__ is str:  # SoftBreak, HardBreak, Rule
                out.append(_BREAKS.get(event, ""))
            else:
                text = event.get("Text")
                if text is not None:
                    out.append(_escape(text))
                    i += 1
                    continue
                start = event.get("Start")
                if start is not None:
                    i = self.start(start, i)
                else:
                    end = event.get("End")
                    if end is not None:
                        self.depth -= 1
                        close = _CLOSE.get(end) if end.__class__ is str else None
                        out.append(close) if close is not None else self.end(end)
                    elif "Code" in event:
                        out.append(f"<code>{_escape(event['Code'])}</code>")
                    else:  # Html, InlineHtml: as written, sanitised with its block
                        out.append(event.get("Html") or event.get("InlineHtml") or "")
                        self.kind = RAW
            if not self.depth:
                self.flush()
            i += 1
        return self.finish()

    def start(self, start, i: int) -> int:
        """Write a Start event; returns the index of the last event it consumed."""
        article = self.article
        if article is not None and (start == "Paragraph" or (start.__class__ is dict and "Heading" in start)):
            if article.pending or start != "Paragraph" or _is_image(self.events[i + 1].get("Start")):
                after, html = article.block(self.events, i, not self.depth)
                if html is not None:
                    self.out.append(html)
                    if article.unkept:
                        article.unkept = False
                        self.check()
                    return after - 1
        self.depth += 1
        if start.__class__ is str:
            self.out.append(self.open_table(start) if start.startswith("Table") else _OPEN.get(start, ""))
            if start == "HtmlBlock":
                self.kind = RAW
            return i
        return self.open(start, i)

    def open(self, start: dict, i: int) -> int:
        """Write a Start that carries data (headings, lists, links, photos, ...)."""
        out = self.out
        if "Heading" in start:
            out.append(f"<{start['Heading']['level'].lower()}>")
        elif "List" in start:
            out.append("<ul>\n" if start["List"] is None else "<ol>\n")  # the allow-list drops `start`
        elif "Link" in start:
            self.link(start["Link"])
        elif "Image" in start:
            return self.image(start["Image"], i)
        elif "BlockQuote" in start:
            out.append("<blockquote>\n")
        elif "CodeBlock" in start:
            out.append("<pre><code>")
        elif "Table" in start:
            self.table = [False, False]
            out.append("<table>\n")
        return i

    def open_table(self, start: str) -> str:
        head, body = self.table
        if start == "TableHead":
            self.table[0] = True
            return _OPEN[start]
        if start == "TableRow":
            self.table[1] = True
            return "<tr>\n" if body else "<tbody>\n<tr>\n"
        return "<th>" if head else "<td>"

    def end(self, end):
        """Write an End event, named as its Start was."""
        out = self.out
        if end.__class__ is str:
            if end == "Link" or end == "Image":
                out.append(self.closers.pop())
            elif end == "TableCell":
                out.append("</th>\n" if self.table[0] else "</td>\n")
            elif end == "TableHead":
                self.table[0] = False
                out.append("</tr>\n</thead>\n")
            elif end == "Table":
                out.append("</tbody>\n</table>\n" if self.table[1] else "</table>\n")
            else:
                out.append(_CLOSE.get(end, ""))
        elif "Heading" in end:
            out.append(f"</{end['Heading'].lower()}>\n")
        elif "List" in end:
            out.append("</ol>\n" if end["List"] else "</ul>\n")
        elif "BlockQuote" in end:
            out.append("</blockquote>\n")

    def link(self, info: dict):
        """A link markdown-it refuses (javascript:, ...) stays text, as written."""
        url = info["dest_url"]
        if info["link_type"] == "Email":
            url = "mailto:" + url
        if validateLink(url):
            url = _link_url(url)
            if "</a>" in self.closers or not kept_url(url):  # the sanitiser closes a link in a link
                self.check()
            title = f' title="{_attr(info["title"])}"' if info["title"] else ""
            self.out.append(f'<a href="{_attr(url)}"{title}{LINK_REL}>')
            self.closers.append("</a>")
        elif info["link_type"] in ("Autolink", "Email"):
            self.out.append("&lt;")
            self.closers.append("&gt;")
        else:
            self.out.append("[")
            self.closers.append(_escape(f"]({info['dest_url']})"))

    def image(self, info: dict, i: int) -> int:
        """A photo in running text: <img> with its alt text; a refused one stays text."""
        url = info["dest_url"]
        if not validateLink(url):
            self.out.append("![")
            self.closers.append(_escape(f"]({url})"))
            return i
        end = _image_end(self.events, i)
        url = _link_url(url)
        if not kept_url(url):
            self.check()
        title = f' title="{_attr(info["title"])}"' if info["title"] else ""
        self.out.append(f'<img src="{_attr(url)}" alt="{_attr(_alt(self.events, i + 1, end))}"{title}>')
        self.depth -= 1
        return end


# ----------------------------------------------------------------------------- one post


def article_html(markdown: str, headline: str | None = None, events: tuple | None = None) -> str:
    """A post body as sanitised HTML in which each photo alone in its paragraph is a
    captioned figure, the caption paragraph after it and the headline left out.

    The specimen repeats each photo's caption as the paragraph after it; that
    paragraph is folded into the figure so the caption shows once. Empty headings
    (the specimen starts with `# `) are dropped, and so is the first top-level
    paragraph or heading equal to `headline` (the body's first line, shown above the
    article); a list item or a quote reading the same is kept.
    URLs stay as written: the site maps them (site.cells.serve_html). `events` are
    the body's (parse.body.body_events), when the walk has them already.
    """
    return sanitised(article_blocks(markdown, headline, events))


def article_blocks(markdown: str, headline: str | None = None, events: tuple | None = None) -> list[tuple[str, int]]:
    """The article as the writer marks it (html, kind) before sanitising (see WRITTEN)."""
    if events is None:
        events = body_events(markdown or "")
    return _Writer(events, _Article(headline)).write()


def preview_html(markdown: str) -> tuple[str, bool]:
    """The body's opening (text.render.markdown_preview) as sanitised HTML, and whether it was cut."""
    text, cut = markdown_preview(markdown)
    return preview_wrap(sanitised(preview_blocks(text))), cut


def preview_blocks(text: str) -> list[tuple[str, int]]:
    """The preview's cut text as the writer marks it (html, kind) before sanitising."""
    return _Writer(body_events(text), None).write()


def sanitised(blocks: list[tuple[str, int]]) -> str:
    """The writer's blocks as sanitised HTML: WRITTEN runs as they are (they are the
    sanitiser's own output), the others each sanitised alone, where an unclosed tag
    cannot swallow the blocks after it."""
    if len(blocks) == 1 and blocks[0][1] == WRITTEN:
        return blocks[0][0]
    return "".join(html if kind == WRITTEN else sanitise(html) for html, kind in blocks)


class RenderTimeout(Exception):
    """A post's rendering ran past RENDER_SECONDS."""


def render_post(markdown: str, headline: str | None = None, events: tuple | None = None) -> RenderedPost:
    """Article and preview of one post (`events`: the body's, as article_html takes
    them); when rendering fails or runs out of time, the body's text escaped in
    paragraphs, with a warning saying why."""
    try:
        with _time_limit(RENDER_SECONDS):
            article = article_html(markdown, headline, events)
            preview, cut = preview_html(markdown)
        return RenderedPost(article, preview, int(cut))
    except RenderTimeout:
        why = f"its HTML did not render within {RENDER_SECONDS} s"
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
