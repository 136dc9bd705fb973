"""Photo provenance and the citation network, on planted posts whose photos and links are
known: each credit's share of the photos per month (credit_share), the posts each photo
ran in with the first appearance marked (photo_reuse, the article page), the most cited
posts of a period (most_cited), the chain of citing posts to depth 3 through a cycle
(citing_chain, the article page), and the graph files of the data package.

Every expected value is computed here in plain Python from the planted posts (or from
the rows of the 18F blog's links and post_images tables), not with the SQL under test.
"""
from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import networkx as nx
import pytest

from newsarchive.package import package

from .conftest import EDITOR, build_planted, get

HOST = "https://www.plant.test"
IMG = "https://img.plant.test/"


class Planted(NamedTuple):
    code: str
    date: str | None  # ISO time in UTC, or None for an undated post
    category: str
    photos: tuple = ()  # (image file name, credit or None), in body order
    cites: tuple = ()  # codes this post links to, one link each (a code twice: two links)


#: Photos: a.jpg runs in five posts (twice in plant-03, undated in plant-07), b.jpg in
#: two posts published at the same time (the smaller id comes first), c.jpg once.
#: Links: 02 -> 01 (twice), 03 -> 02, 04 -> 03, 05 -> 04 (four steps from 01), 06 -> 01
#: and 02, 01 -> 03 (a cycle back to 01), 03 -> 03 (itself), 08 -> 06.
POSTS = (
    Planted("plant-01", "2024-01-05T10:00:00Z", "world", (("a.jpg", "Reuters"), ("c.jpg", None)), ("plant-03",)),
    Planted("plant-02", "2024-01-20T08:00:00Z", "world", (("d.jpg", "AP"),), ("plant-01", "plant-01")),
    Planted("plant-03", "2024-02-10T12:00:00Z", "business", (("a.jpg", "Reuters"), ("a.jpg", "Reuters")),
            ("plant-02", "plant-03")),
    Planted("plant-05", "2024-03-01T00:00:00Z", "life", (("b.jpg", "Anna Berg"),), ("plant-04",)),
    Planted("plant-04", "2024-03-01T00:00:00Z", "life", (("b.jpg", "Anna Berg"), ("e.jpg", None)), ("plant-03",)),
    Planted("plant-06", "2024-03-15T09:30:00Z", "world", (("a.jpg", "AFP"),), ("plant-01", "plant-02")),
    Planted("plant-07", None, "world", (("a.jpg", "Reuters"),)),
    Planted("plant-08", "2024-04-02T16:45:00Z", "sport", (("a.jpg", None), ("f.jpg", "AP")), ("plant-06",)),
)
BY_CODE = {p.code: p for p in POSTS}


def origin(code: str) -> str:
    number = 9_000_000 + int(code.rsplit("-", 1)[1])
    return f"{HOST}/news/{number}/{code}"


def post_text(post: Planted) -> str:
    date = f"date: {post.date}\n" if post.date else ""
    body = [f"The story of {post.code}, in a few words."]
    for name, credit in post.photos:
        caption = f"A picture for {post.code}" + (f" (Photo: {credit})" if credit else "")
        body.append(f"![{caption}]({IMG}{name})")
    for cited in post.cites:
        body.append(f"See [the earlier story]({origin(cited)}).")
    return (f"---\ncode: {post.code}\ntitle: Headline of {post.code}\ncategory: {post.category}\n"
            f"origin_url: {origin(post.code)}\n{date}---\n\n" + "\n\n".join(body) + "\n")


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory) -> Path:
    return build_planted(tmp_path_factory.mktemp("provenance"), {f"{p.code}.md": post_text(p) for p in POSTS})


def rows_of(db: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def query(ds, name: str, **params) -> list[dict]:
    response = get(ds, f"/news/{name}.json?" + urlencode({"_shape": "array", **params}))
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- ground truth


def iso_ms(date: str) -> str:
    """The planted date as the build stores it (milliseconds, Z)."""
    return date.replace("Z", ".000Z")


def appearance_key(code: str):
    """First appearance: earliest date (undated last), then post id."""
    date = BY_CODE[code].date
    return (date is None, date or "", code)


def expected_runs(posts=POSTS) -> dict[str, list[str]]:
    """Image URL -> the posts it ran in, first appearance first, for photos in 2+ posts."""
    runs = defaultdict(set)
    for post in posts:
        for name, _ in post.photos:
            runs[IMG + name].add(post.code)
    return {url: sorted(codes, key=appearance_key) for url, codes in runs.items() if len(codes) > 1}


def expected_shares() -> dict[tuple[str, str | None], tuple[int, float]]:
    counts = Counter((p.date[:7], credit) for p in POSTS if p.date for _, credit in p.photos)
    month_totals = Counter()
    for (month, _), n in counts.items():
        month_totals[month] += n
    return {key: (n, n / month_totals[key[0]]) for key, n in counts.items()}


def citing_posts(edges) -> dict[str, set[str]]:
    """cited -> the posts linking to it, self-links left out."""
    out = defaultdict(set)
    for citing, cited in edges:
        if citing != cited:
            out[cited].add(citing)
    return out


def planted_edges() -> list[tuple[str, str]]:
    return [(p.code, cited) for p in POSTS for cited in p.cites]


def bfs_chain(root: str, edges, depth: int = 3) -> dict[str, tuple[int, set[str]]]:
    """Post -> (fewest steps from root, the posts one step nearer it links to)."""
    cited_by = citing_posts(edges)
    links_from = defaultdict(set)
    for citing, cited in edges:
        links_from[citing].add(cited)
    seen = {root: 0}
    frontier = {root}
    for step in range(1, depth + 1):
        frontier = {c for cited in frontier for c in cited_by[cited]} - set(seen)
        seen.update({c: step for c in frontier})
    return {
        post: (step, {cited for cited in links_from[post] if seen.get(cited) == step - 1})
        for post, step in seen.items() if step > 0
    }


def most_cited(edges, published: dict[str, str | None], start: str = "", end: str = "") -> dict[str, int]:
    def in_period(code):
        date = published.get(code)
        if date is None:
            return not start and not end
        return (not start or date >= start) and (not end or date[:len(end)] <= end)

    cited_by = citing_posts(edges)
    return {cited: n for cited, citing in cited_by.items() if (n := sum(map(in_period, citing)))}


# --------------------------------------------------------------------------- photo provenance


def test_the_planted_posts_built_as_planted(planted_db):
    """The ground truth below stands on these: every photo and link is in the database."""
    photos = rows_of(planted_db, "select post_id, image_url, credit from photos")
    assert Counter((r["post_id"], r["image_url"], r["credit"]) for r in photos) == Counter(
        (p.code, IMG + name, credit) for p in POSTS for name, credit in p.photos)
    links = rows_of(planted_db, "select post_id, target_post_id from links")
    assert Counter((r["post_id"], r["target_post_id"]) for r in links) == Counter(planted_edges())


def test_credit_share_is_each_credits_share_of_the_month(planted_db):
    got = {(r["month"], r["credit"]): (r["photos"], r["share"]) for r in rows_of(planted_db, "select * from credit_share")}
    expected = expected_shares()
    assert set(got) == set(expected)
    for key, (photos, share) in expected.items():
        assert got[key][0] == photos, key
        assert got[key][1] == pytest.approx(share), key
    by_month = defaultdict(float)
    for (month, _), (_, share) in got.items():
        by_month[month] += share
    assert all(total == pytest.approx(1.0) for total in by_month.values())


def test_photo_reuse_lists_every_post_first_appearance_first(ds):
    rows = query(ds, "photo_reuse", image_url="")
    got = defaultdict(list)
    for row in rows:
        got[row["image_url"]].append((row["appearance"], row["post_id"], row["first"], row["posts"]))
    expected = expected_runs()
    assert set(got) == set(expected) == {IMG + "a.jpg", IMG + "b.jpg"}
    for url, codes in expected.items():
        assert got[url] == [(n, code, int(n == 1), len(codes)) for n, code in enumerate(codes, 1)], url
    # Ties on the time go to the smaller id; undated posts come last.
    assert expected[IMG + "b.jpg"][0] == "plant-04" and expected[IMG + "a.jpg"][-1] == "plant-07"
    one = query(ds, "photo_reuse", image_url=IMG + "b.jpg")
    assert [r["post_id"] for r in one] == expected[IMG + "b.jpg"]
    assert query(ds, "photo_reuse", image_url=IMG + "c.jpg") == []


class Sections(HTMLParser):
    """The article page's provenance sections: each shared photo's list of posts (with the
    first appearance marked), and the chain table's rows."""

    def __init__(self):
        super().__init__()
        self.lists: list[list[tuple[str, bool]]] = []
        self.chain: list[list[str]] = []
        self._li = self._td = None
        self._in_list = self._in_chain = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "ol" and attrs.get("class") == "news-also-ran":
            self.lists.append([])
            self._in_list = True
        elif tag == "li" and self._in_list:
            self._li = ["", attrs.get("class") == "news-first"]
        elif tag == "table" and attrs.get("class") == "news-chain":
            self._in_chain = True
        elif tag == "tr" and self._in_chain:
            self.chain.append([])
        elif tag == "td" and self._in_chain:
            self._td = ""

    def handle_endtag(self, tag):
        if tag == "li" and self._li is not None:
            self.lists[-1].append((self._li[0].strip(), self._li[1]))
            self._li = None
        elif tag == "ol":
            self._in_list = False
        elif tag == "td" and self._td is not None:
            self.chain[-1].append(self._td.strip())
            self._td = None
        elif tag == "table":
            self._in_chain = False

    def handle_data(self, data):
        if self._li is not None:
            self._li[0] += data
        if self._td is not None:
            self._td += data


def article_sections(ds, code: str) -> Sections:
    response = get(ds, f"/news/posts/{code}")
    assert response.status_code == 200
    assert "This photo also ran in" in response.text and "Chain of citations" in response.text
    parser = Sections()
    parser.feed(response.text)
    return parser


@pytest.mark.parametrize("code", [p.code for p in POSTS])
def test_the_article_page_lists_where_its_photos_also_ran(ds, code):
    sections = article_sections(ds, code)
    runs = expected_runs()
    shared = []
    for name, _ in BY_CODE[code].photos:
        if IMG + name in runs and runs[IMG + name] not in shared:
            shared.append(runs[IMG + name])
    assert len(sections.lists) == len(shared)
    for listed, codes in zip(sections.lists, shared):
        assert [re.search(r"plant-\d\d", text).group() for text, _ in listed] == codes
        assert [first for _, first in listed] == [c == codes[0] for c in codes]
        assert all(("first appearance" in text) == first for text, first in listed)
        assert [("(this post)" in text) for text, _ in listed] == [c == code for c in codes]


# --------------------------------------------------------------------------- citations


PERIODS = [("", ""), ("2024-02", ""), ("", "2024-02"), ("2024-01-20", "2024-03-01"), ("2024-03", "2024-03"),
           ("2025", "")]


@pytest.mark.parametrize("start,end", PERIODS)
def test_most_cited_counts_each_citing_post_once_in_the_period(ds, start, end):
    published = {p.code: p.date and iso_ms(p.date) for p in POSTS}
    expected = most_cited(planted_edges(), published, start, end)
    rows = query(ds, "most_cited", **{"from": start, "to": end})
    assert {r["post_id"]: r["citing_posts"] for r in rows} == expected
    assert [r["citing_posts"] for r in rows] == sorted((r["citing_posts"] for r in rows), reverse=True)


def test_two_links_from_one_post_count_once(ds):
    (row,) = [r for r in query(ds, "most_cited", **{"from": "", "to": ""}) if r["post_id"] == "plant-01"]
    # plant-02 links to it twice, plant-06 once.
    assert (row["citing_posts"], row["links"]) == (2, 3)


@pytest.mark.parametrize("root", [p.code for p in POSTS])
def test_citing_chain_is_a_breadth_first_walk_to_depth_3(ds, root):
    expected = bfs_chain(root, planted_edges())
    rows = query(ds, "citing_chain", post_id=root)
    got = {r["post_id"]: (r["depth"], set(json.loads(r["cites"]))) for r in rows}
    assert got == expected
    assert root not in got
    assert [r["depth"] for r in rows] == sorted(r["depth"] for r in rows)


def test_the_chain_stops_at_3_and_survives_the_cycle(ds):
    expected = bfs_chain("plant-01", planted_edges())
    # 02 and 06 cite 01; 03 cites 02; 04 cites 03; 05 (four steps) is beyond; 01 cites 03 (a cycle).
    assert {post: depth for post, (depth, _) in expected.items()} == {
        "plant-02": 1, "plant-06": 1, "plant-03": 2, "plant-08": 2, "plant-04": 3}
    sections = article_sections(ds, "plant-01")
    assert [(int(row[0]), row[1]) for row in sections.chain[1:]] == [
        (r["depth"], r["title"]) for r in query(ds, "citing_chain", post_id="plant-01")]
    assert [row[1] for row in sections.chain[1:]] == [
        f"Headline of {code}" for code in sorted(expected, key=lambda c: (expected[c][0], BY_CODE[c].date, c))]


# --------------------------------------------------------------------------- graph files


@pytest.fixture(scope="module")
def packaged(planted_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("graph") / "package"
    package(planted_db, out, None)
    return out


def test_the_csv_edge_list_equals_the_links(packaged):
    with open(packaged / "citations.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = Counter((a, b) for a, b in planted_edges() if a != b)
    assert {(r["citing_post_id"], r["cited_post_id"]): int(r["links"]) for r in rows} == dict(expected)
    assert len(rows) == len(expected)


@pytest.mark.parametrize("name,read", [("citations.graphml", nx.read_graphml), ("citations.gexf", nx.read_gexf)])
def test_the_graph_files_load_with_networkx(packaged, name, read):
    graph = read(packaged / name)
    assert graph.is_directed()
    edges = Counter((a, b) for a, b in planted_edges() if a != b)
    assert {(a, b): int(data["links"]) for a, b, data in graph.edges(data=True)} == dict(edges)
    assert {(a, b): float(data["weight"]) for a, b, data in graph.edges(data=True)} == {k: float(v) for k, v in edges.items()}
    nodes = {code for edge in edges for code in edge}
    assert set(graph.nodes) == nodes
    for code in nodes:
        data = graph.nodes[code]
        post = BY_CODE[code]
        assert data["title"] == f"Headline of {code}"
        assert data["category"] == post.category
        assert data["published_at"] == (iso_ms(post.date) if post.date else "")


# --------------------------------------------------------------------------- the 18F blog


def test_the_18f_blog_reuse_and_citations_equal_its_rows(blog_ds):
    ds, db = blog_ds
    occurrences = rows_of(db, "select post_images.post_id, images.url from post_images join images on images.id = image_id")
    published = {r["id"]: r["published_at"] for r in rows_of(db, "select id, published_at from posts")}
    runs = defaultdict(set)
    for r in occurrences:
        runs[r["url"]].add(r["post_id"])
    order = lambda c: (published[c] is None, published[c] or "", c)  # noqa: E731
    expected = {url: sorted(codes, key=order) for url, codes in runs.items() if len(codes) > 1}
    got = defaultdict(list)
    for row in query(ds, "photo_reuse", image_url=""):
        got[row["image_url"]].append(row["post_id"])
    assert got == expected and len(expected) > 10
    edges = [(r["post_id"], r["target_post_id"]) for r in rows_of(db, "select post_id, target_post_id from links")
             if r["target_post_id"]]
    for start, end in [("", ""), ("2016", "2017")]:
        rows = query(ds, "most_cited", **{"from": start, "to": end})
        assert {r["post_id"]: r["citing_posts"] for r in rows} == most_cited(edges, published, start, end)
    top = query(ds, "most_cited", **{"from": "", "to": ""})[0]["post_id"]
    chain = {r["post_id"]: r["depth"] for r in query(ds, "citing_chain", post_id=top)}
    assert chain == {post: depth for post, (depth, _) in bfs_chain(top, edges).items()} and chain


def test_the_provenance_page_charts_each_credit(ds):
    response = get(ds, "/news/provenance")
    assert response.status_code == 200
    html = response.text
    svg = re.search(r"<svg[^>]*class=\"news-chart\".*?</svg>", html, re.S).group()
    # One bar segment per (month, credit) with photos, titled with its count and share.
    titles = re.findall(r"<title>(\d{4}-\d\d) ([^<:]+): (\d+) of (\d+) \((\d+)%\)</title></rect>", svg)
    expected = expected_shares()
    assert {(m, None if c == "(no credit)" else c): int(n) for m, c, n, _, _ in titles} == {
        k: n for k, (n, _) in expected.items()}
    for month, credit, _, _, percent in titles:
        share = expected[(month, None if credit == "(no credit)" else credit)][1]
        assert int(percent) == round(100 * share)
    assert "Photos run most often" in html and f"{IMG}a.jpg" in html


def test_the_provenance_page_is_shown_to_whoever_may_see_the_photos(planted_db, restricted_app):
    """The page charts the photos table: a visitor the table refuses is refused the page,
    the one it lets in sees both; the posts stay open to everyone."""
    app = restricted_app(planted_db, "photos")
    for path in ("/news/photos", "/news/provenance"):
        assert (get(app, path).status_code, get(app, path, EDITOR).status_code) == (403, 200), path
    assert get(app, "/news/posts").status_code == 200


@pytest.mark.parametrize("table,hidden,kept", [
    ("photos", "This photo also ran in", "Chain of citations"),
    ("links", "Chain of citations", "This photo also ran in"),
])
def test_the_article_page_leaves_out_a_section_whose_table_the_visitor_may_not_see(
        planted_db, restricted_app, table, hidden, kept):
    """plant-01 has a photo run in four other posts and a chain of citing posts: each
    section shows what one table holds, so a visitor that table refuses does not see it,
    while the post itself, and the other section, stay open."""
    app = restricted_app(planted_db, table)
    anonymous, editor = get(app, "/news/posts/plant-01"), get(app, "/news/posts/plant-01", EDITOR)
    assert (anonymous.status_code, editor.status_code) == (200, 200)
    assert "Headline of plant-01" in anonymous.text
    assert hidden not in anonymous.text and kept in anonymous.text
    assert hidden in editor.text and kept in editor.text
    shown, refused = Sections(), Sections()
    shown.feed(editor.text)
    refused.feed(anonymous.text)
    if table == "photos":
        assert (len(shown.lists), refused.lists) == (1, [])
        # plant-07 ran plant-01's photo and links to nothing: the photo section alone names it.
        assert (">Headline of plant-07<" in editor.text, ">Headline of plant-07<" in anonymous.text) == (True, False)
    else:
        assert bool(shown.chain) and refused.chain == []
    assert (get(app, f"/news/{table}").status_code, get(app, f"/news/{table}", EDITOR).status_code) == (403, 200)
