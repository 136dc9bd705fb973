"""The article page's reprints and related posts on a Datasette whose reprints or
related_posts table (or both) only EDITOR may view, as a publisher's `allow` block
closes them: each part of the section is shown to whoever may view the table it
reads, the post itself to everyone. Served from the planted corpus of
tests/test_relations.py; what each part should list comes from the planted reprint
groups and the related_posts rows, read with sqlite3."""
from __future__ import annotations

import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .conftest import EDITOR, get
from .test_relations import expected_reprints

RELATION_TABLES = ("reprints", "related_posts")
#: The table each list of the section reads.
TABLE_OF = {"news-reprinted-from": "reprints", "news-also-published": "reprints", "news-related-posts": "related_posts"}


class RelatedSection(HTMLParser):
    """section.news-related as a reader sees it: its headings in order, and the post ids
    each of its lists links to (by the class of the list)."""

    LISTS = {"news-reprinted-from", "news-also-published", "news-related-posts"}

    def __init__(self):
        super().__init__()
        self.found = False
        self.headings: list[str] = []
        self.links: dict[str, list[str]] = {}
        self._depth = 0  # open <section> tags inside section.news-related, itself included
        self._list: str | None = None
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and (self._depth or attrs.get("class") == "news-related"):
            self.found = True
            self._depth += 1
        elif not self._depth:
            return
        elif tag == "h2":
            self._heading = ""
        elif attrs.get("class") in self.LISTS:
            self._list = attrs["class"]
            self.links.setdefault(self._list, [])
        elif tag == "a" and self._list:
            self.links[self._list].append(attrs["href"].rsplit("/", 1)[-1])

    def handle_endtag(self, tag):
        if tag == "section" and self._depth:
            self._depth -= 1
        elif tag == "h2" and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        elif tag in ("p", "ul", "ol"):
            self._list = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data


def read_section(html: str) -> RelatedSection:
    section = RelatedSection()
    section.feed(html)
    return section


def expected_parts(posts, db: Path) -> dict[str, dict[str, list[str]]]:
    """Post id -> what each list of its section links to, for a visitor who may view both
    tables: the original it reprints, its group's other copies (earliest first), and its
    related posts by rank. Empty lists are left out, as the page leaves them out."""
    copy_of = expected_reprints(posts)
    date = {p.post_id: p.date for p in posts}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        related: dict[str, list[str]] = {}
        for post_id, other in conn.execute("SELECT post_id, related_post_id FROM related_posts ORDER BY post_id, rank"):
            related.setdefault(post_id, []).append(other)
    finally:
        conn.close()
    parts = {}
    for post in posts:
        original = copy_of.get(post.post_id)
        group = original or post.post_id
        copies = sorted((c for c, o in copy_of.items() if o == group and c != post.post_id), key=lambda c: (date[c], c))
        listed = {"news-reprinted-from": [original] if original else [],
                  "news-also-published": copies,
                  "news-related-posts": related.get(post.post_id, [])}
        parts[post.post_id] = {name: ids for name, ids in listed.items() if ids}
    return parts


def headings(parts: dict[str, list[str]], related_open: bool) -> list[str]:
    """The section's headings for these lists; "Related posts" heads its part even when
    the list is empty, once the visitor may view related_posts."""
    shown = []
    if "news-reprinted-from" in parts:
        shown.append("Reprinted from")
    if "news-also-published" in parts:
        shown.append("Other copies" if "news-reprinted-from" in parts else "Also published as")
    if related_open:
        shown.append("Related posts")
    return shown


@pytest.fixture(scope="module")
def chosen(relations_corpus):
    """(posts, db, expected parts, post ids): an original with copies, a copy, and a post
    that is in no reprint group, each with related posts."""
    posts, db = relations_corpus
    parts = expected_parts(posts, db)
    copy_of = expected_reprints(posts)
    original = next(p for p in copy_of.values() if p not in copy_of)
    copy = next(p for p in copy_of if "news-also-published" in parts[p])
    loner = next(p.post_id for p in posts if p.group is None and p.language == "en")
    for post_id in (original, copy, loner):
        assert "news-related-posts" in parts[post_id], post_id
    return posts, db, parts, (original, copy, loner)


@pytest.mark.parametrize("closed", [(), ("reprints",), ("related_posts",), RELATION_TABLES], ids=lambda c: "+".join(c) or "open")
def test_each_part_of_the_related_section_is_shown_to_whoever_may_view_its_table(restricted_app, chosen, closed):
    posts, db, parts, post_ids = chosen
    titles = {p.post_id: p.title for p in posts}
    app = restricted_app(db, closed)
    for post_id in post_ids:
        path = f"/news/posts/{post_id}"
        anonymous, editor = get(app, path), get(app, path, EDITOR)
        assert (anonymous.status_code, editor.status_code) == (200, 200), path
        assert f">{titles[post_id]}<" in anonymous.text, "the post itself is served to everyone"

        full = read_section(editor.text)
        assert full.links == parts[post_id], post_id
        assert full.headings == headings(parts[post_id], related_open=True), post_id

        allowed = {name: ids for name, ids in parts[post_id].items() if TABLE_OF[name] not in closed}
        seen = read_section(anonymous.text)
        want = headings(allowed, related_open="related_posts" not in closed)
        assert seen.links == allowed, (post_id, closed)
        assert seen.headings == want, (post_id, closed)
        assert seen.found == bool(want), "the section is left out when it has nothing to show"
    for table in RELATION_TABLES:
        statuses = (get(app, f"/news/{table}").status_code, get(app, f"/news/{table}", EDITOR).status_code)
        assert statuses == ((403, 200) if table in closed else (200, 200)), table
