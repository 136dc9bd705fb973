"""Search a researcher can trust: the search page (/news/search, .json, .csv) and the
posts table's search box, held to answers worked out in Python from the posts as
written (which posts hold a planted word, in what order, under which filter), never
from the full-text index they are testing."""
from __future__ import annotations

import csv
import datetime
import io
import re
import sqlite3
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from newsarchive.site.search import SearchSyntaxError, fts_query, read_search
from newsarchive.site import search_page
from newsarchive.site.search_page import page_numbers
from newsarchive.site.search_query import Filters, SearchRequestError, date_bounds, read_request
from newsarchive.site.search_rank import rank_sql, relevance_request

from .conftest import DATASETTE_1, EDITOR, build_planted, get

# ------------------------------------------------------------------ the planted posts

COUNT = 57
AUTHORS = {0: ["Ann Lee"], 1: ["Bo Chen", "Ann Lee"], 2: []}
CATEGORIES = ("local", "world", "sport")
UNDATED = {5, 38}
FILLER = ("The council met on Tuesday to discuss the budget for the coming year. "
          "Residents asked about the roads and the school, and the meeting ran late. ")


@dataclass(frozen=True)
class Planted:
    """One planted post as written: what the ground truth is computed from."""

    id: str
    title: str
    body: str
    published_at: str | None
    category: str
    language: str
    authors: tuple[str, ...]

    @property
    def words(self) -> list[str]:
        return re.findall(r"\w+", f"{self.title}\n{self.body}".lower())

    def has(self, word: str) -> bool:
        return word in self.words

    def has_phrase(self, *phrase: str) -> bool:
        words = self.words
        return any(tuple(words[i:i + len(phrase)]) == phrase for i in range(len(words)))

    def has_prefix(self, prefix: str) -> bool:
        return any(w.startswith(prefix) for w in self.words)


def planted(i: int) -> Planted:
    words = []
    if i % 2 == 0:
        words.append("zephyrine")
    if i % 3 == 0:
        words.append("quillwort")
    if i % 5 == 0:
        words.append("an amber lantern")
    if i % 5 == 1:
        words.append("the lantern glows amber")
    if i % 7 == 0:
        words.append("vorpalblade")
    if i % 7 == 3:
        words.append("vorpalsword")
    if i % 4 == 0:  # six times in every eighth post, once in the others of the four
        words.append(" ".join(["rankword"] * (6 if i % 8 == 0 else 1)))
    moment = datetime.datetime(2022, 1, 1, 8) + datetime.timedelta(days=20 * i, minutes=i)
    return Planted(
        id=f"PLANT{i:03d}", title=f"Planted post number {i}",
        body=FILLER + " ".join(words) + ".\n\n" + FILLER,
        published_at=None if i in UNDATED else moment.strftime("%Y-%m-%dT%H:%M:00.000Z"),
        category=CATEGORIES[(i // 2) % 3], language="de" if i % 4 == 1 else "en",
        authors=tuple(AUTHORS[i % 3]),
    )


POSTS = [planted(i) for i in range(COUNT)]


def markdown(post: Planted) -> str:
    lines = ["---", f'code: "{post.id}"', f'title: "{post.title}"', f'category: "{post.category}"',
             f'language: "{post.language}"']
    if post.published_at:
        lines.append(f"date: {post.published_at}")
    if post.authors:
        lines.append("authors: [" + ", ".join(f'"{a}"' for a in post.authors) + "]")
    return "\n".join([*lines, "---", "", post.body])


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory):
    return build_planted(tmp_path_factory.mktemp("planted"), {f"plant-{p.id.lower()}.md": markdown(p) for p in POSTS})


def by_date(posts):
    """Newest first, then id; undated posts last: the order `sort=date` promises."""
    ordered = sorted(posts, key=lambda p: p.id)
    ordered.sort(key=lambda p: p.published_at or "", reverse=True)
    return [p for p in ordered if p.published_at] + [p for p in ordered if not p.published_at]


def ids(posts) -> list[str]:
    return [p.id for p in posts]


def search_json(ds, **params) -> dict:
    response = get(ds, "/news/search.json?" + urlencode(params))
    assert response.status_code == 200, response.text
    return response.json()


def every_page(ds, **params) -> tuple[list[dict], list[dict]]:
    """Each page's JSON, following next_url from the first to the last, and their rows."""
    pages = [search_json(ds, **params)]
    while pages[-1]["next_url"]:
        url = urlsplit(pages[-1]["next_url"])
        response = get(ds, f"{url.path}?{url.query}")
        assert response.status_code == 200
        pages.append(response.json())
    return pages, [row for page in pages for row in page["rows"]]


# ------------------------------------------------------------------ reading a search


@pytest.mark.parametrize("typed, fts", [
    ("harbour fisheries", '"harbour" "fisheries"'),
    ("harbour OR fisheries", '"harbour" OR "fisheries"'),
    ("harbour AND fisheries", '"harbour" "fisheries"'),
    ("harbour NOT ferry", '"harbour" NOT "ferry"'),
    ("harbour -ferry", '"harbour" NOT "ferry"'),
    ("-ferry harbour", '"harbour" NOT "ferry"'),
    ("a NOT b NOT c", '"a" NOT ("b" OR "c")'),
    ('"harbour festival"', '"harbour festival"'),
    ('"harbour fest"*', '"harbour fest"*'),
    ("harb*", '"harb"*'),
    ("a b OR c", '("a" "b") OR "c"'),
    ("a (b OR c)", '"a" AND ("b" OR "c")'),
    ("(a OR b) NOT (c d)", '("a" OR "b") NOT ("c" "d")'),
    # FTS5's own syntax is never reached: column filters, NEAR, ^ and quotes are text.
    ("title:harbour", '"title:harbour"'),
    ("NEAR(a b)", '"NEAR" AND ("a" "b")'),
    ("^harbour", '"^harbour"'),
    ('say "it""s"', '"say" "it" "s"'),
    ("US-China", '"US-China"'),
])
def test_a_search_is_read_as_documented(typed, fts):
    assert read_search(typed).fts == fts


@pytest.mark.parametrize("typed, says", [
    ('"harbour festival', "quote mark is not closed"),
    ("(harbour OR port", "( is not closed"),
    ("harbour)", ") has no opening"),
    ("harbour OR", "OR needs a word after it"),
    ("OR harbour", "OR needs a word before it"),
    ("harbour AND", "AND needs a word after it"),
    ("harbour NOT", "NOT needs a word after it"),
    ("NOT ferry", "only leaves posts out"),
    ("-ferry", "only leaves posts out"),
    ("harbour ()", "Brackets need words"),
    ("(" * 20 + "a" + ")" * 20, "nest at most"),
    (" ".join(["word"] * 40), "at most 32 words"),
])
def test_a_search_that_cannot_be_read_says_how_to_write_it(typed, says):
    with pytest.raises(SearchSyntaxError, match=re.escape(says)):
        read_search(typed)


@pytest.mark.parametrize("typed", ["", "   ", "-", "*", "…", "\u0e49", "\u200b"])
def test_nothing_to_search_for_is_no_search(typed):
    assert read_search(typed).fts is None and fts_query(typed) == '""'


def test_operators_in_lower_case_are_words_and_the_reader_is_told():
    search = read_search("harbour or fisheries")
    assert search.fts == '"harbour" "or" "fisheries"'
    assert search.notes == ("“or” is searched as a word: write OR in capitals for the operator.",)


@pytest.mark.parametrize("date_from, date_to, bounds", [
    ("2024", "2024", ("2024-01-01", "2025-01-01")),
    ("2024-02", "2024-02", ("2024-02-01", "2024-03-01")),
    ("2023-12", "2024-02-29", ("2023-12-01", "2024-03-01")),
    ("", "2024-12", (None, "2025-01-01")),
    ("2024-10-31", "", ("2024-10-31", None)),
])
def test_date_filters_include_their_whole_period(date_from, date_to, bounds):
    assert date_bounds(Filters(date_from=date_from, date_to=date_to)) == bounds


@pytest.mark.parametrize("args, says", [
    ({"sort": "newest"}, "sort is relevance"),
    ({"from": "2024-13"}, "from is a date"),
    ({"to": "2023-02-29"}, "to is a date"),
    ({"from": "24"}, "from is a date"),
    ({"from": "2025", "to": "2024"}, "is after to"),
    ({"page": "0"}, "page is a whole number"),
    ({"page": "x"}, "page is a whole number"),
    ({"size": "1001"}, "up to 1,000"),
])
def test_a_parameter_that_cannot_be_read_is_named(args, says):
    with pytest.raises(SearchRequestError, match=re.escape(says)):
        read_request(args, 1000)


def test_the_pager_shows_the_ends_and_the_neighbours():
    assert page_numbers(1, 1) == [1]
    assert page_numbers(1, 4) == [1, 2, 3, 4]
    assert page_numbers(6, 20) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert page_numbers(20, 20) == [1, None, 18, 19, 20]


# ------------------------------------------------------------------ the search page


def test_the_total_is_every_match_and_the_pages_hold_each_once(ds):
    expected = [p for p in POSTS if p.has("zephyrine")]
    pages, rows = every_page(ds, q="zephyrine", size=7)
    assert len(expected) == 29
    assert [page["total"] for page in pages] == [29] * 5 and pages[0]["pages"] == 5
    assert [len(page["rows"]) for page in pages] == [7, 7, 7, 7, 1]
    assert [r["position"] for r in rows] == list(range(1, 30))
    assert sorted(r["id"] for r in rows) == sorted(ids(expected))
    past = search_json(ds, q="zephyrine", size=7, page=6)
    assert past["rows"] == [] and past["total"] == 29 and past["next_url"] is None


def test_sort_by_date_is_newest_first_with_undated_posts_last(ds):
    expected = by_date(p for p in POSTS if p.has("zephyrine") or p.has("quillwort"))
    assert any(p.published_at is None for p in expected)
    _, rows = every_page(ds, q="zephyrine OR quillwort", sort="date", size=10)
    assert [r["id"] for r in rows] == ids(expected)
    assert [r["published_at"] for r in rows] == [p.published_at for p in expected]


def test_relevance_puts_the_posts_that_say_it_most_first(ds, planted_db):
    _, rows = every_page(ds, q="rankword", size=4)
    often = {p.id for p in POSTS if p.has("rankword") and p.words.count("rankword") == 6}
    once = {p.id for p in POSTS if p.has("rankword") and p.words.count("rankword") == 1}
    assert len(often) == 8 and len(once) == 7
    assert [r["id"] for r in rows[:len(often)]] and {r["id"] for r in rows[:len(often)]} == often
    assert {r["id"] for r in rows[len(often):]} == once
    conn = sqlite3.connect(planted_db)
    rank = dict(conn.execute("select posts.id, posts_fts.rank from posts_fts join posts on posts.rowid = posts_fts.rowid"
                             " where posts_fts match 'rankword'"))
    conn.close()
    scores = [rank[r["id"]] for r in rows]
    assert scores == sorted(scores)


@pytest.mark.parametrize("q, expected", [
    ("zephyrine quillwort", lambda p: p.has("zephyrine") and p.has("quillwort")),
    ("zephyrine OR quillwort", lambda p: p.has("zephyrine") or p.has("quillwort")),
    ("zephyrine NOT quillwort", lambda p: p.has("zephyrine") and not p.has("quillwort")),
    ("zephyrine -quillwort", lambda p: p.has("zephyrine") and not p.has("quillwort")),
    ('"amber lantern"', lambda p: p.has_phrase("amber", "lantern")),
    ("amber lantern", lambda p: p.has("amber") and p.has("lantern")),
    ("vorpal*", lambda p: p.has_prefix("vorpal")),
    ("vorpal", lambda p: p.has("vorpal")),
    ("(vorpal* OR quillwort) NOT zephyrine",
     lambda p: (p.has_prefix("vorpal") or p.has("quillwort")) and not p.has("zephyrine")),
    ("quillwort zephyrine OR amber", lambda p: (p.has("quillwort") and p.has("zephyrine")) or p.has("amber")),
    ("zephyrine or quillwort", lambda p: False),  # lower-case `or` is a word no post has
])
def test_the_query_syntax_finds_what_it_documents(ds, q, expected):
    want = sorted(p.id for p in POSTS if expected(p))
    _, rows = every_page(ds, q=q, size=1000)
    assert sorted(r["id"] for r in rows) == want
    assert search_json(ds, q=q)["total"] == len(want)


FILTERS = [
    ({"from": "2023"}, lambda p: p.published_at and p.published_at >= "2023"),
    ({"to": "2022-06"}, lambda p: p.published_at and p.published_at < "2022-07"),
    ({"from": "2022-05-21", "to": "2023-03-07"},
     lambda p: p.published_at and "2022-05-21" <= p.published_at[:10] <= "2023-03-07"),
    ({"category": "world"}, lambda p: p.category == "world"),
    ({"language": "de"}, lambda p: p.language == "de"),
    ({"author": "Ann Lee"}, lambda p: "Ann Lee" in p.authors),
    ({"author": "Bo Chen", "category": "sport", "from": "2022-06"},
     lambda p: "Bo Chen" in p.authors and p.category == "sport" and p.published_at and p.published_at >= "2022-06"),
]


@pytest.mark.parametrize("sort", ["relevance", "date"])
@pytest.mark.parametrize("filters, keep", FILTERS)
def test_filters_keep_what_python_keeps(ds, filters, keep, sort):
    expected = [p for p in POSTS if (p.has("zephyrine") or p.has("quillwort")) and keep(p)]
    assert expected, filters
    pages, rows = every_page(ds, q="zephyrine OR quillwort", sort=sort, size=5, **filters)
    assert pages[0]["total"] == len(expected) and pages[0]["filters"] == filters
    assert sorted(r["id"] for r in rows) == sorted(ids(expected))
    if sort == "date":
        assert [r["id"] for r in rows] == ids(by_date(expected))


def test_each_result_links_to_its_post_and_says_what_it_is(ds):
    data = search_json(ds, q="vorpalblade")
    post = next(p for p in POSTS if p.id == data["rows"][0]["id"])
    row = data["rows"][0]
    assert row["url"] == f"http://localhost/news/posts/{post.id}"
    assert get(ds, urlsplit(row["url"]).path).status_code == 200
    assert (row["title"], row["published_at"], row["category"], row["language"], row["authors"]) == (
        post.title, post.published_at, post.category, post.language, list(post.authors))
    assert "vorpalblade" in row["snippet"]
    assert set(data) >= {"ok", "q", "fts_query", "sort", "filters", "total", "page", "pages", "size", "rows",
                         "next_url", "previous_url", "csv_url", "notes"}
    assert get(ds, "/news/search.json?q=vorpalblade&_shape=array").json() == data["rows"]


def test_the_page_counts_links_and_marks(ds):
    html = get(ds, "/news/search?q=zephyrine&size=10&page=2").text
    assert re.search(r"<strong>29</strong> posts match; showing 11–20, best match first", html)
    results = re.findall(r'<h2><a href="/news/posts/(PLANT\d+)">', html)
    _, rows = every_page(ds, q="zephyrine", size=10)
    assert results == [r["id"] for r in rows[10:20]]
    assert html.count("<mark>zephyrine</mark>") >= 10 and "\u27e6" not in html
    assert 'aria-current="page">2<' in html and 'rel="prev"' in html and 'rel="next"' in html
    assert 'href="/news/search.csv?q=zephyrine&amp;_dl=1"' in html


def test_the_csv_holds_every_match_with_plain_snippets(ds, monkeypatch):
    monkeypatch.setattr(search_page, "CSV_BATCH", 5)  # 38 rows: eight batches, the last of three
    response = get(ds, "/news/search.csv?q=zephyrine+OR+quillwort&sort=date&size=3")
    # Shown as text, as Datasette's CSV is; `_dl` makes it a file to save.
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain; charset=utf-8"
    download = get(ds, "/news/search.csv?q=zephyrine+OR+quillwort&sort=date&_dl=1")
    assert download.headers["content-type"] == "text/csv; charset=utf-8" and download.text == response.text
    assert download.headers["content-disposition"] == 'attachment; filename="search.csv"'
    rows = list(csv.DictReader(io.StringIO(response.text)))
    _, pages = every_page(ds, q="zephyrine OR quillwort", sort="date", size=3)
    assert [r["id"] for r in rows] == [r["id"] for r in pages] and len(rows) == 38
    assert list(rows[0]) == ["position", "id", "title", "url", "published_at", "category", "language", "authors",
                             "snippet"]
    assert all(r["snippet"] and "\u27e6" not in r["snippet"] and "\u27e7" not in r["snippet"] for r in rows)
    two = next(r for r in rows if r["id"] == "PLANT004")  # 4 % 3 == 1: two authors, in byline order
    assert two["authors"] == '["Bo Chen", "Ann Lee"]'


@pytest.mark.parametrize("q", ['"zephyrine', "(zephyrine", "zephyrine OR", "NOT zephyrine"])
def test_a_syntax_error_is_a_message_not_a_500(ds, q):
    message = None
    with pytest.raises(SearchSyntaxError) as raised:
        read_search(q)
    message = str(raised.value)
    response = get(ds, "/news/search.json?" + urlencode({"q": q}))
    assert response.status_code == 400 and response.json() == {"ok": False, "error": message, "status": 400}
    page = get(ds, "/news/search?" + urlencode({"q": q}))
    assert page.status_code == 400
    assert '<p class="message-error" role="alert">' in page.text and str(message).split(":")[0] in page.text
    assert 'value="' + q.replace('"', "&#34;") + '"' in page.text, "the form keeps what was typed"
    assert get(ds, "/news/search.csv?" + urlencode({"q": q})).status_code == 400


def test_a_bad_parameter_is_a_message_too(ds):
    response = get(ds, "/news/search.json?q=zephyrine&from=2024-13")
    assert response.status_code == 400 and "from is a date" in response.json()["error"]
    assert "from is a date" in get(ds, "/news/search?q=zephyrine&from=2024-13").text


def test_the_search_is_shown_to_whoever_may_see_the_posts(planted_db, restricted_app):
    """The search reads the posts table: a visitor the table refuses is refused the
    search in each format, the one it lets in gets every one."""
    app = restricted_app(planted_db, "posts")
    for path in ("/news/posts", "/news/search?q=zephyrine", "/news/search.json?q=zephyrine", "/news/search.csv?q=zephyrine"):
        assert (get(app, path).status_code, get(app, path, EDITOR).status_code) == (403, 200), path


@pytest.mark.parametrize("q", ["", "   ", "-", "*", "\u0e49", "\u200b", "title:zephyrine"])
def test_nothing_to_search_for_finds_nothing_without_an_error(ds, q):
    response = get(ds, "/news/search.json?" + urlencode({"q": q, "_shape": "array"}))
    assert response.status_code == 200 and response.json() == []
    assert get(ds, "/news/search?" + urlencode({"q": q})).status_code == 200


# ------------------------------------------------------------------ the sample and the 18F blog


def test_search_finds_a_thai_word_inside_a_sentence(sample_ds):
    """ผลไม้ (fruit) stands inside a run of Thai letters with no space around it; the
    search page, its JSON and a table's search box all find it, highlighted whole."""
    thai_post = "ART2410110130K7M37F"
    rows = get(sample_ds, "/news/search.json?_shape=array&q=ผลไม้").json()
    assert thai_post in [r["id"] for r in rows]
    snippet = next(r["snippet"] for r in rows if r["id"] == thai_post)
    assert "ผลไม้" in snippet and "\u27e6" not in snippet and "\u200b" not in snippet
    html = get(sample_ds, "/news/search?q=ผลไม้").text
    assert "<mark>ผลไม้</mark>" in html
    # Typed without spaces, two words are a phrase: found in this post, in this order only.
    assert thai_post in [r["id"] for r in get(sample_ds, "/news/search.json?_shape=array&q=ขายผลไม้").json()]
    assert thai_post not in [r["id"] for r in get(sample_ds, "/news/search.json?_shape=array&q=ผลไม้ขาย").json()]
    table = get(sample_ds, "/news/posts.json?_shape=array&_search=ขายผลไม้").json()
    assert [r["id"] for r in table] == [thai_post]


def test_harbour_or_fisheries_finds_posts_with_either(sample_ds, sample_db):
    conn = sqlite3.connect(sample_db)
    texts = {i: f"{t}\n{d}\n{b}".lower() for i, t, d, b in conn.execute(
        "select id, title, coalesce(description, ''), body_text from posts")}
    conn.close()

    def holds(text, stem):
        return re.search(rf"\b{stem}\w*", text) is not None

    either = {i for i, text in texts.items() if holds(text, "harbour") or holds(text, "fisher")}
    found = {r["id"] for r in get(sample_ds, "/news/search.json?_shape=array&size=100&q=harbour+OR+fisheries").json()}
    assert found == either and len(found) > len({i for i, t in texts.items() if holds(t, "harbour")})


def test_accessibility_on_the_18f_blog_pages_through_every_match(blog_ds):
    """The issue's example: 213 matches, of which the search page showed 100."""
    ds, db = blog_ds
    pages, rows = every_page(ds, q="accessibility", size=50)
    total = pages[0]["total"]
    assert total > 100 and len(pages) == -(-total // 50)
    assert len({r["id"] for r in rows}) == len(rows) == total
    conn = sqlite3.connect(db)
    texts = [f"{t}\n{d}\n{b}".lower() for t, d, b in conn.execute(
        "select title, coalesce(description, ''), body_text from posts")]
    conn.close()
    # "accessibility" is stemmed to "access": every post saying accessibility is found,
    # and nothing is found that says neither access nor a word built on it.
    assert sum("accessibility" in t for t in texts) <= total <= sum("access" in t for t in texts)
    csv_rows = list(csv.DictReader(io.StringIO(get(ds, "/news/search.csv?q=accessibility").text)))
    assert [r["id"] for r in csv_rows] == [r["id"] for r in rows]


# ------------------------------------------------------------------ the posts table's search box


def table_pages(ds, query: str) -> list[str]:
    """Every id of a posts table page and the ones after it, following Datasette's next_url."""
    shape = "" if DATASETTE_1 else "&_shape=objects"
    path, found = f"/news/posts.json?{query}{shape}", []
    while path:
        response = get(ds, path)
        assert response.status_code == 200, response.text
        data = response.json()
        found += [r["id"] for r in data["rows"]]
        nxt = data.get("next_url")
        path = f"{urlsplit(nxt).path}?{urlsplit(nxt).query}" if nxt else None
    return found


def test_the_table_search_box_orders_by_relevance_on_every_page(ds):
    _, rows = every_page(ds, q="zephyrine OR quillwort", size=1000)
    # Datasette's escaped search takes OR as a word: the box finds posts with every word.
    _, both = every_page(ds, q="zephyrine quillwort", size=1000)
    assert table_pages(ds, "_search=zephyrine+quillwort&_size=3") == [r["id"] for r in both]
    _, one = every_page(ds, q="zephyrine", size=1000)
    assert table_pages(ds, "_search=zephyrine&_size=4") == [r["id"] for r in one]
    assert len(rows) > len(one)


def test_a_sort_picked_for_a_table_search_is_kept(ds):
    expected = ids(by_date(p for p in POSTS if p.has("zephyrine")))
    assert table_pages(ds, "_search=zephyrine&_size=5&_sort_desc=published_at") == expected
    assert table_pages(ds, "_search=zephyrine&_size=5&_sort=id") == sorted(expected)


def test_a_search_sent_from_the_table_form_is_by_relevance(ds):
    """The form sends the sort it shows (the table's default, newest first) with the search."""
    _, one = every_page(ds, q="zephyrine", size=1000)
    form = "_search=zephyrine&_sort=published_at&_sort_by_desc=on&_filter_column=&_filter_op=exact&_filter_value="
    response = get(ds, f"/news/posts?{form}")
    assert response.status_code == 200 and "sorted by" not in response.text
    assert table_pages(ds, form + "&_size=6") == [r["id"] for r in one]
    picked = "_search=zephyrine&_sort=word_count&_filter_column=&_filter_op=exact&_filter_value="
    assert "sorted by word_count" in get(ds, f"/news/posts?{picked}").text


def test_without_a_search_the_table_keeps_its_own_order(ds):
    newest = ids(by_date(POSTS))
    assert table_pages(ds, "_search=&_size=20") == newest  # an empty box: no search (Datasette answered 400)
    assert table_pages(ds, "_search=+&_size=30") == newest
    assert table_pages(ds, "_size=25") == newest


def test_only_the_page_of_a_search_is_ranked():
    sql = ("select id, title from posts where rowid in (select rowid from posts_fts where posts_fts match"
           " escape_fts(:search)) and ((id > :p1)) order by id limit 21")
    ranked = rank_sql(sql, {"search": "x", "p1": "A"})
    assert ranked.startswith("select id, title from (select rowid as news_rowid, rank as news_rank"
                             " from posts_fts where posts_fts match escape_fts(:search)) as news_ranked"
                             " cross join posts on posts.rowid = news_ranked.news_rowid where rowid in")
    assert ranked.endswith(" order by news_ranked.news_rank, id limit 21")
    assert "(news_ranked.news_rank > (select rank from posts_fts where posts_fts match escape_fts(:search) and rowid" \
           " = (select rowid from posts where id = :p1)) or (news_ranked.news_rank = " in ranked
    count = "select count(*) from posts where rowid in (select rowid from posts_fts where posts_fts match escape_fts(:search))"
    assert rank_sql(count, {"search": "x"}) == count
    assert rank_sql("select * from posts order by id limit 21", {}) == "select * from posts order by id limit 21"


@pytest.mark.parametrize("query, default, rewritten", [
    ("_search=a", ("_sort_desc", "published_at"), "_search=a"),
    ("_search=a&_next=X", ("_sort_desc", "published_at"), "_search=a&_next=X"),
    ("_search=a&_sort_desc=published_at", ("_sort_desc", "published_at"), None),
    ("_search=a&_sort=published_at&_sort_by_desc=on&_filter_column=", ("_sort_desc", "published_at"),
     "_search=a&_filter_column="),
    ("_search=a&_sort=word_count&_filter_column=", ("_sort_desc", "published_at"), None),
    ("_search=a&_sort=&_filter_column=", ("_sort_desc", "published_at"), "_search=a&_sort=&_filter_column="),
    ("_search=&_size=5", ("_sort_desc", "published_at"), None),
    ("_search=+&_size=5", ("_sort_desc", "published_at"), None),
    ("_size=5", None, None),
])
def test_which_table_requests_are_ranked(query, default, rewritten):
    changed, ranked = relevance_request(query.encode(), default)
    if rewritten is None:
        assert not ranked and changed == query.encode().replace(b"_search=&", b"").replace(b"_search=+&", b"")
    else:
        assert ranked and parse_qsl(changed.decode(), keep_blank_values=True) == parse_qsl(rewritten, keep_blank_values=True)
