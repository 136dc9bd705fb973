"""The concordance, `/<database>/concordance` (plugins/news_concordance.py routes it
here): every occurrence of a word or phrase in the posts' body text, one row each, with
`width` words on either side, sorted by date or by the words to its left or right.

Occurrences are where FTS5's highlight() marks the search in body_text, indexed in
memory with the posts index's tokenizer (local_fts), so a concordance finds exactly
what search finds (other forms of a word, phrases, prefixes,
Thai or Chinese word by word). Words of context are split as search splits them: at
white space, punctuation and the word marks (U+200B) of unspaced scripts
(newsarchive.text.words), a word keeping its vowel and tone marks.

Reading: newest post first, only as far as the request needs. A page sorted by date
reads posts until it holds its lines and one more, and says "at least" of the
occurrences until the last post is read: the first page of a word in half of 100,000
posts reads about 50 posts (63 ms a request in `bench/run.py`), where reading all
2,000 took 0.4 to 1.3 s. A sort by context and the CSV read every post.

Bounds: the concordance reads the MAX_POSTS newest matching posts, and stops once it
holds MAX_LINES occurrences (the answer says when there are more posts, and the
filters narrow them), or once it has read MAX_CHARS characters of body text. Of each
post it reads the first WINDOW_CHARS characters and at most MAX_PER_POST occurrences,
and counts the posts it read only in part (`cut`): highlight() in the posts index
costs the whole body, and a 4 MB post of one word took longer than any time limit, in
one call SQLite cannot interrupt. What has been read is kept (the CACHE_SIZE latest
concordances), so paging and re-sorting read each post once.
"""
from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from datasette.database import QueryInterrupted

from ..text.words import MARK
from .instruments import RequestError, whole_number
from .local_fts import highlighted
from .search import _COMBINING, SearchSyntaxError, read_search
from .search_query import DATE_INDEX, Filters, SearchRequestError, _where, date_bounds

SORTS = ("date", "left", "right")
DEFAULT_WIDTH, MAX_WIDTH = 8, 25
DEFAULT_SIZE = 50
#: Matching posts one concordance reads, newest first.
MAX_POSTS = 2000
#: Posts highlighted per query at most, and at least.
BATCH, MIN_BATCH = 200, 8
#: Occurrences one concordance holds at most (about 300 bytes each): past them it stops
#: reading posts, and says how many it read.
MAX_LINES = 50_000
#: Characters of each post's body text read (cut back to white space), and occurrences
#: kept of each post: a post longer or fuller than these is read in part, and counted.
WINDOW_CHARS = 100_000
MAX_PER_POST = 1_000
#: Characters of body text one concordance reads at most: past them it stops reading
#: posts, as at MAX_LINES.
MAX_CHARS = 20_000_000
#: Concordances (their every occurrence) kept for paging and sorting.
CACHE_SIZE = 32
OPEN, CLOSE = "\x01", "\x02"
#: A word as search splits words: a letter or digit, then letters, digits and marks.
_WORD = re.compile(f"[^\\W_](?:[^\\W_]|[{_COMBINING}])*")
TOO_LONG = ("The concordance took longer than the time limit ({seconds:g} s): narrow it with a phrase or a "
            "filter (from, to, category, language, author).")


@dataclass(frozen=True)
class ConcordanceRequest:
    q: str = ""
    fts: str | None = None
    filters: Filters = field(default_factory=Filters)
    sort: str = "date"
    width: int = DEFAULT_WIDTH
    page: int = 1
    size: int = DEFAULT_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def key(self) -> tuple:
        return (self.fts, self.filters, self.width)


@dataclass(frozen=True)
class Line:
    """One occurrence: the post, and the words around the match as written."""

    post_id: str
    published_at: str | None
    left: str
    match: str
    right: str
    position: int  # the occurrence's place in its post (0 first), for a stable order


@dataclass
class Lines:
    """The occurrences in the posts read so far, newest post first. `posts` is how many
    posts match in all, `rowids` those the concordance reads (the MAX_POSTS newest), in
    order; `read` how many of them are read, `cut` how many of those only in part
    (WINDOW_CHARS, MAX_PER_POST). `complete` once no more will be read: every post of
    `rowids`, or MAX_LINES held, or MAX_CHARS read."""

    lines: list[Line]
    posts: int
    read: int
    cut: int = 0
    rowids: list[int] = field(default_factory=list)
    chars: int = 0
    complete: bool = False
    #: One request reads at a time, so two never read the same posts into a kept concordance.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    @property
    def reach(self) -> int:
        """Posts the concordance reads in all: the rowids, or fewer once a limit stopped it."""
        return self.read if self.complete else len(self.rowids)


def read_request(args: Mapping[str, str], max_size: int) -> ConcordanceRequest:
    q = (args.get("q") or "").strip()
    try:
        fts = read_search(q).fts if q else None
    except SearchSyntaxError as exc:
        raise RequestError(str(exc)) from None
    sort = args.get("sort") or "date"
    if sort not in SORTS:
        raise RequestError(f"sort is date (newest first), left or right (by the words on that side), not “{sort}”.")
    filters = Filters(*((args.get(n) or "").strip() for n in ("from", "to", "category", "language", "author")))
    try:
        start, end = date_bounds(filters)
    except SearchRequestError as exc:
        raise RequestError(str(exc)) from None
    if start and end and start >= end:
        raise RequestError(f"from ({filters.date_from}) is after to ({filters.date_to}).")
    return ConcordanceRequest(
        q=q, fts=f"body_text : ({fts})" if fts else None, filters=filters, sort=sort,
        width=whole_number(args, "width", DEFAULT_WIDTH, 1, MAX_WIDTH),
        page=whole_number(args, "page", 1, 1, None), size=whole_number(args, "size", DEFAULT_SIZE, 1, max_size),
    )


def _words(text: str) -> list[re.Match]:
    return list(_WORD.finditer(text))


def _clean(text: str) -> str:
    return " ".join(text.replace(MARK, "").split())


def _close_after_marks(text: str, close: int) -> int:
    """Where a highlight really ends: FTS5 counts vowel and tone marks as separators, so
    its close can fall before the marks of the last letter."""
    end = close
    while end + 1 < len(text) and unicodedata.category(text[end + 1]).startswith("M"):
        end += 1
    return end


def lines_of(post_id: str, published_at: str | None, marked: str, width: int,
             most: int | None = None) -> list[Line]:
    """The occurrences FTS5 marked in one post's body text (the first `most` of them)."""
    out, at = [], 0
    plain = marked.replace(OPEN, "").replace(CLOSE, "")  # context never shows another hit's marks
    removed = 0
    while (start := marked.find(OPEN, at)) >= 0 and (most is None or len(out) < most):
        close = marked.find(CLOSE, start)
        if close < 0:
            break
        end = _close_after_marks(marked, close)
        match = marked[start + 1:close] + marked[close + 1:end + 1]
        begin = start - removed  # the match's place in `plain`
        removed += 2
        after = begin + len(match)
        out.append(Line(post_id, published_at, _left(plain, begin, width), _clean(match),
                        _right(plain, after, width), len(out)))
        at = end + 1
    return out


def _left(text: str, begin: int, width: int) -> str:
    """The text of the `width` words before `begin`, read from a window that grows until
    it holds a word more than needed (or reaches the start): scanning whole posts for
    words cost most of a concordance's time."""
    size = width * 12
    while True:
        chunk_start = max(0, begin - size)
        words = _words(text[chunk_start:begin])
        if len(words) > width or chunk_start == 0:
            break
        size *= 2
    if not words:
        return ""
    return _clean(text[chunk_start + words[-width:][0].start():begin])


def _right(text: str, after: int, width: int) -> str:
    """The text of the `width` words after `after` (a window as in _left)."""
    size = width * 12
    while True:
        words = _words(text[after:after + size])
        if len(words) > width or after + size >= len(text):
            break
        size *= 2
    if not words:
        return ""
    return _clean(text[after:after + words[:width][-1].end()])


# ------------------------------------------------------------------ reading the posts

def rowids_sql(filters: Filters) -> tuple[str, dict]:
    """The matching posts, newest first (undated last), at most :most of them."""
    where, params = _where(filters)
    conditions = " and ".join([*where, "rowid in (select rowid from posts_fts where posts_fts match :fts)"])
    return (f"select rowid from posts indexed by {DATE_INDEX} where {conditions}"
            f" order by published_at desc, id limit :most"), params


#: Covering indexes (db/schema.py INDEXES) a filtered count reads, by the filter they
#: hold: each entry has the date and the rowid, so no post is opened to count it.
CATEGORY_DATE_INDEX = "idx_posts_category_published_at_id"
LANGUAGE_DATE_INDEX = "idx_posts_language_published_at_id"


def count_sql(filters: Filters) -> tuple[str, dict]:
    """How many posts match. Without a filter, from the full-text index alone (FTS5
    walks its lists without opening a post); with one, through the covering index of
    that filter and the date. Left to itself SQLite looked each match up in the posts
    table: 50 to 105 ms for a word in half of 100,000 posts, against 4 ms unfiltered
    and 20 to 40 ms through the indexes."""
    where, params = _where(filters)
    if not where:
        return "select count(*) from posts_fts where posts_fts match :fts", params
    conditions = " and ".join([*where, "rowid in (select rowid from posts_fts where posts_fts match :fts)"])
    return f"select count(*) from posts{_count_index(filters)} where {conditions}", params


def _count_index(filters: Filters) -> str:
    if filters.category:
        return f" indexed by {CATEGORY_DATE_INDEX}"
    if filters.language:
        return f" indexed by {LANGUAGE_DATE_INDEX}"
    if filters.date_from or filters.date_to:
        return f" indexed by {DATE_INDEX}"
    return ""  # an author alone: SQLite starts from post_authors


#: The posts of a list of rowids, in that order, with the opening :window characters
#: of their body text and whether there is more.
BODIES_SQL = """select posts.id, posts.published_at, substr(posts.body_text, 1, :window) as body,
  length(posts.body_text) > :window as longer
from json_each(:rowids) as listed
join posts on posts.rowid = listed.value
order by listed.key"""


class Body(NamedTuple):
    """The part of one post's body text a concordance reads."""

    post_id: str
    published_at: str | None
    text: str
    longer: bool  # the post goes on past `text`


def _window(text: str, longer: bool) -> str:
    """The text cut back to its last white space when the post goes on (no half word)."""
    if not longer:
        return text
    space = max(text.rfind(" "), text.rfind("\n"))
    return text[:space] if space > len(text) // 2 else text


def mark_bodies(bodies: list[Body], fts: str, width: int) -> list[tuple[list[Line], bool]]:
    """Each post's occurrences of `fts` in its read text, and whether the post was read
    only in part; run off the event loop."""
    marked = highlighted(((i, _window(b.text, b.longer)) for i, b in enumerate(bodies)), fts, OPEN, CLOSE,
                         column="body_text")
    out = []
    for i, body in enumerate(bodies):
        found = lines_of(body.post_id, body.published_at, marked.get(i) or "", width, MAX_PER_POST + 1)
        out.append((found[:MAX_PER_POST], body.longer or len(found) > MAX_PER_POST))
    return out


async def _bodies(db, rowids: list[int], budget: int) -> list[Body]:
    """The posts of `rowids` in order, until `budget` characters are read."""
    rows = (await db.execute(BODIES_SQL, {"rowids": json.dumps(rowids), "window": WINDOW_CHARS})).rows
    bodies = []
    for row in rows:
        if budget <= 0:
            break
        text = row["body"] or ""
        bodies.append(Body(row["id"], row["published_at"], text, bool(row["longer"])))
        budget -= len(text)
    return bodies


async def start_lines(db, request: ConcordanceRequest) -> Lines:
    """The posts a concordance will read (the MAX_POSTS newest that match) and how many
    match in all; nothing read yet."""
    sql, params = rowids_sql(request.filters)
    rowids = [r[0] for r in (await db.execute(sql, {**params, "fts": request.fts, "most": MAX_POSTS})).rows]
    posts = len(rowids)
    if posts == MAX_POSTS:
        sql, params = count_sql(request.filters)
        posts = (await db.execute(sql, {**params, "fts": request.fts})).rows[0][0]
    return Lines([], posts, 0, rowids=rowids)


def _batch(lines: Lines, want: int | None) -> int:
    """Posts to read next: every post gives at least one line, so as many posts as lines
    are still wanted (MIN_BATCH at least), or BATCH when every line is."""
    if want is None:
        return BATCH
    return min(BATCH, max(MIN_BATCH, want - len(lines.lines)))


async def read_more(db, request: ConcordanceRequest, lines: Lines, want: int | None) -> None:
    """Read posts, newest first, until `lines` holds `want` lines (None: every line), or
    every post is read, or MAX_LINES are held or MAX_CHARS read."""
    loop = asyncio.get_running_loop()
    while not lines.complete and (want is None or len(lines.lines) < want):
        batch = lines.rowids[lines.read:lines.read + _batch(lines, want)]
        bodies = await _bodies(db, batch, MAX_CHARS - lines.chars)
        marked = await loop.run_in_executor(None, mark_bodies, bodies, request.fts, request.width)
        for body, (found, cut) in zip(bodies, marked):
            lines.lines.extend(found)
            lines.read, lines.cut, lines.chars = lines.read + 1, lines.cut + cut, lines.chars + len(body.text)
            if len(lines.lines) >= MAX_LINES or lines.chars >= MAX_CHARS:
                lines.complete = True
                return
        if lines.read >= len(lines.rowids) or len(bodies) < len(batch):
            lines.complete = True


async def read_lines(db, request: ConcordanceRequest, want: int | None = None) -> Lines:
    """A concordance read to `want` lines (None: to its end)."""
    lines = await start_lines(db, request)
    await read_more(db, request, lines, want)
    return lines


def _fold(text: str) -> list[str]:
    return [m.group().casefold() for m in _WORD.finditer(text)]


def sorted_lines(lines: list[Line], sort: str) -> list[Line]:
    """`date`: as read (newest post first, then place in the post); `left`: by the words
    to the left, nearest first; `right`: by the words to the right, in order. Ties keep
    the date order."""
    if sort == "left":
        return sorted(lines, key=lambda line: _fold(line.left)[::-1])
    if sort == "right":
        return sorted(lines, key=lambda line: _fold(line.right))
    return lines


class Kept:
    """Concordances already begun (key: the database, query, filters and width), each
    read as far as a request has needed."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size, self.kept = size, OrderedDict()

    async def get(self, db, request: ConcordanceRequest, want: int | None) -> Lines:
        """The concordance of `request`, holding `want` lines (None: all) if it has them."""
        key = (db.name, getattr(db, "hash", None), request.key())
        lines = self.kept.get(key)
        if lines is None:
            lines = await start_lines(db, request)
            if getattr(db, "is_mutable", True) is False:  # an immutable file never changes under the answer
                lines = self.kept.setdefault(key, lines)  # another request may have begun it meanwhile
        if key in self.kept:
            self.kept.move_to_end(key)
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        async with lines.lock:
            await read_more(db, request, lines, want)
        return lines


KEPT = Kept()


@dataclass
class Outcome:
    request: ConcordanceRequest = field(default_factory=ConcordanceRequest)
    lines: Lines | None = None
    ordered: list[Line] = field(default_factory=list)
    page: list[Line] = field(default_factory=list)
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Every occurrence is counted (or the concordance was not run)."""
        return self.lines is None or self.lines.complete

    @property
    def total(self) -> int:
        """Occurrences found: all of them once complete, else those found so far."""
        return len(self.ordered)

    @property
    def pages(self) -> int:
        """Pages of the occurrences found (all pages once complete)."""
        return max(1, -(-self.total // self.request.size))

    @property
    def has_next(self) -> bool:
        return self.request.page < self.pages


def wanted(request: ConcordanceRequest, every: bool) -> int | None:
    """Lines a request needs: a page sorted by date needs its own and one more (to know
    there is a next page); a sort by context, or `every`, needs them all."""
    if every or request.sort != "date":
        return None
    return request.offset + request.size + 1


async def run(datasette, db, args, every: bool = False) -> Outcome:
    """The concordance a request asks for, read as far as its page needs (`every`: to
    its end, as the CSV is)."""
    outcome = Outcome()
    try:
        outcome.request = request = read_request(args, datasette.setting("max_returned_rows"))
    except RequestError as exc:
        outcome.error = str(exc)
        return outcome
    if request.fts is None:
        return outcome
    try:
        outcome.lines = await KEPT.get(db, request, wanted(request, every))
    except QueryInterrupted:
        outcome.error = TOO_LONG.format(seconds=datasette.setting("sql_time_limit_ms") / 1000)
        return outcome
    outcome.ordered = sorted_lines(list(outcome.lines.lines), request.sort)
    outcome.page = outcome.ordered[request.offset:request.offset + request.size]
    return outcome
