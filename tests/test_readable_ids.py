"""Ids a person and a program can read, through Datasette's own client: lookups keyed
by their text (facet chips and "where" lines read as words), every integer id below
2^53 (what JavaScript's Number holds exactly), and the author and tag facets and
queries of the posts page held to the frontmatter."""
from __future__ import annotations

import html
import re
import sqlite3
from urllib.parse import urlencode

import pytest

from newsarchive.build.pipeline import build
from newsarchive.db.schema import TABLES, VIEWS
from newsarchive.parse.fields import normalize_name
from newsarchive.serve import datasette_app

from .conftest import CORPUS_18F, DATASETTE_1, close_app, get
from .test_authors_and_tags import _frontmatter_of_18f

JS_SAFE = 2**53
LOOKUPS = {"categories": "name", "languages": "code", "credits": "name", "tags": "name", "authors": "name"}


@pytest.fixture(scope="module")
def site(sample_db):
    """The sample's Datasette as served, and its database read directly."""
    app, conn = datasette_app(sample_db), sqlite3.connect(sample_db)
    yield app, conn
    conn.close()
    close_app(app)


@pytest.fixture
def ds(site):
    return site[0]


@pytest.fixture
def db(site):
    return site[1]


def facets(ds, path: str) -> dict:
    """Facet name -> [(value, label, count)] of a table page's JSON."""
    data = get(ds, path + ("&_extra=facet_results" if DATASETTE_1 else "")).json()
    results = data["facet_results"]["results"] if DATASETTE_1 else data["facet_results"]
    return {name: [(r["value"], r["label"], r["count"]) for r in facet["results"]] for name, facet in results.items()}


def test_lookups_are_keyed_by_their_text(db):
    for table, key in LOOKUPS.items():
        columns = {name: (kind, pk) for _, name, kind, _, _, pk in db.execute(f"pragma table_info([{table}])")}
        assert columns == {key: ("TEXT", 1)}, table
    referring = {(table, column): (other, other_column)
                 for table in ("posts", "captions", "post_tags", "post_authors")
                 for _, _, other, column, other_column, *_ in db.execute(f"pragma foreign_key_list([{table}])")}
    assert {k: v for k, v in referring.items() if v[0] in LOOKUPS} == {
        ("posts", "category"): ("categories", "name"), ("posts", "language"): ("languages", "code"),
        ("captions", "credit"): ("credits", "name"), ("post_tags", "tag"): ("tags", "name"),
        ("post_authors", "author"): ("authors", "name"),
    }


@pytest.mark.parametrize("table", [t.name for t in TABLES if not t.name.startswith("_")] + list(VIEWS))
def test_every_id_in_the_json_of_every_table_is_exact_in_javascript(ds, db, table):
    (count,) = db.execute(f"select count(*) from [{table}]").fetchone()
    found = get(ds, f"/news/{table}.json?_shape=array&_size=max").json()
    assert len(found) == min(count, 1000), table
    assert found or table in ("build_errors", "current_errors"), table  # the sample builds without a problem
    ids = [value for row in found for column, value in row.items()
           if (column == "id" or column.endswith("_id")) and isinstance(value, int)]
    assert all(0 <= value < JS_SAFE for value in ids), table
    if table in ("images", "captions", "post_images"):
        # Hashes spread over the whole range: most need more than 32 bits.
        assert max(ids) > 2**40


def test_facet_chips_and_the_where_line_read_as_words(ds, db):
    found = facets(ds, "/news/posts.json?_facet=category&_facet=language&_facet_array=authors&_facet_array=tags&_size=0")
    for name in ("category", "language", "authors", "tags"):
        assert found[name], name
        for value, label, _ in found[name]:
            assert value == label and isinstance(value, str) and re.search(r"[^\W\d_]", value), (name, value)
    expected = dict(db.execute("select category, count(*) from posts where category is not null group by 1"))
    assert {value: count for value, _, count in found["category"]} == expected
    page = get(ds, "/news/posts?category=world")
    assert page.status_code == 200
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
    (world,) = db.execute("select count(*) from posts where category = 'world'").fetchone()
    assert re.search(rf'\b{world} rows? where category = "world"', text), text[:2000]
    # Each row's category links to the category's own row, by its word.
    assert '<a href="/news/categories/world">world</a>' in page.text
    assert get(ds, "/news/categories/world.json?_shape=array").json() == [{"name": "world"}]


def test_posts_by_author_and_by_tag(ds, db):
    (author,) = db.execute("select author from post_authors group by 1 order by count(*) desc limit 1").fetchone()
    (tag,) = db.execute("select tag from post_tags group by 1 order by count(*) desc limit 1").fetchone()
    for query, parameter, sql in (
        ("posts_by_author", {"author": author}, "select post_id from post_authors where author = ?"),
        ("posts_by_tag", {"tag": tag}, "select post_id from post_tags where tag = ?"),
    ):
        value = next(iter(parameter.values()))
        expected = [r[0] for r in db.execute(
            f"select id from posts where id in ({sql}) order by published_at desc, id", [value])]
        got = get(ds, f"/news/{query}.json?_shape=array&" + urlencode(parameter)).json()
        assert [r["post_id"] for r in got] == expected and expected, query
        assert set(got[0]) >= {"post_id", "title", "published_at"}


@pytest.fixture(scope="module")
def ds_18f(tmp_path_factory):
    db = tmp_path_factory.mktemp("18f") / "news.db"
    build(CORPUS_18F / "content" / "posts", db, quiet=True)
    app = datasette_app(db)
    yield app
    close_app(app)


def test_18f_tag_and_author_facets_count_what_the_frontmatter_says(ds_18f):
    metas = _frontmatter_of_18f().values()
    tags: dict[str, int] = {}
    authors: dict[str, int] = {}
    for meta in metas:
        for tag in dict.fromkeys(normalize_name(str(t)) for t in meta.get("tags") or []):
            tags[tag] = tags.get(tag, 0) + 1
        for author in dict.fromkeys(str(a) for a in meta.get("authors") or []):
            authors[author] = authors.get(author, 0) + 1
    found = facets(ds_18f, "/news/posts.json?_facet_array=tags&_facet_array=authors&_facet_size=max&_size=0")
    assert {value: count for value, _, count in found["tags"]} == tags
    assert {value: count for value, _, count in found["authors"]} == authors
    tag, count = max(tags.items(), key=lambda item: item[1])
    rows = get(ds_18f, "/news/posts.json?_shape=array&_size=max&" + urlencode({"tags__arraycontains": tag})).json()
    assert len(rows) == count
