"""Photo provenance and the citation chain as a reader sees them, in headless Chromium on
the sample (where a Bloomberg file photo of October runs again in November, and a post
of October is cited by one that is cited in turn): the article page's "This photo also
ran in" and "Chain of citations", and /news/provenance's chart, with no script errors,
no console errors, nothing fetched from outside and nothing wider than the window.

Expected values come from the database's plain rows, walked in Python.
Screenshots: artifacts/screenshots/provenance-article-{1400,390}.png, provenance-{1400,390}.png.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from ..test_provenance import bfs_chain
from .conftest import WIDTHS, assert_fits, browsing

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sample_rows(browser_conn):
    published = dict(browser_conn.execute("select id, published_at from posts"))
    titles = dict(browser_conn.execute("select id, title from posts"))
    runs = defaultdict(set)
    for post_id, url in browser_conn.execute(
            "select post_images.post_id, images.url from post_images join images on images.id = image_id"):
        runs[url].add(post_id)
    edges = browser_conn.execute("select post_id, target_post_id from links where target_post_id is not null").fetchall()
    credits = Counter(browser_conn.execute(
        "select posts.published_month, captions.credit from post_images join posts on posts.id = post_id "
        "left join captions on captions.id = caption_id where published_month is not null").fetchall())
    order = lambda c: (published[c] is None, published[c] or "", c)  # noqa: E731
    shared = {url: sorted(posts, key=order) for url, posts in runs.items() if len(posts) > 1}
    return {"published": published, "titles": titles, "shared": shared, "edges": edges, "credits": credits}


def watch_console(page) -> list[str]:
    messages = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    return messages


@pytest.mark.parametrize("width", WIDTHS)
def test_the_article_page_shows_where_its_photo_also_ran_and_who_cites_it(browser, server, sample_rows, width):
    (photo, posts), = sample_rows["shared"].items()  # the one photo the sample runs twice
    first = posts[0]
    chain = bfs_chain(first, sample_rows["edges"])
    assert max(depth for depth, _ in chain.values()) >= 2, "the sample has a chain two steps long"
    with browsing(browser, server, width) as browse:
        console = watch_console(browse.page)
        browse.goto(f"/news/posts/{first}")
        section = browse.page.locator("section.news-provenance")
        section.scroll_into_view_if_needed()
        assert section.locator("h2").all_inner_texts() == ["This photo also ran in", "Chain of citations"]
        assert photo in section.locator(".news-shared-photo p").first.inner_text()
        items = section.locator("ol.news-also-ran li")
        assert items.count() == len(posts)
        for n, post_id in enumerate(posts):
            item = items.nth(n)
            assert sample_rows["titles"][post_id] in item.inner_text()
            assert ("news-first" in (item.get_attribute("class") or "")) == (n == 0)
            assert ("first appearance" in item.inner_text()) == (n == 0)
            assert ("(this post)" in item.inner_text()) == (post_id == first)
            assert item.evaluate("e => getComputedStyle(e).fontWeight") == ("700" if n == 0 else "400")
        rows = section.locator("table.news-chain tbody tr")
        shown = [(int(rows.nth(i).locator("td").nth(0).inner_text()), rows.nth(i).locator("td").nth(1).inner_text())
                 for i in range(rows.count())]
        assert sorted(shown) == sorted((depth, sample_rows["titles"][post]) for post, (depth, _) in chain.items())
        assert_fits(browse.page)
        browse.screenshot(f"provenance-article-{width}.png")
        # The other post's link opens its article, which lists the same photo, marked the same way.
        items.nth(1).locator("a").click()
        browse.page.wait_for_url(f"**/news/posts/{posts[1]}")
        again = browse.page.locator("ol.news-also-ran li.news-first")
        assert sample_rows["titles"][first] in again.inner_text()
        assert browse.errors == [] and console == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_provenance_page_draws_each_credits_share_as_svg(browser, server, sample_rows, width):
    credits = sample_rows["credits"]
    months = {month for month, _ in credits}
    with browsing(browser, server, width) as browse:
        console = watch_console(browse.page)
        browse.goto("/news/provenance")
        chart = browse.page.locator("svg.news-chart")
        assert chart.count() == 1 and chart.is_visible()
        box = chart.bounding_box()
        assert box["width"] > 0 and box["height"] > 0
        # One segment per month and credit, the seven credits with most photos by name and
        # the rest together as "other"; each month's segments stack to the plot's height.
        totals = Counter()
        for (_, credit), n in credits.items():
            totals[credit] += n
        top = sorted(totals, key=lambda c: (-totals[c], c or "(no credit)"))[:7]
        segments = chart.locator("rect:has(title)")
        assert segments.count() == len({(m, c if c in top else "other") for m, c in credits})
        heights = defaultdict(float)
        for title, height in segments.evaluate_all(
                "rs => rs.map(r => [r.querySelector('title').textContent, r.getBBox().height])"):
            heights[title[:7]] += height
        assert set(heights) == months
        assert max(heights.values()) - min(heights.values()) < 0.5
        assert browse.page.locator("table.news-credits tbody tr").count() == len({c for _, c in credits})
        assert_fits(browse.page)
        browse.screenshot(f"provenance-{width}.png")
        assert browse.errors == [] and console == []
