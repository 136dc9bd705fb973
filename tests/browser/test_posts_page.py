"""The posts page measured in a real headless Chromium against a real `datasette serve`
(0.65 and 1.0), on the sample and on the 18F blog: the rows start in the first screen,
nothing widens the page, rows stay a few lines tall, a facet click filters, and every
item of every column menu on the posts, captions and photos pages answers.

Screenshots: artifacts/screenshots/posts-*.png.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from datasette.version import __version__ as datasette_version

from newsarchive.build.pipeline import build

from ..conftest import CORPUS_18F
from .conftest import browsing, running_server

pytestmark = pytest.mark.browser

WIDTHS = {1400: 900, 390: 844}  # viewport width: height (a laptop, a phone)
MAX_ROW_HEIGHT = 250  # px, at 1400
VERSION = "v" + datasette_version.split(".")[0]


@pytest.fixture(scope="module")
def blog_server(tmp_path_factory):
    """A real server of the 18F blog (509 posts with authors and tags)."""
    if not CORPUS_18F.exists():
        pytest.skip(f"real corpus not found at {CORPUS_18F}")
    db = tmp_path_factory.mktemp("browser-18f") / "news.db"
    build(CORPUS_18F, db, quiet=True)
    with running_server(db) as base:
        yield base


@pytest.fixture(params=["sample", "18f"])
def site(request, server):
    """(name, base URL) of the sample's server and the 18F blog's."""
    if request.param == "sample":
        return "sample", server
    return "18f", request.getfixturevalue("blog_server")


LAYOUT = """() => {
    const rows = Array.from(document.querySelectorAll('table.rows-and-columns tbody tr'));
    const wrapper = document.querySelector('.table-wrapper');
    return {
        firstRowTop: rows.length ? rows[0].getBoundingClientRect().top + window.scrollY : null,
        rowHeights: rows.map(r => r.getBoundingClientRect().height),
        pageWidth: document.documentElement.scrollWidth,
        tableWidth: wrapper ? wrapper.scrollWidth : null,
        wrapperWidth: wrapper ? wrapper.clientWidth : null,
        columns: Array.from(document.querySelectorAll('table.rows-and-columns th')).map(th => th.dataset.column),
    };
}"""


def measure(browse, path: str, width: int) -> dict:
    browse.page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    browse.goto(path)
    return browse.page.evaluate(LAYOUT)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_posts_page_reads_in_the_first_screen(browser, site, width):
    name, base = site
    with browsing(browser, base) as browse:
        layout = measure(browse, "/news/posts", width)
        browse.screenshot(f"posts-{name}-{width}-{VERSION}.png")
        assert layout["rowHeights"], "no rows"
        assert layout["firstRowTop"] < WIDTHS[width], f"the first row starts {layout['firstRowTop']:.0f} px down"
        assert layout["pageWidth"] <= width, f"the page is {layout['pageWidth']} px wide at {width}"
        assert "body" not in layout["columns"] and "sha256" not in layout["columns"]
        if width == 1400:
            # The reading columns fit the screen: no sideways scrolling to reach the text.
            assert layout["tableWidth"] <= layout["wrapperWidth"], layout
            assert max(layout["rowHeights"]) <= MAX_ROW_HEIGHT, layout["rowHeights"]
        assert browse.errors == []


def test_every_post_row_is_a_few_lines_tall(browser, site):
    """Every post of the archive on one page, at 1400 px: no row taller than 250 px."""
    name, base = site
    with browsing(browser, base) as browse:
        layout = measure(browse, "/news/posts?_size=max", 1400)
        tallest = max(layout["rowHeights"])
        assert tallest <= MAX_ROW_HEIGHT, f"{name}: a row is {tallest:.0f} px tall"
        assert layout["pageWidth"] <= 1400


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_month_facet_click_filters_the_posts(browser, blog_server, width):
    with browsing(browser, blog_server) as browse:
        page = browse.page
        measure(browse, "/news/posts", width)
        months = page.locator("#facet-published_month ul li a[href*='published_month=']")
        shown = months.all_inner_texts()
        assert shown == sorted(shown, reverse=True) and len(shown) > 3, shown  # newest first
        month = shown[1]
        count = int(page.locator("#facet-published_month ul li").nth(1).inner_text().split()[-1].replace(",", ""))
        months.nth(1).click()
        page.wait_for_url(re.compile(r"[?&]published_month="))
        assert parse_qs(urlsplit(page.url).query)["published_month"] == [month]
        heading = page.locator("h3").filter(has_text=re.compile(r"\brows?\b")).first.inner_text()
        assert re.match(rf"{count} rows? where published_month = \"?{month}\"?", heading), heading
        dates = page.locator("table.rows-and-columns td.col-published_at").all_inner_texts()
        assert dates and all(d.strip().startswith(month) for d in dates), dates
        browse.screenshot(f"posts-facet-{width}-{VERSION}.png")
        layout = page.evaluate(LAYOUT)
        assert layout["pageWidth"] <= width, layout
        if width == 1400:  # on a phone, Datasette 1.0's filter form (now holding the month) fills the screen
            assert layout["firstRowTop"] < WIDTHS[width], layout
        assert browse.errors == []


# --------------------------------------------------------------------------- column menus

OPEN_MENU = """i => {
    const icon = document.querySelectorAll('table.rows-and-columns th .dropdown-menu-icon')[i];
    icon.scrollIntoView({block: 'center', inline: 'center'});
}"""
MENU_ITEMS = """() => {
    const menus = Array.from(document.querySelectorAll('body > .dropdown-menu'))
        .filter(m => getComputedStyle(m).display !== 'none');
    if (menus.length !== 1) return null;
    return Array.from(menus[0].querySelectorAll('a'))
        .filter(a => a.offsetParent !== null)
        .map(a => ({label: a.innerText.trim(), href: a.getAttribute('href')}));
}"""


def open_menu(page, index: int) -> list[dict]:
    page.evaluate(OPEN_MENU, index)
    page.locator("table.rows-and-columns th .dropdown-menu-icon").nth(index).click()
    items = page.evaluate(MENU_ITEMS)
    assert items, f"column menu {index} did not open"
    return items


def load(browse, path: str) -> None:
    """Open a page as far as its scripts (the column menus; not every photo)."""
    response = browse.page.goto(browse.base + path, wait_until="domcontentloaded")
    assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"


def click_item(browse, path: str, index: int, label: str) -> str:
    """Load the page, open column menu `index`, click its item `label`; where it led."""
    page = browse.page
    load(browse, path)
    open_menu(page, index)
    item = page.locator("body > .dropdown-menu a").filter(has_text=re.compile(rf"^{re.escape(label)}$")).first
    if item.get_attribute("href") in ("#", None):  # opens a dialog (1.0's "Choose columns")
        item.click()
        page.keyboard.press("Escape")
        return "dialog"
    with page.expect_navigation(wait_until="domcontentloaded") as navigation:
        item.click()
    response = navigation.value
    assert response is not None and response.status == 200, f"{path} menu {index} {label!r}: {response and response.status} {page.url}"
    assert not page.title().startswith("Error"), f"{path} menu {index} {label!r}: {page.title()} {page.url}"
    assert page.locator("table.rows-and-columns").count() == 1, f"{path} menu {index} {label!r}: no table at {page.url}"
    return page.url


@pytest.mark.parametrize("table", ["posts", "captions", "photos"])
def test_every_column_menu_item_answers(browse, table):
    # Five rows a page: quicker to load, and a next page to link to (Datasette's 500 on
    # a hidden sort column needs one).
    path = f"/news/{table}?_size=5"
    page = browse.page
    page.set_viewport_size({"width": 1400, "height": 900})
    load(browse, path)
    icons = page.locator("table.rows-and-columns th .dropdown-menu-icon").count()
    assert icons >= 4
    clicked = []
    for index in range(icons):
        load(browse, path)
        for item in open_menu(page, index):
            clicked.append((index, item["label"], click_item(browse, path, index, item["label"])))
    # With a column hidden, each menu also offers "Show all columns".
    load(browse, path)
    hidden = page.locator("table.rows-and-columns th").nth(icons - 1).get_attribute("data-column")
    narrowed = f"{path}&_nocol={hidden}"
    load(browse, narrowed)
    for item in open_menu(page, 1):
        clicked.append((1, item["label"], click_item(browse, narrowed, 1, item["label"])))
    labels = {label for _, label, _ in clicked}
    assert {"Sort ascending", "Sort descending", "Hide this column", "Show all columns"} <= labels, labels
    if table == "posts":
        assert "Facet by this" in labels
    assert browse.errors == []
