"""The concordance's answers (newsarchive.site.concordance reads the occurrences): an
HTML page (templates/news_concordance.html), JSON (`.json`, one page with the total, or
`?_shape=array` for the page's rows alone) and CSV of every occurrence (`.csv`)."""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from datasette.utils import tilde_encode
from datasette.utils.asgi import Response

from .concordance import (DEFAULT_SIZE, DEFAULT_WIDTH, MAX_PER_POST, MAX_WIDTH, SORTS, WINDOW_CHARS, Line, Lines,
                          Outcome, run)
from .instruments import csv_text
from .search_page import page_numbers

SORT_NAMES = {"date": "date, newest first", "left": "words to the left", "right": "words to the right"}
COLUMNS = ("position", "post_id", "url", "published_at", "left", "match", "right")


class Urls:
    def __init__(self, datasette, http_request, database: str):
        self.datasette, self.http_request, self.database = datasette, http_request, database
        self.base = datasette.urls.database(database)

    def concordance(self, outcome: Outcome, fmt: str = "", page: int | None = None, absolute: bool = False) -> str:
        request = outcome.request
        params = {"q": request.q, **request.filters.as_params(),
                  **({"sort": request.sort} if request.sort != "date" else {}),
                  **({"width": request.width} if request.width != DEFAULT_WIDTH else {}),
                  **({"size": request.size} if request.size != DEFAULT_SIZE and fmt != ".csv" else {}),
                  **({"page": page} if page and page > 1 else {})}
        path = f"{self.base}/concordance{fmt}?{urlencode(params)}"
        return self.datasette.absolute_url(self.http_request, path) if absolute else path

    def post(self, post_id: str, absolute: bool = True) -> str:
        path = self.datasette.urls.row(self.database, "posts", tilde_encode(post_id))
        return self.datasette.absolute_url(self.http_request, path) if absolute else path


def skipped(lines: Lines | None) -> str | None:
    """What the concordance did not read, in words (plain ASCII: it is also a CSV's header)."""
    if lines is None:
        return None
    said = []
    if lines.posts > lines.reach:
        said.append(f"The search matches {lines.posts:,} posts: the concordance reads the newest {lines.reach:,}; "
                    "narrow it with from, to, category, language or author to read the others.")
    if lines.cut:
        said.append(f"{lines.cut:,} {'post was' if lines.cut == 1 else 'posts were'} read only in part: "
                    f"the first {WINDOW_CHARS:,} characters and {MAX_PER_POST:,} occurrences of a post.")
    return " ".join(said) or None


def row_values(position: int, line: Line, urls: Urls) -> tuple:
    return (position, line.post_id, urls.post(line.post_id), line.published_at, line.left, line.match, line.right)


async def respond(datasette, http_request, db, fmt: str):
    """The response for `/<database>/concordance{fmt}` (fmt "", ".json" or ".csv")."""
    outcome = await run(datasette, db, http_request.args, every=fmt == ".csv")
    urls = Urls(datasette, http_request, db.name)
    status = 400 if outcome.error else 200
    if fmt == ".csv":
        if outcome.error:
            return Response.text(outcome.error + "\n", status=400)
        body = csv_text([COLUMNS, *(row_values(i + 1, line, urls) for i, line in enumerate(outcome.ordered))])
        download = bool(http_request.args.get("_dl"))
        headers = {"content-disposition": 'attachment; filename="concordance.csv"'} if download else {}
        if note := skipped(outcome.lines):
            headers["x-concordance-skipped"] = note
        return Response(body, headers=headers,
                        content_type="text/csv; charset=utf-8" if download else "text/plain; charset=utf-8")
    first = outcome.request.offset + 1
    rows = [dict(zip(COLUMNS, row_values(first + i, line, urls))) for i, line in enumerate(outcome.page)]
    if fmt == ".json":
        return json_response(outcome, urls, rows, http_request.args.get("_shape") == "array")
    html = await datasette.render_template("news_concordance.html", page_context(outcome, urls, http_request.args),
                                           request=http_request)
    return Response.html(html, status=status)


def json_response(outcome: Outcome, urls: Urls, rows: list[dict], array: bool) -> Response:
    if outcome.error:
        return Response.json({"ok": False, "error": outcome.error, "status": 400}, status=400)
    if array:
        return Response.json(rows)
    request, page = outcome.request, outcome.request.page
    lines, complete = outcome.lines, outcome.complete
    return Response.json({
        "ok": True, "q": request.q, "fts_query": request.fts, "sort": request.sort, "width": request.width,
        "filters": request.filters.as_params(), "total": outcome.total if complete else None,
        "found": outcome.total, "complete": complete,
        "posts": lines.posts if lines else 0, "posts_read": lines.read if lines else 0,
        "posts_cut": lines.cut if lines else 0, "skipped": skipped(lines), "page": page,
        "pages": outcome.pages if complete else None, "size": request.size, "rows": rows,
        "next_url": urls.concordance(outcome, ".json", page + 1, True) if outcome.has_next else None,
        "previous_url": urls.concordance(outcome, ".json", page - 1, True) if page > 1 else None,
        "csv_url": urls.concordance(outcome, ".csv", absolute=True),
    })


def page_context(outcome: Outcome, urls: Urls, args) -> dict:
    request, lines = outcome.request, outcome.lines
    page = request.page
    return {
        "database": urls.database, "action": f"{urls.base}/concordance", "error": outcome.error,
        "form": {n: args.get(n) or "" for n in ("q", "from", "to", "category", "language", "author")},
        "sort": request.sort, "sorts": SORTS, "sort_options": [(s, SORT_NAMES[s]) for s in SORTS], "width": request.width, "max_width": MAX_WIDTH,
        "total": outcome.total if lines else None, "complete": outcome.complete,
        "posts": lines.posts if lines else 0, "posts_reach": lines.reach if lines else 0,
        "posts_read": lines.read if lines else 0, "posts_cut": lines.cut if lines else 0,
        "window_chars": WINDOW_CHARS, "max_per_post": MAX_PER_POST,
        "rows": [{"line": line, "url": urls.post(line.post_id, absolute=False)} for line in outcome.page],
        "first": request.offset + 1, "page": page, "pages": outcome.pages,
        "page_links": [(n, urls.concordance(outcome, page=n) if n else None) for n in page_numbers(page, outcome.pages)]
        + ([] if outcome.complete else [(None, None)]),
        "previous_url": urls.concordance(outcome, page=page - 1) if page > 1 else None,
        "next_url": urls.concordance(outcome, page=page + 1) if outcome.has_next else None,
        "sort_urls": {s: urls.concordance(_with_sort(outcome, s)) for s in SORTS},
        "json_url": urls.concordance(outcome, ".json", page),
        "csv_url": urls.concordance(outcome, ".csv") + "&_dl=1",
        "search_url": f"{urls.base}/search?{urlencode({'q': request.q})}",
        "trends_url": f"{urls.base}/trends?{urlencode({'q': request.q})}",
    }


def _with_sort(outcome: Outcome, sort: str) -> Outcome:
    return Outcome(request=replace(outcome.request, sort=sort, page=1))
