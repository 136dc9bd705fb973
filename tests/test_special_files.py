"""A post swapped for a FIFO (or another special file) while a build runs: the build
reads past it, records the file, and never waits on it."""
from __future__ import annotations

import os
import threading

from newsarchive.build import build
from newsarchive.build.plan import Task, file_sha256
from newsarchive.build.scan import scan
from newsarchive.build.workers import PARALLEL_THRESHOLD, ParseFailure, ParseResult, parse_all

from .conftest import rows, write_posts

POST = "---\ntitle: Post {n}\ndate: 2024-01-{day:02d}\n---\n\nBody of post {n}.\n"
#: Seconds a call may take before it counts as hung (each returns in well under one).
HUNG = 60


def _posts(folder, count: int):
    return write_posts(folder, {f"p{n:04d}.md": POST.format(n=n, day=n % 28 + 1) for n in range(count)})


def _finishes(call):
    """Run call in a thread; its result, or fail the test if it is still waiting after HUNG s."""
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("value", call()), daemon=True)
    worker.start()
    worker.join(HUNG)
    assert not worker.is_alive(), "blocked on the FIFO"
    return out["value"]


def _swap_for_fifo(path) -> None:
    os.unlink(path)
    os.mkfifo(path)


def _parse_after_swap(tmp_path, count: int, jobs: int):
    posts = _posts(tmp_path / "posts", count)
    files, _ = scan(posts)
    assert len(files) == count
    _swap_for_fifo(files[3].abspath)  # after the scan saw a regular file
    tasks = [Task(f.path, f.abspath) for f in files]
    return files[3].path, _finishes(lambda: list(parse_all(tasks, jobs)))


def test_a_fifo_swapped_in_after_the_scan_is_a_recorded_failure_in_process(tmp_path):
    fifo, results = _parse_after_swap(tmp_path, 5, jobs=1)
    failures = [r for r in results if isinstance(r, ParseFailure)]
    assert [(f.path, f.message) for f in failures] == [
        (fifo, "cannot read the file (not a regular file: a FIFO, socket or device)")
    ]
    assert sum(isinstance(r, ParseResult) for r in results) == 4


def test_a_fifo_swapped_in_after_the_scan_is_a_recorded_failure_in_the_workers(tmp_path):
    count = PARALLEL_THRESHOLD + 10  # enough files for the worker processes
    fifo, results = _parse_after_swap(tmp_path, count, jobs=2)
    failures = [r for r in results if isinstance(r, ParseFailure)]
    assert [f.path for f in failures] == [fifo]
    assert "not a regular file" in failures[0].message
    assert sum(isinstance(r, ParseResult) for r in results) == count - 1


def test_the_plans_content_check_does_not_wait_on_a_fifo(tmp_path):
    fifo = tmp_path / "touched.md"
    os.mkfifo(fifo)
    assert _finishes(lambda: file_sha256(str(fifo))) is None


def test_a_build_with_a_fifo_in_the_folder_names_it_and_builds_the_rest(tmp_path):
    posts = _posts(tmp_path / "posts", 10)  # one post lost is under the shrink guard's share
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    _swap_for_fifo(posts / "p0001.md")
    summary = _finishes(lambda: build(posts, db, quiet=True))
    assert summary.written and summary.removed == 1
    assert rows(db, "SELECT path FROM posts ORDER BY path") == [(f"p{n:04d}.md",) for n in range(10) if n != 1]
    assert rows(db, "SELECT path, level, message FROM current_errors") == [
        ("p0001.md", "skipped", "skipped: not a regular file")
    ]
