"""An update keeps the summaries by its changed posts' difference
(newsarchive.build.summaries), and leaves exactly what a full build of the same folder
counts: every summary table row for row, and `_table_rows` equal to a count of every
table made here. The folder is changed at random, update after update: posts added,
edited into other months, categories, languages, credits, authors and tags, renamed,
deleted, given an id another post holds, and photos shared between posts and unshared."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from newsarchive.build import build, summaries
from newsarchive.db.schema import FTS_TABLES

MONTHS = ["2023-11", "2024-01", "2024-02", None]  # None: a post without a date
CATEGORIES = ["world", "sport", "Harbour", None]
LANGUAGES = ["en", "fr", None]
PEOPLE = ["Ana Lima", "Ben Ode", "Kim Lee"]
TAGS = ["boats", "quay", "rain", "ferry"]
CREDITS = ["Jo Park", "Reuters", "AP", None]  # None: a caption without a credit
PHOTOS = [f"https://images.example.test/{n}.jpg" for n in range(6)]  # few, so posts share them

#: The tables whose rows count differently in an update and a full build: its history,
#: and how a full-text index lays out its segments (the same entries: tests/test_build.py).
HISTORY = {"builds", "build_errors", *(f"{t}_fts_{part}" for t in FTS_TABLES for part in ("data", "idx"))}

photo = st.tuples(st.sampled_from(PHOTOS), st.sampled_from(CREDITS))
post = st.fixed_dictionaries({
    "month": st.sampled_from(MONTHS),
    "category": st.sampled_from(CATEGORIES),
    "language": st.sampled_from(LANGUAGES),
    # Repeats on purpose: an array facet counts a name once per post.
    "authors": st.lists(st.sampled_from(PEOPLE), max_size=3),
    "tags": st.lists(st.sampled_from(TAGS), max_size=3),
    "photos": st.lists(photo, max_size=3),
    "words": st.integers(0, 3),
    # Posts that want one id: the earlier keeps it, and takes it from a later one an
    # update wrote before (which is written again under its path).
    "code": st.sampled_from([None, None, "alpha", "beta"]),
})
step = st.one_of(
    st.tuples(st.just("add"), post),
    st.tuples(st.just("edit"), post),
    st.tuples(st.just("rename"), st.integers(0, 10**6)),
    st.tuples(st.just("delete"), st.just(None)),
)


def markdown(fields: dict, serial: int) -> str:
    head = ["---", f"title: Post {serial}"]
    if fields.get("code"):
        head.append(f"code: {fields['code']}")
    if fields["month"]:
        head.append(f"date: {fields['month']}-{1 + serial % 27:02d}")
    if fields["category"]:
        head.append(f"category: {fields['category']}")
    if fields["language"]:
        head.append(f"language: {fields['language']}")
    if fields["authors"]:
        head.append(f"authors: [{', '.join(fields['authors'])}]")
    if fields["tags"]:
        head.append(f"tags: [{', '.join(fields['tags'])}]")
    body = [f"Report number {serial}." + " More words." * fields["words"]]
    for url, credit in fields["photos"]:
        caption = f"A view (Photo by {credit})" if credit else "A view of the quay"
        body.append(f"![{caption}]({url})\n\n{caption}")
    return "\n".join(head + ["---", ""] + body) + "\n"


class Folder:
    """Posts written as files, each with a later modification time than the last."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        self.serial = 0
        self.clock = 1_700_000_000

    def files(self) -> list[Path]:
        return sorted(self.root.glob("*.md"))

    def write(self, path: Path, fields: dict) -> None:
        self.serial += 1
        self.clock += 10
        path.write_text(markdown(fields, self.serial), encoding="utf-8")
        os.utime(path, (self.clock, self.clock))

    def apply(self, kind: str, value, pick: int) -> None:
        files = self.files()
        if kind == "add" or not files:
            self.write(self.root / f"post-{self.serial:04d}.md", value if kind in ("add", "edit") else _plain())
        elif kind == "edit":
            self.write(files[pick % len(files)], value)
        elif kind == "rename":
            files[pick % len(files)].rename(self.root / f"renamed-{value}-{self.serial}.md")
            self.serial += 1
        else:
            files[pick % len(files)].unlink()


def _plain() -> dict:
    return {"month": "2024-01", "category": "world", "language": "en", "authors": [], "tags": [], "photos": [],
            "words": 0}


def summary_rows(db: Path) -> dict[str, list[tuple]]:
    """Each summary table's rows in the order a page reads them without an ORDER BY
    (rowid), and _credit_photos's sorted: its rowids follow the posts', which differ
    between an update and a full build (the index the page reads orders it fully)."""
    conn = sqlite3.connect(db)
    try:
        out = {table: conn.execute(f"SELECT * FROM [{table}] ORDER BY rowid").fetchall()
               for table in ("monthly_posts", "monthly_credits", "reused_photos", "_facet_counts", "_facet_cube")}
        out["_credit_photos"] = sorted(conn.execute("SELECT * FROM _credit_photos").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def table_rows(db: Path) -> tuple[dict[str, int], dict[str, int]]:
    """(_table_rows as stored, every table counted here: a full-text index by reading it)."""
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT name, rows FROM _table_rows"))
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                 if not r[0].startswith("sqlite_")]
        counted = {name: conn.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0] for name in names}
        return stored, counted
    finally:
        conn.close()


def assert_update_equals_full(folder: Path, db: Path, full: Path) -> None:
    full.unlink(missing_ok=True)
    build(folder, full, quiet=True, full=True, allow_shrink=True)
    assert summary_rows(db) == summary_rows(full)
    stored, counted = table_rows(db)
    assert stored == counted
    full_stored, _ = table_rows(full)
    assert {k: v for k, v in stored.items() if k not in HISTORY} == {
        k: v for k, v in full_stored.items() if k not in HISTORY}


@pytest.fixture
def every_update_kept(monkeypatch):
    """An update of a few posts of a dozen is past the share at which it counts
    everything (its changed ids, old and new, may even outnumber the posts): lifted, so
    every update here keeps the summaries."""
    monkeypatch.setattr(summaries, "DELTA_SHARE", float("inf"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.lists(post, min_size=3, max_size=8),
       steps=st.lists(st.tuples(step, st.integers(0, 50)), min_size=1, max_size=6))
def test_an_update_keeps_the_summaries_a_full_build_counts(tmp_path_factory, every_update_kept, start, steps):
    root = tmp_path_factory.mktemp("kept")
    folder = Folder(root / "posts")
    for fields in start:
        folder.apply("add", fields, 0)
    db, full = root / "news.db", root / "full.db"
    assert build(folder.root, db, quiet=True, allow_shrink=True).timings.get("summaries:full") is not None
    for (kind, value), pick in steps:
        folder.apply(kind, value, pick)
        done = build(folder.root, db, quiet=True, allow_shrink=True)
        if done.written:
            assert "summaries:delta" in done.timings
        assert_update_equals_full(folder.root, db, full)


def test_photos_reused_and_unreused_and_a_post_moved_everywhere(tmp_path, every_update_kept):
    """The planted case: one photo in two posts, then in one, then in three; a post
    moved to another month, category, language, credit, authors and tags."""
    folder = Folder(tmp_path / "posts")
    shared = (PHOTOS[0], "Jo Park")
    a, b, c = (folder.root / f"{name}.md" for name in "abc")
    base = {"month": "2024-01", "category": "world", "language": "en", "authors": ["Ana Lima"], "tags": ["boats"],
            "words": 0}
    folder.write(a, {**base, "photos": [shared]})
    folder.write(b, {**base, "photos": [shared, (PHOTOS[1], "AP")]})
    folder.write(c, {**base, "photos": []})
    db, full = tmp_path / "news.db", tmp_path / "full.db"
    build(folder.root, db, quiet=True, allow_shrink=True)
    assert sorted(n for _, n in sqlite3.connect(db).execute("SELECT image_id, posts FROM reused_photos")) == [2]
    folder.write(b, {**base, "photos": [(PHOTOS[1], "AP")]})  # unshared
    assert "summaries:delta" in build(folder.root, db, quiet=True, allow_shrink=True).timings
    assert_update_equals_full(folder.root, db, full)
    assert sqlite3.connect(db).execute("SELECT count(*) FROM reused_photos").fetchone() == (0,)
    folder.write(b, {**base, "photos": [shared, shared]})  # twice in one post: still one post
    folder.write(c, {"month": "2023-11", "category": "sport", "language": "fr", "authors": ["Kim Lee", "Kim Lee"],
                     "tags": ["rain", "quay"], "photos": [shared, (PHOTOS[2], None)], "words": 2})
    assert "summaries:delta" in build(folder.root, db, quiet=True, allow_shrink=True).timings
    assert_update_equals_full(folder.root, db, full)
    assert sorted(n for _, n in sqlite3.connect(db).execute("SELECT image_id, posts FROM reused_photos")) == [3]


def test_an_update_of_many_posts_or_of_summaries_counted_otherwise_counts_everything(tmp_path):
    folder = Folder(tmp_path / "posts")
    for n in range(12):
        folder.apply("add", {**_plain(), "photos": [(PHOTOS[n % 3], "AP")]}, 0)
    db, full = tmp_path / "news.db", tmp_path / "full.db"
    build(folder.root, db, quiet=True, allow_shrink=True)
    folder.apply("edit", {**_plain(), "category": "sport"}, 3)
    assert "summaries:delta" in build(folder.root, db, quiet=True, allow_shrink=True).timings  # 1 post of 12: under DELTA_SHARE
    for pick in range(3):
        folder.apply("edit", {**_plain(), "month": "2024-02"}, pick)
    assert "summaries:full" in build(folder.root, db, quiet=True, allow_shrink=True).timings  # 3 of 12: over it
    assert_update_equals_full(folder.root, db, full)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE _relations SET value = '\"other rules\"' WHERE key = ?", (summaries.SETTINGS_KEY,))
    conn.execute("UPDATE monthly_posts SET posts = posts + 7")  # what other rules counted
    conn.commit()
    conn.close()
    folder.apply("edit", {**_plain(), "language": "fr"}, 5)
    assert "summaries:full" in build(folder.root, db, quiet=True, allow_shrink=True).timings
    assert_update_equals_full(folder.root, db, full)
