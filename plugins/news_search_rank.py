"""The posts table's search box orders by relevance while a search is on, unless
another sort is picked (newsarchive.site.search_rank)."""
import weakref

from datasette import hookimpl

from newsarchive.site.columns import table_options
from newsarchive.site.search_rank import rank_searches, ranked_execute, ranking, unsorted


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

    return rank_searches(default_sort)
