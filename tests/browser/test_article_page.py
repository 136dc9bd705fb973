"""An article page that holds, in headless Chromium at a desktop and a phone width: a
post whose code block has a 2,000-character line and whose table has 30 columns
scrolls those inside the article and never widens the page; the headline, the
byline (authors in order), the photo with its caption and credit, the body and the
tags all show, and the byline and tag links open the posts filtered to them.

Screenshots: artifacts/screenshots/article-1400.png and article-390.png.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ..test_article import AUTHORS, CAPTION, CODE_LINE, COLUMNS, CREDIT, TAGS, WIDE_ID
from ..test_article import db, planted_db  # noqa: F401  (fixtures: the sample and the planted posts)
from .conftest import browsing, running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def article_server(planted_db):
    with running_server(planted_db) as base:
        yield base


def page_width(page) -> dict:
    return page.evaluate(
        """() => ({scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth,
                   viewport: window.innerWidth})"""
    )


def scroller(page, selector: str) -> dict:
    """The element's own width and scrollable width, and whether it sits in the viewport."""
    return page.locator(selector).first.evaluate(
        """el => { const r = el.getBoundingClientRect();
                   return {client: el.clientWidth, scroll: el.scrollWidth, left: r.left, right: r.right,
                           overflowX: getComputedStyle(el).overflowX}; }"""
    )


@pytest.mark.parametrize("width", [1400, 390])
def test_wide_article_scrolls_inside_and_never_widens_the_page(browser, article_server, db, width):
    with browsing(browser, article_server) as browse:
        page = browse.page
        page.set_viewport_size({"width": width, "height": 900})
        browse.goto(f"/news/posts/{WIDE_ID}")
        article = page.locator("article.news-article")

        # The page is no wider than the window: nothing scrolls sideways but the code and the table.
        size = page_width(page)
        assert size["scroll"] <= size["viewport"] and size["body"] <= size["viewport"], size
        code = scroller(page, "article.news-article .body pre")
        table = scroller(page, "article.news-article .body table")
        for box in (code, table):
            assert box["scroll"] > box["client"] and box["overflowX"] in ("auto", "scroll"), box
            assert 0 <= box["left"] and box["right"] <= size["viewport"], box
        assert article.locator(".body pre").inner_text().strip() == CODE_LINE
        assert article.locator(".body table tr").first.locator("th").count() == COLUMNS

        # Scrolling the code block reaches its end, and the page still does not move.
        pre = page.locator("article.news-article .body pre").first
        assert pre.evaluate("el => { el.scrollLeft = el.scrollWidth; return el.scrollLeft + el.clientWidth; }") == code["scroll"]
        assert page.evaluate("window.scrollX") == 0
        pre.evaluate("el => el.scrollLeft = 0")

        # What a reader sees: headline, byline, the photo with caption and credit, body, tags.
        (title,) = db.execute("select title from posts where id = ?", [WIDE_ID]).fetchone()
        assert article.locator("> h1").inner_text() == title
        assert article.locator(".byline a").all_inner_texts() == AUTHORS
        assert article.locator(".news-tags a").all_inner_texts() == TAGS
        figure = article.locator(".body figure").first
        figure.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('article.news-article figure img'))"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=5_000,
        )
        assert figure.locator("figcaption").inner_text() == f"{CAPTION}. (Photo: {CREDIT})"
        for element in (figure.locator("img"), article.locator(".body p").first):
            box = element.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= size["viewport"], box
        page.evaluate("window.scrollTo(0, 0)")
        browse.screenshot(f"article-{width}.png")
        assert browse.errors == []


def posts_listed(page) -> list[str]:
    """The ids of the posts the table shows, from its links to their articles."""
    hrefs = page.locator("table.rows-and-columns tbody a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    return sorted({unquote(h.rsplit("/", 1)[1]) for h in hrefs if h and re.fullmatch(r"/news/posts/[^/?#]+", h)})


def test_byline_and_tag_links_open_the_posts_filtered_to_them(browser, article_server, db):
    with browsing(browser, article_server) as browse:
        page = browse.page
        browse.goto(f"/news/posts/{WIDE_ID}")
        byline = page.locator("article.news-article .byline")
        expected = sorted(r[0] for r in db.execute(
            "select post_id from post_authors where author = ?", [AUTHORS[1]]))
        assert len(expected) >= 2, "the sample has a post by the wide post's second author"
        byline.get_by_role("link", name=AUTHORS[1], exact=True).click()
        page.wait_for_url("**/news/posts?**")
        assert posts_listed(page) == expected
        query = parse_qs(urlsplit(page.url).query)
        assert AUTHORS[1] in [v for values in query.values() for v in values], query

        browse.goto(f"/news/posts/{WIDE_ID}")
        expected = sorted(r[0] for r in db.execute("select post_id from post_tags where tag = ?", [TAGS[1]]))
        assert len(expected) >= 2, "the sample has a post tagged as the wide post's second tag"
        page.locator("article.news-article .news-tags").get_by_role("link", name=TAGS[1], exact=True).click()
        page.wait_for_url("**/news/posts?**")
        assert posts_listed(page) == expected
        assert browse.errors == []
