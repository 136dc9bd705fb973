"""The search page in headless Chromium at a desktop's and a phone's width: the form
used by its labels, results that open their article, the pager, a filter, the date
order and a query that cannot be read. Screenshots: artifacts/screenshots/search-1400.png,
search-390.png, search-page2-1400.png, search-page2-390.png and search-error-390.png."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import WIDTHS, assert_fits, browsing

pytestmark = pytest.mark.browser


def matches(conn, fts: str) -> int:
    return conn.execute("select count(*) from posts_fts where posts_fts match ?", [fts]).fetchone()[0]


def within(page, selector: str, width: int) -> None:
    for box in [el.bounding_box() for el in page.locator(selector).all()]:
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)


@pytest.mark.parametrize("width", WIDTHS)
def test_search_page_reads_pages_and_links_at_each_width(browser, server, browser_conn, width):
    total = matches(browser_conn, '"harbour" OR "fisheries"')
    assert total > 3
    with browsing(browser, server, width) as browse:
        page = browse.page
        browse.goto("/news/search")
        page.get_by_label("Search words").fill("harbour OR fisheries")
        page.get_by_label("Search words").press("Enter")
        page.wait_for_url(re.compile(r"[?&]q=harbour"))
        status = page.get_by_role("status")
        assert re.match(rf"{total} posts match; showing 1–{min(total, 20)}, best match first", status.inner_text())
        results = page.locator("ol.news-results > li")
        assert results.count() == min(total, 20)
        marks = [m.lower() for m in page.locator("ol.news-results mark").all_inner_texts()]
        assert marks and all(m.startswith(("harbour", "fisher")) for m in marks), marks
        assert_fits(page)
        within(page, "form.news-search input, form.news-search select, form.news-search button", width)
        within(page, "ol.news-results h2", width)
        assert page.locator("#news-q").bounding_box()["width"] >= 200
        browse.screenshot(f"search-{width}.png")

        # Three a page: the pager walks to the next page and numbers on from there.
        browse.goto("/news/search?q=harbour+OR+fisheries&size=3")
        first_page = page.locator("ol.news-results h2 a").all_inner_texts()
        page.get_by_role("link", name="Next →").click()
        page.wait_for_url(re.compile(r"[?&]page=2"))
        assert re.search(rf"{total} posts match; showing 4–6", page.get_by_role("status").inner_text())
        assert page.locator("ol.news-results").get_attribute("start") == "4"
        second_page = page.locator("ol.news-results h2 a").all_inner_texts()
        assert len(second_page) == 3 and not set(first_page) & set(second_page)
        browse.screenshot(f"search-page2-{width}.png")

        # A result opens its article.
        title = second_page[0]
        page.locator("ol.news-results h2 a").first.click()
        page.wait_for_url(re.compile(r"/news/posts/"))
        assert page.locator("article.news-article h1").inner_text() == title
        assert browse.errors == []
        browse.assert_offline()


def test_the_form_sorts_by_date_and_filters(browse, browser_conn):
    page = browse.page
    page.set_viewport_size({"width": 390, "height": 900})
    browse.goto("/news/search?q=harbour+OR+fisheries")
    page.get_by_label("Sort").select_option(label="newest first")
    page.get_by_label("Category").select_option("world")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"[?&]sort=date"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["sort"] == ["date"] and query["category"] == ["world"]
    expected = browser_conn.execute(
        """select posts.published_at from posts_fts join posts on posts.rowid = posts_fts.rowid
           where posts_fts match '"harbour" OR "fisheries"' and posts.category = 'world'
           order by posts.published_at desc, posts.id""").fetchall()
    dates = [t.get_attribute("datetime") for t in page.locator("ol.news-results time").all()]
    assert dates == [d for (d,) in expected] and len(dates) >= 2
    metas = page.locator("ol.news-results .news-meta").all_inner_texts()
    assert all(" · world" in m for m in metas), metas
    assert page.get_by_label("Category").input_value() == "world", "the form shows the filter in use"
    assert browse.errors == []


def test_a_query_that_cannot_be_read_says_why_on_the_page(browse):
    page = browse.page
    page.set_viewport_size({"width": 390, "height": 900})
    response = page.goto(browse.base + "/news/search?q=%22harbour+festival", wait_until="load")
    assert response.status == 400
    alert = page.get_by_role("alert")
    assert "quote mark is not closed" in alert.inner_text()
    assert page.get_by_label("Search words").input_value() == '"harbour festival'
    assert page.locator("#news-syntax").get_attribute("open") is not None, "the syntax help opens"
    assert page.locator("ol.news-results").count() == 0
    assert_fits(page)
    browse.screenshot("search-error-390.png")
    assert browse.errors == []
