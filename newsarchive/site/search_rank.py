"""The posts table's search box, best match first.

Neither Datasette 0.65 nor 1.0 can sort a table by search rank: `_sort` takes a column,
and the search is a `rowid in (select rowid from posts_fts where ... match ...)`
filter that keeps no rank. So a posts page request with a search and no sort of its
own is ranked:

- relevance_request() decides which requests (and drops the sort the table page's
  form sends along with a search, when it is only the table's default);
- while Datasette answers such a request (a context variable says so), the posts
  table has no default sort (ranking()): Datasette orders by id, says "sorted by"
  nothing, and pages by the last row's id (`_next=<id>`);
- rank_sql() turns that query's `order by id` into FTS5's rank (bm25, as on the search
  page), then id, and its `id > :p0` into "after that post in rank order". Every
  page follows on from the one before, so the pages hold each match once.

A search whose words are in too many posts to rank whole (search_common's rule, as on
the search page) is not ranked: it keeps the table's own sort (newest first), the page
says why (common_note(), shown as a message) and every answer carries the
COMMON_HEADER header.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from urllib.parse import parse_qsl, urlencode

#: The posts table's page, JSON and CSV of any database.
TABLE_PAGE = re.compile(r"^/[^/]+/posts(?:\.\w+)?$")
#: Whether the request in progress is a ranked search of the posts table.
_RANKED: ContextVar[bool] = ContextVar("news_ranked_search", default=False)
#: Why the search in progress is not ranked (its words are common), or None.
_COMMON: ContextVar[str | None] = ContextVar("news_common_search", default=None)
COMMON_HEADER = "x-search-order"
#: Fields only the table page's form sends: its filter row and its sort checkbox.
_FORM_FIELDS = ("_filter_column", "_filter_op", "_filter_value", "_sort_by_desc")
_SORTS = ("_sort", "_sort_desc", "_sort_by_desc")
#: Datasette's page of rows in primary key order (the other queries of the page, its
#: count and facets, keep their meaning).
_PAGE = re.compile(r"\border by id limit (\d+)\s*$")
_FROM_POSTS = re.compile(r"\bfrom posts where\b")
#: How Datasette's own search condition matches (escaped or raw search mode).
_MATCH = re.compile(r"posts_fts match ((?:escape_fts\()?:search\)?)")
#: The next page's start: after the post whose id ended the previous page.
_AFTER = re.compile(r"\(\(id > :(p\d+)\)\)")


def relevance_request(query_string: bytes, default_sort: tuple[str, str] | None) -> tuple[bytes, bool]:
    """A posts page request as ranked, and whether it is (a search and no sort); an
    empty search is left out.

    A search sent from the table page's form whose sort is the table's default
    (`default_sort`, e.g. ("_sort_desc", "published_at")) is ranked too, its sort
    dropped: the form always sends the sort it shows, and a search typed on a page in
    date order would otherwise stay in date order. A sort picked in the form, or a
    column's sort link, is kept.
    """
    try:
        pairs = parse_qsl(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return query_string, False
    args = dict(pairs)
    if "_search" in args and not args["_search"].strip():
        # An empty search box: Datasette would answer 400 (FTS5 cannot match nothing).
        return urlencode([(name, value) for name, value in pairs if name != "_search"]).encode("ascii"), False
    if not args.get("_search"):
        return query_string, False
    sort = _sort_of(args)
    if sort is None:
        return query_string, True
    if not (sort == default_sort and any(name in args for name in _FORM_FIELDS)):
        return query_string, False
    return urlencode([(name, value) for name, value in pairs if name not in _SORTS]).encode("ascii"), True


def _sort_of(args: dict) -> tuple[str, str] | None:
    """The sort a request asks for, as ("_sort" or "_sort_desc", column); None for none."""
    if args.get("_sort_desc"):
        return "_sort_desc", args["_sort_desc"]
    if args.get("_sort"):
        return ("_sort_desc" if "_sort_by_desc" in args else "_sort"), args["_sort"]
    return None


def ranking() -> bool:
    """Whether the request in progress is a ranked search of the posts table."""
    return _RANKED.get()


def common_note() -> str | None:
    """Why the request in progress, a search of the posts table, is not ranked; None if it is."""
    return _COMMON.get()


def unsorted(table_options: dict) -> dict:
    """The posts table's options without their default sort, for a ranked request."""
    return {name: value for name, value in table_options.items() if name not in ("sort", "sort_desc")}


def rank_sql(sql: str, params) -> str:
    """Datasette's page of posts matching `:search`, ordered by rank then id, instead of
    by id; any other SQL as it is."""
    page, match = _PAGE.search(sql), _MATCH.search(sql)
    if page is None or match is None or not _FROM_POSTS.search(sql) or "search" not in (params or {}):
        return sql
    matches = f"select rowid as news_rowid, rank as news_rank from posts_fts where posts_fts match {match[1]}"
    # The matches and their rank first, then each one's post: as a plain join SQLite
    # started from posts and ran the search once per match (seconds for a word in half
    # of 100,000 posts; this way about what Datasette's own date order costs).
    sql = _FROM_POSTS.sub(f"from ({matches}) as news_ranked cross join posts on posts.rowid = news_ranked.news_rowid"
                          " where", sql, count=1)

    def after(m: re.Match) -> str:
        rank = (f"(select rank from posts_fts where posts_fts match {match[1]}"
                f" and rowid = (select rowid from posts where id = :{m[1]}))")
        return f"(news_ranked.news_rank > {rank} or (news_ranked.news_rank = {rank} and id > :{m[1]}))"

    sql = _AFTER.sub(after, sql)
    return _PAGE.sub(lambda m: f"order by news_ranked.news_rank, id limit {m[1]}", sql)


#: Datasette's page of posts newest first (the table's own sort), and the index that
#: holds that order (search_query.DATE_INDEX).
_NEWEST_PAGE = re.compile(r"\border by published_at desc(?:, id)? limit \d+\s*$")
_DATE_INDEX = "idx_posts_published_at_id"


def date_sql(sql: str, params) -> str:
    """Datasette's page of posts matching `:search` newest first, walking the date index
    and stopping at the page's end; any other SQL as it is. SQLite's planner read and
    sorted every matching row instead (seconds for a word in most of 100,000 posts)."""
    if not (_NEWEST_PAGE.search(sql) and _MATCH.search(sql) and _FROM_POSTS.search(sql) and "search" in (params or {})):
        return sql
    return _FROM_POSTS.sub(f"from posts indexed by {_DATE_INDEX} where", sql, count=1)


def ranked_execute(execute):
    """A Database.execute that runs rank_sql on the SQL of a ranked request, and
    date_sql on that of a search too common to rank."""

    async def ranked(sql, params=None, *args, **kwargs):
        if _RANKED.get():
            sql = rank_sql(sql, params)
        elif _COMMON.get():
            sql = date_sql(sql, params)
        return await execute(sql, params, *args, **kwargs)

    return ranked


def _with_header(send, note: str):
    async def sending(message):
        if message.get("type") == "http.response.start":
            value = ("date; " + note).encode("ascii", "replace")
            message = dict(message, headers=[*message.get("headers", []), (COMMON_HEADER.encode(), value)])
        await send(message)

    return sending


def rank_searches(default_sort, common=None):
    """An asgi_wrapper: posts page requests go through relevance_request; `await
    default_sort(path)` gives the table's configured sort, or False where the database's
    posts cannot be ranked; `await common(path, args)` why a search is too common to
    rank (None when it is not)."""

    def wrap(app):
        async def ranked(scope, receive, send):
            if scope.get("type") != "http" or not TABLE_PAGE.match(scope.get("path", "")):
                return await app(scope, receive, send)
            default = await default_sort(scope["path"])
            query_string = scope.get("query_string", b"")
            if default is False:
                return await app(scope, receive, send)
            changed, is_ranked = relevance_request(query_string, default)
            if not is_ranked:
                return await app(dict(scope, query_string=changed), receive, send)
            note = await common(scope["path"], dict(parse_qsl(query_string.decode("utf-8")))) if common else None
            if note is not None:
                token = _COMMON.set(note)
                try:
                    return await app(scope, receive, _with_header(send, note))
                finally:
                    _COMMON.reset(token)
            token = _RANKED.set(True)
            try:
                await app(dict(scope, query_string=changed), receive, send)
            finally:
                _RANKED.reset(token)

        return ranked

    return wrap
