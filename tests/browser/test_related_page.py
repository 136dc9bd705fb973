"""Reprints and related posts as a reader sees them, in headless Chromium, on a
`datasette serve` (started as production starts it) of the planted corpus of
tests/test_relations.py: an original's "Also published as", a copy's "Reprinted from",
every post's "Related posts", and the reprint_groups view; no script errors, nothing
fetched from outside, nothing wider than the window.

Expected values come from the planted groups and from similarities the test computes.
Screenshots: artifacts/screenshots/related-{original,copy}-{1400,390}.png, reprint-groups-1400.png.
"""
from __future__ import annotations

import sqlite3

import pytest

from ..test_relations import exact_jaccard, expected_reprints
from .conftest import WIDTHS, assert_fits, browsing, running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def planted_site(relations_corpus):
    posts, db = relations_corpus
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    related = {}
    for post_id, other in conn.execute("SELECT post_id, related_post_id FROM related_posts ORDER BY post_id, rank"):
        related.setdefault(post_id, []).append(other)
    conn.close()
    with running_server(db) as base:
        yield base, posts, related


def check_related(section, post_id, by_id, related):
    items = section.locator("ol.news-related-posts li")
    assert items.count() == len(related[post_id]) > 0
    for n, other in enumerate(related[post_id]):
        assert by_id[other].title in items.nth(n).inner_text()
    # The planted same-subject post, in its own words, comes first.
    first = by_id[related[post_id][0]]
    assert first.topic == by_id[post_id].topic and first.group is None


@pytest.mark.parametrize("width", WIDTHS)
def test_an_originals_page_lists_its_copies_and_related_posts(browser, planted_site, width):
    base, posts, related = planted_site
    by_id = {p.post_id: p for p in posts}
    expected = expected_reprints(posts)
    original = next(p for p in posts if p.post_id.endswith("original") and p.post_id not in expected)
    copies = sorted((p for p, o in expected.items() if o == original.post_id), key=lambda p: (by_id[p].date, p))
    with browsing(browser, base, width) as browse:
        browse.goto(f"/news/posts/{original.post_id}")
        section = browse.page.locator("section.news-related")
        section.scroll_into_view_if_needed()
        assert section.locator("h2").all_inner_texts() == ["Also published as", "Related posts"]
        items = section.locator("ul.news-also-published li")
        assert items.count() == len(copies)
        for n, copy in enumerate(copies):
            text = items.nth(n).inner_text()
            assert by_id[copy].title in text
            assert f"similarity {exact_jaccard(by_id[copy], original):.2f}" in text
        check_related(section, original.post_id, by_id, related)
        assert_fits(browse.page)
        browse.screenshot(f"related-original-{width}.png")
        # A copy's link opens its page, which names this post as what it reprints.
        items.nth(0).locator("a").click()
        browse.page.wait_for_url(f"**/news/posts/{copies[0]}")
        assert original.title in browse.page.locator("p.news-reprinted-from").inner_text()
        assert browse.errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_copys_page_says_what_it_reprints(browser, planted_site, width):
    base, posts, related = planted_site
    by_id = {p.post_id: p for p in posts}
    expected = expected_reprints(posts)
    copy = next(p for p in posts if p.post_id.endswith("cut"))
    original = by_id[expected[copy.post_id]]
    others = [p for p, o in expected.items() if o == original.post_id and p != copy.post_id]
    with browsing(browser, base, width) as browse:
        browse.goto(f"/news/posts/{copy.post_id}")
        section = browse.page.locator("section.news-related")
        section.scroll_into_view_if_needed()
        assert section.locator("h2").all_inner_texts() == ["Reprinted from", "Other copies", "Related posts"]
        text = section.locator("p.news-reprinted-from").inner_text()
        assert original.title in text and f"similarity {exact_jaccard(copy, original):.2f}" in text
        assert section.locator("ul.news-also-published li").count() == len(others)
        check_related(section, copy.post_id, by_id, related)
        assert_fits(browse.page)
        browse.screenshot(f"related-copy-{width}.png")
        assert browse.errors == []


def test_reprint_groups_is_a_facetable_view_and_the_bookkeeping_is_hidden(browser, planted_site):
    base, posts, _ = planted_site
    expected = expected_reprints(posts)
    with browsing(browser, base) as browse:
        browse.goto("/news/reprint_groups")
        count = browse.page.locator("h3").first.inner_text()
        assert count.startswith(f"{len(expected)} rows")
        assert browse.page.locator(".facet-info[data-column=language]").count() == 1
        browse.screenshot("reprint-groups-1400.png")
        browse.goto("/news")
        listed = browse.page.locator("body").inner_text()
        assert "reprints" in listed and "related_posts" in listed and "_post_features" not in listed
        assert browse.errors == []
