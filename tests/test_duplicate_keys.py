"""A frontmatter key written twice keeps the post: the last value wins (as PyYAML and
Jekyll read it), the build records a warning naming both lines, the earlier value
stays in posts.extra, and the export gives the file back byte for byte."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import yaml

from newsarchive.build.pipeline import build
from newsarchive.export import export

from .conftest import ROOT, rows, write_posts
from .test_build import dump

#: As a translator leaves it: the English title above the translated one.
TRANSLATED = (
    "---\n"
    'code: "ART2411200800ESP001"\n'
    'title: "Harbour reopens after the storm"\n'
    "language: es\n"
    'title: "El puerto reabre tras la tormenta"\n'
    "date: 2024-11-20T08:00:00Z\n"
    "---\n\n"
    "El puerto de Port Alder reabrió el lunes.\n"
)
PLAIN = '---\ntitle: "A post with one title"\ndate: 2024-11-21\n---\n\nBody.\n'
WARNING = ("key 'title' is written twice, on lines 3 and 5: the value on line 5 is kept, "
           "the one on line 3 is in extra as 'title (line 3)'")


def test_a_title_written_twice_keeps_the_post_with_its_last_value(tmp_path):
    posts = write_posts(tmp_path / "posts", {"es/translated.md": TRANSLATED, "plain.md": PLAIN})
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert (summary.added, summary.failed, summary.posts) == (2, 0, 2)
    # What PyYAML itself reads: the last title.
    assert yaml.safe_load(TRANSLATED.split("---\n")[1])["title"] == "El puerto reabre tras la tormenta"
    (title, extra), = rows(db, "SELECT title, extra FROM posts WHERE id = 'ART2411200800ESP001'")
    assert title == "El puerto reabre tras la tormenta"
    assert json.loads(extra) == {"title (line 3)": "Harbour reopens after the storm"}
    assert rows(db, "SELECT path, line, level, message FROM current_errors") == [("es/translated.md", 3, "warning", WARNING)]
    assert [str(p) for p in summary.problems] == [f"es/translated.md:3: warning: {WARNING}"]
    # A full-text search finds the post by its kept title.
    assert rows(db, "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH 'tormenta'") == [(1,)]

    out = tmp_path / "out"
    assert export(db, out) == 2
    assert (out / "es" / "translated.md").read_bytes() == TRANSLATED.encode()
    assert (out / "plain.md").read_bytes() == PLAIN.encode()


def test_warnings_are_listed_and_leave_the_exit_status_alone(tmp_path):
    posts = write_posts(tmp_path / "posts", {"es/translated.md": TRANSLATED})
    db = tmp_path / "news.db"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True, text=True, cwd=ROOT)

    check = cli("check", posts)
    assert check.returncode == 0, check.stdout
    assert check.stdout.splitlines() == [f"es/translated.md:3: warning: {WARNING}", "checked 1 files: 1 good, 0 failed, 0 skipped"]
    built = cli("build", posts, "--db", db, "--strict")
    assert built.returncode == 0, built.stderr
    assert f"es/translated.md:3: warning: {WARNING}" in built.stderr
    assert "added 1" in built.stdout and "failed 0" in built.stdout


def test_an_update_reports_the_warnings_of_unchanged_files_as_a_full_build_does(tmp_path):
    posts = write_posts(tmp_path / "posts", {"es/translated.md": TRANSLATED, "plain.md": PLAIN})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    again = build(posts, db, quiet=True)
    assert not again.written and [p.level for p in again.problems] == ["warning"]
    later = time.time() + 5
    write_posts(posts, {"new.md": "---\ntitle: New\ntitle: Newer\n---\nBody.\n"})
    (posts / "plain.md").write_text(PLAIN.replace("one title", "one changed title"))
    os.utime(posts / "plain.md", (later, later))
    update = build(posts, db, quiet=True)
    assert (update.added, update.updated, update.unchanged) == (1, 1, 1)
    full = tmp_path / "full.db"
    build(posts, full, quiet=True)
    assert dump(db) == dump(full)
    assert rows(db, "SELECT path, line FROM current_errors ORDER BY path") == [("es/translated.md", 3), ("new.md", 2)]
    # The earlier title fixed: the warning goes with it.
    (posts / "es" / "translated.md").write_text(TRANSLATED.replace('title: "Harbour reopens after the storm"\n', ""))
    os.utime(posts / "es" / "translated.md", (later, later))
    build(posts, db, quiet=True)
    assert rows(db, "SELECT path FROM current_errors") == [("new.md",)]
    assert rows(db, "SELECT extra FROM posts WHERE id = 'ART2411200800ESP001'") == [(None,)]


def test_a_post_that_loses_its_id_keeps_its_warnings_once(tmp_path):
    """An unchanged file with a warning, whose id a new file that sorts first takes:
    it is written again under its path, its warnings reported once beside the id's,
    as in a full build."""
    posts = write_posts(tmp_path / "posts", {"b.md": TRANSLATED})
    db = tmp_path / "news.db"
    first = build(posts, db, quiet=True)
    write_posts(posts, {"a.md": TRANSLATED.replace('title: "Harbour reopens after the storm"\n', "")})
    update = build(posts, db, quiet=True)
    own = [p.message for p in first.problems]
    assert own and all(p.path == "b.md" and p.level == "warning" for p in update.problems)
    assert sorted(p.message for p in update.problems if "is also a.md's" not in p.message) == sorted(own)
    assert len(update.problems) == len(own) + 1
    full = tmp_path / "full.db"
    build(posts, full, quiet=True)
    assert dump(db) == dump(full)
