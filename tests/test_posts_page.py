"""The posts page a researcher reads, through Datasette's own test client (0.65 and 1.0):
the reading columns and the way to all of them, cells that link, facets in order, every
column menu item answering, the database page's order. Layout is measured in Chromium
(tests/browser/test_posts_page.py)."""
from __future__ import annotations

import csv
import html as html_lib
import io
import re
import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from markupsafe import escape

from newsarchive import config
from newsarchive.build.pipeline import build
from newsarchive.site.columns import CHOSEN, arguments, table_path, with_reading_columns, with_sort_column
from newsarchive.site.facets import array_counted_in_place, in_date_order

from .conftest import CORPUS_18F, DATASETTE_1, close_app, get

POSTS = config.load()["databases"]["news"]["tables"]["posts"]
READING = POSTS["plugins"]["news-archive"]["default_columns"]
_TH = re.compile(r'<th [^>]*\bdata-column="([^"]+)"')


@pytest.fixture(scope="module", params=["sample", "18f"])
def site(request, sample_db, tmp_path_factory):
    """(Datasette app, read-only connection) for the sample and for the 18F blog."""
    if request.param == "sample":
        db_path = sample_db
    else:
        if not CORPUS_18F.exists():
            pytest.skip(f"real corpus not found at {CORPUS_18F}")
        db_path = tmp_path_factory.mktemp("posts-page-18f") / "news.db"
        build(CORPUS_18F, db_path, quiet=True)
    from newsarchive.serve import datasette_app

    app = datasette_app(db_path)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield app, conn
    conn.close()
    close_app(app)


def ok(ds, path):
    """GET a path (or a URL Datasette drew, http://localhost/...) and expect 200."""
    split = urlsplit(path)
    path = split.path + ("?" + split.query if split.query else "")
    response = get(ds, path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return response


def shown_columns(page: str) -> list[str]:
    return _TH.findall(page)


def table_columns(db, table) -> list[str]:
    return [r[1] for r in db.execute(f"pragma table_info([{table}])")]


def links(page: str, css_class: str) -> dict[str, str]:
    """Link text -> href of the links in the page's paragraph of that class."""
    block = re.search(rf'<p class="{css_class}">(.*?)</p>', page, re.DOTALL)
    assert block, f"no <p class={css_class}>"
    return {html_lib.unescape(text): html_lib.unescape(href)
            for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', block.group(1))}


# --------------------------------------------------------------------------- columns


def test_the_posts_page_shows_the_reading_columns_and_links_to_all(site):
    ds, db = site
    page = ok(ds, "/news/posts").text
    assert shown_columns(page) == ["id", *READING]
    everything = table_columns(db, "posts")
    assert {"sha256", "frontmatter", "body", "extra", "path"} <= set(everything) - set(READING)
    choices = links(page, "news-columns")
    assert set(choices) == {"the reading set", f"all {len(everything)} columns"}
    assert shown_columns(ok(ds, choices[f"all {len(everything)} columns"]).text) == everything
    assert shown_columns(ok(ds, choices["the reading set"]).text) == ["id", *READING]
    # One `_col` away: a column picked by name.
    assert shown_columns(ok(ds, "/news/posts?_col=title&_col=sha256").text) == ["id", "title", "sha256", "published_at"]
    # The links Datasette draws keep the reading columns (sort, facets, next page).
    nxt = re.search(r'<a href="([^"]+)">Next page</a>', page) or re.search(r'href="([^"]*_next=[^"]*)"', page)
    if nxt:
        assert shown_columns(ok(ds, html_lib.unescape(nxt.group(1))).text) == ["id", *READING]


def test_json_and_csv_keep_every_column(site):
    ds, db = site
    everything = table_columns(db, "posts")
    data = ok(ds, "/news/posts.json?_size=2&_shape=objects").json()
    assert list(data["rows"][0]) == everything
    text = ok(ds, "/news/posts.csv?_size=2").text
    assert next(csv.reader(io.StringIO(text))) == everything


def test_descriptions_are_folded_away_from_the_rows(site):
    ds, _ = site
    page = ok(ds, "/news/posts").text
    about = re.search(r'<details class="news-about-table">(.*?)</details>', page, re.DOTALL)
    assert about and "<summary>About this table and its columns</summary>" in about.group(1)
    assert POSTS["description"].split()[0] in about.group(1)
    described = re.findall(r"<dt>([^<]+)</dt>", about.group(1))
    assert sorted(described) == sorted(POSTS["columns"])  # 1.0 lists them alphabetically
    assert page.count('class="column-descriptions"') == 1  # only the folded one
    # The column menu still has each column's description.
    assert 'data-column-description="' in page


def test_cells_link_to_the_post_and_to_its_authors_and_tags(site):
    ds, db = site
    page = ok(ds, "/news/posts?_size=50").text
    body = page.split("<tbody>", 1)[1]
    for row in db.execute("select id, title, body_text, authors, tags from posts order by published_at desc, id desc limit 50"):
        url = ds.urls.row("news", "posts", _tilde(row["id"]))
        assert f'<a href="{url}">{escape(row["title"])}</a>' in body
    openings = [html_lib.unescape(re.sub("<[^>]+>", "", c)) for c in re.findall(r'<td class="col-body_text[^"]*">(.*?)</td>', body, re.DOTALL)]
    assert openings and all(len(c) <= 201 and "\n" not in c for c in openings)
    author_links = re.findall(r'href="([^"]*authors__arraycontains=[^"]*)"', body)
    tag_links = re.findall(r'href="([^"]*tags__arraycontains=[^"]*)"', body)
    if db.execute("select count(*) from posts where authors is not null").fetchone()[0]:
        assert author_links
    assert tag_links
    for href in (author_links[:1] + tag_links[:1]):
        column, name = next((k.split("__")[0], v) for k, v in parse_qsl(urlsplit(html_lib.unescape(href)).query))
        data = ok(ds, f"/news/posts.json?_shape=array&_size=max&_col={column}&{column}__arraycontains={_quote(name)}").json()
        (expected,) = db.execute(f"select count(*) from posts, json_each(posts.{column}) j where j.value = ?", [name]).fetchone()
        assert len(data) == expected > 0


def test_every_post_id_links_to_its_post(site):
    ds, db = site
    (post_id,) = db.execute("select post_id from post_images order by post_id limit 1").fetchone() or (None,)
    pages = ["/news/photos", "/news/post_images", "/news/links", "/news/post_tags", "/news/post_authors",
             "/news?" + urlencode({"sql": "select post_id, target_post_id from links where target_post_id is not null"})]
    for path in pages:
        page = ok(ds, path).text
        cells = re.findall(r'<td class="col-(?:target_)?post_id[^"]*">(.*?)</td>', page, re.DOTALL)
        filled = [c for c in cells if c.strip() not in ("", "&nbsp;")]
        if not filled:
            continue
        assert all(re.match(r'<a href="/news/posts/[^"]+">', c) for c in filled), (path, filled[:2])
    if post_id is not None:
        (credit,) = db.execute("select credit from captions where credit is not null limit 1").fetchone() or (None,)
        if credit:
            page = ok(ds, "/news/photos_by_credit?" + urlencode({"credit": credit})).text
            assert re.search(r'<td class="col-post_id[^"]*"><a href="/news/posts/', page)


# --------------------------------------------------------------------------- facets


def _facets(ds, path):
    extra = "&_extra=facet_results" if DATASETTE_1 else ""
    data = ok(ds, path + extra).json()
    facets = data["facet_results"]
    return facets["results"] if DATASETTE_1 else facets


def test_month_facets_list_months_newest_first(site):
    ds, db = site
    months = [r[0] for r in db.execute(
        "select distinct published_month from posts where published_month is not null order by 1 desc")]
    facet = _facets(ds, "/news/posts.json?_size=1")["published_month"]
    assert [r["value"] for r in facet["results"]] == months[:POSTS["facet_size"]]
    everything = _facets(ds, "/news/posts.json?_size=1&_facet_size=max")["published_month"]
    assert [r["value"] for r in everything["results"]] == months
    counts = dict(db.execute("select published_month, count(*) from posts group by 1").fetchall())
    assert all(r["count"] == counts[r["value"]] for r in everything["results"])
    # A date facet of any column is a timeline too.
    days = _facets(ds, "/news/posts.json?_size=1&_facet_date=published_at&_facet_size=max")["published_at"]
    values = [r["value"] for r in days["results"]]
    assert values == sorted(values, reverse=True) and len(values) > 1
    # Other facets stay by count.
    tags = [r["count"] for r in _facets(ds, "/news/posts.json?_size=1")["tags"]["results"]]
    assert tags == sorted(tags, reverse=True)


@pytest.mark.parametrize("column", ["authors", "tags"])
def test_author_and_tag_facets_count_posts(site, column):
    ds, db = site
    expected = dict(db.execute(
        f"select j.value, count(distinct posts.id) from posts, json_each(posts.{column}) j group by j.value").fetchall())
    facet = _facets(ds, f"/news/posts.json?_size=1&_facet_size=max")[column]
    assert facet["type"] == "array"
    assert {r["value"]: r["count"] for r in facet["results"]} == expected
    counts = [r["count"] for r in facet["results"]]
    assert counts == sorted(counts, reverse=True)
    # Within a filter too: the facet counts the filtered posts.
    first = facet["results"][0]["value"]
    filtered = _facets(ds, f"/news/posts.json?_size=1&{column}__arraycontains={_quote(first)}")[column]
    assert {r["value"]: r["count"] for r in filtered["results"]}[first] == expected[first]


def test_array_facet_query_counts_what_datasettes_counts(site):
    """The rewritten array facet query against Datasette's own, on the real data."""
    from datasette.facets import ArrayFacet

    _, db = site
    inner = "select * from posts where published_month >= '2015'"
    original = _array_facet_sql(ArrayFacet, inner, "tags", 1000)
    rewritten = array_counted_in_place(original)
    assert rewritten != original
    assert db.execute(rewritten).fetchall() == db.execute(original).fetchall()


def test_facet_sql_rewrites_touch_only_their_queries():
    column_facet = ("\n    select published_month as value, count(*) as count from (\n        select * from posts\n    )\n"
                    "    where published_month is not null\n    group by published_month order by count desc, value limit 9\n")
    assert in_date_order(column_facet, {"published_month"}).rstrip().endswith("order by value desc limit 9")
    assert in_date_order(column_facet, {"other"}) == column_facet
    date_facet = column_facet.replace("select published_month as", "select date(published_at) as")
    assert in_date_order(date_facet, ()).rstrip().endswith("order by value desc limit 9")
    for sql in ("select 1", "select published_month as value from posts order by count desc, value limit 3"):
        assert in_date_order(sql, {"published_month"}) == sql
        assert array_counted_in_place(sql) == sql


# --------------------------------------------------------------------------- column menus


def menu_urls(path: str, columns: list[str], pks: set[str]) -> dict[str, str]:
    """Every column menu item's URL for a page, as Datasette's table.js builds them."""
    split = urlsplit(path)
    base = parse_qsl(split.query, keep_blank_values=True)

    def url(pairs):
        return split.path + ("?" + urlencode(pairs) if pairs else "")

    def without(pairs, *names):
        return [(k, v) for k, v in pairs if k not in names]

    out = {}
    for column in columns:
        out[f"{column}: sort ascending"] = url([*without(base, "_sort", "_sort_desc", "_next"), ("_sort", column)])
        out[f"{column}: sort descending"] = url([*without(base, "_sort", "_sort_desc", "_next"), ("_sort_desc", column)])
        out[f"{column}: facet by this"] = url([*base, ("_facet", column)])
        if column not in pks:
            out[f"{column}: hide this column"] = url([*base, ("_nocol", column)])
        out[f"{column}: show not-blank rows"] = url([*without(base, f"{column}__notblank"), (f"{column}__notblank", "1")])
    out["show all columns"] = url(without(base, "_col", "_nocol"))
    return out


@pytest.mark.parametrize("table, pks", [("posts", {"id"}), ("captions", {"id"}), ("photos", set())])
def test_every_column_menu_item_answers(site, table, pks):
    ds, _ = site
    first = ok(ds, f"/news/{table}").text
    starts = [f"/news/{table}"]
    # A page reached by a click carries its columns as `_col` (the sort links do).
    sort_link = re.search(r'<th [^>]*>\s*<a href="([^"]+)"', first)
    if sort_link:
        starts.append(html_lib.unescape(sort_link.group(1)))
    starts.append(f"/news/{table}?{CHOSEN}=all")
    for start in starts:
        columns = shown_columns(ok(ds, start).text)
        for item, url in menu_urls(start, columns, pks).items():
            response = get(ds, url)
            assert response.status_code == 200, f"{start} -> {item}: {url} answered {response.status_code}"


@pytest.mark.parametrize("path", [
    "/news/posts?_nocol=published_at",
    "/news/posts.json?_col=category&_labels=on",
    "/news/posts.json?_col=language&_labels=on&_sort=word_count",
    "/news/posts?_col=category&_sort_desc=word_count",
    "/news/posts?_col=title&_col=category&_sort=title&_nocol=title",
    "/news/captions?_nocol=credit&_sort=credit",
])
def test_hiding_the_sort_column_answers(site, path):
    """Datasette's own 500 (KeyError on the sort column) when a page hides it."""
    ds, _ = site
    response = ok(ds, path)
    sort = next((v for k, v in parse_qsl(urlsplit(path).query) if k in ("_sort", "_sort_desc")), "published_at")
    if path.split("?")[0].endswith(".json"):
        data = response.json()
        shown = data["columns"] if "columns" in data else list(data["rows"][0])
    else:
        shown = shown_columns(response.text)
    assert sort in shown


def test_the_column_rules_alone():
    args = arguments(b"_nocol=published_at&category=world")
    assert [(a.name, a.value) for a in with_sort_column(args, "published_at", ["id", "published_at", "category"])] == [
        ("category", "world")]
    args = arguments(b"_col=title")
    assert [a.raw for a in with_sort_column(args, "word_count", ["title", "word_count"])] == ["_col=title", "_col=word_count"]
    assert with_sort_column(arguments(b"_sort=x"), "x", ["x"]) == arguments(b"_sort=x")
    assert with_reading_columns(arguments(b"_col=a"), ["b"]) == arguments(b"_col=a")
    assert with_reading_columns(arguments(f"{CHOSEN}=all".encode()), ["b"]) == arguments(f"{CHOSEN}=all".encode())
    assert [a.raw for a in with_reading_columns(arguments(b"q=%C3%A9"), ["b c"])] == ["q=%C3%A9", "_col=b+c", f"{CHOSEN}=all"]
    assert table_path("/news/posts.json") == ("news", "posts", "json")
    assert table_path("/news/posts") == ("news", "posts", None)
    assert table_path("/news/posts/ART1") is None and table_path("/news") is None


# --------------------------------------------------------------------------- the database page


def test_database_page_lists_posts_first_and_bookkeeping_last(site):
    ds, _ = site
    page = ok(ds, "/news").text
    listed = re.findall(r'<div class="db-table">\s*<h3><a href="/news/([^"]+)">', page)
    assert listed[0] == "posts" and listed[-2:] == ["build_errors", "builds"]
    assert re.search(r'<textarea id="sql-editor" name="sql">select \* from posts</textarea>', page)
    examples = links(page, "news-examples")
    assert len(examples) >= 3
    for title, href in examples.items():
        assert len(get(ds, href).text) and "<tbody>" in ok(ds, href).text, title


# --------------------------------------------------------------------------- helpers


def _tilde(value: str) -> str:
    from datasette.utils import tilde_encode

    return tilde_encode(value)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _array_facet_sql(facet_class, inner: str, column: str, limit: int) -> str:
    """The query ArrayFacet builds, taken from its source (the same on 0.65 and 1.0)."""
    import inspect

    source = inspect.getsource(facet_class.facet_results)
    template = re.search(r'facet_sql = f?"""(.*?)"""', source, re.DOTALL).group(1)
    return (template.replace("{self.sql}", inner).replace("{sql}", inner)
            .replace("{escape_sqlite(column)}", column).replace("{col}", column)
            .replace("{facet_size + 1}", str(limit)).replace("{limit}", str(limit)))
