"""The article page (the posts row page) through Datasette's test client: the byline
(authors in the order the post names them) and the tags, each a link to the posts
filtered to it that lists exactly that author's or tag's posts; the category,
language and date as before; names with characters URLs and HTML treat specially.

The wide post defined here is the one tests/browser/test_article_page.py measures.
"""
from __future__ import annotations

import html as html_lib
import re
import sqlite3
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from newsarchive.build.pipeline import build

from .conftest import SAMPLE, copy_tree, get

WIDE_ID = "ART2411200900WIDE01"
AUTHORS = ["Zoe Quist", "Mira Solberg", "Anders Berg"]  # not in alphabetical order
TAGS = ["harbour data", "election", "open data"]
CODE_LINE = ("harbour_log = [" + ", ".join(f"'{n:04d}'" for n in range(400)))[:2000]
COLUMNS = 30
PHOTO = "https://images.harbourtimes.test/2024/11/port-alder-container-stacks.jpg"
CAPTION = "Containers stacked three high on the Port Alder quay in November"
CREDIT = "Reuters"

ODD_ID = "ART2411210900ODDNAM"
ODD_AUTHORS = ["O'Neil & Sons #2", "Zoë <b>Ünal</b>", "a+b=c; d"]
ODD_TAGS = ["c++ / rust?", "50% off & more"]


def yaml_list(values: list[str]) -> str:
    return "\n".join('  - "' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)


def wide_post() -> str:
    """A post with a 2,000-character code line, a 30-column table and a long unbroken
    word, three authors, three tags and a captioned, credited photo."""
    header = "| " + " | ".join(f"berth {n}" for n in range(1, COLUMNS + 1)) + " |"
    rule = "|" + "---|" * COLUMNS
    row = "| " + " | ".join(f"{n * 137} tonnes" for n in range(1, COLUMNS + 1)) + " |"
    return f"""---
code: "{WIDE_ID}"
title: "Port Alder publishes every berth's tonnage, line by line"
description: "The harbour authority's raw log of cargo handled at each berth is now public."
category: "LOCAL"
language: "en"
date: 2024-11-20T09:00:00.000Z
authors:
{yaml_list(AUTHORS)}
tags:
{yaml_list(TAGS)}
image: "https://images.harbourtimes.test/2024/11/kestrel-wins-approval-for-chip-packaging-lead.jpg"
---

The Port Alder harbour authority on Wednesday published the raw log of the cargo handled at
each of its thirty berths, a file researchers have requested for years.

![{CAPTION}. (Photo: {CREDIT})]({PHOTO})

{CAPTION}. (Photo: {CREDIT})

The log is a single line of code per day, which the authority published as it stands:

```python
{CODE_LINE}
```

The tonnage per berth for the first week of November:

{header}
{rule}
{row}
{row}

Its file name, a single unbroken word, is
{"PortAlderHarbourAuthorityBerthLog" * 9}202411.csv and the authority says a weekly file will follow.
"""


def odd_names_post() -> str:
    return f"""---
code: "{ODD_ID}"
title: "Names that URLs and HTML treat specially"
date: 2024-11-21T09:00:00.000Z
authors:
{yaml_list(ODD_AUTHORS)}
tags:
{yaml_list(ODD_TAGS)}
---

A short post whose byline and tags hold ampersands, quotes, hashes and markup.
"""


def planted_posts(folder: Path) -> Path:
    """The sample posts plus the wide post (which shares an author and a tag with them)
    and the post with odd names."""
    posts = copy_tree(SAMPLE, folder / "posts")
    (posts / "2024-11" / "wide.md").write_text(wide_post(), encoding="utf-8")
    (posts / "2024-11" / "odd-names.md").write_text(odd_names_post(), encoding="utf-8")
    return posts


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("article")
    db = folder / "news.db"
    summary = build(planted_posts(folder), db, quiet=True)
    assert summary.failed == 0, summary.problems
    return db


@pytest.fixture(scope="module")
def db(planted_db):
    conn = sqlite3.connect(f"file:{planted_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def article_of(ds, post_id: str) -> str:
    response = get(ds, f"/news/posts/{post_id}")
    assert response.status_code == 200
    return response.text.split('<article class="news-article">', 1)[1].split("</article>", 1)[0]


def links_in(html: str, css_class: str) -> list[tuple[str, str]]:
    """(href, text) of each link in the element of that class, as a browser reads them."""
    (block,) = re.findall(rf'<p class="{css_class}">(.*?)</p>', html, re.DOTALL)
    return [(html_lib.unescape(href), html_lib.unescape(text))
            for href, text in re.findall(r'<a href="([^"]*)">(.*?)</a>', block, re.DOTALL)]


def posts_at(ds, href: str) -> list[str]:
    """The ids of every post the posts page at href lists."""
    path, _, query = href.partition("?")
    assert path == "/news/posts", href
    rows = get(ds, f"/news/posts.json?{query}&_shape=array&_col=id&_size=max").json()
    return sorted(row["id"] for row in rows)


def posts_by(db, table: str, column: str, value: str) -> list[str]:
    return sorted({r[0] for r in db.execute(f"select post_id from {table} where {column} = ?", [value])})


SHOWN = {(WIDE_ID, "authors"): AUTHORS, (WIDE_ID, "tags"): TAGS, (ODD_ID, "authors"): ODD_AUTHORS, (ODD_ID, "tags"): ODD_TAGS}
#: posts' JSON array -> the element of the article that lists it, and the table that says
#: which posts have each name.
LISTS = {"authors": ("byline", "post_authors", "author"), "tags": ("news-tags", "post_tags", "tag")}


@pytest.mark.parametrize("post_id, array", list(SHOWN))
def test_authors_and_tags_in_order_each_linking_to_exactly_their_posts(ds, db, post_id, array):
    css_class, table, column = LISTS[array]
    shown = links_in(article_of(ds, post_id), css_class)
    assert [text for _, text in shown] == SHOWN[post_id, array]
    for href, name in shown:
        assert parse_qs(urlsplit(href).query) == {f"{array}__arraycontains": [name]}
        assert posts_at(ds, href) == posts_by(db, table, column, name), name
    # One of each is shared with a sample post, so a link lists more than this post.
    assert len(posts_by(db, table, column, SHOWN[WIDE_ID, array][1])) >= 2


def test_byline_order_is_the_order_the_post_names_its_authors(db):
    for post_id in (WIDE_ID, ODD_ID):
        ordered = [r[0] for r in db.execute("select author from post_authors where post_id = ? order by position", [post_id])]
        assert ordered == SHOWN[post_id, "authors"]


def test_names_are_escaped_text_never_markup(ds):
    html = article_of(ds, ODD_ID)
    assert "<b>" not in html and "&lt;b&gt;Ünal&lt;/b&gt;" in html
    assert "O&#39;Neil &amp; Sons #2" in html


def test_dateline_keeps_date_category_and_language(ds, db):
    post = db.execute("select published_at, category, language from posts where id = ?", [WIDE_ID]).fetchone()
    html = article_of(ds, WIDE_ID)
    (dateline,) = re.findall(r'<p class="dateline">(.*?)</p>', html, re.DOTALL)
    assert f'<time datetime="{post["published_at"]}">{post["published_at"][:10]} 09:00 UTC</time>' in dateline
    ((href, text),) = re.findall(r'<a href="([^"]*)">(.*?)</a>', dateline)
    assert text == post["category"] == "local"
    assert posts_at(ds, html_lib.unescape(href)) == sorted(
        r[0] for r in db.execute("select id from posts where category = ?", [post["category"]]))
    assert f"· {post['language']}" in dateline and post["language"] == "en"


def test_a_post_without_authors_or_tags_shows_neither(ds, db):
    (post_id,) = db.execute(
        """select id from posts where title_source = 'body'
             and id not in (select post_id from post_authors) and id not in (select post_id from post_tags)
           order by id limit 1""").fetchone()
    html = article_of(ds, post_id)
    assert 'class="byline"' not in html and 'class="news-tags"' not in html
    assert '<div class="body">' in html
