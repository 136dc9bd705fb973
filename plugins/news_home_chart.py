"""The home page: a chart of posts per month by category, drawn as inline SVG on the
server, so the page fetches nothing from the internet and runs no script."""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette import hookimpl

from newsarchive.site.web import month_chart_svg


@hookimpl
def extra_template_vars(view_name, datasette):
    if view_name != "index":
        return {}

    async def inner():
        return {"news_chart": await chart()}

    async def chart():
        for name, db in datasette.databases.items():
            if name == "_internal" or "posts" not in await db.table_names():
                continue
            result = await db.execute(
                """select published_month, categories.name, count(*)
                   from posts left join categories on categories.id = posts.category_id
                   where published_month is not null
                   group by published_month, categories.name"""
            )
            return {"database": name, "svg": month_chart_svg([tuple(r) for r in result.rows])}
        return None

    return inner
