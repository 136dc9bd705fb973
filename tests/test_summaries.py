"""The build's summaries of the whole archive (newsarchive.build.summaries) equal a
count made here, in Python over the raw rows, after a full build and after updates
that add, edit and remove posts in several months, categories and credits."""
from __future__ import annotations

import json
import sqlite3
import time
import os
from collections import Counter
from pathlib import Path

from newsarchive.build import build

from .conftest import SAMPLE, copy_tree, write_posts
from .test_build import dump


def counted_here(db: Path) -> dict:
    """Every summary, counted from the rows of posts, post_images and captions."""
    conn = sqlite3.connect(db)
    posts = conn.execute("SELECT id, published_month, category, language, authors, tags FROM posts").fetchall()
    credit_of = dict(conn.execute("SELECT id, credit FROM captions"))
    runs = conn.execute("SELECT post_id, caption_id FROM post_images").fetchall()
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    counts = {t: conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables if not t.startswith("sqlite_")}
    conn.close()
    month_of = {p[0]: p[1] for p in posts}
    per_month = Counter()
    facets = Counter()
    cube = Counter()
    for _, month, category, language, authors, tags in posts:
        cube[(category, language, month)] += 1
        if month is not None:
            per_month[(month, "category", category)] += 1
            per_month[(month, "language", language)] += 1
        for facet, value in (("category", category), ("language", language), ("published_month", month)):
            if value is not None:
                facets[(facet, value)] += 1
        for facet, array in (("authors", authors), ("tags", tags)):
            for value in set(json.loads(array or "[]")):
                facets[(facet, value)] += 1
    credits = Counter((month_of[post], credit_of.get(caption)) for post, caption in runs if month_of[post] is not None)
    ran_in = {}
    for post, image in conn_rows(db, "SELECT post_id, image_id FROM post_images"):
        ran_in.setdefault(image, set()).add(post)
    reused = {image: len(posts) for image, posts in ran_in.items() if len(posts) > 1}
    return {"monthly_posts": dict(per_month), "monthly_credits": dict(credits), "_facet_counts": dict(facets),
            "_facet_cube": dict(cube), "reused_photos": reused, "_table_rows": counts}


def conn_rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def stored(db: Path) -> dict:
    conn = sqlite3.connect(db)
    out = {
        "monthly_posts": {(m, f, v): n for m, f, v, n in conn.execute("SELECT * FROM monthly_posts")},
        "monthly_credits": {(m, c): n for m, c, n in conn.execute("SELECT * FROM monthly_credits")},
        "_facet_counts": {(f, v): n for f, v, n in conn.execute("SELECT * FROM _facet_counts")},
        "_facet_cube": {(c, l, m): n for c, l, m, n in conn.execute("SELECT * FROM _facet_cube")},
        "reused_photos": dict(conn.execute("SELECT image_id, posts FROM reused_photos")),
        "_table_rows": dict(conn.execute("SELECT name, rows FROM _table_rows")),
    }
    conn.close()
    return out


def assert_summaries_are_fresh(db: Path) -> None:
    expected, found = counted_here(db), stored(db)
    assert expected["monthly_posts"] and expected["monthly_credits"] and expected["_facet_counts"]
    assert expected["_facet_cube"]
    for name in expected:
        assert found[name] == expected[name], name


NEW_POST = """---
title: "{title}"
date: {date}
category: "{category}"
language: en
author: "{author}"
tags: [{tags}]
---

A report from the quay.

![Boats at dawn (Photo by {credit})](https://images.example.test/{slug}.jpg)

Boats at dawn (Photo by {credit})
"""


def new_post(slug, title, date, category, author, tags, credit) -> str:
    return NEW_POST.format(slug=slug, title=title, date=date, category=category, author=author, tags=tags, credit=credit)


def test_the_summaries_equal_a_fresh_count_after_full_and_incremental_builds(tmp_path):
    posts = copy_tree(SAMPLE, tmp_path / "posts")
    db = tmp_path / "news.db"
    assert build(posts, db, quiet=True).written
    assert_summaries_are_fresh(db)
    before = stored(db)

    # Add posts in a month and a category the archive lacks, with a new credit, and
    # one in an existing month; move a post to another category and month; remove two.
    write_posts(posts, {
        "2025-01/quay.md": new_post("quay", "At the quay", "2025-01-05", "Harbour", "Ana Lima", "boats, quay", "Jo Park"),
        "2025-01/quay-2.md": new_post("quay-2", "The quay again", "2025-01-20", "Harbour", "Ana Lima", "boats", "Jo Park"),
        "2024-10/ferry.md": new_post("ferry", "The ferry", "2024-10-02", "LOCAL", "Ben Ode", "ferry", "Kim Lee"),
    })
    files = sorted(p for p in posts.rglob("*.md") if "2025-01" not in p.parts and p.name != "ferry.md")
    moved = files[0]
    text = moved.read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith(("category:", "date:")))
    moved.write_text(text.replace("---\n", "---\ncategory: \"Moved\"\ndate: 2023-02-01\n", 1), encoding="utf-8")
    # A credit changed in an existing post (its photos move to another credit that month).
    credited = next(p for p in files[1:5] + files[6:-1] if "(Photo by " in p.read_text(encoding="utf-8"))
    credited.write_text(credited.read_text(encoding="utf-8").replace("(Photo by ", "(Photo by Lee Park, after "),
                        encoding="utf-8")
    later = time.time() + 5
    for path in (moved, credited):
        os.utime(path, (later, later))
    files[5].unlink()
    files[-1].unlink()

    second = build(posts, db, quiet=True)
    assert (second.added, second.updated, second.removed) == (3, 2, 2)
    assert_summaries_are_fresh(db)
    after = stored(db)
    assert ("2025-01", "category", "harbour") in after["monthly_posts"]
    assert ("2023-02", "category", "moved") in after["monthly_posts"]
    assert ("2025-01", "Jo Park") in after["monthly_credits"] and ("2025-01", "Jo Park") not in before["monthly_credits"]
    assert after["_facet_counts"][("tags", "boats")] == 2
    assert {c for _, c in after["monthly_credits"]} - {c for _, c in before["monthly_credits"]} >= {"Jo Park", "Kim Lee"}
    assert any(c and c.startswith("Lee Park") for _, c in after["monthly_credits"])

    full = tmp_path / "full.db"
    build(posts, full, full=True, quiet=True)
    assert dump(db) == dump(full)  # dump() holds every table, the summaries included
