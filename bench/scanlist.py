#!/usr/bin/env python3
"""What an update with nothing changed spends a file on its scan: the walk of the folder
(newsarchive.build.scan), and the build's file list filled and compared with the
`_files` of the database being updated (newsarchive.build.filelist).

Usage::

    .venv/bin/python bench/scanlist.py POSTS DB [--runs N]

POSTS is a folder DB was built from (for example one of `bench/generate.py`). Each run
walks the folder, then fills a file list with the rows it found and compares them with
DB's `_files`, as a build does; the CPU a file of each part is printed, median and
least of N runs. Run it from a worktree of another commit to compare the two.
"""
from __future__ import annotations

import argparse
import statistics
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("posts")
    parser.add_argument("db", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.db.is_file():
        sys.exit(f"{args.db}: no such database")
    runs = [run_once(args.posts, args.db) for _ in range(args.runs)]
    for name, values in zip(("walk", "file list"), zip(*runs)):
        print(f"{name:9s} {statistics.median(values):.2f} us a file (median of {args.runs}), least {min(values):.2f}")


if __name__ == "__main__":
    main()
