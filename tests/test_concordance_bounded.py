"""The concordance in bounded time whatever the post, on the production serve command:
a 4 MB post of one word and a post of 40,000 occurrences are read in part (and the
answer says so), an ordinary post in full, and a plain page keeps answering meanwhile.
highlight() over the whole body in the posts index took longer than 20 s on the first."""
from __future__ import annotations

import csv
import http.client
import io
import json
import re
import time

import pytest

from newsarchive.build import build
from newsarchive.site.concordance import MAX_PER_POST, WINDOW_CHARS

from . import test_search_bounded as bounded
from .conftest import rows, write_posts
from .served import serving

WORD = "harbour"
ONE_WORD = "---\ntitle: One word\ndate: 2024-05-01\n---\n\n" + f"{WORD} " * 520_000 + "\n"
MANY = "---\ntitle: Many matches\ndate: 2024-05-02\n---\n\n" + " ".join(
    WORD if i % 2 == 0 else f"w{i}" for i in range(80_000)) + "\n"
PLAIN_TEXT = ("Boats rest in the old harbour before the storm. The harbour master counts them; "
              "harbours along the coast close. A last harbour light goes out.")
PLAIN = f"---\ntitle: A quiet post\ndate: 2024-05-04\n---\n\n{PLAIN_TEXT}\n"


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounded-concordance")
    posts = write_posts(root / "posts", {"one-word.md": ONE_WORD, "many.md": MANY, "plain.md": PLAIN})
    db = root / "news.db"
    build(posts, db, quiet=True)
    assert rows(db, "select count(*) from posts") == [(3,)]
    with serving(db, root / "serve.log") as served:
        yield served


def answer(port: int, path: str) -> tuple[bytes, dict[str, str]]:
    """`path` fetched while a plain page is fetched over and over: it answers within the
    time limit plus a margin, and the plain page keeps answering under a second. The
    body, and the headers (names in lower case)."""
    with bounded.PlainPages(port) as plain:
        started = time.perf_counter()
        conn = http.client.HTTPConnection(bounded.HOST, port, timeout=bounded.TIME_LIMIT * 20)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            status, body, headers = response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()
        seconds = time.perf_counter() - started
    assert status == 200 and seconds < bounded.TIME_LIMIT + bounded.MARGIN, (status, seconds)
    assert plain.statuses and set(plain.statuses) == {200} and max(plain.times) < 1.0, plain.times
    return body, {name.lower(): value for name, value in headers.items()}


def planted() -> int:
    """Occurrences of the word (and its other forms) in the ordinary post, counted here."""
    return len(re.findall(rf"\b{WORD}s?\b", PLAIN_TEXT))


def test_json_reads_huge_posts_in_part_and_says_so(port):
    data = json.loads(answer(port, f"/news/concordance.json?q={WORD}&size=1000&width=2")[0])
    assert data["posts"] == data["posts_read"] == 3
    assert data["posts_cut"] == 2 and "2 posts were read only in part" in data["skipped"]
    assert data["total"] == 2 * MAX_PER_POST + planted()


def test_csv_has_every_occurrence_of_the_ordinary_post_and_the_first_of_the_others(port):
    body, headers = answer(port, f"/news/concordance.csv?q={WORD}&width=2")
    text = body.decode("utf-8")
    assert "2 posts were read only in part" in headers.get("x-concordance-skipped", "")
    lines = list(csv.DictReader(io.StringIO(text)))
    by_post: dict[str, list[dict]] = {}
    for line in lines:
        by_post.setdefault(line["post_id"], []).append(line)
    plain = next(v for k, v in by_post.items() if len(v) < MAX_PER_POST)
    assert [line["match"].lower() for line in plain] == [m.lower() for m in re.findall(rf"\b{WORD}s?\b", PLAIN_TEXT)]
    many = next(v for v in by_post.values() if v[0]["right"].startswith("w1"))
    assert len(many) == MAX_PER_POST
    assert [line["right"] for line in many[:3]] == [f"w1 {WORD}", f"w3 {WORD}", f"w5 {WORD}"]
    assert many[-1]["right"] == f"w{2 * MAX_PER_POST - 1} {WORD}", "the first occurrences, in order"


def test_the_page_says_what_it_read_in_part(port):
    html = answer(port, f"/news/concordance?q={WORD}")[0].decode("utf-8")
    assert "2 posts were read only in part" in html
    assert f"the first {WINDOW_CHARS:,} characters" in html and f"{MAX_PER_POST:,} of its occurrences" in html
