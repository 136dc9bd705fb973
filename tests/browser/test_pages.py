"""The published archive in a real headless Chromium against a real `datasette serve`.

What the unit and test-client tests cannot see: photos that actually decode, scripts
that actually run (or not), facet links and the search box actually used, and the
chart actually drawn. Screenshots land in artifacts/screenshots/.
"""
from __future__ import annotations

import re
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest

from newsarchive import config
from newsarchive.site.cells import mirror_url
from .conftest import WIDTHS, assert_fits

pytestmark = pytest.mark.browser

HOSTILE = "2024-10/port-alder-council-website-hacked.md"
MIRROR = config.load()["plugins"]["news-archive"]["image_mirror"]


@pytest.fixture(scope="module")
def db(browser_db):
    conn = sqlite3.connect(f"file:{browser_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def figures_state(page):
    """Every figure of the article: its image's load state and its caption."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('article.news-article figure')).map(f => {
            const img = f.querySelector('img'), cap = f.querySelector('figcaption');
            return {src: img && img.getAttribute('src'), complete: !!img && img.complete,
                    naturalWidth: img ? img.naturalWidth : 0, inBody: !!f.closest('.body'),
                    caption: cap && cap.innerText, credit: cap && cap.querySelector('.credit')
                      && cap.querySelector('.credit').innerText};
        })"""
    )


def load_all_images(page, selector):
    """Scroll each (lazy) image into view, then wait until every one has decoded."""
    for img in page.locator(selector).all():
        img.scroll_into_view_if_needed()
    try:
        page.wait_for_function(
            "sel => Array.from(document.querySelectorAll(sel)).every(i => i.complete && i.naturalWidth > 0)",
            arg=selector,
            timeout=5_000,
        )
    except Exception:
        pass  # the assertions below say which image did not load
    page.evaluate("window.scrollTo(0, 0)")


def test_post_page_renders_the_article_with_loaded_photos(browse, db):
    # A post like the specimen (empty frontmatter title, headline as the body's first
    # line) with captioned photos, a link to another post and cited by other posts.
    post = db.execute(
        """select id, title from posts
           where title_source = 'body'
             and exists (select 1 from links where links.post_id = posts.id and links.target_post_id is not null)
             and exists (select 1 from links where links.target_post_id = posts.id)
             and (select count(*) from post_images join captions on captions.id = post_images.caption_id
                  where post_images.post_id = posts.id and captions.credit is not null) >= 2
           order by image_count desc, id limit 1"""
    ).fetchone()
    assert post is not None, "the sample has no cited post with captioned photos"
    photos = db.execute(
        """select images.url, captions.text as caption, captions.credit
           from post_images join images on images.id = post_images.image_id
           left join captions on captions.id = post_images.caption_id
           where post_id = ? order by position""",
        [post["id"]],
    ).fetchall()
    targets = db.execute(
        """select distinct target_post_id, target.title from links join posts target on target.id = target_post_id
           where links.post_id = ?""",
        [post["id"]],
    ).fetchall()
    citing = [r[0] for r in db.execute(
        "select distinct post_id from links where target_post_id = ? order by post_id", [post["id"]])]

    page = browse.page
    browse.goto(f"/news/posts/{post['id']}")
    article = page.locator("article.news-article")
    assert article.locator("> h1").inner_text() == post["title"]

    # Rendered paragraphs with real text, no Markdown left over, the headline not repeated.
    paragraphs = [p.strip() for p in article.locator(".body p").all_inner_texts()]
    prose = [p for p in paragraphs if len(p.split()) >= 12]
    assert len(prose) >= 3, paragraphs
    assert not any(re.search(r"!\[|\]\(|^#|\*\*", p) for p in paragraphs), paragraphs
    assert post["title"] not in paragraphs

    # Every photo is a figure whose image really loaded from the local mirror.
    load_all_images(page, "article.news-article figure img")
    figures = figures_state(page)
    assert [f["src"] for f in figures] == [mirror_url(p["url"], MIRROR) for p in photos]
    assert all(f["src"].startswith("/photos/") for f in figures)
    for figure in figures:
        assert figure["complete"] and figure["naturalWidth"] > 0, f"photo did not load: {figure}"
    # Captioned photos (all body photos; the lead photo has no caption in the posts)
    # show the caption once with the credit set apart.
    body_figures = [f for f in figures if f["inBody"]]
    assert len(body_figures) >= 2
    for figure, photo in zip(figures, photos):
        if photo["caption"] is None:
            assert figure["caption"] is None and not figure["inBody"]
            continue
        assert figure["caption"], figure
        assert figure["credit"] and photo["credit"] in figure["credit"], (figure, photo["credit"])
        assert re.fullmatch(r"\((Photo|File photo|[A-Z][\w ]*): .+\)", figure["credit"]), figure["credit"]
    for figure in body_figures:
        assert figure["caption"] and figure["credit"], f"body photo without caption or credit: {figure}"

    # Links in this post point to other posts of the archive; cited-by is listed.
    hrefs = article.locator("ol.news-links a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    internal = [h for h in hrefs if h.startswith("/news/posts/")]
    assert internal and set(internal) == {f"/news/posts/{t['target_post_id']}" for t in targets}
    assert f"/news/posts/{post['id']}" not in internal
    cited_hrefs = page.locator("ul.news-cited-by li a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert sorted(cited_hrefs) == [f"/news/posts/{c}" for c in citing] and cited_hrefs

    browse.screenshot("post-page.png")

    # Following the first link opens that post's article.
    target = next(t for t in targets if f"/news/posts/{t['target_post_id']}" == internal[0])
    article.locator(f'ol.news-links a[href="{internal[0]}"]').click()
    page.wait_for_url(f"**{internal[0]}")
    assert page.locator("article.news-article > h1").inner_text() == target["title"]

    assert browse.errors == []
    browse.assert_offline()


def test_hostile_post_runs_no_script(browse, db):
    (post_id, title) = db.execute("select id, title from posts where path = ?", [HOSTILE]).fetchone()
    page = browse.page
    page.add_init_script(
        """window.__xss = [];
        for (const name of ['alert', 'confirm', 'prompt', 'print']) {
            window[name] = (...args) => { window.__xss.push([name, String(args[0])]); };
        }"""
    )
    browse.goto(f"/news/posts/{post_id}")
    article = page.locator("article.news-article")
    assert article.locator("> h1").inner_text() == title
    # The payload's <img src=x> (not lazy) has failed to load by now, since the load
    # event waits for it, so an onerror would have run; let any timer run out too.
    # Its src, site-relative with no base URL, is emptied: it is not loaded from this site.
    payload = page.evaluate(
        """Array.from(document.querySelectorAll('article.news-article .body img:not([loading=lazy])'))
               .map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"""
    )
    assert payload == [["", True, 0]]
    page.wait_for_timeout(200)

    assert page.evaluate("window.__xss") == []
    assert browse.dialogs == []
    assert article.locator("script").count() == 0
    handlers = article.evaluate(
        """a => Array.from(a.querySelectorAll('*')).flatMap(el => Array.from(el.attributes)
               .filter(attr => attr.name.toLowerCase().startsWith('on'))
               .map(attr => `<${el.tagName.toLowerCase()} ${attr.name}="${attr.value}">`))"""
    )
    assert handlers == []
    urls = article.evaluate(
        """a => Array.from(a.querySelectorAll('[href], [src], [action], [formaction], [xlink\\\\:href]'))
               .flatMap(el => ['href', 'src', 'action', 'formaction', 'xlink:href'].map(n => el.getAttribute(n)))
               .filter(v => v !== null)"""
    )
    assert urls and not [u for u in urls if re.sub(r"[\s\x00-\x1f]", "", u).lower().startswith(("javascript:", "data:", "vbscript:"))]
    # No script anywhere on the page carries the post's payload.
    scripts = page.evaluate("Array.from(document.scripts).map(s => s.src || s.textContent)")
    assert not [s for s in scripts if "alert(" in s]
    # The article is still all there: the payloads survive as harmless text.
    body = article.locator(".body").inner_text()
    assert "Pay a fine" in body and "cross-site scripting" in body
    assert browse.errors == []
    browse.assert_offline()


def test_facets_and_search_box_by_clicking(browse, db):
    (world_id,) = db.execute("select name from categories where name = 'world'").fetchone()
    world_ids = {r[0] for r in db.execute("select id from posts where category = ?", [world_id])}
    (total,) = db.execute("select count(*) from posts").fetchone()
    page = browse.page
    browse.goto("/news/posts")
    heading = page.locator("h3").filter(has_text=re.compile(r"\brows?\b")).first
    before = heading.inner_text()
    assert re.match(rf"{total} rows\b", before), before

    facet = page.locator("#facet-category")
    facet.get_by_role("link", name="world", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]category="))
    assert parse_qs(urlsplit(page.url).query)["category"] == [str(world_id)]
    after = heading.inner_text()
    assert after != before and re.match(rf"{len(world_ids)} rows?\b", after), after
    cells = page.locator("table.rows-and-columns td.col-category").all_inner_texts()
    assert len(cells) == len(world_ids)
    assert all(c.split()[0] == "world" for c in cells), cells
    shown = set(page.locator("table.rows-and-columns td.col-id").all_inner_texts())
    assert shown == world_ids

    word = "Kessler"
    expected = {
        r[0] for r in db.execute(
            """select posts.id from posts_fts join posts on posts.rowid = posts_fts.rowid
               where posts_fts match ? and posts.category = ?""", [f'"{word}"', world_id])
    }
    assert 0 < len(expected) < len(world_ids)
    search = page.get_by_label("Search:")
    search.fill(word)
    search.press("Enter")
    page.wait_for_url(re.compile(r"[?&]_search="))
    query = parse_qs(urlsplit(page.url).query)
    assert query["_search"] == [word]
    # the search form keeps the facet selection (as a category__exact filter)
    assert (query.get("category") or query.get("category__exact")) == [str(world_id)], query
    rows = page.locator("table.rows-and-columns tbody tr")
    assert set(page.locator("table.rows-and-columns td.col-id").all_inner_texts()) == expected
    # The table shows each body's opening only: the word is in the whole post.
    for (post_id,) in [(i,) for i in expected]:
        (text,) = db.execute("select title || description || body_text from posts where id = ?", [post_id]).fetchone()
        assert word.lower() in text.lower()
    assert rows.count() == len(expected)
    assert re.match(rf"{len(expected)} rows?\b", heading.inner_text())
    assert browse.errors == []
    browse.assert_offline()


def test_home_page_draws_the_chart_offline(browse, db):
    page = browse.page
    browse.goto("/")
    chart = page.locator("svg.news-chart")
    assert chart.count() == 1 and chart.is_visible()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    bars = chart.locator("rect:has(title)")
    assert bars.count() > 0
    heights = bars.evaluate_all("rs => rs.map(r => r.getBBox().height)")
    assert all(h > 0 for h in heights)
    titles = bars.evaluate_all("rs => rs.map(r => r.querySelector('title').textContent)")
    counted = sum(int(t.rsplit(":", 1)[1]) for t in titles)
    (dated,) = db.execute("select count(*) from posts where published_month is not null").fetchone()
    assert counted == dated
    # The y axis reads 0, step, 2 x step, ... with a round step, drawn equally apart.
    ticks = chart.locator("text.y-tick").evaluate_all(
        "ts => ts.map(t => [Number(t.textContent), t.getBoundingClientRect().y])")
    values = [value for value, _ in ticks]
    step = values[1] - values[0]
    assert values == [step * n for n in range(len(values))] and step in (1, 2, 5, 10, 20, 50), values
    gaps = [above - below for (_, below), (_, above) in zip(ticks, ticks[1:])]
    assert all(gap == pytest.approx(gaps[0], abs=0.5) and gap < 0 for gap in gaps), ticks
    browse.screenshot("home-page.png")
    # On a phone the chart scrolls in its box rather than shrinking its labels, and the page does not scroll sideways.
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        heights = chart.locator("text.y-tick").evaluate_all("ts => ts.map(t => t.getBoundingClientRect().height)")
        assert min(heights) >= 9, (width, heights)
        assert_fits(page)
    assert browse.errors == []
    browse.assert_offline()
