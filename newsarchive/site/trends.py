"""Term trends, `/<database>/trends` (plugins/news_trends.py routes it here): for one to
five searches, how many posts match each month against how many were published that
month, optionally per category or language, as a page with a chart
(templates/news_trends.html), JSON and CSV.

Each term costs one query, grouped by month (and group), whatever the number of
months, read from a covering index of month (and group) and rowid; the denominators
are one more, from the build's monthly_posts. Months without a match, or without a post,
are filled in here, so every month from the first post to the last is a row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from urllib.parse import urlencode

from datasette.database import QueryInterrupted
from datasette.utils.asgi import Response

from .instruments import RequestError, csv_text, month_range, read_month
from .search import SearchSyntaxError, read_search
from .trend_chart import MAX_LINES, share_chart_svg

#: Most terms one trend compares: each is one full-text query.
MAX_TERMS = 5
#: Most groups (categories or languages) one trend splits into.
MAX_GROUPS = 50
GROUPINGS = ("category", "language")
TOO_LONG = "The trend took longer than the time limit ({seconds:g} s): compare fewer or rarer terms, or fewer months."


@dataclass(frozen=True)
class Term:
    """One term as typed, and the FTS5 query it reads as."""

    text: str
    fts: str


@dataclass(frozen=True)
class TrendRequest:
    terms: tuple[Term, ...] = ()
    by: str = ""
    first: str | None = None
    last: str | None = None
    q: str = ""


@dataclass(frozen=True)
class TrendRow:
    month: str
    term: str
    group: str | None
    matches: int
    posts: int

    @property
    def share(self) -> float | None:
        return self.matches / self.posts if self.posts else None


@dataclass
class Trend:
    request: TrendRequest = field(default_factory=TrendRequest)
    rows: list[TrendRow] = field(default_factory=list)
    months: list[str] = field(default_factory=list)
    groups: list = field(default_factory=list)
    error: str | None = None


def split_terms(text: str) -> list[str]:
    """The terms of `q`: comma-separated, a comma inside "quotes" belonging to its phrase."""
    terms, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t.strip() for t in terms if t.strip()]


def read_request(args: Mapping[str, str]) -> TrendRequest:
    """A TrendRequest from `q`, `by`, `from` and `to`; RequestError names a bad one."""
    q = args.get("q") or ""
    texts = list(dict.fromkeys(split_terms(q)))
    if len(texts) > MAX_TERMS:
        raise RequestError(f"A trend compares at most {MAX_TERMS} terms; this one has {len(texts)}.")
    terms = []
    for text in texts:
        try:
            fts = read_search(text).fts
        except SearchSyntaxError as exc:
            raise RequestError(f"“{text}”: {exc}") from None
        if fts is None:
            raise RequestError(f"“{text}” has no word to search for.")
        terms.append(Term(text, fts))
    by = (args.get("by") or "").strip()
    if by and by not in GROUPINGS:
        raise RequestError(f"by is category or language, not “{by}”.")
    first, last = read_month(args, "from", end=False), read_month(args, "to", end=True)
    if first and last and first > last:
        raise RequestError(f"from ({first}) is after to ({last}).")
    return TrendRequest(tuple(terms), by, first, last, q)


#: The covering index each grouping counts from (db/schema.py INDEXES): its entries hold
#: the month, the group and the rowid, so a term's matches are counted without reading
#: a post. Looking each match up in the posts table instead read a page of the table
#: per match: 130 to 190 ms a common term at 100,000 posts, 60 to 80 through the index.
MONTH_INDEX = {"": "idx_posts_published_month", "category": "idx_posts_category_published_month",
               "language": "idx_posts_language_published_month"}


def _counts_sql(by: str, matching: bool) -> str:
    group = by or "null"
    match = " and rowid in (select rowid from posts_fts where posts_fts match :fts)" if matching else ""
    return (f"select published_month, {group}, count(*) from posts indexed by {MONTH_INDEX[by]}"
            f" where published_month between :first and :last{match} group by 1, 2")


def _denominators_sql(by: str) -> str:
    """Posts per month (and group) from the build's monthly_posts: a month's total is
    the sum of its category rows."""
    if by:
        return ("select month, value, posts from monthly_posts"
                f" where facet = '{by}' and month between :first and :last")
    return ("select month, null, sum(posts) from monthly_posts"
            " where facet = 'category' and month between :first and :last group by month")


async def posts_per_month(db, by: str, bounds: dict) -> dict:
    """(month, group) -> posts published, from the build's count where the database has it."""
    summed = "monthly_posts" in await db.table_names()
    result = await db.execute(_denominators_sql(by) if summed else _counts_sql(by, False), bounds)
    return {(m, g): n for m, g, n in result.rows}


async def months_of(db, request: TrendRequest) -> list[str]:
    """Every month from the first dated post to the last, within from/to."""
    low, high = (await db.execute("select min(published_month), max(published_month) from posts")).rows[0]
    if low is None:
        return []
    return month_range(max(low, request.first or low), min(high, request.last or high))


async def compute(db, request: TrendRequest) -> Trend:
    """The rows of a trend: month by month (then term, then group), zeros included."""
    trend = Trend(request)
    trend.months = await months_of(db, request)
    if not request.terms or not trend.months:
        return trend
    bounds = {"first": trend.months[0], "last": trend.months[-1]}
    posts = await posts_per_month(db, request.by, bounds)
    groups = sorted({g for _, g in posts}, key=lambda g: (g is None, g or "")) if request.by else [None]
    if len(groups) > MAX_GROUPS:
        raise RequestError(f"by={request.by} splits these months into {len(groups)} groups; a trend shows at most "
                           f"{MAX_GROUPS}: narrow from/to.")
    trend.groups = groups
    matches = {}
    for term in request.terms:
        result = await db.execute(_counts_sql(request.by, True), {**bounds, "fts": term.fts})
        matches.update({(term.text, m, g): n for m, g, n in result.rows})
    trend.rows = [
        TrendRow(month, term.text, group, matches.get((term.text, month, group), 0), posts.get((month, group), 0))
        for month in trend.months for term in request.terms for group in groups
    ]
    return trend


async def run(datasette, db, args) -> Trend:
    try:
        request = read_request(args)
        return await compute(db, request)
    except RequestError as exc:
        return Trend(error=str(exc))
    except QueryInterrupted:
        return Trend(error=TOO_LONG.format(seconds=datasette.setting("sql_time_limit_ms") / 1000))


def columns(request: TrendRequest) -> tuple[str, ...]:
    return ("month", "term", *((request.by,) if request.by else ()), "matches", "posts", "share")


def row_values(row: TrendRow, by: str) -> tuple:
    share = None if row.share is None else round(row.share, 6)
    return (row.month, row.term, *((row.group,) if by else ()), row.matches, row.posts, share)


def series(trend: Trend) -> list[tuple[str, list[TrendRow]]]:
    """The trend's lines: one per term (and group), each a row per month, in row order."""
    lines: dict[str, list[TrendRow]] = {}
    for row in trend.rows:
        name = row.term if not trend.request.by else f"{row.term} · {row.group if row.group is not None else '(none)'}"
        lines.setdefault(name, []).append(row)
    return list(lines.items())


# ------------------------------------------------------------------ responses

async def respond(datasette, http_request, db, fmt: str):
    """The response for `/<database>/trends{fmt}` (fmt "", ".json" or ".csv")."""
    trend = await run(datasette, db, http_request.args)
    status = 400 if trend.error else 200
    by = trend.request.by
    if fmt == ".csv":
        if trend.error:
            return Response.text(trend.error + "\n", status=400)
        body = csv_text([columns(trend.request), *(row_values(r, by) for r in trend.rows)])
        headers = {"content-disposition": 'attachment; filename="trends.csv"'} if http_request.args.get("_dl") else {}
        return Response(body, headers=headers, content_type="text/csv; charset=utf-8" if headers else
                        "text/plain; charset=utf-8")
    rows = [dict(zip(columns(trend.request), row_values(r, by))) for r in trend.rows]
    if fmt == ".json":
        if trend.error:
            return Response.json({"ok": False, "error": trend.error, "status": 400}, status=400)
        if http_request.args.get("_shape") == "array":
            return Response.json(rows)
        return Response.json({"ok": True, "q": trend.request.q, "terms": [t.text for t in trend.request.terms],
                              "fts_queries": [t.fts for t in trend.request.terms], "by": by or None,
                              "months": len(trend.months), "columns": list(columns(trend.request)), "rows": rows})
    base = datasette.urls.database(db.name)
    query = http_request.query_string
    lines = series(trend)
    context = {
        "database": db.name, "action": base + "/trends", "error": trend.error,
        "form": {name: http_request.args.get(name) or "" for name in ("q", "by", "from", "to")},
        "terms": [{"text": t.text, "search_url": f"{base}/search?{_q(t.text)}",
                   "concordance_url": f"{base}/concordance?{_q(t.text)}"} for t in trend.request.terms],
        "svg": share_chart_svg(lines) if lines else None, "lines": lines, "months": trend.months,
        "drawn": min(len(lines), MAX_LINES),
        "json_url": f"{base}/trends.json?{query}", "csv_url": f"{base}/trends.csv?{query}&_dl=1",
        "max_terms": MAX_TERMS,
    }
    html = await datasette.render_template("news_trends.html", context, request=http_request)
    return Response.html(html, status=status)


def _q(text: str) -> str:
    return urlencode({"q": text})
