"""The photos_by_credit canned query: its rows against the base tables, and its plan."""
from __future__ import annotations

import os
import sqlite3
import time
from urllib.parse import urlencode

import pytest

from newsarchive import config
from newsarchive.build import build

from .conftest import SAMPLE, copy_tree, get, write_posts
from .test_summaries import new_post

CANNED_SQL = config.load(config.METADATA, "news")["databases"]["news"]["queries"]["photos_by_credit"]["sql"]


def expected_photos(conn: sqlite3.Connection, credit: str, limit: int) -> list[dict]:
    """The credit's photos newest post first, sorted here in Python from the base tables."""
    rows = conn.execute(
        "SELECT posts.published_at, posts.id, posts.title, images.url, captions.text, captions.credit_kind,"
        " post_images.position"
        " FROM post_images, captions, images, posts"
        " WHERE captions.id = post_images.caption_id AND images.id = post_images.image_id"
        " AND posts.id = post_images.post_id AND captions.credit = ?", (credit,)).fetchall()
    rows.sort(key=lambda r: (r[6], r[1]))
    rows.sort(key=lambda r: r[0] or "", reverse=True)  # undated posts (NULL) last, as SQLite's DESC
    rows.sort(key=lambda r: r[0] is None)
    keys = ("published_at", "post_id", "title", "image_url", "caption", "credit_kind")
    return [dict(zip(keys, r[:6])) for r in rows[:limit]]


@pytest.mark.parametrize("corpus", ["sample", "blog"])
def test_photos_by_credit_rows_equal_the_base_tables(corpus, request):
    db = request.getfixturevalue(f"{corpus}_db")
    ds = request.getfixturevalue(f"{corpus}_ds")
    ds = ds[0] if isinstance(ds, tuple) else ds  # blog_ds is (app, path)
    conn = sqlite3.connect(db)
    credits = [r[0] for r in conn.execute(
        "SELECT credit FROM captions JOIN post_images ON post_images.caption_id = captions.id"
        " WHERE credit IS NOT NULL GROUP BY credit ORDER BY count(*) DESC")]
    if corpus == "sample":
        assert len(credits) > 1
    limit = ds.setting("max_returned_rows")
    for credit in [*credits, "No Such Agency"]:
        got = get(ds, "/news/photos_by_credit.json?" + urlencode({"_shape": "array", "credit": credit})).json()
        assert got == expected_photos(conn, credit, limit), credit
    conn.close()


def test_photos_by_credit_reads_its_order_from_an_index(sample_db):
    conn = sqlite3.connect(sample_db)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + CANNED_SQL, {"credit": "Reuters"})]
    conn.close()
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
    assert any("idx_credit_photos" in step for step in plan), plan


def test_photos_by_credit_follows_an_update(tmp_path):
    """After an update that adds a credited post, redates one and removes one, the
    query's rows are still the base tables' (the build fills _credit_photos afresh)."""
    posts = copy_tree(SAMPLE, tmp_path / "posts")
    db = tmp_path / "news.db"
    assert build(posts, db, quiet=True).written
    credited = sorted(p for p in posts.rglob("*.md") if "Reuters" in p.read_text(encoding="utf-8"))
    write_posts(posts, {"2025-01/quay.md": new_post("quay", "At the quay", "2025-01-05", "Harbour", "Ana Lima",
                                                    "boats", "Reuters")})
    redated, removed = credited[0], credited[-1]
    text = "\n".join(line for line in redated.read_text(encoding="utf-8").splitlines() if not line.startswith("date:"))
    redated.write_text(text.replace("---\n", "---\ndate: 2026-03-01\n", 1), encoding="utf-8")
    later = time.time() + 5
    os.utime(redated, (later, later))
    removed.unlink()
    second = build(posts, db, quiet=True)
    assert (second.added, second.updated, second.removed) == (1, 1, 1)

    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    got = [dict(r) for r in conn.execute(CANNED_SQL, {"credit": "Reuters"})]
    assert got == expected_photos(conn, "Reuters", len(got) + 1)
    assert got[0]["published_at"].startswith("2026-03-01")
    conn.close()
