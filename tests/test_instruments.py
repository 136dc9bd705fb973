"""The research pages, held to answers worked out in Python from the posts as written:
term trends (/news/trends), the concordance (/news/concordance) and the Atom feeds
(/news/feed.atom), never from the full-text index they read."""
from __future__ import annotations

import csv
import io
from urllib.parse import quote
from dataclasses import dataclass

import pytest

from newsarchive.build.pipeline import build

from .conftest import get, served, write_posts

# ------------------------------------------------------------------ the planted posts

#: Months with posts; 2023-03 has none, and must still be a row (with posts 0).
MONTHS = ("2023-01", "2023-02", "2023-04", "2023-05", "2023-06")
COUNT = 60
UNDATED = 45
CATEGORIES = ("local", "world")
#: Thai words as ICU segments them (tests/test_words.py), the planted one in the middle.
THAI = ["ผู้", "ว่า", "ราชการ", "จังหวัด", "ภูเก็ต"]


@dataclass(frozen=True)
class Planted:
    id: str
    title: str
    words: tuple[str, ...]
    published_at: str | None
    category: str
    language: str
    authors: tuple[str, ...]

    @property
    def month(self) -> str | None:
        return self.published_at[:7] if self.published_at else None

    @property
    def body(self) -> str:
        return " ".join(self.words) + "."

    @property
    def tokens(self) -> list[tuple[str, str]]:
        """The body's words as search splits them, each with what comes before it."""
        out = []
        for word in self.words:
            if word == "".join(THAI):
                out += [(w, " " if n == 0 and out else "") for n, w in enumerate(THAI)]
            else:
                out.append((word, " " if out else ""))
        return out


def planted(i: int) -> Planted:
    """Post i: `marmalade` in every third post (twice in every sixth), each time between
    words that name the post and the place; Thai posts (every fifth) hold the Thai phrase."""
    words = [f"opening{i}", "the", "council", "met"]
    if i % 3 == 0:
        words += [f"left{i}a", f"left{i}b", "marmalade", f"right{i}a", f"right{i}b"]
    if i % 6 == 0:
        words += ["and", "again", "marmalade", "was", "served"]
    words += ["closing", "words", f"end{i}"]
    language = "en"
    if i % 5 == 2:
        language = "th"
        words = [f"start{i}", "".join(THAI), f"finish{i}"]
    month = MONTHS[i % len(MONTHS)]
    moment = f"{month}-{1 + i % 27:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
    return Planted(
        id=f"POST{i:03d}", title=f"Planted post {i}", words=tuple(words),
        published_at=None if i == UNDATED else moment, category=CATEGORIES[i % 2], language=language,
        authors=(("Ann Lee",) if i % 2 else ("Bo Chen", "Ann Lee")),
    )


POSTS = [planted(i) for i in range(COUNT)]


def markdown(post: Planted) -> str:
    lines = ["---", f'code: "{post.id}"', f'title: "{post.title}"', f'category: "{post.category}"',
             f'language: "{post.language}"', "authors: [" + ", ".join(f'"{a}"' for a in post.authors) + "]"]
    if post.published_at:
        lines.append(f"date: {post.published_at}")
    return "\n".join([*lines, "---", "", post.body, ""])


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory):
    folder = write_posts(tmp_path_factory.mktemp("instruments") / "posts",
                         {f"{p.id.lower()}.md": markdown(p) for p in POSTS})
    db = folder.parent / "news.db"
    summary = build(folder, db, quiet=True)
    assert summary.added == COUNT and not summary.problems
    return db


def every_month() -> list[str]:
    return ["2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06"]


# ------------------------------------------------------------------ trends

def expected_trend(terms: dict[str, callable], by: str = "") -> list[dict]:
    """The trend's rows from the posts as written: `terms` maps a term to the test of
    whether a post holds it."""
    dated = [p for p in POSTS if p.month]
    groups = sorted({getattr(p, by) for p in dated}) if by else [None]
    out = []
    for month in every_month():
        for term, holds in terms.items():
            for group in groups:
                in_group = [p for p in dated if p.month == month and (not by or getattr(p, by) == group)]
                matches = sum(1 for p in in_group if holds(p))
                row = {"month": month, "term": term, **({by: group} if by else {}), "matches": matches,
                       "posts": len(in_group), "share": round(matches / len(in_group), 6) if in_group else None}
                out.append(row)
    return out


def test_trend_counts_every_month_with_its_denominator(ds):
    terms = {"marmalade": lambda p: "marmalade" in p.words, "council": lambda p: "council" in p.words}
    response = get(ds, "/news/trends.json?q=marmalade,+council&_shape=array")
    assert response.status_code == 200
    expected = expected_trend(terms)
    assert response.json() == expected
    assert [r for r in expected if r["month"] == "2023-03"][0]["posts"] == 0  # the empty month is there


@pytest.mark.parametrize("by", ["category", "language"])
def test_trend_split_by_group(ds, by):
    terms = {"marmalade": lambda p: "marmalade" in p.words}
    response = get(ds, f"/news/trends.json?q=marmalade&by={by}&_shape=array")
    assert response.json() == expected_trend(terms, by)


def test_trend_phrase_months_and_csv(ds):
    terms = {'"again marmalade"': lambda p: "again" in p.words}
    expected = [r for r in expected_trend(terms) if "2023-02" <= r["month"] <= "2023-04"]
    response = get(ds, '/news/trends.json?q="again+marmalade"&from=2023-02&to=2023-04&_shape=array')
    assert response.json() == expected
    text = get(ds, '/news/trends.csv?q="again+marmalade"&from=2023-02&to=2023-04').text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["month"], int(r["matches"]), int(r["posts"])) for r in rows] == [
        (r["month"], r["matches"], r["posts"]) for r in expected]


@pytest.mark.parametrize("query, message", [
    ("q=a,b,c,d,e,f", "at most 5 terms"),
    ("q=marmalade&by=author", "by is category or language"),
    ("q=marmalade&from=2023-05&to=2023-02", "after"),
    ("q=marmalade&from=May", "YYYY-MM"),
    ('q="marmalade', "quote mark"),
])
def test_trend_bad_requests_say_why(ds, query, message):
    response = get(ds, f"/news/trends.json?{query}")
    assert response.status_code == 400 and message in response.json()["error"]
    page = get(ds, f"/news/trends?{query}")
    assert page.status_code == 400 and message in page.text


def test_trend_page_draws_each_term(ds):
    page = get(ds, "/news/trends?q=marmalade,council")
    assert page.status_code == 200
    assert page.text.count('class="news-trend-line"') == 2
    assert "marmalade" in page.text and "/news/trends.csv?" in page.text


def test_trend_counts_from_the_month_indexes(planted_db):
    """Each term's matches are counted from a covering index of month (and group) and
    rowid, never by opening each matching post (130 to 190 ms a common word at 100,000
    posts, against 60 to 80)."""
    import sqlite3

    from newsarchive.site.trends import GROUPINGS, _counts_sql

    conn = sqlite3.connect(f"file:{planted_db}?mode=ro", uri=True)
    try:
        for by in ("", *GROUPINGS):
            plan = " | ".join(row[-1] for row in conn.execute(
                "explain query plan " + _counts_sql(by, True), {"first": "2023-01", "last": "2023-06", "fts": "marmalade"}))
            assert "COVERING INDEX" in plan and "PRIMARY KEY" not in plan, (by, plan)
    finally:
        conn.close()


# ------------------------------------------------------------------ a chart of more lines than it draws

#: Five words, each planted in a known number of posts of each of three categories,
#: every count different: 15 lines split by category, the chart drawing 10.
CHART_WORDS = ("zorblat", "quixel", "frumple", "gandor", "plimsy")
CHART_CATEGORIES = ("arts", "farming", "weather")


def chart_posts(word: int, category: int) -> int:
    return 1 + 3 * word + category


@pytest.fixture(scope="module")
def many_lines(tmp_path_factory):
    files = {}
    for k, category in enumerate(CHART_CATEGORIES):
        most = max(chart_posts(j, k) for j in range(len(CHART_WORDS)))
        for i in range(most):
            words = [w for j, w in enumerate(CHART_WORDS) if i < chart_posts(j, k)]
            files[f"{category}-{i}.md"] = (f'---\ntitle: "{category} {i}"\ncategory: "{category}"\n'
                                           f"date: 2023-0{1 + i % 3}-10T10:00:00Z\n---\n\nSome {' '.join(words)} news.\n")
    folder = write_posts(tmp_path_factory.mktemp("chart") / "posts", files)
    db = folder.parent / "news.db"
    assert build(folder, db, quiet=True).added == len(files)
    with served(db) as app:
        yield app


def test_trend_chart_draws_the_lines_with_most_matches(many_lines):
    import re

    page = get(many_lines, "/news/trends?q=" + ",".join(CHART_WORDS) + "&by=category")
    assert page.status_code == 200
    counts = {f"{w} · {c}": chart_posts(j, k) for j, w in enumerate(CHART_WORDS) for k, c in enumerate(CHART_CATEGORIES)}
    largest = sorted(counts, key=counts.get, reverse=True)[:10]
    assert min(counts[n] for n in largest) > max(counts[n] for n in counts if n not in largest)  # no tie at the cut
    drawn = re.findall(r'<text class="news-trend-legend"[^>]*>([^<]+)</text>', page.text)
    assert sorted(drawn) == sorted(largest)
    assert drawn == [n for n in counts if n in largest]  # in the table's order
    assert page.text.count('class="news-trend-line"') == 10
    assert "draws the 10 of 15 lines with the most matches" in page.text
    header = re.search(r'<table class="news-trend-table">\s*<tr>(.*?)</tr>', page.text, re.S).group(1)
    assert re.findall(r'<th scope="col">([^<]+)</th>', header) == ["month", *counts]  # the table holds all 15


# ------------------------------------------------------------------ feeds

def newest(posts, n=50) -> list[Planted]:
    dated = [p for p in posts if p.published_at]
    return sorted(dated, key=lambda p: (_descending(p.published_at), p.id))[:n]


def _descending(text: str) -> tuple:
    return tuple(-ord(c) for c in text)


def parsed_feed(ds, path: str):
    import feedparser

    response = get(ds, path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


@pytest.mark.parametrize("query, keep", [
    ("", lambda p: True),
    ("category=world", lambda p: p.category == "world"),
    ("author=" + quote("Bo Chen"), lambda p: "Bo Chen" in p.authors),
    ("q=marmalade", lambda p: "marmalade" in p.words),
    ("q=again&category=local", lambda p: "again" in p.words and p.category == "local"),
])
def test_feed_holds_the_newest_posts_in_order(ds, query, keep):
    feed = parsed_feed(ds, "/news/feed.atom" + (f"?{query}" if query else ""))
    expected = newest([p for p in POSTS if keep(p)])
    assert expected  # each case keeps some posts
    assert [e.title for e in feed.entries] == [p.title for p in expected]
    for entry, post in zip(feed.entries, expected):
        assert entry.link == f"http://localhost/news/posts/{post.id}"
        assert entry.published.startswith(post.published_at[:19])
        assert [a.name for a in entry.authors] == list(post.authors)
        assert [t.term for t in entry.tags] == [post.category]
        assert entry.summary == post.body
    assert len(feed.entries) == min(50, len([p for p in POSTS if keep(p) and p.published_at]))


def test_feed_of_nothing_is_still_atom(ds):
    feed = parsed_feed(ds, "/news/feed.atom?q=nowhereword")
    assert feed.entries == [] and feed.feed.title


def test_feed_bad_search_says_why(ds):
    response = get(ds, "/news/feed.atom?q=" + quote('"open'))
    assert response.status_code == 400 and "quote mark" in response.text


@pytest.mark.parametrize("path, feed", [
    ("/news/posts", "/news/feed.atom"),
    ("/news/posts?category=world", "/news/feed.atom?category=world"),
    ("/news/categories/local", "/news/feed.atom?category=local"),
    ("/news/authors/" + quote("Ann Lee"), "/news/feed.atom?author=Ann+Lee"),
    ("/news/search?q=marmalade", "/news/feed.atom?q=marmalade"),
])
def test_pages_name_their_feed(ds, path, feed):
    import re

    page = get(ds, path)
    links = re.findall(r'<link rel="alternate" type="application/atom\+xml"[^>]*href="([^"]+)"', page.text)
    assert [link.replace("&amp;", "&") for link in links] == [feed]


# ------------------------------------------------------------------ concordance

@dataclass(frozen=True)
class Occurrence:
    post_id: str
    left: str
    match: str
    right: str


def _text(tokens: list[tuple[str, str]]) -> str:
    return "".join(sep + word for sep, word in ((sep if n else "", word) for n, (word, sep) in enumerate(tokens)))


def expected_lines(phrase: list[str], width: int, sort: str = "date") -> list[Occurrence]:
    """Every occurrence of `phrase` in the planted bodies, newest post first (undated
    last); or by the words to the left (nearest first) or right, ties in date order."""
    dated = sorted((p for p in POSTS if p.published_at), key=lambda p: (_descending(p.published_at), p.id))
    found = []  # (occurrence, left words, right words)
    for post in dated + [p for p in POSTS if not p.published_at]:
        tokens = post.tokens
        words = [w for w, _ in tokens]
        for j in range(len(words) - len(phrase) + 1):
            if words[j:j + len(phrase)] == phrase:
                end = j + len(phrase)
                left, right = tokens[max(0, j - width):j], tokens[end:end + width]
                found.append((Occurrence(post.id, _text(left), _text(tokens[j:end]), _text(right)),
                              [w.lower() for w, _ in left], [w.lower() for w, _ in right]))
    if sort == "left":
        found.sort(key=lambda f: f[1][::-1])
    elif sort == "right":
        found.sort(key=lambda f: f[2])
    return [f[0] for f in found]


def concordance_rows(ds, query: str, size: int = 7) -> list[dict]:
    """Every row of a concordance, page by page through its JSON."""
    page = get(ds, f"/news/concordance.json?{query}&size={size}").json()
    rows, url = list(page["rows"]), page["next_url"]
    while url:
        page = get(ds, url.replace("http://localhost", "")).json()
        rows += page["rows"]
        url = page["next_url"]
    assert page["complete"] and len(rows) == page["total"] == page["found"]  # the last page has read every post
    assert [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    return rows


def as_occurrences(rows) -> list[Occurrence]:
    return [Occurrence(r["post_id"], r["left"], r["match"], r["right"]) for r in rows]


@pytest.mark.parametrize("sort", ["date", "left", "right"])
@pytest.mark.parametrize("width", [1, 3, 8])
def test_concordance_has_every_occurrence_in_order(ds, sort, width):
    rows = concordance_rows(ds, f"q=marmalade&width={width}&sort={sort}")
    assert as_occurrences(rows) == expected_lines(["marmalade"], width, sort)
    assert all(r["url"] == f"http://localhost/news/posts/{r['post_id']}" for r in rows)


def test_concordance_of_a_phrase(ds):
    rows = concordance_rows(ds, "q=" + quote('"again marmalade"') + "&width=2")
    assert as_occurrences(rows) == expected_lines(["again", "marmalade"], 2)


@pytest.mark.parametrize("sort", ["date", "left", "right"])
@pytest.mark.parametrize("width", [1, 2, 3])
def test_concordance_in_thai(ds, sort, width):
    rows = concordance_rows(ds, "q=" + quote(THAI[2]) + f"&width={width}&sort={sort}", size=3)
    expected = expected_lines([THAI[2]], width, sort)
    assert len(expected) == len([p for p in POSTS if p.language == "th"])
    assert as_occurrences(rows) == expected


def test_concordance_csv_and_filters(ds):
    text = get(ds, "/news/concordance.csv?q=marmalade&width=2&category=world").text
    got = [Occurrence(r["post_id"], r["left"], r["match"], r["right"]) for r in csv.DictReader(io.StringIO(text))]
    world = {p.id for p in POSTS if p.category == "world"}
    assert got == [o for o in expected_lines(["marmalade"], 2) if o.post_id in world]


@pytest.mark.parametrize("query, message", [
    ("q=marmalade&sort=middle", "sort is date"),
    ("q=marmalade&width=0", "width is a whole number"),
    ("q=marmalade&width=26", "width is a whole number"),
    ("q=marmalade&from=2023-05&to=2023-01", "after"),
    ('q="marmalade', "quote mark"),
])
def test_concordance_bad_requests_say_why(ds, query, message):
    response = get(ds, f"/news/concordance.json?{query}")
    assert response.status_code == 400 and message in response.json()["error"]
    assert get(ds, f"/news/concordance?{query}").status_code == 400


def test_search_page_links_to_trend_and_concordance(ds):
    page = get(ds, "/news/search?q=marmalade&category=world").text
    assert '<a href="/news/trends?q=marmalade">this search over time</a>' in page
    assert '<a href="/news/concordance?q=marmalade&amp;category=world">in context</a>' in page


def test_concordance_says_when_it_reads_only_the_newest_posts(ds, monkeypatch):
    from newsarchive.site import concordance

    monkeypatch.setattr(concordance, "MAX_POSTS", 4)
    monkeypatch.setattr(concordance, "KEPT", concordance.Kept())
    data = get(ds, "/news/concordance.json?q=marmalade&width=4").json()
    holding = [p for p in POSTS if "marmalade" in p.words]
    newest_four = {p.id for p in newest(holding, 4)}
    assert (data["posts"], data["posts_read"]) == (len(holding), 4)
    assert as_occurrences(data["rows"]) == [o for o in expected_lines(["marmalade"], 4) if o.post_id in newest_four]
    assert "reads the newest 4" in get(ds, "/news/concordance?q=marmalade&width=4").text
    for query, keep in [("category=world", lambda p: p.category == "world"),
                        ("from=2023-02&to=2023-05", lambda p: p.month and "2023-02" <= p.month <= "2023-05"),
                        ("language=en&to=2023-04", lambda p: p.language == "en" and p.month and p.month <= "2023-04"),
                        ("category=local&from=2023-04", lambda p: p.category == "local" and p.month and p.month >= "2023-04"),
                        ("author=" + quote("Bo Chen"), lambda p: "Bo Chen" in p.authors)]:
        data = get(ds, f"/news/concordance.json?q=marmalade&{query}").json()
        assert (data["posts"], data["posts_read"]) == (len([p for p in holding if keep(p)]), 4), query


@pytest.mark.parametrize("filters, index", [
    ({}, None),
    ({"date_from": "2023-02"}, "COVERING INDEX idx_posts_published_at_id"),
    ({"date_to": "2023-04"}, "COVERING INDEX idx_posts_published_at_id"),
    ({"category": "world"}, "COVERING INDEX idx_posts_category_published_at_id"),
    ({"language": "en", "date_from": "2023-02"}, "COVERING INDEX idx_posts_language_published_at_id"),
    ({"category": "local", "language": "en"}, "INDEX idx_posts_category_published_at_id"),
])
def test_concordance_counts_its_posts_without_opening_them(planted_db, filters, index):
    """The count of matching posts reads the full-text index alone, or the index of the
    filter and the date: never each match's row in the posts table, which SQLite chose
    at 100,000 posts (50 to 105 ms a common word, against 4 to 40). A small archive's
    plan differs, so the index is named."""
    import sqlite3

    from newsarchive.site.concordance import count_sql
    from newsarchive.site.search_query import Filters

    sql, params = count_sql(Filters(**filters))
    conn = sqlite3.connect(f"file:{planted_db}?mode=ro", uri=True)
    try:
        plan = " | ".join(row[-1] for row in conn.execute("explain query plan " + sql, {**params, "fts": "marmalade"}))
    finally:
        conn.close()
    assert "PRIMARY KEY" not in plan and "posts_fts VIRTUAL TABLE" in plan, plan
    if index:
        assert f"SEARCH posts USING {index} (" in plan, plan
    else:
        assert plan.startswith("SCAN posts_fts VIRTUAL TABLE") and "posts " not in plan, plan


def test_concordance_by_date_reads_only_as_far_as_its_page(ds, monkeypatch):
    """A page sorted by date reads the newest posts until it holds its lines and one
    more (no more posts than that: each gives a line at least), and says "at least";
    the next page reads on; a sort by context reads them all."""
    from newsarchive.site import concordance

    monkeypatch.setattr(concordance, "KEPT", concordance.Kept())
    monkeypatch.setattr(concordance, "MIN_BATCH", 1)  # no batch larger than the lines still wanted
    holding = [p for p in POSTS if "marmalade" in p.words]
    holding = newest(holding, len(POSTS)) + [p for p in holding if not p.published_at]  # undated last
    expected = expected_lines(["marmalade"], 2)

    def needed(lines: int) -> int:
        """Posts read, newest first, until `lines` occurrences are held."""
        read = 0
        while sum(p.words.count("marmalade") for p in holding[:read]) < lines:
            read += 1
        return read

    first = get(ds, "/news/concordance.json?q=marmalade&width=2&size=5").json()
    assert (first["complete"], first["total"], first["pages"]) == (False, None, None)
    assert needed(6) <= first["posts_read"] <= 6 < first["posts"] == len(holding)
    assert first["found"] >= 6 and as_occurrences(first["rows"]) == expected[:5]
    page = get(ds, "/news/concordance?q=marmalade&width=2&size=5").text
    assert "Showing 1–5 of at least" in page and 'rel="next"' in page
    second = get(ds, first["next_url"].replace("http://localhost", "")).json()
    assert needed(11) <= second["posts_read"] <= 11 and as_occurrences(second["rows"]) == expected[5:10]
    by_left = get(ds, "/news/concordance.json?q=marmalade&width=2&size=5&sort=left").json()
    assert (by_left["complete"], by_left["total"], by_left["posts_read"]) == (True, len(expected), len(holding))
    again = get(ds, "/news/concordance.json?q=marmalade&width=2&size=5").json()  # the same concordance, now read
    assert (again["complete"], again["total"], again["pages"]) == (True, len(expected), -(-len(expected) // 5))


def test_concordance_stops_reading_at_its_line_limit(ds, monkeypatch):
    from newsarchive.site import concordance

    monkeypatch.setattr(concordance, "MAX_LINES", 5)
    monkeypatch.setattr(concordance, "BATCH", 2)
    monkeypatch.setattr(concordance, "KEPT", concordance.Kept())
    data = get(ds, "/news/concordance.json?q=marmalade&width=2&size=100").json()
    holding = newest([p for p in POSTS if "marmalade" in p.words], len(POSTS))
    read = 2  # posts are read two at a time until five lines are held
    while sum(p.words.count("marmalade") for p in holding[:read]) < 5:
        read += 2
    assert data["posts_read"] == read < data["posts"]
    kept = {p.id for p in holding[:read]}
    assert as_occurrences(data["rows"]) == [o for o in expected_lines(["marmalade"], 2) if o.post_id in kept]
