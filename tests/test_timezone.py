"""archive.yml's `timezone`: dates written without a zone are read in it, as Jekyll reads
them in its site's `timezone`, and stored in UTC; dates with a zone are untouched; a
changed zone rebuilds every post, so that an update equals a full build."""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from newsarchive.build.pipeline import build
from newsarchive.parse.fields import read_naive_dates_in

from .test_build import dump

UTC = dt.timezone.utc
#: file -> (frontmatter date or None, the wall time it names in the archive's zone, or an
#: aware moment when the date carries its own zone).
POSTS = {
    "winter.md": ("2024-01-15 09:30", dt.datetime(2024, 1, 15, 9, 30)),
    "summer.md": ("2024-07-15T09:30:00", dt.datetime(2024, 7, 15, 9, 30)),
    "date-only.md": ("2024-03-01", dt.datetime(2024, 3, 1)),
    "summer-date-only.md": ("2024-06-30", dt.datetime(2024, 6, 30)),
    "written-out.md": ("October 11, 2016", dt.datetime(2016, 10, 11)),
    "2024-08-01-from-the-file-name.md": (None, dt.datetime(2024, 8, 1)),
    "explicit-utc.md": ("2024-07-15T09:30:00Z", dt.datetime(2024, 7, 15, 9, 30, tzinfo=UTC)),
    "explicit-offset.md": ("2024-01-15 09:30:00 -0400", dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))),
    "jekyll-zone-name.md": ("2014-06-03 11:02:00 EST", dt.datetime(2014, 6, 3, 11, 2, tzinfo=dt.timezone(dt.timedelta(hours=-5)))),
}


@pytest.fixture(autouse=True)
def utc_afterwards():
    """A build leaves its zone set for the parser of this process; later tests parse in UTC."""
    yield
    read_naive_dates_in(None)


def write_folder(folder: Path, zone: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "archive.yml").write_text(f"title: Zones\n" + (f"timezone: {zone}\n" if zone else ""), encoding="utf-8")
    for name, (date, _) in POSTS.items():
        front = f"title: {name}\n" + (f"date: {date}\n" if date else "")
        (folder / name).write_text(f"---\n{front}---\n\nBody of {name}.\n", encoding="utf-8")
    return folder


def expected(zone: str | None) -> dict[str, str]:
    """What each post's published_at must be, worked out with zoneinfo alone."""
    out = {}
    for name, (_, moment) in POSTS.items():
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
        out[name] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return out


def published(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT path, published_at FROM posts"))
    finally:
        conn.close()


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Asia/Kolkata", None])
def test_naive_dates_are_read_in_the_archives_zone(tmp_path, zone):
    db = tmp_path / "news.db"
    build(write_folder(tmp_path / "posts", zone), db, quiet=True)
    assert published(db) == expected(zone)


def test_the_build_option_wins_over_the_file(tmp_path):
    db = tmp_path / "news.db"
    build(write_folder(tmp_path / "posts", "Europe/Paris"), db, quiet=True, identity={"timezone": "America/New_York"})
    assert published(db) == expected("America/New_York")


def test_a_changed_zone_rebuilds_every_post_as_a_full_build_would(tmp_path):
    posts = write_folder(tmp_path / "posts", "Europe/Paris")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    write_folder(posts, "America/New_York")  # only archive.yml's zone changes
    summary = build(posts, db, quiet=True)
    assert any("America/New_York" in note for note in summary.notes), summary.notes
    assert published(db) == expected("America/New_York")
    full = tmp_path / "full.db"
    build(posts, full, quiet=True, full=True)
    assert dump(db) == dump(full)


def test_an_unchanged_zone_keeps_the_update_incremental(tmp_path):
    posts = write_folder(tmp_path / "posts", "Europe/Paris")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    (posts / "winter.md").write_text("---\ntitle: changed\ndate: 2024-01-15 10:45\n---\n\nChanged.\n", encoding="utf-8")
    summary = build(posts, db, quiet=True)
    assert (summary.updated, summary.notes) == (1, [])
    want = dt.datetime(2024, 1, 15, 10, 45, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
    assert published(db)["winter.md"] == want.strftime("%Y-%m-%dT%H:%M:%S.000Z")
