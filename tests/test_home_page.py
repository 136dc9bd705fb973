"""The home page of immutable databases is made once per server process for an anonymous
visitor (newsarchive.site.home_page) and its chart drawn once (newsarchive.site.chart):
a repeat runs no SQL at all, yet is the page Datasette renders, and any request that
could see another page (signed in, a cookie, a query string, a mutable database) is
rendered by Datasette each time. The SQL a request runs is read from Datasette's own
tracer, on the real Datasette of the production configuration."""
from __future__ import annotations

import asyncio
import re

import pytest
from datasette.tracer import capture_traces

from newsarchive.build import build

from .conftest import SAMPLE

SVG = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" class="news-chart".*?</svg>', re.DOTALL)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    db = tmp_path_factory.mktemp("home") / "news.db"
    build(SAMPLE, db, quiet=True)
    return db


def traced_get(app, path: str, **kwargs) -> tuple[str, list[str]]:
    """The page at `path` and the SQL Datasette ran to answer it."""
    async def run():
        traces: list[dict] = []
        with capture_traces(traces):
            response = await app.client.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code)
        return response.text, [t["sql"] for t in traces if t.get("sql")]

    return asyncio.run(run())


def test_a_repeat_of_the_anonymous_home_page_runs_no_sql_and_is_the_page_datasette_renders(built, app_for):
    app = app_for(built)
    first, first_sql = traced_get(app, "/")
    assert any("monthly_posts" in sql for sql in first_sql), first_sql  # the chart, read on the first request
    again, again_sql = traced_get(app, "/")
    assert again_sql == [] and again == first
    # A cookie makes Datasette render the page again: the same page, and the SQL runs.
    rendered, rendered_sql = traced_get(app, "/", headers={"cookie": "unrelated=1"})
    assert rendered == first and rendered_sql
    assert SVG.search(first) and "posts</a>" in first  # the chart and the database's tables


@pytest.mark.parametrize("kwargs", [{"headers": {"cookie": "unrelated=1"}}, {"params": {"_sort": "relationships"}}],
                         ids=["cookie", "query-string"])
def test_other_requests_are_rendered_each_time_with_the_chart_drawn_once(built, app_for, kwargs):
    app = app_for(built)
    traced_get(app, "/", **kwargs)
    page, sql = traced_get(app, "/", **kwargs)
    assert sql, "Datasette's index view asked nothing: the page was kept"
    assert not any("monthly_posts" in s or "from posts" in s.lower() for s in sql), sql  # the chart was kept
    assert SVG.search(page)


def test_a_mutable_database_is_asked_on_every_request(built, app_for):
    app = app_for(built, immutable=False)
    traced_get(app, "/")
    _, sql = traced_get(app, "/")
    assert any("monthly_posts" in s for s in sql), sql
