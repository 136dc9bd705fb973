"""A public instance that holds: value-size caps on every connection, security headers,
and the SQL time limit, through Datasette's own test client configured as served."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from urllib.parse import quote

import pytest

from newsarchive.serve import datasette_app


@pytest.fixture(scope="module")
def ds(sample_db):
    return datasette_app(sample_db)


def get(ds, path):
    return asyncio.run(ds.client.get(path))


@pytest.mark.parametrize(
    "sql",
    [
        "select length(randomblob(1000000000))",
        "select length(zeroblob(1000000000))",
        "select length(replace(hex(zeroblob(10000000)), '0', '0000000000'))",
    ],
)
def test_huge_values_are_refused_at_once(ds, sql):
    started = time.monotonic()
    response = get(ds, "/news.json?sql=" + quote(sql))
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert "too big" in response.json()["error"]


def test_normal_large_values_still_work(ds):
    data = get(ds, "/news.json?_shape=array&sql=select+length(zeroblob(1000000))+as+n").json()
    assert data == [{"n": 1000000}]


@pytest.mark.parametrize(
    "sql",
    [
        "with recursive c(x) as (select 1 union all select x+1 from c) select count(*) from c",
        "select count(*) from posts a, posts b, posts c, posts d, posts e, posts f where a.word_count + f.word_count > b.word_count",
    ],
)
def test_runaway_query_is_cut_by_the_time_limit(ds, sql):
    started = time.monotonic()
    response = get(ds, "/news.json?sql=" + quote(sql))
    elapsed = time.monotonic() - started
    assert response.status_code == 400 and "interrupted" in response.text.lower()
    assert elapsed < 1.5 + 2.0


@pytest.mark.parametrize("path", ["/", "/news/posts", "/news/posts.json", "/news/search?q=harbour", "/news.db"])
def test_security_headers_on_every_response(ds, path):
    response = get(ds, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = next(part for part in csp.split("; ") if part.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src


@pytest.mark.parametrize("path", ["/news/posts", "/news?sql=select+1", "/news/search?q=harbour"])
def test_every_inline_script_datasette_sends_is_allowed_by_hash(ds, path):
    response = get(ds, path)
    csp = response.headers["content-security-policy"]
    for body in re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, f"inline script not allowed by CSP: {body[:80]!r}"


def test_printf_padding_cannot_build_a_huge_value(ds):
    """printf's width is one opcode, which the time limit cannot interrupt; the length
    cap still stops it from returning (or holding) a gigabyte: the result is NULL."""
    response = get(ds, "/news.json?_shape=array&sql=" + quote("select length(printf('%.*c', 1000000000, 'x')) as n"))
    assert response.status_code == 200
    assert response.json() == [{"n": None}]
