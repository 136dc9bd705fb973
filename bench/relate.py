#!/usr/bin/env python3
"""The relations stages: alone on a built database, or in updates of one file.

    .venv/bin/python bench/relate.py DB              # both stages, each in its own process
    .venv/bin/python bench/relate.py DB --stage related
    .venv/bin/python bench/relate.py DB --changed 1,100,1000
    .venv/bin/python bench/relate.py --plant 1000 POSTS
    .venv/bin/python bench/relate.py --update POSTS --against REV --runs 3

On a database, each stage (newsarchive.relate: reprints, related posts) runs in a
fresh process that computes the rows and counts them without writing, so its peak RSS
is the stage's own (plus the interpreter and numpy/scipy, printed apart). The database
is only read.

With --changed, the reprints stage's update of K posts (drawn at random, marked
changed in `_reprint_posts`) is timed against its full pass with and without writing
its index, three times each, interleaved; each in a transaction rolled back, so the
database is left as it was.

With --plant K, K posts of POSTS (drawn with a fixed seed) get two copies each in
POSTS/0000-copies/, five words of the body changed and a new code: reprint groups of
three, for a generated corpus has none. The copies sort first, so --update edits them.

With --update, POSTS (a copy of a corpus: its files are edited) is built in full
once by this checkout and once by commit REV (a worktree, as bench/ab.py makes), each
into its own database under bench/out/relate-update/; then each run appends a
sentence to one file and updates both databases, in alternating order, and the
table gives each side's wall time and its reprints and related stages.
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

from newsarchive.db.files import open_read_only  # noqa: E402


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def measure(db: str, stage: str) -> str:
    import numpy  # noqa: F401  (loaded before the baseline, as the build has it loaded)
    from scipy import sparse  # noqa: F401

    from newsarchive.relate.related import find_related
    from newsarchive.relate.reprints import find_reprints

    conn = open_read_only(db)
    baseline = peak_mib()
    started = time.perf_counter()
    if stage == "related":
        rows = sum(len(chunk.posts) for chunk in find_related(conn))
    else:
        rows = len(find_reprints(conn))
    return (f"{stage}: {rows:,} rows in {time.perf_counter() - started:.1f} s; "
            f"peak RSS {peak_mib()} MiB (imports {baseline} MiB)")


def changed(db: str, counts: list[int], runs: int = 3) -> int:
    import random
    import statistics

    from newsarchive.relate.reprint_index import changed_posts
    from newsarchive.relate.reprint_update import full_pass, update_reprints
    from newsarchive.relate.reprints import DEFAULT_THRESHOLD, find_reprints

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = MEMORY")  # a rollback needs a journal
    conn.execute("PRAGMA cache_size = -16384")  # the build's (build.write.WRITER_CACHE_KIB)
    ids = [row[0] for row in conn.execute("SELECT post_id FROM _reprint_posts")]
    (copies,) = conn.execute("SELECT count(*) FROM reprints").fetchone()
    print(f"{db}: {len(ids):,} posts compared, {copies:,} reprint rows")
    rng = random.Random(1)

    def rolled_back(work):
        conn.execute("BEGIN")
        try:
            started = time.perf_counter()
            result = work()
            return time.perf_counter() - started, result
        finally:
            conn.execute("ROLLBACK")

    def update(count: int):
        conn.executemany("UPDATE _reprint_posts SET sha256 = 'changed' WHERE post_id = ?",
                         [(post,) for post in rng.sample(ids, count)])
        started = time.perf_counter()
        changes = changed_posts(conn)
        found = time.perf_counter() - started
        return found, update_reprints(conn, DEFAULT_THRESHOLD, changes)

    for count in counts:
        seconds, (found, done) = rolled_back(lambda: update(count))
        print(f"{count:,} posts changed: update {seconds:.2f} s (what changed found in {found:.2f} s); "
              f"{done.visited:,} posts looked up, {done.candidates:,} pairs compared")
    indexed, alone = [], []
    for _ in range(runs):
        indexed.append(rolled_back(lambda: full_pass(conn, DEFAULT_THRESHOLD))[0])
        alone.append(rolled_back(lambda: find_reprints(conn, DEFAULT_THRESHOLD))[0])
    for label, seconds in (("full pass, index written", indexed), ("full pass, no index", alone)):
        print(f"{label}: median {statistics.median(seconds):.2f} s ({', '.join(f'{s:.2f}' for s in seconds)})")
    conn.close()
    return 0


def plant(posts: Path, count: int) -> int:
    import random
    import re

    rng = random.Random(7)
    folder = posts / "0000-copies"
    files = sorted(p for p in posts.rglob("*.md") if folder not in p.parents)
    folder.mkdir(exist_ok=True)
    for n, source in enumerate(rng.sample(files, min(count, len(files)))):
        head, body = source.read_text(encoding="utf-8").split("\n---\n", 1)
        for copy in range(2):
            words = body.split(" ")
            for _ in range(5):
                at = rng.randrange(len(words))
                if re.fullmatch(r"[a-z]+", words[at]):
                    words[at] = "reprinted"
            coded = re.sub(r'code: "([^"]*)"', lambda m: f'code: "{m.group(1)}R{copy}"', head)
            (folder / f"{n:04d}-{copy}.md").write_text(coded + "\n---\n" + " ".join(words), encoding="utf-8")
    print(f"{folder}: {2 * min(count, len(files)):,} copies of {min(count, len(files)):,} posts")
    return 0


#: What the update mode reports of each build, from its --timings line.
STAGES = ("reprints", "related")


def updates(posts: Path, rev: str, runs: int) -> int:
    from bench.ab import checkout, stage_times
    from bench.run import BUILD_DB, OUT, fmt_seconds, log, median, run_measured

    tree, sha = checkout(rev)
    sides = {"this checkout": BUILD_DB, f"commit {sha}": tree / "build_db.py"}
    folder = OUT / "relate-update"
    folder.mkdir(parents=True, exist_ok=True)
    dbs = {label: folder / f"{label.replace(' ', '-')}.db" for label in sides}
    files = sorted(posts.rglob("*.md"))
    if not files:
        raise SystemExit(f"{posts}: no posts")
    measured = {label: [] for label in sides}

    def build(label: str, *extra: str):
        script = sides[label]
        return run_measured([sys.executable, str(script), str(posts), "--db", str(dbs[label]), "-q", "--timings",
                             *extra], cwd=script.parent)

    for label in sides:
        log(f"{label}: full build of {posts}")
        full = build(label, "--full")
        times = stage_times(full.stdout)
        print(f"{label}: full build {fmt_seconds(full.seconds)}; "
              + ", ".join(f"{stage} {times.get(stage, 0):.2f} s" for stage in STAGES)
              + f"; database {dbs[label].stat().st_size / 2**20:,.0f} MiB", flush=True)
    for i in range(runs):
        with open(files[i % len(files)], "a", encoding="utf-8") as post:
            post.write(f"\nOne more sentence for update {i + 1}, to change this post's body.\n")
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for label in order:
            log(f"{label}: update {i + 1}/{runs}, one file changed")
            run = build(label)
            if "updated 1," not in run.stdout:
                raise SystemExit(f"{label}: the update did not update one post:\n{run.stdout}")
            measured[label].append(run)
    print(f"\nUpdate of one file of {len(files):,}, interleaved, {runs} runs each (median seconds):\n")
    print("| version | wall | " + " | ".join(STAGES) + " | runs |")
    print("|---|---|" + "---|" * len(STAGES) + "---|")
    for label, done in measured.items():
        times = [stage_times(r.stdout) for r in done]
        cells = [f"{median([t.get(stage, 0.0) for t in times]):.2f}" for stage in STAGES]
        print(f"| {label} | {fmt_seconds(median([r.seconds for r in done]))} | " + " | ".join(cells)
              + f" | {', '.join(f'{r.seconds:.2f}' for r in done)} |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/relate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("db", nargs="?", help="a database built by news-archive build (--plant: a folder of posts)")
    parser.add_argument("--stage", choices=("reprints", "related"), help="one stage only, in this process")
    parser.add_argument("--changed", metavar="K,K...", help="the reprints update of K changed posts, against the full pass")
    parser.add_argument("--plant", type=int, metavar="K", help="give K posts of the folder DB names two copies each")
    parser.add_argument("--update", type=Path, metavar="POSTS", help="updates of one file of POSTS (it is edited)")
    parser.add_argument("--against", default="HEAD", metavar="REV", help="the commit to compare with (--update)")
    parser.add_argument("--runs", type=int, default=3, help="updates of each version (--update; default 3)")
    opts = parser.parse_args(argv)
    if opts.plant is not None:
        if opts.db is None or not Path(opts.db).is_dir():
            parser.error(f"--plant: {opts.db}: no such folder of posts")
        return plant(Path(opts.db), opts.plant)
    if opts.update is not None:
        if not opts.update.is_dir():
            parser.error(f"{opts.update}: no such folder")
        return updates(opts.update.resolve(), opts.against, opts.runs)
    if opts.db is None or not Path(opts.db).is_file():
        parser.error(f"{opts.db}: no such database" if opts.db else "give a database, or --update POSTS")
    if opts.changed:
        try:
            counts = [int(count) for count in opts.changed.split(",")]
        except ValueError:
            parser.error(f"--changed {opts.changed}: give numbers of posts, as 1,100,1000")
        return changed(opts.db, counts)
    if opts.stage:
        print(measure(opts.db, opts.stage), flush=True)
        return 0
    status = 0
    for stage in ("reprints", "related"):
        status |= subprocess.call([sys.executable, __file__, opts.db, "--stage", stage])
    return status


if __name__ == "__main__":
    sys.exit(main())
