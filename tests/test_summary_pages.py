"""The pages that show the whole archive read the build's summaries (newsarchive.build.
summaries), not every post: the home chart, the provenance page, the term trends'
denominators and the unfiltered posts page's facets.

Each is checked twice: against a count made here over the raw rows (the page is right),
and on a copy of the database whose rows were changed under the summaries after the
build (the page still shows the summaries: it did not count the rows again)."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from newsarchive.build import build
from newsarchive.site.chart import month_chart_svg
from newsarchive.site.provenance import credit_chart, credit_totals

from .conftest import ROOT, SAMPLE, get

CORPORA = {"sample": SAMPLE, "18f": ROOT.parent / "shared" / "corpora" / "18f-blog"}
SVG = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" class="news-chart".*?</svg>', re.DOTALL)


@pytest.fixture(scope="module", params=sorted(CORPORA))
def built(request, tmp_path_factory) -> Path:
    folder = CORPORA[request.param]
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    db = tmp_path_factory.mktemp(request.param) / "news.db"
    build(folder, db, quiet=True)
    return db


def altered_copy(db: Path, folder: Path, *statements: str) -> Path:
    """A copy of db with its rows changed by `statements` and its summaries left as built."""
    folder.mkdir()
    copy = folder / "news.db"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return copy


def raw(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def home_svg(app) -> str:
    return SVG.search(get(app, "/").text).group(0)


def test_the_home_chart_is_the_chart_of_the_posts_and_is_read_from_the_summary(built, tmp_path, app_for):
    counted = Counter((month, category) for month, category in raw(built, "SELECT published_month, category FROM posts")
                      if month is not None)
    expected = str(month_chart_svg([(m, c, n) for (m, c), n in counted.items()]))
    assert home_svg(app_for(built)) == expected
    copy = altered_copy(built, tmp_path / "copy", "UPDATE posts SET category = NULL")
    assert home_svg(app_for(copy)) == expected


def test_the_provenance_page_shows_the_credits_of_the_photos_and_reads_the_summary(built, tmp_path, app_for):
    month_of = dict(raw(built, "SELECT id, published_month FROM posts"))
    credit_of = dict(raw(built, "SELECT id, credit FROM captions"))
    counted = Counter((month_of[post], credit_of.get(caption))
                      for post, caption in raw(built, "SELECT post_id, caption_id FROM post_images")
                      if month_of[post] is not None)
    shares = sorted(((m, c, n) for (m, c), n in counted.items()), key=lambda r: (r[0], r[1] or ""))
    page = get(app_for(built), "/news/provenance").text
    assert str(credit_chart(shares)) in page
    for credit in credit_totals(shares)[:5]:
        assert f"{credit['photos']:,}" in page or str(credit["photos"]) in page
    copy = altered_copy(built, tmp_path / "copy", "UPDATE captions SET credit = NULL", "DELETE FROM post_images")
    assert get(app_for(copy), "/news/provenance").text == page


def test_the_trends_denominators_are_the_posts_per_month_and_are_read_from_the_summary(built, tmp_path, app_for):
    def denominators(app) -> dict:
        rows = get(app, "/news/trends.json?q=the&by=language").json()["rows"]
        return {(r["month"], r["language"]): r["posts"] for r in rows}

    found = denominators(app_for(built))
    counted = Counter(raw(built, "SELECT published_month, language FROM posts WHERE published_month IS NOT NULL"))
    assert found and {k: v for k, v in found.items() if v} == dict(counted)
    copy = altered_copy(built, tmp_path / "copy", "UPDATE posts SET language = NULL")
    assert denominators(app_for(copy)) == found


FACETS = ("category", "language", "published_month", "authors", "tags")  # the posts page's own (metadata.yml)


def facet_counts(app, query: str = "") -> dict:
    data = get(app, f"/news/posts.json?_size=0&_extra=facet_results{query}").json()  # 1.0 wants _extra
    results = data["facet_results"]
    results = results.get("results", results)  # 1.0 nests them
    return {name: ([(v["value"], v["count"]) for v in results[name]["results"]], results[name]["truncated"])
            for name in FACETS}


def test_the_unfiltered_facets_are_the_posts_counts_and_are_read_from_the_summary(built, tmp_path, app_for):
    rows = raw(built, "SELECT category, language, published_month, authors, tags FROM posts")
    counted = {name: Counter() for name in FACETS}
    for category, language, month, authors, tags in rows:
        for name, value in (("category", category), ("language", language), ("published_month", month)):
            if value is not None:
                counted[name][value] += 1
        for name, array in (("authors", authors), ("tags", tags)):
            counted[name].update(set(json.loads(array or "[]")))
    found = facet_counts(app_for(built))
    for name, (values, truncated) in found.items():
        # Most posts first, a month facet newest first (newsarchive.site.facets).
        order = (lambda kv: kv[0]) if name == "published_month" else (lambda kv: (-kv[1], kv[0]))
        expected = sorted(counted[name].items(), key=order, reverse=name == "published_month")
        assert values == expected[:len(values)] and (truncated or len(values) == len(expected)), name
    assert any(found.values())

    copy = altered_copy(built, tmp_path / "copy", "UPDATE posts SET category = NULL, tags = '[]'")
    app = app_for(copy)
    assert facet_counts(app) == found
    language = raw(built, "SELECT language FROM posts GROUP BY language ORDER BY count(*) DESC LIMIT 1")[0][0]
    filtered = facet_counts(app, f"&language={language}")  # a filtered page is counted by Datasette
    assert filtered["category"] == ([], False) and filtered["tags"] == ([], False)
