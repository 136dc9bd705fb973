"""The search page's request and its SQL: what was asked (SearchRequest), how many posts
match (count), which of them a page shows (page_rowids) and what each result shows
(hits), against a Datasette Database.

Every match is counted and every page can be reached: the count is its own query, and
a page is `limit`/`offset` over one total order (relevance, or date, each with a
tie-breaker), so the pages together hold each match exactly once.
"""
from __future__ import annotations

import asyncio
import calendar
import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

from .search_common import CommonRank, CommonRule
from .search_snippet import COLUMNS as SNIPPET_COLUMNS, SCAN_CHARS, passages

#: `relevance`: FTS5's bm25 rank, best first; `date`: newest first (undated posts last).
SORTS = ("relevance", "date")
DEFAULT_SIZE = 20
#: The posts index in date order (newest first, then id): a search sorted by date walks it
#: and stops at the page's end. SQLite's planner sorted every match instead (120 ms
#: rather than 12 for a word in half of 100,000 posts).
DATE_INDEX = "idx_posts_published_at_id"
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class SearchRequestError(ValueError):
    """A parameter of the search page that cannot be read; the message says why."""


@dataclass(frozen=True)
class Filters:
    """What the matches are narrowed to, as typed ("" for no filter)."""

    date_from: str = ""
    date_to: str = ""
    category: str = ""
    language: str = ""
    author: str = ""

    def as_params(self) -> dict[str, str]:
        """The filters as the page's query-string parameters, empty ones left out."""
        names = {"date_from": "from", "date_to": "to", "category": "category", "language": "language",
                 "author": "author"}
        return {names[k]: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class SearchRequest:
    """One request of the search page, read and checked."""

    q: str = ""
    sort: str = "relevance"
    filters: Filters = field(default_factory=Filters)
    page: int = 1
    size: int = DEFAULT_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


@dataclass(frozen=True)
class Hit:
    """One matching post as a result shows it. `snippet` is plain text; `marked` (HTML
    pages only) is the same passage with the matched words between ⟦ and ⟧."""

    position: int
    id: str
    title: str | None
    published_at: str | None
    category: str | None
    language: str | None
    authors: tuple[str, ...]
    snippet: str
    marked: str | None = None


def read_request(args: Mapping[str, str], max_size: int) -> SearchRequest:
    """A SearchRequest from the query string's `q`, `sort`, `from`, `to`, `category`,
    `language`, `author`, `page` and `size`; SearchRequestError names a bad one."""
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        raise SearchRequestError(f"sort is relevance (best first) or date (newest first), not “{sort}”.")
    filters = Filters(
        date_from=(args.get("from") or "").strip(), date_to=(args.get("to") or "").strip(),
        category=(args.get("category") or "").strip(), language=(args.get("language") or "").strip(),
        author=(args.get("author") or "").strip(),
    )
    start, end = date_bounds(filters)
    if start and end and start >= end:
        raise SearchRequestError(f"from ({filters.date_from}) is after to ({filters.date_to}).")
    return SearchRequest(
        q=args.get("q") or "", sort=sort, filters=filters,
        page=_whole_number(args, "page", 1, None), size=_whole_number(args, "size", DEFAULT_SIZE, max_size),
    )


def _whole_number(args: Mapping[str, str], name: str, default: int, most: int | None) -> int:
    text = (args.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1 or (most is not None and int(text) > most):
        upto = f" up to {most:,}" if most is not None else ""
        raise SearchRequestError(f"{name} is a whole number from 1{upto}, not “{text}”.")
    return int(text)


def date_bounds(filters: Filters) -> tuple[str | None, str | None]:
    """The range of published_at the filters allow: (first, after), ISO 8601 text to
    compare with, `after` excluded. `to` includes its whole year, month or day."""
    return _day(filters.date_from, "from", end=False), _day(filters.date_to, "to", end=True)


def _day(text: str, name: str, end: bool) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as the first day of the period, or (end) the day after it."""
    if not text:
        return None
    m = _DATE.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
        first = datetime.date(year, month, day)
    except ValueError:
        raise SearchRequestError(f"{name} is a date as YYYY, YYYY-MM or YYYY-MM-DD, not “{text}”.") from None
    if not end:
        return first.isoformat()
    if m[3]:
        days = 1
    elif m[2]:
        days = calendar.monthrange(year, month)[1]
    else:
        days = 366 if calendar.isleap(year) else 365
    try:
        return (first + datetime.timedelta(days=days)).isoformat()
    except OverflowError:  # the end of year 9999: nothing is later
        return None


def _where(filters: Filters) -> tuple[list[str], dict]:
    """SQL conditions on `posts` for the filters, and their parameters."""
    start, after = date_bounds(filters)
    conditions = [
        ("posts.published_at >= :date_from", "date_from", start),
        ("posts.published_at < :date_to", "date_to", after),
        ("posts.category = :category", "category", filters.category),
        ("posts.language = :language", "language", filters.language),
        ("posts.id in (select post_id from post_authors where author = :author)", "author", filters.author),
    ]
    kept = [(sql, name, value) for sql, name, value in conditions if value]
    return [sql for sql, _, _ in kept], {name: value for _, name, value in kept}


_MATCHES = "select rowid from posts_fts where posts_fts match :fts"


def count_sql(filters: Filters) -> tuple[str, dict]:
    """SQL for the number of matching posts the filters keep (parameter `fts` still to add)."""
    where, params = _where(filters)
    if not where:
        return "select count(*) from posts_fts where posts_fts match :fts", params
    return f"select count(*) from posts where {' and '.join(where)} and rowid in ({_MATCHES})", params


def order_sql(sort: str, filters: Filters, paged: bool) -> tuple[str, dict]:
    """SQL for the matching posts' rowids in the page order (with :limit and :offset when
    `paged`): by bm25 rank, then rowid; or newest first, then id, as the date index runs."""
    where, params = _where(filters)
    window = " limit :limit offset :offset" if paged else ""
    if sort == "date":
        conditions = " and ".join([*where, f"rowid in ({_MATCHES})"])
        return (f"select rowid from posts indexed by {DATE_INDEX} where {conditions}"
                f" order by published_at desc, id{window}"), params
    hits = "(select rowid, rank as score from posts_fts where posts_fts match :fts) as hits"
    if not where:
        return f"select rowid from {hits} order by score, rowid{window}", params
    return (f"select hits.rowid from {hits} join posts on posts.rowid = hits.rowid"
            f" where {' and '.join(where)} order by hits.score, hits.rowid{window}"), params


def hits_sql() -> str:
    """SQL for the posts of a list of rowids (:rowids, a JSON array), in that order, each
    with the opening :scan characters of the columns its snippet is looked for in."""
    columns = ", ".join(f"substr(posts.{name}, 1, :scan) as [{name}]" for name in SNIPPET_COLUMNS)
    return f"""select posts.id, posts.title, posts.published_at, posts.category, posts.language,
  posts.authors, {columns}
from json_each(:rowids) as listed
join posts on posts.rowid = listed.value
order by listed.key"""


def common_sql(filters: Filters, part: str) -> tuple[str, dict]:
    """SQL of a common search (search_common) with the filters: `floor`, the rowid of the
    :skip+1-th most recently added match; `ranked`, the matches from :floor on by bm25
    rank, then rowid; `rest`, the matches before :floor, most recently added first."""
    where, params = _where(filters)
    if part == "ranked":
        hits = "(select rowid, rank as score from posts_fts where posts_fts match :fts and rowid >= :floor) as hits"
        if not where:
            return f"select rowid from {hits} order by score, rowid", params
        return (f"select hits.rowid from {hits} join posts on posts.rowid = hits.rowid"
                f" where {' and '.join(where)} order by hits.score, hits.rowid"), params
    join = " join posts on posts.rowid = posts_fts.rowid" if where else ""
    conditions = " and ".join(["posts_fts match :fts", *(["posts_fts.rowid < :floor"] if part == "rest" else []), *where])
    window = " limit 1 offset :skip" if part == "floor" else ""
    return f"select posts_fts.rowid from posts_fts{join} where {conditions} order by posts_fts.rowid desc{window}", params


async def count(db, fts: str, filters: Filters) -> int:
    sql, params = count_sql(filters)
    return (await db.execute(sql, {**params, "fts": fts})).rows[0][0]


async def common_rank(db, fts: str, request: SearchRequest, total: int, rule: CommonRule) -> CommonRank | None:
    """How a search by relevance is ranked: None for every match by bm25, else a
    CommonRank (its words are in more posts of the archive than the rule ranks whole).
    `total` is the matches the filters keep; the rule weighs those of the whole archive."""
    if request.sort != "relevance":
        return None
    matches = total if not any(vars(request.filters).values()) else await count(db, fts, Filters())
    posts = (await db.execute("select count(*) from posts")).rows[0][0]
    if not rule.applies(matches, posts) or total <= rule.candidates:
        return None
    return CommonRank(matches, posts, rule)


async def _rows(db, sql: str, params: dict) -> list[int]:
    return [row[0] for row in (await db.execute(sql, params)).rows]


async def _common_rowids(db, fts: str, filters: Filters, common: CommonRank, limit: int | None, offset: int) -> list[int]:
    """A window of a common search's order: the ranked candidates, then the rest."""
    sql, params = common_sql(filters, "floor")
    floor = await _rows(db, sql, {**params, "fts": fts, "skip": common.rule.candidates - 1})
    params.update(fts=fts, floor=floor[0] if floor else 0)
    out: list[int] = []
    if offset < common.rule.candidates:
        take = common.rule.candidates - offset if limit is None else min(limit, common.rule.candidates - offset)
        sql, _ = common_sql(filters, "ranked")
        out = await _rows(db, f"{sql} limit {take} offset {offset}", params)
    if limit is None or len(out) < limit:
        sql, _ = common_sql(filters, "rest")
        more = -1 if limit is None else limit - len(out)
        out += await _rows(db, f"{sql} limit {more} offset {max(offset - common.rule.candidates, 0)}", params)
    return out


async def page_rowids(db, fts: str, request: SearchRequest, common: CommonRank | None = None) -> list[int]:
    if common is not None:
        return await _common_rowids(db, fts, request.filters, common, request.size, request.offset)
    sql, params = order_sql(request.sort, request.filters, paged=True)
    params.update(fts=fts, limit=request.size, offset=request.offset)
    return [row[0] for row in (await db.execute(sql, params)).rows]


async def all_rowids(db, fts: str, request: SearchRequest, common: CommonRank | None = None) -> list[int]:
    if common is not None:
        return await _common_rowids(db, fts, request.filters, common, None, 0)
    sql, params = order_sql(request.sort, request.filters, paged=False)
    return [row[0] for row in (await db.execute(sql, {**params, "fts": fts})).rows]


async def hits(db, wanted: str, rowids: list[int], first: int, marked: bool = False) -> list[Hit]:
    """The results for `rowids` (in that order), numbered from `first`, with snippets of
    `wanted` (Search.wanted) made in bounded time off the event loop (search_snippet)."""
    if not rowids:
        return []
    results = await db.execute(hits_sql(), {"rowids": json.dumps(rowids), "scan": SCAN_CHARS})
    texts = [tuple(row[name] for name in SNIPPET_COLUMNS) for row in results.rows]
    snippets = await asyncio.get_running_loop().run_in_executor(None, passages, texts, wanted)
    return [
        Hit(
            position=first + i, id=row["id"], title=row["title"], published_at=row["published_at"],
            category=row["category"], language=row["language"], authors=_names(row["authors"]),
            snippet=snippet.plain, marked=snippet.marked if marked else None,
        )
        for i, (row, snippet) in enumerate(zip(results.rows, snippets))
    ]


def _names(authors: str | None) -> tuple[str, ...]:
    return tuple(json.loads(authors)) if authors else ()
