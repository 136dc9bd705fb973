"""Bylines and tags as data: post_authors (in byline order) and the posts.authors and
posts.tags arrays, each held to what the frontmatter says, read here on its own."""
from __future__ import annotations

import json
import os
import shutil
import time

import frontmatter
import pytest
import yaml

from newsarchive.build.pipeline import build
from newsarchive.parse.bylines import read_bylines, split_names
from newsarchive.parse.fields import normalize_name

from .conftest import CORPUS_18F, SAMPLE, rows, write_posts
from .test_build import dump


@pytest.mark.parametrize("text, names", [
    ("Ana Ruiz", ["Ana Ruiz"]),
    ("By Ana Ruiz and Tom Lee", ["Ana Ruiz", "Tom Lee"]),
    ("by: Ana Ruiz, Tom Lee & Kim Park", ["Ana Ruiz", "Tom Lee", "Kim Park"]),
    ("Ana  Ruiz;  Tom\tLee", ["Ana Ruiz", "Tom Lee"]),
    ("Byron Anderson", ["Byron Anderson"]),  # no `by`, no `and` inside a word
    ("  ", []),
])
def test_split_names(text, names):
    assert split_names(text) == names


@pytest.mark.parametrize("meta, names, kept", [
    ({"author": "Ana Ruiz and Tom Lee"}, [("Ana Ruiz", "author"), ("Tom Lee", "author")], []),
    ({"authors": ["ana-ruiz", "tom-lee"]}, [("ana-ruiz", "authors"), ("tom-lee", "authors")], []),
    ({"authors": "Ana Ruiz, Tom Lee"}, [("Ana Ruiz", "authors"), ("Tom Lee", "authors")], []),
    ({"author": {"name": "Ana Ruiz"}}, [("Ana Ruiz", "author")], []),
    ({"author": {"name": "Ana Ruiz", "twitter": "@ana"}}, [("Ana Ruiz", "author")], ["author"]),
    ({"authors": [{"name": "Ana Ruiz"}, {"name": "Tom Lee"}]}, [("Ana Ruiz", "authors"), ("Tom Lee", "authors")], []),
    ({"byline": "By Kim Park"}, [("Kim Park", "byline")], []),
    ({"creator": "Kim Park"}, [("Kim Park", "creator")], []),
    ({"contributors": ["Kim Park", "Lu Chen"]}, [("Kim Park", "contributors"), ("Lu Chen", "contributors")], []),
    # In key order, each name once where it first appears.
    ({"contributors": ["Tom Lee", "Lu Chen"], "author": "Ana Ruiz and Tom Lee"},
     [("Ana Ruiz", "author"), ("Tom Lee", "author"), ("Lu Chen", "contributors")], []),
    # Shapes not understood give no name and stay in extra.
    ({"author": 42}, [], ["author"]),
    ({"author": True}, [], ["author"]),
    ({"author": {"email": "a@example.org"}}, [], ["author"]),
    ({"authors": ["Ana Ruiz", ["nested"]]}, [], ["authors"]),
    ({"author": None, "authors": []}, [], []),
])
def test_read_bylines(meta, names, kept):
    byline = read_bylines(meta)
    assert (byline.names, byline.kept) == (names, kept)


PLANTED = {
    "text.md": "---\ntitle: Text\ndate: 2024-01-01\nauthor: By Ana Ruiz and Tom Lee\ntags: Harbour, Ferries\n---\nBody.\n",
    "list.md": "---\ntitle: List\ndate: 2024-01-02\nauthors: [tom-lee, ana-ruiz]\ntags: [ferries]\n---\nBody.\n",
    "mapping.md": "---\ntitle: Mapping\ndate: 2024-01-03\nauthor:\n  name: Kim Park\n  twitter: '@kim'\n---\nBody.\n",
    "mappings.md": "---\ntitle: Mappings\ndate: 2024-01-04\nauthors:\n  - name: Lu Chen\n  - name: Kim Park\n---\nBody.\n",
    "byline.md": "---\ntitle: Byline\ndate: 2024-01-05\nbyline: Ana Ruiz\ncontributors: [Lu Chen, Ana Ruiz]\n"
                 "categories: [harbour]\n---\nBody.\n",
    "toml.md": '+++\ntitle = "Toml"\ndate = 2024-01-06\nauthors = ["Tom Lee"]\ntags = ["Harbour"]\n+++\nBody.\n',
    "odd.md": "---\ntitle: Odd\ndate: 2024-01-07\nauthor: 42\n---\nBody.\n",
    "none.md": "---\ntitle: None\ndate: 2024-01-08\n---\nBody.\n",
}
#: Each planted post's authors and tags in order, as written above.
EXPECTED = {
    "text": (["Ana Ruiz", "Tom Lee"], ["harbour", "ferries"]),
    "list": (["tom-lee", "ana-ruiz"], ["ferries"]),
    "mapping": (["Kim Park"], []),
    "mappings": (["Lu Chen", "Kim Park"], []),
    "byline": (["Ana Ruiz", "Lu Chen"], ["harbour"]),
    "toml": (["Tom Lee"], ["harbour"]),
    "odd": ([], []),
    "none": ([], []),
}


def _as_list(text):
    return json.loads(text) if text is not None else []


def test_planted_bylines_and_tags(tmp_path):
    posts = write_posts(tmp_path / "posts", PLANTED)
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.failed == 0 and summary.problems == []
    got = {post_id: (_as_list(authors), _as_list(tags))
           for post_id, authors, tags in rows(db, "SELECT id, authors, tags FROM posts")}
    assert got == EXPECTED
    for post_id, (authors, _) in EXPECTED.items():
        ordered = rows(db, "SELECT author FROM post_authors WHERE post_id = ? ORDER BY position", [post_id])
        assert [r[0] for r in ordered] == authors
        if not authors:
            assert rows(db, "SELECT authors FROM posts WHERE id = ?", [post_id]) == [(None,)]
    assert rows(db, "SELECT field FROM post_authors WHERE post_id = 'byline' ORDER BY position") == [("byline",), ("contributors",)]
    assert rows(db, "SELECT name FROM authors ORDER BY name") == [
        ("Ana Ruiz",), ("Kim Park",), ("Lu Chen",), ("Tom Lee",), ("ana-ruiz",), ("tom-lee",)]
    extras = dict(rows(db, "SELECT id, extra FROM posts"))
    # The twitter handle has no column: the mapping stays in extra; a number names no one.
    assert json.loads(extras["mapping"]) == {"author": {"name": "Kim Park", "twitter": "@kim"}}
    assert json.loads(extras["odd"]) == {"author": 42}
    assert extras["text"] is None and extras["list"] is None and extras["mappings"] is None


def _frontmatter_of_18f():
    """path -> frontmatter of every 18F post PyYAML reads (python-frontmatter's split, PyYAML's
    safe loader: libyaml's where there is one, which also reads the tab after a list item
    that one post has)."""
    folder = CORPUS_18F / "content" / "posts"
    out = {}
    for path in sorted(folder.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        head, _ = frontmatter.YAMLHandler().split(text)
        try:
            out[path.name] = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        except yaml.YAMLError:
            continue
    return out


@pytest.fixture(scope="module")
def db_18f(tmp_path_factory):
    db = tmp_path_factory.mktemp("18f") / "18f.db"
    build(CORPUS_18F / "content" / "posts", db, quiet=True)
    return db


def test_18f_authors_and_tags_are_those_the_frontmatter_lists(db_18f):
    metas = _frontmatter_of_18f()
    assert len(metas) == 509
    with_authors = {name for name, meta in metas.items() if meta.get("authors")}
    assert len(with_authors) == 509
    built = {path: (_as_list(authors), _as_list(tags))
             for path, authors, tags in rows(db_18f, "SELECT path, authors, tags FROM posts")}
    assert {path for path, (authors, _) in built.items() if authors} >= with_authors
    tag_counts: dict[str, int] = {}
    for name, meta in metas.items():
        authors = meta.get("authors") or []
        assert built[name][0] == [str(a) for a in authors], name
        tags = list(dict.fromkeys(normalize_name(str(t)) for t in meta.get("tags") or []))
        assert built[name][1] == tags, name
        for tag in tags:
            tag_counts[tag] = tag_counts.get(tag, 0) + 1
    assert len(tag_counts) >= 100
    by_tag = dict(rows(db_18f, "SELECT tag, count(*) FROM post_tags WHERE field = 'tags' GROUP BY tag"))
    assert by_tag == tag_counts
    # Every author of the authors table is someone's, and post_authors holds as many rows as the lists.
    assert rows(db_18f, "SELECT count(*) FROM authors WHERE name NOT IN (SELECT author FROM post_authors)") == [(0,)]
    assert rows(db_18f, "SELECT count(*) FROM post_authors") == [(sum(len(set(m.get("authors") or [])) for m in metas.values()),)]


def test_incremental_equals_full_when_authors_and_tags_change(tmp_path):
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    write_posts(posts, PLANTED)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    later = time.time() + 5

    def rewrite(name, old, new):
        path = posts / name
        path.write_text(path.read_text().replace(old, new))
        os.utime(path, (later, later))

    rewrite("text.md", "By Ana Ruiz and Tom Lee", "Tom Lee, Zoe Quinn")  # order changes, a new author
    rewrite("text.md", "tags: Harbour, Ferries", "tags: [ferries, storms]")
    rewrite("toml.md", 'authors = ["Tom Lee"]', 'authors = ["Ana Ruiz"]')
    # Kim Park goes with the two posts that name her; Lu Chen stays, byline's contributor.
    (posts / "mapping.md").unlink()
    (posts / "mappings.md").unlink()
    second = build(posts, db, quiet=True)
    assert (second.updated, second.removed) == (2, 2)
    full = tmp_path / "full.db"
    build(posts, full, full=True, quiet=True)
    assert dump(db) == dump(full)
    assert rows(db, "SELECT name FROM authors WHERE name IN ('Kim Park', 'Zoe Quinn', 'Lu Chen') ORDER BY 1") == [
        ("Lu Chen",), ("Zoe Quinn",)]
    assert rows(db, "SELECT authors, tags FROM posts WHERE id = 'text'") == [('["Tom Lee", "Zoe Quinn"]', '["ferries", "storms"]')]
    assert rows(db, "SELECT count(*) FROM tags WHERE name = 'storms'") == [(1,)]
