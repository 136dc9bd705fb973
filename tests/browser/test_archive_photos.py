"""The 18F blog, whose photos are all site-relative (`/assets/blog/...`), with an
archive.yml naming its base URL and a mirror folder of PNGs at those paths: in
headless Chromium, offline, the article page and the `photos` view show every photo
(naturalWidth > 0) and the home page the archive's own title and licence.

Screenshots: artifacts/screenshots/archive-article-1400.png, archive-photos-390.png.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest

from newsarchive.site.identity import MIRROR_MOUNT

from ..test_archive_identity import CC0, FBOPEN, built_18f
from .conftest import browsing, running_server

pytestmark = pytest.mark.browser

#: Each photo's state once the page has loaded them all (lazy ones scrolled into view).
PHOTOS_JS = """async () => {
    const imgs = [...document.querySelectorAll('img')].filter(i => !i.closest('footer'));
    for (const img of imgs) { img.loading = 'eager'; img.scrollIntoView(); }
    await Promise.all(imgs.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
    return imgs.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth}));
}"""


@pytest.fixture(scope="module")
def blog_server(tmp_path_factory):
    with running_server(built_18f(tmp_path_factory.mktemp("18f-browser"))) as base:
        yield base


def assert_all_loaded(photos: list[dict]) -> None:
    assert photos, "no photo on the page"
    for photo in photos:
        assert photo["src"].startswith(MIRROR_MOUNT), photo
        assert photo["width"] > 0, f"{photo['src']} did not load"


def test_article_page_shows_its_photos_from_the_mirror(browser, blog_server):
    with browsing(browser, blog_server) as browse:
        browse.page.set_viewport_size({"width": 1400, "height": 900})
        browse.goto(f"/news/posts/{quote(FBOPEN)}")
        assert_all_loaded(browse.page.evaluate(PHOTOS_JS))
        browse.screenshot("archive-article-1400.png")


@pytest.mark.parametrize("width", [1400, 390])
def test_photos_view_shows_thumbnails_from_the_mirror(browser, blog_server, width):
    with browsing(browser, blog_server) as browse:
        browse.page.set_viewport_size({"width": width, "height": 900})
        browse.goto("/news/photos?_size=20")
        photos = browse.page.evaluate(PHOTOS_JS)
        assert len(photos) == 20
        assert_all_loaded(photos)
        browse.screenshot(f"archive-photos-{width}.png")


def test_home_page_names_the_archive(browser, blog_server):
    with browsing(browser, blog_server) as browse:
        browse.goto("/")
        assert browse.page.locator("h1").first.inner_text().strip() == "18F blog"
        licence = browse.page.locator(f'footer a[href="{CC0}"]')
        assert licence.inner_text().strip() == "CC0 1.0"
        assert browse.page.title().startswith("18F blog")
