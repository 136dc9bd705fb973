"""The posts table's search box orders by relevance while a search is on, unless
another sort is picked (newsarchive.site.search_rank)."""
import weakref

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils.sqlite import sqlite3

from newsarchive.site.columns import table_options
from newsarchive.site.search_common import rule_of
from newsarchive.site.search_rank import common_note, rank_searches, ranked_execute, ranking, unsorted


class _Ranked:
    """One Datasette's databases whose posts searches are ranked."""

    def __init__(self, datasette):
        self.datasette = datasette
        self.ranked: set[str] = set()
        self.without: set[str] = set()

    async def database(self, route: str) -> str | None:
        """The name of the database at `route` once its searches are ranked, else None."""
        try:
            db = self.datasette.get_database(route=route)
        except KeyError:
            return None
        if db.name not in self.ranked and db.name not in self.without:
            if await db.table_exists("posts_fts") and await db.table_exists("posts"):
                if db.name not in self.ranked:  # no await since the check: one wrapper only
                    self.ranked.add(db.name)
                    db.execute = ranked_execute(db.execute)
            else:
                self.without.add(db.name)
        return db.name if db.name in self.ranked else None

    def options(self, database: str, table: str, options: dict) -> dict:
        return unsorted(options) if table == "posts" and database in self.ranked and ranking() else options


_STATES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _state(datasette) -> _Ranked:
    """The datasette's _Ranked, made once, with the table options it answers for."""
    if datasette in _STATES:
        return _STATES[datasette]
    state = _STATES[datasette] = _Ranked(datasette)
    if hasattr(datasette, "table_config"):
        ask_config = datasette.table_config

        async def table_config(database, table):
            return state.options(database, table, await ask_config(database, table))

        datasette.table_config = table_config
    else:
        ask_metadata = datasette.table_metadata
        datasette.table_metadata = lambda database, table: state.options(database, table, ask_metadata(database, table))
    return state


@hookimpl
def startup(datasette):
    async def rank_posts():
        state = _state(datasette)
        for db in list(datasette.databases.values()):
            await state.database(db.route)

    return rank_posts


@hookimpl
def asgi_wrapper(datasette):
    state = _state(datasette)

    async def default_sort(path: str):
        """The posts table's configured sort, e.g. ("_sort_desc", "published_at"); False
        when the searches of the database at `path` are not ranked."""
        database = await state.database(path.split("/")[1])
        if database is None:
            return False
        options = await table_options(datasette, database, "posts")
        for name in ("sort_desc", "sort"):
            if options.get(name):
                return "_" + name, options[name]
        return None

    async def common(path: str, args: dict) -> str | None:
        """Why the search in `args` is too common to rank (search_common), or None."""
        db = datasette.get_database(route=path.split("/")[1])
        match = "posts_fts match :search" if args.get("_searchmode") == "raw" else "posts_fts match escape_fts(:search)"
        try:
            matches = (await db.execute(f"select count(*) from posts_fts where {match}", {"search": args["_search"]})).rows[0][0]
            posts = (await db.execute("select count(*) from posts")).rows[0][0]
        except (sqlite3.OperationalError, QueryInterrupted):  # Datasette's own page says why
            return None
        rule = rule_of(datasette)
        if not rule.applies(matches, posts):
            return None
        return (f"These words are in {matches:,} of {posts:,} posts, too many to rank whole: the matches are listed"
                f" newest first. A phrase or a rarer word is listed best match first.")

    return rank_searches(default_sort, common)


@hookimpl
def extra_template_vars(request, view_name, table, datasette):
    note = common_note()
    if view_name == "table" and table == "posts" and note and request is not None:
        datasette.add_message(request, note)
    return {}
