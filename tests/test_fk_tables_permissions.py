"""A row page's "Links from other tables" and its JSON's foreign_key_tables on a
Datasette where some tables only EDITOR may view (an `allow` block, as a publisher would
write): a table the visitor may not view is not there (no name, no count, no link),
every other table is, with its count. Served from the planted corpus of
tests/test_relations.py; the tables pointing at a post and their counts are read with
sqlite3 (PRAGMA foreign_key_list and count(*))."""
from __future__ import annotations

import re
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .conftest import DATASETTE_1, EDITOR, app_with_metadata, get
from .test_relations import expected_reprints

#: Datasette 0.65 names the extra `_extras`, 1.0 `_extra`.
EXTRA = "_extra" if DATASETTE_1 else "_extras"

#: (table, column) -> rows of that table whose column is the post's id.
Links = dict[tuple[str, str], int]


def referencing_rows(db: Path, post_id: str) -> Links:
    """Every table column declared as a foreign key to posts.id, with the rows holding
    post_id in it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {}
        for table in tables:
            for fk in conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall():
                referred, column = fk[2], fk[3]
                if referred == "posts":
                    (n,) = conn.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" = ?', (post_id,)).fetchone()
                    counts[(table, column)] = n
        return counts
    finally:
        conn.close()


class LinksSection(HTMLParser):
    """The "Links from other tables" list as a reader sees it: each item's link and text."""

    def __init__(self):
        super().__init__()
        self.items: list[tuple[str, str]] = []
        self._heading: str | None = None
        self._state = "before"  # before, heading seen, in the list, after
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag == "h2" and self._state == "before":
            self._heading = ""
        elif tag == "ul" and self._state == "heading":
            self._state = "list"
        elif tag == "li" and self._state == "list":
            self._href, self._text = None, ""
        elif tag == "a" and self._state == "list":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag):
        if tag == "h2" and self._heading is not None:
            if self._heading.strip() == "Links from other tables":
                self._state = "heading"
            self._heading = None
        elif tag == "li" and self._state == "list":
            self.items.append((self._href, " ".join(self._text.split())))
        elif tag == "ul" and self._state == "list":
            self._state = "after"

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        elif self._state == "list":
            self._text += data


def links_in_page(html: str, post_id: str) -> Links:
    """The section's items as (table, column) -> count, each link checked to be the
    table's page filtered to this post."""
    section = LinksSection()
    section.feed(html)
    found = {}
    for href, text in section.items:
        m = re.fullmatch(r"([\d,]+) rows? from (\S+) in (\S+)", text)
        assert m, text
        count, column, table = int(m[1].replace(",", "")), m[2], m[3]
        assert href == f"/news/{table}?{column}={post_id}", (href, text)
        found[(table, column)] = count
    return found


def links_in_json(app, post_id: str, actor=None) -> Links:
    response = get(app, f"/news/posts/{post_id}.json?{EXTRA}=foreign_key_tables", actor)
    assert response.status_code == 200
    return {(fk["other_table"], fk["other_column"]): fk["count"] for fk in response.json()["foreign_key_tables"]}


@pytest.fixture(scope="module")
def chosen_posts(relations_corpus):
    """(db, post ids): an original with copies, one of its copies, and a post in no
    reprint group; each has related posts."""
    posts, db = relations_corpus
    copy_of = expected_reprints(posts)
    original = next(p for p in copy_of.values() if p not in copy_of)
    copy = next(c for c, o in copy_of.items() if o == original)
    loner = next(p.post_id for p in posts if p.group is None and p.language == "en")
    return db, (original, copy, loner)


CLOSED = [(), ("reprints", "related_posts"), ("related_posts",), ("links", "post_html")]


@pytest.mark.parametrize("closed", CLOSED, ids=lambda c: "+".join(c) or "open")
def test_links_from_other_tables_list_only_the_tables_the_visitor_may_view(restricted_app, chosen_posts, closed):
    db, post_ids = chosen_posts
    app = restricted_app(db, closed)
    for post_id in post_ids:
        everything = referencing_rows(db, post_id)
        assert {table for table, _ in everything} >= set(closed) | {"reprints", "related_posts"}
        if post_id == post_ids[0]:
            assert everything[("reprints", "original_post_id")] > 0 and everything[("related_posts", "post_id")] > 0
        allowed = {key: n for key, n in everything.items() if key[0] not in closed}

        assert links_in_json(app, post_id, EDITOR) == everything, post_id
        assert links_in_json(app, post_id) == allowed, (post_id, closed)

        anonymous, editor = get(app, f"/news/posts/{post_id}"), get(app, f"/news/posts/{post_id}", EDITOR)
        assert (anonymous.status_code, editor.status_code) == (200, 200)
        assert links_in_page(editor.text, post_id) == everything, post_id
        assert links_in_page(anonymous.text, post_id) == allowed, (post_id, closed)
        for table in closed:
            assert f"/news/{table}?" not in anonymous.text, (post_id, table)
            assert f" in {table}" not in " ".join(anonymous.text.split()), (post_id, table)
    for table in closed:
        statuses = (get(app, f"/news/{table}").status_code, get(app, f"/news/{table}", EDITOR).status_code)
        assert statuses == (403, 200), table


@pytest.fixture
def editors_database(app_for, tmp_path, monkeypatch):
    """editors_database(db, open_tables): a Datasette of db configured as metadata.yml has
    it, but for the database, which only EDITOR may view, and `open_tables`, which
    everyone may (`allow: true`)."""

    def make(db: Path, open_tables: tuple[str, ...]):
        def close(meta: dict) -> None:
            meta["databases"]["news"]["allow"] = EDITOR
            for name in open_tables:
                meta["databases"]["news"]["tables"].setdefault(name, {})["allow"] = True

        return app_with_metadata(app_for, db, close, tmp_path, monkeypatch)

    return make


def test_a_table_closed_by_its_database_is_left_out_of_an_open_tables_rows(editors_database, chosen_posts):
    """The posts table and one table pointing at it are open, the rest of the database is
    EDITOR's: anonymous sees exactly the tables whose own page it may open."""
    db, post_ids = chosen_posts
    app = editors_database(db, ("posts", "post_tags"))
    for post_id in post_ids:
        everything = referencing_rows(db, post_id)
        opens = {table: get(app, f"/news/{table}").status_code for table, _ in everything}
        assert set(opens.values()) == {200, 403} and opens["post_tags"] == 200, opens
        allowed = {key: n for key, n in everything.items() if opens[key[0]] == 200}

        assert links_in_json(app, post_id) == allowed, post_id
        assert links_in_page(get(app, f"/news/posts/{post_id}").text, post_id) == allowed, post_id
        assert links_in_json(app, post_id, EDITOR) == everything, post_id


@pytest.mark.parametrize("path, content_type", [
    ("/-/static/app.css", "text/css"),  # Datasette's own files
    ("/-/news-static/news-select-word.js", "javascript"),  # a plugin's route
    ("/photos/2024/11/gluehwein-lebkuchen.jpg", "image/jpeg"),  # a static mount (metadata.yml)
])
def test_the_row_view_takes_only_row_urls(restricted_app, chosen_posts, path, content_type):
    """Three-segment paths that are not rows reach what serves them, not a row view."""
    db, _ = chosen_posts
    response = get(restricted_app(db, "reprints"), path)
    assert response.status_code == 200 and content_type in response.headers["content-type"], path
