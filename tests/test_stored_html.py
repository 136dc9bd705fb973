"""Rendering off the request path: the build renders each post's article and table
preview (post_html) and the site serves them as stored.

Hostile bodies that took seconds to minutes to render on request (unclosed <i>, `<b>x `
repeated, thousands of links or photos, a 4 MB body on one line) build, and their
article page and the posts table page answer with the stored HTML: a page shows what
the column holds, and after the column is overwritten it shows the new value, so
nothing renders it on request. A database without post_html still answers, from a
bounded cut of the body. A post whose rendering runs out of time keeps its row, with
its text in paragraphs and a warning naming the file.
"""
from __future__ import annotations

import shutil
import sqlite3
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from datasette.utils import tilde_encode

from newsarchive.build.pipeline import build
from newsarchive.parse import render as build_render
from newsarchive.site.article import LIVE_ARTICLE_CHARS
from newsarchive.text import render

from .conftest import get, write_posts

#: The bodies of the hostile visitor, by post id.
HOSTILE = {
    "hostile-unclosed-i": "<i>" * (96 * 1024 // 3),
    "hostile-bold-x": "<b>x " * (160 * 1024 // 5),
    "hostile-links": " ".join(f"[link {n}](https://links.test/{n})" for n in range(2000)),
    "hostile-images": "\n".join(f"![photo {n}](https://photos.test/{n}.jpg)" for n in range(20000)),
    "hostile-one-line": "quokka " * (4 * 1024 * 1024 // 7),
}
PLAIN_ID = "plain-post"
PLAIN_BODY = "The harbour council met on Tuesday.\n\n" + "It voted to repair the breakwater. " * 40 + "\n\nThe end."


def post(post_id: str, body: str, date: str = "2024-11-01T09:00:00Z") -> str:
    return f"---\ncode: {post_id}\ntitle: Post {post_id}\ndate: {date}\n---\n{body}\n"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-render")
    posts = {f"{pid}.md": post(pid, body) for pid, body in HOSTILE.items()} | {"plain.md": post(PLAIN_ID, PLAIN_BODY)}
    write_posts(folder / "posts", posts)
    db = folder / "news.db"
    summary = build(folder / "posts", db, quiet=True)
    assert summary.failed == 0 and summary.posts == len(posts), summary
    return db


def stored(db: Path, post_id: str) -> sqlite3.Row:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("select * from post_html where post_id = ?", [post_id]).fetchone()
    finally:
        conn.close()


def article_page(post_id: str) -> str:
    return f"/news/posts/{tilde_encode(post_id)}"


def table_page(post_id: str) -> str:
    return f"/news/posts?_columns=all&id={post_id}"


def test_every_hostile_body_builds_with_a_stored_article_and_a_cut_preview(hostile_db):
    conn = sqlite3.connect(hostile_db)
    warnings = conn.execute("select path, message from build_errors").fetchall()
    conn.close()
    assert warnings == []
    for post_id, body in HOSTILE.items():
        row = stored(hostile_db, post_id)
        assert row is not None and row["article"], post_id
        # Cut whatever the body's shape: a preview is the opening, not the body.
        assert row["preview_cut"] == 1 and len(row["preview"]) < len(body) / 10, post_id


@pytest.mark.parametrize("post_id", [*HOSTILE, PLAIN_ID])
def test_article_and_table_pages_serve_the_stored_html(hostile_db, app_for, post_id):
    row = stored(hostile_db, post_id)
    ds = app_for(hostile_db)
    article = get(ds, article_page(post_id))
    assert article.status_code == 200 and row["article"] in article.text
    table = get(ds, table_page(post_id))
    assert table.status_code == 200 and row["preview"] in table.text
    assert ("read the whole post" in table.text) == bool(row["preview_cut"])
    # The table page holds the opening, not the body (a 4 MB body on one line included):
    # a page of one row, whatever the body, stays well under the largest bodies here.
    assert len(table.text) < 150_000


@pytest.fixture
def overwritten_db(hostile_db, tmp_path) -> Path:
    """The hostile database with every post's stored HTML replaced by a marker."""
    db = tmp_path / "news.db"
    shutil.copy(hostile_db, db)
    conn = sqlite3.connect(db)
    conn.execute("update post_html set article = '<p>stored article of ' || post_id || '</p>',"
                 " preview = '<p>stored preview of ' || post_id || '</p>'")
    conn.commit()
    conn.close()
    return db


@pytest.mark.parametrize("post_id", list(HOSTILE))
def test_pages_show_the_column_not_a_rendering_of_the_body(overwritten_db, app_for, post_id):
    ds = app_for(overwritten_db)
    article = get(ds, article_page(post_id)).text
    table = get(ds, table_page(post_id)).text
    assert f"<p>stored article of {post_id}</p>" in article
    assert f"<p>stored preview of {post_id}</p>" in table
    rendered = render.article_html(HOSTILE[post_id][:1000])
    assert rendered[:200] not in article and rendered[:200] not in table


@pytest.fixture
def database_without_post_html(hostile_db, tmp_path) -> Path:
    db = tmp_path / "news.db"
    shutil.copy(hostile_db, db)
    conn = sqlite3.connect(db)
    conn.execute("drop table post_html")
    conn.commit()
    conn.close()
    return db


@pytest.mark.parametrize("post_id", [*HOSTILE, PLAIN_ID])
def test_a_database_without_post_html_renders_a_bounded_cut(database_without_post_html, app_for, post_id):
    """Rendered on request from at most a cut of the body: the pages answer, and hold
    neither the whole body nor its whole rendering."""
    ds = app_for(database_without_post_html)
    body = HOSTILE.get(post_id, PLAIN_BODY)
    article = get(ds, article_page(post_id))
    table = get(ds, table_page(post_id))
    assert article.status_code == 200 and table.status_code == 200
    if post_id == PLAIN_ID:
        assert "<p>The harbour council met on Tuesday.</p>" in article.text
        assert "<p>The harbour council met on Tuesday.</p>" in table.text and "read the whole post" in table.text
    else:
        assert len(table.text) < 150_000
        shown = article.text.split('<div class="body">', 1)[1].split("<h2>Links in this post</h2>", 1)[0]
        assert len(shown) < 4 * LIVE_ARTICLE_CHARS < len(render.article_html(body))


def test_versions_answers_while_hostile_pages_are_requested(hostile_db):
    """On a real server started as production starts it: every hostile page requested
    at once, and /-/versions.json beside them."""
    from .browser.conftest import running_server

    with running_server(hostile_db) as base:
        paths = [page(pid) for pid in HOSTILE for page in (article_page, table_page)] + ["/news/posts?_columns=all"]
        statuses: dict[str, int] = {}

        def fetch(path):
            with urllib.request.urlopen(base + path, timeout=60) as response:
                response.read()
                statuses[path] = response.status

        threads = [threading.Thread(target=fetch, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        fetch("/-/versions.json")
        for thread in threads:
            thread.join()
    assert statuses == {path: 200 for path in [*paths, "/-/versions.json"]}


def test_a_render_that_runs_out_of_time_keeps_the_post(tmp_path, monkeypatch):
    """The post keeps its row, its stored HTML is its text in escaped paragraphs, and
    build_errors names the file."""
    body = "Fish & <chips> paragraph one.\n\n" + "*a* " * 200_000 + "\n\nLast <b>words</b>."
    write_posts(tmp_path / "posts", {"2024/slow.md": post("slow", body), "2024/fine.md": post("fine", PLAIN_BODY)})
    monkeypatch.setattr(build_render, "RENDER_SECONDS", 0.05)
    db = tmp_path / "news.db"
    summary = build(tmp_path / "posts", db, quiet=True)
    assert summary.failed == 0 and summary.posts == 2
    row = stored(db, "slow")
    assert row["article"].startswith("<p>Fish &amp; &lt;chips&gt; paragraph one.</p>")
    assert row["article"].endswith("<p>Last &lt;b&gt;words&lt;/b&gt;.</p>")
    conn = sqlite3.connect(db)
    problems = conn.execute("select path, level, message from build_errors").fetchall()
    conn.close()
    assert [(path, level) for path, level, _ in problems] == [("2024/slow.md", "warning")]
    assert "did not render" in problems[0][2]


# --------------------------------------------------------------------------- XSS in previews

#: Elements no stored HTML may hold, and URL schemes no link or photo may use.
FORBIDDEN_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "base", "meta", "link", "form",
                  "input", "select", "button", "template", "noscript", "video", "audio", "source", "details", "body"}
FORBIDDEN_SCHEMES = ("javascript:", "data:", "vbscript:")


class Vectors(HTMLParser):
    """What a browser would treat as live script in an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            squeezed = "".join((value or "").split()).lower()
            if name.startswith("on") or (name == "style" and any(w in squeezed for w in ("url(", "expression", "script"))):
                self.found.append(f"<{tag} {name}>")
            elif name in ("href", "src", "action", "xlink:href") and squeezed.startswith(FORBIDDEN_SCHEMES):
                self.found.append(f"<{tag} {name}={value}>")


def script_vectors(html: str) -> list[str]:
    parser = Vectors()
    parser.feed(html)
    parser.close()
    return parser.found


def test_the_vector_check_sees_each_kind_of_vector():
    for html in ("<script>x</script>", '<img src=x onerror="y">', '<a href=" java script:x">', "<svg>"):
        assert script_vectors(html), html
    assert script_vectors('<p><a href="https://a.test/" rel="noopener">a</a><img src="/b.png" alt=""></p>') == []


@pytest.fixture(scope="module")
def payload_db(tmp_path_factory) -> Path:
    """One post per body payload of the XSS suite, the payload first in its body."""
    from .browser.test_xss import BODY_PAYLOADS, LEGIT, MXSS

    folder = tmp_path_factory.mktemp("payload-first")
    payloads = [*BODY_PAYLOADS, MXSS]
    write_posts(folder / "posts", {f"lead-{n:02d}.md": post(f"lead-{n:02d}", f"{p}\n\n{LEGIT}.") for n, p in enumerate(payloads)})
    db = folder / "news.db"
    assert build(folder / "posts", db, quiet=True).posts == len(payloads)
    return db


def test_payloads_first_in_a_body_are_sanitised_in_the_stored_html(payload_db):
    conn = sqlite3.connect(payload_db)
    rows = conn.execute("select post_id, article, preview from post_html order by post_id").fetchall()
    conn.close()
    assert len(rows) > 40
    for post_id, article, preview in rows:
        assert script_vectors(article) == [], (post_id, article)
        assert script_vectors(preview) == [], (post_id, preview)


def test_payloads_first_in_a_body_are_sanitised_in_the_served_pages(payload_db, app_for):
    from .browser.test_xss import LEGIT

    ds = app_for(payload_db)
    conn = sqlite3.connect(payload_db)
    rows = conn.execute("select post_id, article, preview from post_html").fetchall()
    conn.close()
    table = get(ds, "/news/posts?_columns=all&_size=100").text
    for post_id, article, preview in rows:
        page = get(ds, article_page(post_id)).text
        shown = page.split('<div class="body">', 1)[1].split("<h2>Links in this post</h2>", 1)[0]
        # Site-relative URLs are mapped as the page is served (`<img src="x">` loses its src).
        assert LEGIT in shown and script_vectors(shown) == [], post_id
    cells = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert cells.count(f"<p>{LEGIT}.</p>") == len(rows)  # every preview is on the page
    assert script_vectors(cells) == []
