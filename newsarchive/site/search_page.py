"""The search page, `/<database>/search` (plugins/news_search.py routes it here): an
HTML page of results (templates/news_search.html), its JSON (`.json`, one page, or
`?_shape=array` for the page's rows alone) and a CSV of every match (`.csv`).

Each answer says how many posts match and which of them it holds; a query or
parameter that cannot be read is answered 400 with the fix in words, on the page
with the form as typed.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from datasette.database import QueryInterrupted
from datasette.utils import tilde_encode
from datasette.utils.asgi import AsgiStream, Response

from .search import Search, SearchSyntaxError, highlight, read_search
from .search_common import CommonRank, rule_of
from .search_query import (
    DEFAULT_SIZE, SORTS, Hit, SearchRequest, SearchRequestError, all_rowids, common_rank, count, hits, page_rowids,
    read_request,
)

TEMPLATE = "news_search.html"
#: Matches given their snippets at a time while a CSV streams: each batch holds up to
#: search_snippet.SCAN_CHARS of each searched column of each of its posts in memory.
CSV_BATCH = 100
CSV_COLUMNS = ("position", "id", "title", "url", "published_at", "category", "language", "authors", "snippet")
#: At most this many names are offered in the form's author list.
MAX_AUTHOR_OPTIONS = 5000
TOO_LONG = ("The search took longer than the time limit ({seconds:g} s): narrow it with another word, "
            "a phrase or a filter.")


@dataclass
class Outcome:
    """What a search request came to: the request as read, the search, and either an
    error or the total and one page of hits (none when there was nothing to search for)."""

    request: SearchRequest = field(default_factory=SearchRequest)
    search: Search = field(default_factory=lambda: Search(None))
    error: str | None = None
    total: int | None = None
    hits: list[Hit] = field(default_factory=list)
    common: CommonRank | None = None  # ranked among its newest matches only (search_common)

    @property
    def status(self) -> int:
        return 400 if self.error else 200

    @property
    def pages(self) -> int:
        return max(1, -(-(self.total or 0) // self.request.size))


class Urls:
    """The URLs one search page links to: its other pages and formats, and each post."""

    def __init__(self, datasette, http_request, database: str):
        self.datasette, self.http_request, self.database = datasette, http_request, database
        self.base = datasette.urls.database(database) + "/search"

    def search(self, outcome: Outcome, fmt: str = "", page: int | None = None, absolute: bool = False) -> str:
        request = outcome.request
        params = {"q": request.q, **({"sort": request.sort} if request.sort != "relevance" else {}),
                  **request.filters.as_params()}
        if page and page > 1:
            params["page"] = page
        if fmt != ".csv" and request.size != DEFAULT_SIZE:
            params["size"] = request.size
        path = f"{self.base}{fmt}?{urlencode(params)}"
        return self.datasette.absolute_url(self.http_request, path) if absolute else path

    def post(self, post_id: str, absolute: bool = False) -> str:
        path = self.datasette.urls.row(self.database, "posts", tilde_encode(post_id))
        return self.datasette.absolute_url(self.http_request, path) if absolute else path


async def run(datasette, db, args, marked: bool) -> Outcome:
    """Read a request and find one page of its matches (`marked`: with highlights)."""
    outcome = Outcome()
    try:
        outcome.request = read_request(args, datasette.setting("max_returned_rows"))
        outcome.search = read_search(outcome.request.q)
    except (SearchRequestError, SearchSyntaxError) as exc:
        outcome.error = str(exc)
        return outcome
    fts, request = outcome.search.fts, outcome.request
    if fts is None:
        return outcome
    try:
        outcome.total = await count(db, fts, request.filters)
        outcome.common = await common_rank(db, fts, request, outcome.total, rule_of(datasette))
        rowids = await page_rowids(db, fts, request, outcome.common) if request.offset < outcome.total else []
        outcome.hits = await hits(db, outcome.search.wanted, rowids, request.offset + 1, marked)
    except QueryInterrupted:
        outcome.error = TOO_LONG.format(seconds=datasette.setting("sql_time_limit_ms") / 1000)
    return outcome


async def respond(datasette, http_request, database: str, fmt: str):
    """The response for `/<database>/search{fmt}` (fmt "", ".json" or ".csv")."""
    db = datasette.get_database(database)
    urls = Urls(datasette, http_request, database)
    outcome = await run(datasette, db, http_request.args, marked=not fmt)
    if fmt == ".json":
        return json_response(outcome, urls, http_request.args.get("_shape") == "array")
    if fmt == ".csv":
        return await csv_response(db, outcome, urls, bool(http_request.args.get("_dl")))
    context = await page_context(db, outcome, urls, http_request.args)
    html = await datasette.render_template(TEMPLATE, context, request=http_request)
    return Response.html(html, status=outcome.status)


def row_values(hit: Hit, urls: Urls) -> tuple:
    """A result as the JSON and CSV give it, in the order of CSV_COLUMNS."""
    return (hit.position, hit.id, hit.title, urls.post(hit.id, absolute=True), hit.published_at, hit.category,
            hit.language, list(hit.authors), hit.snippet)


def json_response(outcome: Outcome, urls: Urls, array: bool) -> Response:
    if outcome.error:
        return Response.json({"ok": False, "error": outcome.error, "status": 400}, status=400)
    rows = [dict(zip(CSV_COLUMNS, row_values(hit, urls))) for hit in outcome.hits]
    if array:
        return Response.json(rows)
    request = outcome.request
    page = request.page
    return Response.json({
        "ok": True,
        "q": request.q,
        "fts_query": outcome.search.fts,
        "notes": list(outcome.search.notes),
        "sort": request.sort,
        "filters": request.filters.as_params(),
        "total": outcome.total or 0,
        "ranked_among_newest": outcome.common.as_json() if outcome.common else None,
        "page": page,
        "pages": outcome.pages,
        "size": request.size,
        "rows": rows,
        "next_url": urls.search(outcome, ".json", page + 1, absolute=True) if page < outcome.pages else None,
        "previous_url": urls.search(outcome, ".json", page - 1, absolute=True) if page > 1 else None,
        "csv_url": urls.search(outcome, ".csv", absolute=True),
    })


async def csv_response(db, outcome: Outcome, urls: Urls, download: bool):
    """Every match as CSV (the request's page and size are ignored), in the requested order:
    shown as text, as Datasette's CSV is, or (`download`, `?_dl=1`) as a file."""
    if outcome.error:
        return Response.text(outcome.error + "\n", status=400)
    fts, request = outcome.search.fts, outcome.request
    rowids = await all_rowids(db, fts, request, outcome.common) if fts else []

    async def stream(writer):
        await writer.write(_csv_lines([CSV_COLUMNS]))
        for start in range(0, len(rowids), CSV_BATCH):
            try:
                batch = await hits(db, outcome.search.wanted, rowids[start:start + CSV_BATCH], start + 1)
            except QueryInterrupted:
                await writer.write(f"\nError: the download stopped after {start:,} of {len(rowids):,} rows.\n")
                return
            await writer.write(_csv_lines(_csv_row(row_values(hit, urls)) for hit in batch))

    if download:
        headers = {"content-disposition": 'attachment; filename="search.csv"'}
        return AsgiStream(stream, headers=headers, content_type="text/csv; charset=utf-8")
    return AsgiStream(stream, content_type="text/plain; charset=utf-8")


def _csv_row(values: tuple) -> list:
    """Authors as a JSON array, as posts.authors has them ("" for none)."""
    return [json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for v in values]


def _csv_lines(rows) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


async def page_context(db, outcome: Outcome, urls: Urls, args) -> dict:
    """What templates/news_search.html shows."""
    request = outcome.request
    return {
        "database": urls.database,
        "action": urls.base,
        "form": {name: args.get(name) or "" for name in ("q", "from", "to", "category", "language", "author")},
        "sort": request.sort if not outcome.error else (args.get("sort") or "relevance"),
        "sorts": SORTS,
        "options": await form_options(db),
        "error": outcome.error,
        "notes": outcome.search.notes,
        "fts_query": outcome.search.fts,
        "total": outcome.total,
        "common": outcome.common,
        "results": [
            {"hit": hit, "url": urls.post(hit.id), "snippet": highlight(hit.marked or "", hit.snippet)}
            for hit in outcome.hits
        ],
        "page": request.page,
        "pages": outcome.pages,
        "first": request.offset + 1,
        "page_links": [(n, urls.search(outcome, page=n) if n else None) for n in page_numbers(request.page, outcome.pages)],
        "previous_url": urls.search(outcome, page=request.page - 1) if 1 < request.page <= outcome.pages + 1 else None,
        "next_url": urls.search(outcome, page=request.page + 1) if request.page < outcome.pages else None,
        "last_url": urls.search(outcome, page=outcome.pages),
        "json_url": urls.search(outcome, ".json", request.page),
        "csv_url": urls.search(outcome, ".csv") + "&_dl=1",
    }


def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page numbers a pager shows: the first, the last and two either side of the
    current one, with None where numbers are left out."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - out[-1] > 1:
            out.append(None)
        out.append(n)
    return out


async def form_options(db) -> dict[str, list[str]]:
    """The categories, languages and authors the form offers."""

    async def names(sql: str) -> list[str]:
        return [row[0] for row in (await db.execute(sql)).rows]

    return {
        "categories": await names("select name from categories order by name"),
        "languages": await names("select code from languages order by code"),
        "authors": await names(f"select name from authors order by name limit {MAX_AUTHOR_OPTIONS}"),
    }
