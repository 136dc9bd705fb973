"""The home page: a chart of posts per month by category (newsarchive.site.chart), drawn
as inline SVG on the server, so the page fetches nothing and runs no script, from the
build's monthly counts (monthly_posts), so it costs the same whatever the archive's size.
For immutable databases the chart is drawn, and the page an anonymous visitor sees made,
once per server process (newsarchive.site.home_page)."""
from datasette import hookimpl

from newsarchive.site.chart import home_chart
from newsarchive.site.home_page import home_page


@hookimpl
def register_routes():
    # Ahead of Datasette's own `/`, which home_page renders when it keeps no page.
    return [(r"^/(?P<format>)$", home_page)]  # the empty format: HTML, as Datasette names it


@hookimpl
def extra_template_vars(view_name, datasette):
    if view_name != "index":
        return {}

    async def inner():
        return {"news_chart": await home_chart(datasette.databases)}

    return inner
