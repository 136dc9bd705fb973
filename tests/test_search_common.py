"""A search of a word in more than `common_share` of the posts ranks only its newest
`candidates` matches by bm25 and says so; a rarer word ranks every match as before.
The order expected is worked out here: which posts hold a word from the posts as
written, their rowids from the posts table, and bm25 from an ORDER BY written here."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml

from newsarchive import config
from newsarchive.build.pipeline import build
from newsarchive.serve import datasette_app
from newsarchive.site.search_common import CommonRule, CommonRuleError, read_rule

from .conftest import close_app, get, rows, write_posts

COUNT = 40
COMMON, RARE = "tide", "gull"
RULE = {"common_share": 0.5, "rank_at_most": 1000, "candidates": 5}
FILLER = "Boats rest by the quay while the council meets about the roads and the school. "


def body(n: int) -> str:
    """Post n: the common word in 30 of 40 posts and the rare one in 6, each as often and
    among as much filler as differs from post to post, so bm25 tells them apart."""
    words = []
    if n % 4 != 3:
        words.append(f"{COMMON} " * (1 + n % 5))
    if n % 7 == 2:
        words.append(f"{RARE} " * (1 + n % 3))
    return " ".join(words) + FILLER * (1 + (n * 7) % 6)


POSTS = {f"p{n:02d}.md": f"---\ntitle: Post {n}\ndate: 2024-01-{1 + n % 28:02d}\n---\n\n{body(n)}\n" for n in range(COUNT)}


@pytest.fixture(scope="module")
def ds(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("common")
    db = root / "news.db"
    build(write_posts(root / "posts", POSTS), db, quiet=True)
    meta = yaml.safe_load(config.METADATA.read_text(encoding="utf-8"))
    meta["plugins"]["news-archive"]["search"] = RULE
    metadata = root / "metadata.yml"
    metadata.write_text(yaml.safe_dump(meta), encoding="utf-8")
    patch = pytest.MonkeyPatch()
    patch.setattr(config, "METADATA", metadata)
    app = datasette_app(db)
    yield app, db
    close_app(app)
    patch.undo()


def holders(db: Path, word: str) -> list[int]:
    """The rowids of the posts whose body holds the word, read from the posts table."""
    return [rowid for rowid, text in rows(db, "select rowid, body_text from posts") if word in text.split()]


def bm25_order(db: Path, word: str, among: list[int]) -> list[int]:
    """`among` in bm25 order (best first, then rowid), as written here."""
    ranked = rows(db, "select rowid from posts_fts where posts_fts match ? order by bm25(posts_fts), rowid", (word,))
    return [r for (r,) in ranked if r in among]


def page_order(app, word: str, size: int = 7) -> tuple[list[int], dict]:
    """The rowids of every result, page by page through the JSON, and the first page."""
    ids = dict((post_id, rowid) for rowid, post_id in rows(app[1], "select rowid, id from posts"))
    first = data = get(app[0], f"/news/search.json?q={word}&size={size}").json()
    out = []
    while True:
        out += [ids[row["id"]] for row in data["rows"]]
        if not data["next_url"]:
            return out, first
        data = get(app[0], data["next_url"].split("localhost", 1)[-1]).json()


def test_the_common_word_ranks_its_newest_matches_then_the_rest_and_says_so(ds):
    app, db = ds
    matches = holders(db, COMMON)
    assert len(matches) > RULE["common_share"] * COUNT
    newest = sorted(matches, reverse=True)[:RULE["candidates"]]
    expected = bm25_order(db, COMMON, newest) + sorted(set(matches) - set(newest), reverse=True)
    order, first = page_order(ds, COMMON)
    assert order == expected
    said = first["ranked_among_newest"]
    assert said["candidates"] == RULE["candidates"] and said["matches"] == len(matches) and said["posts"] == COUNT
    assert "most recently added matches come first" in said["note"]
    text = get(app, f"/news/search.csv?q={COMMON}").text
    ids = dict((post_id, rowid) for rowid, post_id in rows(db, "select rowid, id from posts"))
    assert [ids[r["id"]] for r in csv.DictReader(io.StringIO(text))] == expected
    page = get(app, f"/news/search?q={COMMON}").text
    assert 'class="message-info news-common"' in page and "best of the newest first" in page


def test_a_rarer_word_ranks_every_match_by_bm25(ds):
    app, db = ds
    matches = holders(db, RARE)
    assert RULE["candidates"] < len(matches) <= RULE["common_share"] * COUNT
    order, first = page_order(ds, RARE, size=2)
    assert order == bm25_order(db, RARE, matches)
    assert first["ranked_among_newest"] is None
    assert "news-common" not in get(app, f"/news/search?q={RARE}").text


def test_sorted_by_date_the_common_word_is_not_ranked(ds):
    data = get(ds[0], f"/news/search.json?q={COMMON}&sort=date").json()
    assert data["ranked_among_newest"] is None and data["total"] == len(holders(ds[1], COMMON))


def test_rank_at_most_bounds_the_ranking_whatever_the_share():
    rule = CommonRule(common_share=1.0, rank_at_most=10, candidates=3)
    assert rule.applies(11, 1_000_000) and not rule.applies(10, 1_000_000)
    assert not CommonRule(common_share=0.5, rank_at_most=10, candidates=20).applies(15, 20)


@pytest.mark.parametrize("given, message", [
    ({"common_share": 2}, "common_share is a number from 0 to 1, not 2"),
    ({"candidates": 0}, "candidates is a whole number from 1, not 0"),
    ({"rank_at_most": "many"}, "rank_at_most is a whole number from 1, not 'many'"),
    ({"share": 0.3}, "has no setting 'share'"),
    ([1], "is a mapping"),
])
def test_bad_settings_say_which(given, message):
    with pytest.raises(CommonRuleError, match=message):
        read_rule({"search": given})


def test_unset_settings_are_the_defaults():
    assert read_rule({}) == CommonRule() and read_rule({"search": {"candidates": 9}}) == CommonRule(candidates=9)


def table_ids(app, word: str, size: int = 7) -> tuple[list[str], dict]:
    """The ids of every row of the posts table's search, page by page, and the first
    answer's headers."""
    first = response = get(app, f"/news/posts.json?_search={word}&_size={size}&_shape=objects")
    out = []
    while True:
        data = response.json()
        out += [row["id"] for row in data["rows"]]
        if not data.get("next_url"):
            return out, dict(first.headers)
        response = get(app, data["next_url"].split("localhost", 1)[-1])


def test_the_table_search_box_lists_a_common_word_newest_first_and_says_so(ds):
    app, db = ds
    matches = set(holders(db, COMMON))
    posts = sorted(((post_id, published) for rowid, post_id, published in
                    rows(db, "select rowid, id, published_at from posts") if rowid in matches))
    expected = [post_id for post_id, _ in sorted(posts, key=lambda p: p[1], reverse=True)]
    ids, headers = table_ids(app, COMMON)
    assert ids == expected
    assert headers["x-search-order"].startswith("date; These words are in 30 of 40 posts")
    assert "too many to rank whole" in get(app, f"/news/posts?_search={COMMON}").text


def test_the_table_search_box_ranks_a_rarer_word_by_bm25(ds):
    app, db = ds
    ids_of = dict(rows(db, "select rowid, id from posts"))
    ids, headers = table_ids(app, RARE, size=2)
    assert ids == [ids_of[r] for r in bm25_order(db, RARE, holders(db, RARE))]
    assert "x-search-order" not in headers
    assert "too many to rank whole" not in get(app, f"/news/posts?_search={RARE}").text
