#!/usr/bin/env python3
"""Full builds of this checkout against another commit, interleaved on one corpus.

    .venv/bin/python bench/ab.py HEAD~3                  # 10,000 posts, 5 runs each
    .venv/bin/python bench/ab.py c50d2fc --posts 100000 --runs 2

These machines are noisy: the same code's 10,000-post build has ranged 3.5-4.7 s
within an hour. Two builds measured minutes apart say little about a change; runs of
the two versions taken alternately (A B A B ...), so that drift in the machine's load
hits both alike, do. The other commit is checked out with `git worktree` under
bench/out/ab/ (git-ignored) and built with the same Python and packages, so only our
code differs. Prints the medians, every run, and the ratio (this checkout / other).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import BUILD_DB, OUT, ensure_corpus, fmt_seconds, log, median, remove_db, run_measured  # noqa: E402


def checkout(rev: str) -> tuple[Path, str]:
    """A worktree of `rev` (reused while it points at the same commit)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = OUT / "ab" / sha[:12]
    if not (tree / "build_db.py").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=ROOT, check=True,
                       capture_output=True, text=True)
    # The project is installed editable (pointing at this checkout); a script's own
    # folder comes first on sys.path, so the worktree's build_db.py imports its own package.
    found = subprocess.run([sys.executable, "-c", "import newsarchive; print(newsarchive.__file__)"], cwd=tree,
                           check=True, capture_output=True, text=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the worktree would import newsarchive from {found}, not from {tree}")
    return tree, sha[:12]


def stage_times(stdout: str) -> dict[str, float]:
    """The build's `timings: scan 0.07 s, copy 0.00 s, ...` line as a dict."""
    line = next((l for l in stdout.splitlines() if l.startswith("timings: ")), "")
    return {name: float(value) for name, value in re.findall(r"([\w:+]+) ([\d.]+) s", line[len("timings: "):])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the commit to compare with (anything git rev-parse takes)")
    parser.add_argument("--posts", type=int, default=10_000, help="corpus size (default 10,000)")
    parser.add_argument("--runs", type=int, default=5, help="full builds of each version (default 5)")
    opts = parser.parse_args(argv)
    tree, sha = checkout(opts.rev)
    corpus = ensure_corpus(opts.posts)
    sides = {"this checkout": BUILD_DB, f"commit {sha}": tree / "build_db.py"}
    runs = {label: [] for label in sides}
    db = corpus.path.parent / "ab.db"
    for i in range(opts.runs):
        # Alternate which side goes first, so neither always follows the other's writes.
        order = list(sides.items()) if i % 2 == 0 else list(sides.items())[::-1]
        for label, script in order:
            remove_db(db)
            log(f"{label}: full build of {corpus.posts:,} posts, run {i + 1}/{opts.runs}")
            run = run_measured([sys.executable, str(script), str(corpus.path), "--db", str(db), "--full", "-q",
                                "--timings"], cwd=script.parent)
            runs[label].append(run)
    remove_db(db)
    print(f"\nFull build of {corpus.posts:,} posts, interleaved, {opts.runs} runs each:\n")
    print("| version | median | runs | CPU (median) | CPU of each run | CPU stolen by the host, each run "
          "| peak RSS (max) |")
    print("|---|---|---|---|---|---|---|")
    for label, measured in runs.items():
        seconds = [r.seconds for r in measured]
        print(f"| {label} | {fmt_seconds(median(seconds))} | {', '.join(f'{s:.2f}' for s in seconds)} | "
              f"{fmt_seconds(median([r.cpu_seconds for r in measured]))} | "
              f"{', '.join(f'{r.cpu_seconds:.0f}' for r in measured)} | "
              f"{', '.join('–' if r.stolen is None else f'{r.stolen:.0f}' for r in measured)} | "
              f"{max(r.peak_rss for r in measured) / 2**20:.0f} MiB |")
    print("\nStages (`--timings`), median seconds (each run's in brackets):\n")
    stages = {label: [stage_times(r.stdout) for r in measured] for label, measured in runs.items()}
    names = list(dict.fromkeys(name for per_run in stages.values() for t in per_run for name in t))
    print("| stage | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for name in names:
        cells = [[t[name] for t in per_run if name in t] for per_run in stages.values()]
        print(f"| {name} | " + " | ".join(_stage_cell(c) for c in cells) + " |")
    ours, other = runs.values()
    print(f"\nratio (this checkout / commit {sha}): {ratio(ours, other, 'seconds')} wall time, "
          f"{ratio(ours, other, 'cpu_seconds')} CPU")
    return 0


def _stage_cell(values: list[float]) -> str:
    """A stage's median, and each run's value when they differ."""
    if not values:
        return "–"
    if max(values) - min(values) < 0.05:
        return f"{median(values):.2f}"
    return f"{median(values):.2f} ({', '.join(f'{v:.1f}' for v in values)})"


def ratio(ours: list, other: list, field: str) -> str:
    """The ratio of the medians, and the median of each run's ratio to the other side's
    run of the same round: the two ran minutes apart, so a host's load that drifts
    over the rounds hits both alike."""
    pairs = median([getattr(a, field) / getattr(b, field) for a, b in zip(ours, other)])
    medians = median([getattr(r, field) for r in ours]) / median([getattr(r, field) for r in other])
    return f"{medians:.2f} (median of the rounds' ratios {pairs:.2f})"


if __name__ == "__main__":
    sys.exit(main())
