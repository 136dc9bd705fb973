#!/usr/bin/env python3
"""What an update with nothing changed spends a file on its scan: the walk of the folder
(newsarchive.build.scan), and the build's file list filled and compared with the
`_files` of the database being updated (newsarchive.build.filelist).

Usage::

    .venv/bin/python bench/scanlist.py POSTS DB [--runs N]
    .venv/bin/python bench/scanlist.py --synthetic 1000000 [--runs N]

POSTS is a folder DB was built from (for example one of `bench/generate.py`). Each run
walks the folder, then fills a file list with the rows it found and compares them with
DB's `_files`, as a build does; the CPU a file of each part is printed, median and
least of N runs. Run it from a worktree of another commit to compare the two.

--synthetic N times the list alone on N made-up rows in 60 folders, each folder's rows
in random order (as a folder lists them), against a `_files` of the same N rows
written to a temporary file first: what a list of a size no test corpus has costs.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # this checkout's newsarchive, from a worktree too

from newsarchive.build import scan as scanning  # noqa: E402
from newsarchive.build.filelist import FileList, State  # noqa: E402


def run_once(posts: str, db: Path) -> tuple[float, float]:
    """CPU a file, in microseconds, of the walk and of the list."""
    started = time.process_time()
    rows = [(f.path, f.size, f.mtime_ns) for f in scanning.walk(posts)]
    walked = time.process_time() - started
    with FileList() as files:
        files.compare_with(db)
        started = time.process_time()
        for start in range(0, len(rows), scanning.SCAN_BATCH):
            files.add(rows[start : start + scanning.SCAN_BATCH])
        if hasattr(files, "sort_in"):  # a list compared as the files are added has none
            files.sort_in()
        listed = time.process_time() - started
        if files.counts() != {State.UNCHANGED: len(rows)}:
            sys.exit(f"{posts} is not as {db} was built from it: something changed")
    return walked / len(rows) * 1e6, listed / len(rows) * 1e6


def synthetic_rows(count: int) -> list[tuple[str, int, int]]:
    names, order = random.Random(1), random.Random(2)
    per_folder = -(-count // 60)
    rows = []
    for folder in range(60):
        part = [(f"{2020 + folder // 12}/{folder % 12 + 1:02d}/{names.getrandbits(48):012x}.md", 4000 + i, 17 * 10**17 + i)
                for i in range(min(per_folder, count - len(rows)))]
        order.shuffle(part)
        rows += part
    return rows


def list_once(rows: list[tuple[str, int, int]], db: Path) -> float:
    """CPU a file, in microseconds, of the list alone."""
    with FileList() as files:
        files.compare_with(db)
        started = time.process_time()
        for start in range(0, len(rows), scanning.SCAN_BATCH):
            files.add(rows[start : start + scanning.SCAN_BATCH])
        if hasattr(files, "sort_in"):
            files.sort_in()
        listed = time.process_time() - started
        assert files.counts() == {State.UNCHANGED: len(rows)}
    return listed / len(rows) * 1e6


def synthetic(count: int, runs: int) -> None:
    rows = synthetic_rows(count)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "old.db"
        with sqlite3.connect(db) as conn:  # `_files` as db/schema.py declares it, filled in path order
            conn.execute("CREATE TABLE _files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                         " sha256 TEXT, post_id TEXT, id_line INTEGER)")
            conn.executemany("INSERT INTO _files VALUES (?, ?, ?, ?, ?, 3)",
                             ((p, size, mtime, f"{i:064x}", p[-15:-3]) for i, (p, size, mtime) in enumerate(sorted(rows))))
        conn.close()
        values = [list_once(rows, db) for _ in range(runs)]
    print(f"file list {statistics.median(values):.2f} us a file (median of {runs}), least {min(values):.2f}, {count:,} files")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("posts", nargs="?")
    parser.add_argument("db", type=Path, nargs="?")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--synthetic", type=int, metavar="N", help="time the list alone on N made-up files")
    args = parser.parse_args()
    if args.synthetic:
        synthetic(args.synthetic, args.runs)
        return
    if args.db is None:
        parser.error("give POSTS and DB, or --synthetic N")
    if not args.db.is_file():
        sys.exit(f"{args.db}: no such database")
    runs = [run_once(args.posts, args.db) for _ in range(args.runs)]
    for name, values in zip(("walk", "file list"), zip(*runs)):
        print(f"{name:9s} {statistics.median(values):.2f} us a file (median of {args.runs}), least {min(values):.2f}")


if __name__ == "__main__":
    main()
