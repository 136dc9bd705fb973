#!/usr/bin/env python3
"""Time and peak memory of the relations stages alone, on a built database.

    .venv/bin/python bench/relate.py DB              # both stages, each in its own process
    .venv/bin/python bench/relate.py DB --stage related

Each stage (newsarchive.relate: reprints, related posts) runs in a fresh process that
computes the rows and counts them without writing, so its peak RSS is the stage's own
(plus the interpreter and numpy/scipy, printed apart). The database is only read.
"""
from __future__ import annotations

import argparse
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure(db: str, stage: str) -> str:
    import numpy  # noqa: F401  (loaded before the baseline, as the build has it loaded)
    from scipy import sparse  # noqa: F401

    from newsarchive.relate.related import find_related
    from newsarchive.relate.reprints import find_reprints

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    baseline = peak_mib()
    started = time.perf_counter()
    rows = sum(1 for _ in (find_related(conn) if stage == "related" else find_reprints(conn)))
    return (f"{stage}: {rows:,} rows in {time.perf_counter() - started:.1f} s; "
            f"peak RSS {peak_mib()} MiB (imports {baseline} MiB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/relate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("db", help="a database built by news-archive build")
    parser.add_argument("--stage", choices=("reprints", "related"), help="one stage only, in this process")
    opts = parser.parse_args(argv)
    if not Path(opts.db).is_file():
        parser.error(f"{opts.db}: no such database")
    if opts.stage:
        print(measure(opts.db, opts.stage), flush=True)
        return 0
    status = 0
    for stage in ("reprints", "related"):
        status |= subprocess.call([sys.executable, __file__, opts.db, "--stage", stage])
    return status


if __name__ == "__main__":
    sys.exit(main())
