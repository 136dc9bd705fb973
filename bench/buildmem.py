#!/usr/bin/env python3
"""The build's memory: peak RSS of the process tree for a full build, an update with
nothing changed and an update with one file changed, and each process's own peak.

    .venv/bin/python bench/buildmem.py bench/out/n100000/posts
    .venv/bin/python bench/buildmem.py POSTS --build-db bench/out/ab/<sha>/build_db.py
    .venv/bin/python bench/buildmem.py POSTS --db /tmp/x.db --skip-full   # updates of an existing database

The tree is sampled every 50 ms as bench/run.py samples it (bench/procs.py). The file
changed is the middle one by path; it gets its bytes and modification time back at
the end, so the corpus stays the generator's.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import TreeSampler  # noqa: E402

MIB = 1 << 20
#: Seconds from the command's start to the build's clock (interpreter start-up).
START_SECONDS = 0.5


def measure(cmd: list[str], label: str) -> None:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid, 0.05)
    sampler.start()
    try:
        out, err = proc.communicate()
    finally:
        peak = sampler.stop()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label}: the build exited {proc.returncode}: {(err or out).strip().splitlines()[-1:]}")
    own = sampler.peaks.get(proc.pid, 0)
    others = sorted((rss for pid, rss in sampler.peaks.items() if pid != proc.pid), reverse=True)
    at_peak = sampler.at_peak.get(proc.pid, 0)
    print(f"{label}: {seconds:.1f} s, tree peak {peak / MIB:.0f} MiB (the build {at_peak / MIB:.0f} MiB of it); "
          f"the build's own peak {own / MIB:.0f} MiB; other processes' peaks "
          f"{', '.join(f'{rss / MIB:.0f}' for rss in others) or 'none'} MiB", flush=True)
    timings = next((line for line in out.splitlines() if line.startswith("timings:")), None)
    if timings:
        print(f"  {timings}", flush=True)
        print(f"  tree peak by stage (MiB): {stage_peaks(timings, sampler)}", flush=True)


def stage_peaks(timings: str, sampler: TreeSampler) -> str:
    """The tree's peak in each stage, the stages placed in time by their durations (so
    a sample near a stage's end may count for the next)."""
    ends, total = [], START_SECONDS
    for name, seconds in re.findall(r"([\w+]+) ([\d.]+) s", timings[len("timings:"):]):
        total += float(seconds)
        ends.append((total, name))
    peaks: dict[str, int] = {}
    for at, rss in zip(sampler.times, sampler.samples):
        name = next((name for end, name in ends if at <= end), "after")
        peaks[name] = max(peaks.get(name, 0), rss)
    return ", ".join(f"{name} {rss / MIB:.0f}" for name, rss in peaks.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("posts", type=Path)
    parser.add_argument("--db", type=Path, help="the database (default: a temporary one, deleted at the end)")
    parser.add_argument("--build-db", type=Path, default=ROOT / "build_db.py", help="the build script to run")
    parser.add_argument("--skip-full", action="store_true", help="only the updates, of --db as it is")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as scratch:
        db = opts.db or Path(scratch) / "news.db"
        base = [sys.executable, str(opts.build_db), str(opts.posts), "--db", str(db), "-q", "--timings"]
        if not opts.skip_full:
            measure([*base, "--full"], "full build")
        measure(base, "update, nothing changed")
        files = sorted(str(p.relative_to(opts.posts)) for p in opts.posts.rglob("*.md"))
        target = opts.posts / files[len(files) // 2]
        original, stat = target.read_bytes(), target.stat()
        try:
            with target.open("ab") as f:
                f.write(b" The benchmark appended a sentence to this post.")
            measure(base, "update, one file changed")
        finally:
            target.write_bytes(original)
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
