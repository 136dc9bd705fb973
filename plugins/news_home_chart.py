"""The home page: a chart of posts per month by category (newsarchive.site.chart), drawn
as inline SVG on the server, so the page fetches nothing and runs no script, from the
build's monthly counts (monthly_posts), so it costs the same whatever the archive's size."""
from datasette import hookimpl

from newsarchive.site.chart import home_chart


@hookimpl
def extra_template_vars(view_name, datasette):
    if view_name != "index":
        return {}

    async def inner():
        return {"news_chart": await home_chart(datasette.databases)}

    return inner
