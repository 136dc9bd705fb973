"""Turn a Post into rows: the post itself, its photos, captions, credits, links and tags.

Pure functions only.  Markdown is walked with pulldown-cmark through pyromark
(captions hold brackets and parentheses, so regexes over Markdown would misread
them); raw HTML inside the Markdown is walked with the standard library's
HTMLParser.  Lookup rows get ids that are hashes of their natural key, so a full
build and any sequence of incremental builds give every row the same id.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pyromark
from markdown_it.common.normalize_url import normalizeLink, validateLink

from .reader import Post, PostError
from ..text.credits import collapse, parse_credit
from ..text.sitegen import read_templates
from ..text.words import MARK, mark_words

#: Frontmatter keys that have columns of their own; everything else goes to `extra`.
MODELED_KEYS = ("code", "title", "description", "category", "language", "date", "origin_url", "image", "tags", "categories")

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
_CODE_TIME = re.compile(r"^[A-Za-z]{2,5}(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")
_FILE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-")
_WRITTEN_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?!\d)")
_ARTICLE_NUMBER = re.compile(r"^\d{5,}$")


@functools.lru_cache(maxsize=8192)
def hash_id(kind: str, key: str) -> int:
    """A stable positive 63-bit id for a lookup row, from its natural key.

    Cached: categories, languages and credits repeat across thousands of posts."""
    digest = hashlib.blake2b(f"{kind}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def iso_utc(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, the form the specimen uses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc)
    # Not strftime: its %Y writes year 1 as "1", not "0001", and the text would not sort.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


_DATE_RX = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:(Z|z|UTC|GMT|[ECMP][SD]T)|([+-])(\d{1,2})(?::?(\d{2}))?)?$"
)
#: The North American zone names Jekyll (Ruby's Time.parse) reads in dates.
_ZONE_HOURS = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
#: Written-out dates (`October 11, 2016`, `11 October 2016`), also read by Jekyll.
_WORDY_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")


def parse_date(value) -> dt.datetime:
    """Parse a frontmatter date as the author wrote it; naive times are taken as UTC.

    Takes ISO 8601 and the looser forms Jekyll accepts (`2016-03-23 9:00:00 -4`,
    `2014-06-03 11:02:00 -0400`), then RFC 2822.  Raises ValueError with a reason a
    person can act on, e.g. for 2024-02-30, for a UTC offset past 23:59, and for a
    moment that leaves years 1..9999 once moved to UTC (9999-12-31T23:00-05:00),
    where datetime itself would raise a bare OverflowError.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"date must be text like 2024-11-20T07:00:34.861Z, not {type(value).__name__}")
    text = str(value).strip()
    m = _DATE_RX.match(text)
    if m:
        year, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = m.groups()
        try:
            moment = dt.datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                int((fraction or "0")[:6].ljust(6, "0")),
            )
            if utc in _ZONE_HOURS:
                moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(hours=_ZONE_HOURS[utc])))
            if sign:
                if int(off_h) > 23 or int(off_m or 0) > 59:
                    raise ValueError(f"UTC offset {sign}{off_h}:{off_m or '00'} is out of range")
                offset = dt.timedelta(hours=int(off_h), minutes=int(off_m or 0))
                moment = moment.replace(tzinfo=dt.timezone(offset if sign == "+" else -offset))
        except ValueError as exc:
            raise ValueError(f"date {text!r} is not a real date ({exc})") from None
    else:
        moment = _wordy_date(text)
        if moment is None:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError):
                raise ValueError(f"date {text!r} is not a date (write it as ISO 8601, e.g. 2024-11-20T07:00:34.861Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"date {text!r} is out of range (outside the years 1 to 9999 in UTC)") from None


def _wordy_date(text: str) -> dt.datetime | None:
    """`October 11, 2016` and the like (English month names), or None."""
    for fmt in _WORDY_FORMATS:
        try:
            return dt.datetime.strptime(" ".join(text.split()), fmt)
        except ValueError:
            continue
    return None


def code_timestamp(code: str | None) -> dt.datetime | None:
    """`ART2411200656CLKM87` encodes 2024-11-20 06:56 (UTC); None when it encodes nothing."""
    if not code:
        return None
    m = _CODE_TIME.match(code)
    if not m:
        return None
    yy, mo, dd, hh, mi = (int(g) for g in m.groups())
    try:
        return dt.datetime(2000 + yy, mo, dd, hh, mi, tzinfo=dt.timezone.utc)
    except ValueError:
        return None


#: An absolute URL whose host and path urlsplit would read exactly so: a scheme, a
#: plain host name (no user, no IPv6 brackets) with an optional port, and nothing
#: urlsplit strips (tabs, line breaks). Most links are such; they skip urlsplit.
_SIMPLE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([A-Za-z0-9.-]+)(?::[0-9]*)?(/[^?#\t\r\n]*)?(?:[?#][^\t\r\n]*)?")


def url_facts(url: str | None) -> tuple[str | None, str | None]:
    """(domain_of(url), url_key(url)) from one parse of the URL: the build asks for both."""
    if not url:
        return None, None
    url = url.strip()
    simple = _SIMPLE_URL.fullmatch(url)
    if simple:
        host, path = simple.group(1), simple.group(2) or ""
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return None, None
        path = parts.path
    if not host:
        return None, None
    host = host.lower()
    if host.startswith("www."):
        host = host[4:]
    for segment in path.split("/"):
        if _ARTICLE_NUMBER.match(segment):
            return host, f"{host}/{segment}"
    return host, f"{host}{path.rstrip('/')}".lower()


def domain_of(url: str | None) -> str | None:
    """Host of an absolute URL, lowercased, without a leading www."""
    return url_facts(url)[0]


def url_key(url: str | None) -> str | None:
    """The key that says two URLs name the same article.

    Scheme, `www.`, query, fragment, trailing slash and case are ignored; when the path
    holds an article number (5+ digits) the slug around it is ignored too, so
    `/world/2905487/old-slug` and `/world/2905487/new-slug/` match.
    """
    return url_facts(url)[1]


def site_path_key(url: str | None) -> str | None:
    """The key of a site-relative link (`/2015/07/08/openfec-api/`) in a post without
    an origin_url: the path in lower case, without query, fragment, trailing slash,
    `index.html` or `.html`, so the forms a Jekyll or Eleventy site serves match."""
    if not url or not url.startswith("/") or url.startswith("//"):
        return None
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    for suffix in ("/index.html", "/index.htm", ".html", ".htm"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return path.rstrip("/") or None


def post_site_path(post: Post) -> str | None:
    """Where a Jekyll or Eleventy site serves a post: its `permalink` (without
    placeholders), else `/YYYY/MM/DD/slug/` from a `YYYY-MM-DD-slug.md` file name,
    the date taken from the frontmatter `date` as written when it has one (the site
    does the same: 18F's `2015-02-24-x.md` with `date: 2015-03-03` is /2015/03/03/x/)."""
    permalink = _text(post.meta.get("permalink"))
    if permalink and permalink.startswith("/") and ":" not in permalink:
        return permalink
    name = posixpath.basename(post.path)
    m = _FILE_DATE.match(name)
    if not m:
        return None
    slug = name[m.end() :].rsplit(".", 1)[0]
    if not slug:
        return None
    written = _WRITTEN_DATE.match(_text(post.meta.get("date")) or "")
    year, month, day = (written or m).groups()
    return f"/{year}/{month}/{day}/{slug}/"


def normalize_name(value: str) -> str:
    """Lookup names (categories, tags): `WORLD`, ` world ` and `World` are one."""
    return collapse(value).lower()


def normalize_language(value: str) -> str:
    """BCP 47 casing: `EN` -> `en`, `es_pr` -> `es-PR`, `zh-hant-tw` -> `zh-Hant-TW`."""
    parts = [p for p in re.split(r"[-_\s]+", value.strip()) if p]
    out = []
    for i, part in enumerate(parts):
        if i == 0:
            out.append(part.lower())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part.lower())
    return "-".join(out)


def split_list(value) -> list[str]:
    """Tags/categories as Jekyll reads them: a list, or a string split on commas or spaces."""
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(",") if "," in value else value.split()
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, (dict, list)) or item is None:
            continue
        name = normalize_name(item if isinstance(item, str) else json.dumps(item))
        if name and name not in out:
            out.append(name)
    return out


@dataclass
class Image:
    url: str
    alt: str | None
    caption: str | None
    role: str = "inline"


@dataclass
class Link:
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
    """Collects text, images and links in document order while tokens are visited."""

    def __init__(self):
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.images: list[Image] = []
        self.links: list[Link] = []
        self.open_links: list[tuple[str, list[str]]] = []
        self.first_line: str | None = None
        self.pending_caption: str | None = None
        self.caption_block = 0  # the line of body_text the pending caption's photo is on

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


def walk_body(markdown: str) -> BodyParts:
    """Walk a Markdown body: plain text with each caption once, the first line, photos, links.

    pulldown-cmark (through pyromark) parses the body into a flat stream of events,
    about four times faster than markdown-it.rs builds a tree; both follow CommonMark,
    so the article page (markdown-it-py) shows the same links and photos. What
    markdown-it refuses as a link or photo (javascript:, vbscript:, file: and
    non-image data: destinations) stays text here too. The stream is flat, so no
    body can exhaust Python's recursion. This loop runs for every event of every post.
    """
    walker = _Walker()
    add_text, append_text, open_links = walker.add_text, walker.current.append, walker.open_links
    current = walker.current
    scan = None  # one HTML scanner per block, for inline HTML split over several events
    block_scan = None  # the scanner of an HTML block
    image = None  # while inside a photo's alt text: [its Image event data, alt parts, nesting]
    link_ends = []  # per open link: None, or the text that closes a refused one

    def end_line(kind):
        """End a line of body_text (the inline HTML scanned so far belongs to it).

        Also called at a block's start: text pending there (a tight list item's,
        before its nested list) is a line of its own.
        """
        nonlocal scan
        if scan is not None:
            scan.close()
            scan = None
        walker.end_block(kind)

    for event in pyromark.events(_flatten_if_deep(read_templates(markdown)), options=_OPTIONS):
        if event.__class__ is str:  # SoftBreak, HardBreak, Rule
            if event != "Rule":
                if image is not None:
                    image[1].append(" ")
                else:
                    add_text(" ")
            continue
        text = event.get("Text")
        if text is None:
            text = event.get("Code")
        if text is not None:
            if image is not None:
                image[1].append(text)
            elif open_links:
                add_text(text)
            else:
                append_text(text)
            continue
        start = event.get("Start")
        if start is not None:
            if image is not None:
                if start.__class__ is dict and "Image" in start:
                    image[2] += 1
            elif start.__class__ is str:
                if start in _BLOCK_STARTS:
                    if current or scan is not None:
                        end_line("paragraph")
                    if start == "HtmlBlock":
                        block_scan = _HtmlScan(walker)
            elif "Link" in start:
                info = start["Link"]
                url = info["dest_url"]
                if info["link_type"] == "Email":
                    url = "mailto:" + url
                if validateLink(url):
                    walker.open_link(_link_url(url))
                    link_ends.append(None)
                elif info["link_type"] in ("Autolink", "Email"):
                    add_text("<")
                    link_ends.append(">")
                else:
                    add_text("[")
                    link_ends.append(f"]({info['dest_url']})")
            elif "Image" in start:
                image = [start["Image"], [], 1]
            else:  # Heading, CodeBlock, List, BlockQuote, Table
                end_line("paragraph")
            continue
        end = event.get("End")
        if end is not None:
            if image is not None:
                if end == "Image":
                    image[2] -= 1
                    if not image[2]:
                        info, alt = image[0], "".join(image[1])
                        image = None
                        url = info["dest_url"]
                        if validateLink(url):
                            walker.add_image(_link_url(url), alt, alt or info["title"])
                        else:
                            add_text(f"![{alt}]({url})")
            elif end.__class__ is str:
                if end == "Link":
                    closing = link_ends.pop() if link_ends else None
                    if closing is None:
                        walker.close_link()
                    else:
                        add_text(closing)
                elif end in _BLOCK_ENDS:
                    end_line(_BLOCK_ENDS[end])
                elif end == "CodeBlock":
                    end_line("code")
                elif end == "HtmlBlock":
                    if block_scan is not None:
                        block_scan.close()
                        block_scan = None
                    end_line("html")
            elif "Heading" in end:
                end_line("heading")
            continue
        html = event.get("InlineHtml")
        if html is not None:
            if image is None:
                if scan is None:
                    scan = _HtmlScan(walker)
                scan.feed(html)
            continue
        html = event.get("Html")
        if html is not None and block_scan is not None:
            block_scan.feed(html)
    if scan is not None:
        scan.close()
    while walker.open_links:
        walker.close_link()
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


@dataclass
class Record:
    """All rows one post contributes, keyed by table."""

    post: dict
    rows: dict


def _text(value) -> str | None:
    """A modeled text field: strings as written, numbers as text, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def post_id_for(post: Post) -> str:
    """`code` from the frontmatter, else the path without its extension: stable across rebuilds."""
    code = _text(post.meta.get("code"))
    if code and code.strip():
        return code.strip()
    stem, _ = posixpath.splitext(post.path)
    return stem


def extract(post: Post) -> Record:
    """Build every row for one post, or raise PostError (with the line of the offending key)."""
    meta = post.meta
    post_id = post_id_for(post)
    extra = {k: v for k, v in meta.items() if k not in MODELED_KEYS}

    def unmodeled(key):
        """A modeled key whose value has the wrong shape is kept in extra, not dropped."""
        if key in meta and meta[key] is not None:
            extra[key] = meta[key]

    if _text(meta.get("code")) is None:
        unmodeled("code")  # e.g. `code: [A1]`: the id comes from the path, the value is kept

    parts = walk_body(post.body_lf)

    title = _text(meta.get("title"))
    if title is None:
        unmodeled("title")
    title = collapse(title) if title else ""
    title_source = "frontmatter"
    if not title:
        title, title_source = parts.first_line or "", "body"
    if not title:
        title, title_source = posixpath.basename(post_id), "path"

    description = _text(meta.get("description"))
    if description is None:
        unmodeled("description")
        excerpt = meta.get("excerpt") or meta.get("summary")
        description = excerpt if isinstance(excerpt, str) else None
    description = description.strip() if description else None

    rows = {name: [] for name in ("categories", "languages", "images", "captions", "credits", "post_images", "links", "tags", "post_tags")}

    category_id = None
    category = meta.get("category")
    if isinstance(category, list):
        names = split_list(category)
        category = names[0] if names else None
        if len(names) > 1:
            extra["category"] = meta["category"]
    category = _text(category)
    if category is None:
        unmodeled("category")
    elif normalize_name(category):
        name = normalize_name(category)
        category_id = hash_id("category", name)
        rows["categories"].append((category_id, name))

    language_id = None
    language = None
    for key in ("language", "lang", "locale"):
        language = _text(meta.get(key))
        if language and language.strip():
            break
    # A value with no letters at all (`language: "--"`) would become a language "".
    code = normalize_language(language) if language else ""
    if not code:
        unmodeled("language")
    else:
        language_id = hash_id("language", code)
        rows["languages"].append((language_id, code))

    published, date_source = None, None
    if meta.get("date") not in (None, ""):
        try:
            published, date_source = parse_date(meta["date"]), "frontmatter"
        except ValueError as exc:
            raise PostError(str(exc), post.key_lines.get("date")) from None
    code_time = code_timestamp(_text(meta.get("code")))
    if published is None:
        m = _FILE_DATE.match(posixpath.basename(post.path))
        if m:
            try:
                published, date_source = dt.datetime(*(int(g) for g in m.groups()), tzinfo=dt.timezone.utc), "filename"
            except ValueError:
                published = None
    if published is None and code_time is not None:
        published, date_source = code_time, "code"
    published_at = iso_utc(published) if published else None

    origin_url = _text(meta.get("origin_url"))
    if origin_url is None:
        unmodeled("origin_url")
    origin_url = origin_url.strip() if origin_url else None

    position = 0
    lead_image_id = None
    image_url = _text(meta.get("image"))
    if image_url is None:
        unmodeled("image")
    if image_url and image_url.strip():
        caption = None
        for key in ("image_caption", "image_figcaption", "caption"):
            if isinstance(meta.get(key), str) and meta[key].strip():
                caption = collapse(meta[key])
                break
        alt = meta.get("image_alt") if isinstance(meta.get("image_alt"), str) else None
        lead = Image(url=image_url.strip(), alt=alt, caption=caption, role="lead")
        lead_image_id = _add_image(rows, post_id, position, lead)
    position += 1
    for image in parts.images:
        if image.url:
            _add_image(rows, post_id, position, image)
            position += 1

    for index, link in enumerate(parts.links):
        if not link.url:
            continue
        # A site-relative link (`/world/2904976/slug`) points into the post's own site.
        absolute = _resolve(origin_url, link.url)
        domain, target_key = url_facts(absolute)
        if target_key is None and not origin_url:
            target_key = site_path_key(link.url)  # a static site's posts (see post_site_path)
        rows["links"].append((post_id, index, link.url, link.text, domain, target_key))

    for field_name in ("tags", "categories"):
        value = meta.get(field_name)
        if value is not None and not isinstance(value, (list, str)):
            unmodeled(field_name)
        for name in split_list(value):
            tag_id = hash_id("tag", name)
            rows["tags"].append((tag_id, name))
            rows["post_tags"].append((post_id, tag_id, field_name))

    body_text = parts.text
    source_domain, origin_key = url_facts(origin_url)
    if not origin_url:
        origin_key = site_path_key(post_site_path(post))
    record = {
        "id": post_id,
        "title": title,
        "title_source": title_source,
        "description": description,
        "category_id": category_id,
        "language_id": language_id,
        "published_at": published_at,
        "published_month": published_at[:7] if published_at else None,
        "date_source": date_source,
        "code_time": iso_utc(code_time) if code_time else None,
        "origin_url": origin_url,
        "source_domain": source_domain,
        "url_key": origin_key,
        "lead_image_id": lead_image_id,
        "body": post.body,
        "body_text": body_text,
        "word_count": parts.word_count,
        "image_count": len(rows["post_images"]),
        "link_count": len(rows["links"]),
        "path": post.path,
        "sha256": post.sha256,
        "extra": json.dumps(extra, ensure_ascii=False) if extra else None,
        "title_words": words_copy(title),
        "description_words": words_copy(description),
        "frontmatter": post.frontmatter_text,
        "file_format": _file_format(post),
    }
    return Record(post=record, rows=rows)


def _resolve(base: str | None, url: str) -> str:
    """`url` made absolute against the post's own origin_url, when it is relative."""
    if not base or not url.startswith("/") or url.startswith("//"):
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


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


def _add_image(rows, post_id, position, image: Image) -> int:
    image_id = hash_id("image", image.url)
    rows["images"].append((image_id, image.url))
    caption_id = None
    if image.caption:
        kind, name = parse_credit(image.caption)
        credit_id = None
        if name:
            credit_id = hash_id("credit", name)
            rows["credits"].append((credit_id, name))
        caption_id = hash_id("caption", image.caption)
        rows["captions"].append((caption_id, image.caption, credit_id, kind, words_copy(image.caption)))
    rows["post_images"].append((post_id, position, image_id, image.role, image.alt, caption_id))
    return image_id
