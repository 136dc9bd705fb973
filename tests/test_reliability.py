"""Publishing never breaks what is served: a build killed at any point leaves the last
good database intact (the serve command's side: test_serve.py)."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from newsarchive.build import build
from newsarchive.serve import datasette_app
from newsarchive.db.check import check

from .conftest import ROOT, SAMPLE, close_app, rows
from .test_build import dump

KILL_SCRIPT = """
import os, signal, sys
from newsarchive.build import build
stage = sys.argv[3]
def stop(name):
    if name == stage:
        os.kill(os.getpid(), signal.SIGKILL)
build(sys.argv[1], sys.argv[2], quiet=True, full=sys.argv[4] == "full", stop_after=stop)
"""


def healthy(db: Path) -> dict:
    """Opens, passes every check, and serves: returns its content for comparison."""
    conn = sqlite3.connect(db)
    count = conn.execute("select count(*) from posts").fetchone()[0]
    assert check(conn, expected_posts=count) == []
    conn.close()
    import asyncio

    app = datasette_app(db, workdir=db.parent / f"serve-{time.monotonic_ns()}")
    try:
        response = asyncio.run(app.client.get(f"/{db.stem}.json?_shape=array&sql=select+count(*)+as+n+from+posts"))
    finally:
        close_app(app)
    assert response.status_code == 200 and response.json() == [{"n": count}]
    return dump(db)


@pytest.fixture()
def built(tmp_path):
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    # The next build has work to do: one post changed, one added, one removed.
    files = sorted(posts.rglob("*.md"))
    files[0].write_text(files[0].read_text(encoding="utf-8-sig") + "\n\nA late correction.\n", encoding="utf-8")
    files[1].unlink()
    (posts / "late.md").write_text("---\ntitle: Late news\ndate: 2024-12-31\n---\n\nBody.\n")
    return posts, db


@pytest.mark.parametrize("mode", ["incremental", "full"])
@pytest.mark.parametrize("stage", ["copied", "inserted", "committed", "checked"])
def test_sigkill_at_any_stage_keeps_the_previous_database(built, stage, mode):
    posts, db = built
    before = healthy(db)
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(posts), str(db), stage, mode], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert healthy(db) == before
    # The next build cleans up after the killed one and lands.
    summary = build(posts, db, quiet=True)
    assert summary.written and summary.posts == len(before["posts"])
    assert not list(db.parent.glob(".news.db.building-*"))
    assert healthy(db) != before


def test_the_replaced_database_is_deleted_after_the_build_while_a_reader_keeps_it(built):
    posts, db = built
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # as a running server holds it
    old_count = reader.execute("select count(*) from posts").fetchone()[0]
    old_ids = {r[0] for r in reader.execute("select id from posts")}
    summary = build(posts, db, quiet=True)
    assert summary.written
    # The old file is freed by a detached process after the build returned...
    wait_for(lambda: not list(db.parent.glob(".news.db.retired-*")))
    # ...and whoever still has it open reads it whole.
    assert reader.execute("select count(*) from posts").fetchone()[0] == old_count
    assert {r[0] for r in reader.execute("select id from posts")} == old_ids
    reader.close()
    assert {r[0] for r in sqlite3.connect(db).execute("select id from posts")} != old_ids


def test_a_retired_database_left_behind_is_deleted_by_the_next_build(built):
    posts, db = built
    left = db.with_name(".news.db.retired-999999")
    shutil.copyfile(db, left)  # as if the detached rm had been killed
    build(posts, db, quiet=True)
    wait_for(lambda: not list(db.parent.glob(".news.db.retired-*")))
    assert healthy(db)


def test_sigkill_at_arbitrary_moments_of_a_bigger_build(tmp_path):
    sys.path.insert(0, str(ROOT))
    from bench.generate import generate

    posts = tmp_path / "posts"
    generate(posts, 1500, seed=7)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    before = healthy(db)
    for path in sorted(posts.rglob("*.md"))[::50]:
        path.write_text(path.read_text() + "\n\nUpdated.\n")

    def command(target):
        return [sys.executable, str(ROOT / "build_db.py"), str(posts), "--db", str(target), "--full", "-q"]

    # What the interrupted builds would have made, and how long one takes on this
    # machine: the kills land at fractions of that, so a faster build (or machine)
    # still gets killed mid-way rather than after it finished.
    started = time.monotonic()
    subprocess.run(command(tmp_path / "after.db"), cwd=ROOT, check=True)
    duration = time.monotonic() - started
    after = healthy(tmp_path / "after.db")
    assert after != before

    interrupted = orphans = 0
    for fraction in (0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        process = subprocess.Popen(command(db), cwd=ROOT)
        time.sleep(duration * fraction)
        if process.poll() is not None:
            assert process.returncode == 0
            assert healthy(db) == after
            continue
        workers = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # The parser workers die with their build instead of waiting for work forever.
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"parser workers outlived their killed build: {alive}"
        orphans += len(workers)
        # Killed before its swap, the build left the old database; killed after it
        # (while it exits), the new one, whole. Never anything in between.
        state = healthy(db)
        assert state in (before, after), f"a build killed at {fraction:.0%} of {duration:.2f} s left a mixed database"
        interrupted += state == before  # (once one has landed, every state is `after`)
    assert interrupted >= 1, "every build swapped in before its kill: use a bigger corpus"
    assert orphans >= 1, "no parser worker was running at a kill"


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def tiny_posts(folder: Path, count: int) -> Path:
    """`count` one-line posts, 0000.md on: enough files for the build to use its workers."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:04d}.md").write_text(f"---\ntitle: Post {i}\n---\n\nBody {i}.\n")
    return folder


def test_a_worker_crash_loses_one_file_not_the_build(tmp_path, monkeypatch):
    """If a parser extension ever killed its process, only that file is lost."""
    from newsarchive.build import workers

    posts = tiny_posts(tmp_path / "posts", workers.PARALLEL_THRESHOLD + 50)
    real = workers.parse_file

    def crashing(task):
        if task[0] == "0123.md":
            os._exit(11)  # what a segfault in a C extension looks like to the pool
        return real(task)

    monkeypatch.setattr(workers, "parse_file", crashing)
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True, jobs=2)
    assert summary.posts == workers.PARALLEL_THRESHOLD + 49
    assert [str(p) for p in summary.problems] == [
        "0123.md: the parser crashed on this file (reported as a bug: please send it in)"
    ]


def test_a_parser_that_hangs_loses_one_file_not_the_build(tmp_path, monkeypatch):
    """A worker stuck on one file (a parser looping on some input, or a worker that
    never started) is killed after PARSE_TIMEOUT; its file is an error, the rest land."""
    from newsarchive.build import workers

    count = workers.PARALLEL_THRESHOLD + 50
    posts = tiny_posts(tmp_path / "posts", count)
    real = workers.parse_file

    def hanging(task):
        if task[0] == "0077.md":
            time.sleep(3600)
        return real(task)

    monkeypatch.setattr(workers, "parse_file", hanging)
    monkeypatch.setattr(workers, "PARSE_TIMEOUT", 3)
    db = tmp_path / "news.db"
    started = time.monotonic()
    summary = build(posts, db, quiet=True, jobs=2)
    # Once in the pool, once alone: two timeouts, not one per file of its window.
    assert time.monotonic() - started < 30
    assert summary.posts == count - 1
    assert [str(p) for p in summary.problems] == [
        "0077.md: the parser did not finish this file within 3 s (reported as a bug: please send it in)"
    ]
    assert rows(db, "select count(*) from build_errors where path = '0077.md'") == [(1,)]
    assert healthy(db)
    # No worker is left sleeping on the file.
    assert not multiprocessing.active_children()


def assert_refused_when_damaged(posts, db, checks, damage, message):
    """Damage the new database (`damage(conn)`) just before its checks: the build is
    refused with `message`, the old database kept, the temporary file gone."""
    from newsarchive.build import BuildRefused

    before = healthy(db)

    def corrupt(stage):
        if stage == "committed":
            (tmp,) = db.parent.glob(".news.db.building-*")
            conn = sqlite3.connect(tmp)
            damage(conn)
            conn.commit()
            conn.close()

    with pytest.raises(BuildRefused, match=message):
        build(posts, db, quiet=True, stop_after=corrupt, checks=checks)
    assert healthy(db) == before
    assert not list(db.parent.glob(".news.db.building-*"))


def _drop_a_post_from_the_index(conn):
    """Remove one post from the index but not from the table: FTS5's integrity-check sees it."""
    rowid, title, description, body_text = conn.execute(
        "select rowid, title, description, body_text from posts where title = 'Late news'").fetchone()
    conn.execute(
        "insert into posts_fts(posts_fts, rowid, title, description, body_text) values ('delete', ?, ?, ?, ?)",
        (rowid, title, description, body_text),
    )


def _tag_a_post_with_a_missing_tag(conn):
    post_id = conn.execute("select id from posts limit 1").fetchone()[0]
    conn.execute("insert into post_tags (post_id, tag, field) values (?, 'no such tag', 'tags')", (post_id,))


@pytest.mark.parametrize("checks, message", [
    ("full", "posts_fts integrity-check"),
    ("fresh", r"posts_fts integrity-check: \d+ documents indexed for \d+ rows"),
    ("changed", "missing from posts_fts"),
])
def test_a_build_that_fails_its_checks_is_not_swapped_in(built, checks, message):
    """Corrupt the new database's search index just before the checks: refused, old one kept."""
    posts, db = built
    assert_refused_when_damaged(posts, db, checks, _drop_a_post_from_the_index, message)


@pytest.mark.parametrize("checks", ["full", "fresh", "quick"])
def test_a_build_with_a_dangling_foreign_key_is_not_swapped_in(built, checks):
    posts, db = built
    assert_refused_when_damaged(posts, db, checks, _tag_a_post_with_a_missing_tag, "foreign_key_check: 1 rows point nowhere")


def test_a_full_build_checks_its_fresh_indexes_without_re_tokenising(built):
    posts, db = built
    summary = build(posts, db, quiet=True, full=True)
    assert summary.written and "checks:fresh" in summary.timings
    assert healthy(db)["posts"]


def test_changed_checks_pass_on_a_good_incremental_build(built):
    posts, db = built
    summary = build(posts, db, quiet=True, checks="changed")
    assert summary.written and summary.timings.get("checks:changed") is not None
    assert healthy(db)["posts"]


def test_the_build_pauses_the_collector_only_while_it_runs(tmp_path, monkeypatch):
    """The writer builds with the cyclic collector off and the workers with it on (and
    at a lower priority than the writer); the caller (a long-lived process, a test run)
    gets its collector back as it was, and nothing stays frozen."""
    import gc

    from newsarchive.build import workers

    count = workers.PARALLEL_THRESHOLD + 10
    posts = tiny_posts(tmp_path / "posts", count)
    real = workers.parse_file
    writer = os.getpid()

    def reporting(task):
        if task[0] == "0007.md":  # tells where it ran and whether that process collects
            return workers.ParseFailure(task[0], None,
                                        f"in writer: {os.getpid() == writer}, collecting: {gc.isenabled()}, niceness: {os.nice(0)}")
        return real(task)

    monkeypatch.setattr(workers, "parse_file", reporting)
    mine = os.nice(0)
    lowered = min(19, mine + workers.WORKER_NICENESS)
    assert lowered > mine or mine == 19
    for enabled, jobs, expected in [
        (True, 2, f"in writer: False, collecting: True, niceness: {lowered}"),
        (False, 2, f"in writer: False, collecting: True, niceness: {lowered}"),
        (True, 1, f"in writer: True, collecting: False, niceness: {mine}"),
    ]:
        (gc.enable if enabled else gc.disable)()
        in_writer = []
        try:
            summary = build(posts, tmp_path / f"news-{enabled}-{jobs}.db", quiet=True, jobs=jobs, full=True,
                            stop_after=lambda stage: in_writer.append(gc.isenabled()))
            assert gc.isenabled() is enabled
            assert gc.get_freeze_count() == 0
        finally:
            gc.enable()
        assert summary.posts == count - 1
        assert [p.message for p in summary.problems] == [expected]
        assert in_writer and not any(in_writer), "the writer collects nothing while it builds"
