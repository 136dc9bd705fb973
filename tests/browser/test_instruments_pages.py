"""The research pages in headless Chromium at a desktop's and a phone's width: the trend
chart drawn as SVG from the form, the concordance's lines and sorting, and the article
page's selected word leading to its concordance, with no script error or blocked
script. Screenshots: artifacts/screenshots/trends-1400.png, trends-390.png,
concordance-1400.png, concordance-390.png, select-word-1400.png."""
from __future__ import annotations

import re
import sqlite3

import pytest

from .conftest import browsing

pytestmark = pytest.mark.browser

WIDTHS = (1400, 390)


@pytest.fixture(scope="module")
def db(browser_db):
    conn = sqlite3.connect(f"file:{browser_db}?mode=ro", uri=True)
    yield conn
    conn.close()


def console_errors(page) -> list[str]:
    """Console errors of a page from now on (a script the CSP blocked is one)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def occurrences(db, word: str) -> int:
    """Occurrences of a word in the body text, counted in Python (any case, whole words)."""
    texts = [row[0] or "" for row in db.execute("select body_text from posts")]
    return sum(len(re.findall(rf"(?<!\w){word}(?!\w)", text, re.IGNORECASE)) for text in texts)


@pytest.mark.parametrize("width", WIDTHS)
def test_trend_chart_renders_from_the_form(browser, server, db, width):
    months = db.execute("select count(distinct published_month) from posts").fetchone()[0]
    with browsing(browser, server) as browse:
        page = browse.page
        errors = console_errors(page)
        page.set_viewport_size({"width": width, "height": 900})
        browse.goto("/news/trends")
        page.get_by_label("Terms").fill("harbour, festival")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(re.compile(r"[?&]q=harbour"))
        chart = page.locator("svg.news-trend-chart")
        assert chart.is_visible()
        assert chart.locator("polyline.news-trend-line").count() == 2
        assert chart.locator("circle").count() == 2 * months  # the sample has no month without posts
        # The chart's box fits the page; on a phone the chart keeps a width its labels read at and scrolls.
        assert page.locator(".news-trend-chart-wrap").bounding_box()["width"] <= width
        assert chart.locator("text.news-trend-legend").first.bounding_box()["height"] >= 10
        assert page.locator("table.news-trend-table tr").count() == months + 1
        assert fits(page)
        browse.screenshot(f"trends-{width}.png")
        assert errors == [] and browse.errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_concordance_lists_every_line_and_sorts(browser, server, db, width):
    total = occurrences(db, "harbour")
    assert total > 3
    with browsing(browser, server) as browse:
        page = browse.page
        errors = console_errors(page)
        page.set_viewport_size({"width": width, "height": 900})
        browse.goto("/news/concordance?q=harbour&width=5")
        assert page.get_by_role("status").inner_text().startswith(f"{total} occurrences")
        assert page.locator("table.news-kwic tr").count() == total
        assert {m.lower() for m in page.locator("td.match").all_inner_texts()} == {"harbour"}
        page.get_by_role("link", name="right", exact=True).click()
        page.wait_for_url(re.compile(r"sort=right"))
        rights = [t.casefold() for t in page.locator("td.right").all_inner_texts()]
        assert _by_words(rights)
        assert fits(page)
        browse.screenshot(f"concordance-{width}.png")
        assert errors == [] and browse.errors == []


def _by_words(texts: list[str]) -> bool:
    keys = [re.findall(r"\w+", t) for t in texts]
    return keys == sorted(keys)


def test_selected_word_leads_to_its_concordance(browser, server, db):
    post_id = db.execute("select id from posts where body_text like '% harbour %' order by id limit 1").fetchone()[0]
    with browsing(browser, server) as browse:
        page = browse.page
        errors = console_errors(page)
        page.set_viewport_size({"width": 1400, "height": 900})
        browse.goto(f"/news/posts/{post_id}")
        holder = page.locator("#news-select-word")
        assert holder.is_hidden()
        page.evaluate("""() => {
            const body = document.querySelector('.news-article .body');
            const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
                const at = node.data.search(/\\bharbour\\b/i);
                if (at >= 0) {
                    const range = document.createRange();
                    range.setStart(node, at);
                    range.setEnd(node, at + 7);
                    const selection = window.getSelection();
                    selection.removeAllRanges();
                    selection.addRange(range);
                    return;
                }
            }
            throw new Error('no harbour in the article');
        }""")
        holder.get_by_role("link", name="in context").wait_for()
        assert holder.is_visible()
        browse.screenshot("select-word-1400.png")
        holder.get_by_role("link", name="in context").click()
        page.wait_for_url(re.compile(r"/news/concordance\?q=harbour", re.IGNORECASE))
        assert page.locator("table.news-kwic tr").count() == occurrences(db, "harbour")
        assert errors == [] and browse.errors == []
