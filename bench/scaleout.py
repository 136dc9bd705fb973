#!/usr/bin/env python3
"""The load test through nginx in front of two `news-archive serve` replicas, across a
new build: the local form of scaling the public site out (docs/deploying.md#scaling-out).

    .venv/bin/python bench/scaleout.py [DB] [--seconds 60] [--clients 8] [--rebuild-at 15] [--full]

DB defaults as in bench/loadtest.py (bench/out/bench-100k.db, else the generated corpus of
10,000 posts); it is copied to bench/out/scaleout/news.db (once), which the replicas serve. Debian's
nginx runs deploy/nginx.conf on 127.0.0.1 (bench/proxy.py). The readers and the probe of
bench/loadtest.py, each from its own loopback address, request pages through nginx for
at least --seconds; at --rebuild-at seconds one post of a copy of the posts folder is
changed and the database updated (with --full, rebuilt from scratch), and the load goes on
until both replicas serve the new build, and five seconds more.

It prints a Markdown report (requests, errors, latency per kind, each replica's share, when
each replica served the new build), writes it to bench/scaleout.md (--report), and exits 1
unless no request failed and both replicas served the new build.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadtest  # noqa: E402
from bench.proxy import replicas, running_nginx  # noqa: E402
from bench.servers import HOST, ServerError, free_port, http_get  # noqa: E402
from newsarchive.build import build  # noqa: E402

OUT = ROOT / "bench" / "out" / "scaleout"
REPORT = ROOT / "bench" / "scaleout.md"
#: Seconds both replicas get to serve the new build once it is swapped in.
PICKUP_WAIT = 180
LATEST_BUILD = "/{db}/builds.json?_shape=array&_size=1&_sort_desc=id&_col=started_at"


def latest_build(port: int, name: str) -> str | None:
    answer = http_get(port, LATEST_BUILD.format(db=name), timeout=10)
    try:
        return json.loads(answer.body)[0]["started_at"] if answer.status == 200 else None
    except (ValueError, LookupError):
        return None


def watch_builds(ports: list[int], name: str, old: dict, seen: dict, stop: threading.Event, t0: float) -> None:
    """Record when each replica first answers with a build other than the one it started on."""
    while not stop.is_set() and len(seen) < len(ports):
        for port in ports:
            if port not in seen and latest_build(port, name) not in (None, old[port]):
                seen[port] = time.monotonic() - t0
        time.sleep(0.25)


def posts_folder(db: Path, given: Path | None) -> Path:
    if given:
        return given
    generated = loadtest.DEFAULT_DIR / f"posts-{loadtest.posts_in(db)}"
    if not generated.is_dir():
        sys.exit(f"{db}: give the posts folder it was built from (--posts-dir) for the rebuild")
    return generated


def copy_of_posts(posts: Path) -> Path:
    """A copy of the folder (modification times kept, so the copied database is up to date
    with it) whose posts the run may change."""
    copy = OUT / "posts"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(posts, copy)
    return copy


def rebuild(posts: Path, db: Path, full: bool):
    """A new build of the served path: one post changed and the database updated, or all
    rebuilt (`full`)."""
    if not full:
        first = min(posts.rglob("*.md"))
        with first.open("a", encoding="utf-8") as f:
            f.write("\n\nUpdated while two replicas served the archive behind nginx.\n")
    return build(posts, db, full=full, quiet=True)


def upstream_shares(access_log: Path) -> Counter:
    """Requests per replica, from the upstream address nginx logged for each."""
    return Counter(m.group(1) for m in re.finditer(r"upstream=([^\s,]+)", access_log.read_text(errors="replace")))


@dataclass
class Outcome:
    results: list
    #: replica -> seconds into the run it first served the new build (None: never)
    picked_up: dict
    #: requests per replica
    shares: Counter
    #: seconds into the run the new build was swapped in
    built_at: float
    #: seconds the load ran
    elapsed: float


def run(args, db: Path, posts: Path) -> Outcome:
    name = db.stem
    readers, probe, _ = loadtest.request_mix(db, name, random.Random(args.seed))
    with replicas(db, OUT / "logs") as procs:
        ports = list(procs)
        old = {port: latest_build(port, name) for port in ports}
        listen = free_port()
        with running_nginx(OUT / "nginx", listen, ports):
            readers = [k for k in readers if http_get(listen, k.paths[0], timeout=60).status == 200]
            t0 = time.monotonic()
            # Until the rebuild is seen through (the deadline is then set to that moment).
            crowd = loadtest.visitors(argparse.Namespace(clients=args.clients, attackers=0, seed=args.seed),
                                      readers, probe, [], t0 + args.seconds + 3600, 60)
            outputs: list[list] = [[] for _ in crowd]
            threads = [threading.Thread(target=loadtest.client, args=(listen, v, out), daemon=True)
                       for v, out in zip(crowd, outputs)]
            seen: dict[int, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=watch_builds, args=(ports, name, old, seen, stop, t0), daemon=True)
            print(f"{args.clients} readers and a probe through nginx on :{listen} to replicas {ports} for {args.seconds:g} s ...", flush=True)
            for t in [*threads, watcher]:
                t.start()
            time.sleep(max(0.0, t0 + args.rebuild_at - time.monotonic()))
            summary = rebuild(posts, db, args.full)
            built_at = time.monotonic() - t0
            print(f"built from {args.rebuild_at:g} s to {built_at:.0f} s: {summary.posts:,} posts, "
                  f"{summary.added + summary.updated} written", flush=True)
            watcher.join(PICKUP_WAIT)
            end = max(t0 + args.seconds, time.monotonic() + 5)
            for visitor in crowd:
                visitor.deadline = end
            for t in threads:
                t.join(timeout=end - time.monotonic() + 120)
            elapsed = time.monotonic() - t0
            stop.set()
            watcher.join(5)
    shares = upstream_shares(OUT / "nginx" / "access.log")
    return Outcome([r for out in outputs for r in out], {f"{HOST}:{p}": seen.get(p) for p in ports}, shares, built_at, elapsed)


def report(args, db: Path, outcome: Outcome) -> tuple[str, bool]:
    results, picked_up, shares = outcome.results, outcome.picked_up, outcome.shares
    failed = [r for r in results if r.error]
    lines = [f"# Scale-out load test: two replicas behind nginx\n",
             f"`.venv/bin/python bench/scaleout.py {db.relative_to(ROOT) if db.is_relative_to(ROOT) else db} "
             f"--seconds {args.seconds:g} --clients {args.clients} --rebuild-at {args.rebuild_at:g}"
             f"{' --full' if args.full else ''}`: {loadtest.posts_in(db):,} posts, "
             f"{'a full rebuild' if args.full else 'an update of one post'} from {args.rebuild_at:g} s, "
             f"swapped in at {outcome.built_at:.0f} s; the load ran {outcome.elapsed:.0f} s (at least --seconds, "
             f"and until both replicas served the new build and 5 s more).\n",
             "| kind | requests | failed | median | p95 | max |", "|---|---:|---:|---:|---:|---:|"]
    for kind in sorted({r.kind for r in results}):
        times = [r.seconds for r in results if r.kind == kind]
        lines.append(f"| {kind} | {len(times):,} | {sum(1 for r in results if r.kind == kind and r.error):,} | "
                     f"{loadtest.ms(loadtest.percentile(times, 0.5))} | {loadtest.ms(loadtest.percentile(times, 0.95))} | "
                     f"{loadtest.ms(max(times))} |")
    total = sum(shares.values()) or 1
    lines += ["", "| replica | share of requests | served the new build, after its swap |", "|---|---:|---:|"]
    for upstream, when in picked_up.items():
        lines.append(f"| {upstream} | {shares.get(upstream, 0) / total:.0%} | "
                     + (f"{max(0.0, when - outcome.built_at):.1f} s" if when is not None else "never") + " |")
    ok = bool(results) and not failed and all(when is not None for when in picked_up.values())
    errors = Counter(r.error for r in failed).most_common(3)
    lines += ["", f"{len(results):,} requests, {len(failed):,} failed"
              + (f" ({', '.join(f'{e} ×{n}' for e, n in errors)})" if errors else "")
              + f"; {sum(w is not None for w in picked_up.values())} of {len(picked_up)} replicas served the new build."]
    return "\n".join(lines) + "\n", ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", nargs="?", type=Path, help="database to copy and serve (default as bench/loadtest.py)")
    parser.add_argument("--posts-dir", type=Path, help="the folder DB was built from (default: the generated corpus)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent readers (default 8)")
    parser.add_argument("--rebuild-at", type=float, default=15.0, help="seconds into the load the rebuild starts (default 15)")
    parser.add_argument("--full", action="store_true", help="rebuild from scratch instead of updating one post")
    parser.add_argument("--posts", type=int, default=10_000, help="posts in the generated corpus when no DB is given")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    if not (0 < args.rebuild_at < args.seconds <= 3600 and 1 <= args.clients <= 200):
        parser.error("need 0 < --rebuild-at < --seconds <= 3600 and --clients in [1, 200]")
    source = loadtest.ensure_database(args).resolve()
    posts = posts_folder(source, args.posts_dir)
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "news.db"
    if not db.exists() or db.stat().st_mtime < source.stat().st_mtime:
        shutil.copy2(source, db)
    shutil.rmtree(OUT / "nginx", ignore_errors=True)  # its access log counts this run's requests only
    posts = copy_of_posts(posts)
    # Brought up to date with this version first (a full build after a schema change), so
    # that the build during the load is the one asked for.
    print(f"updating {db.relative_to(ROOT)} from {posts.relative_to(ROOT)} ...", flush=True)
    build(posts, db, quiet=True)
    try:
        outcome = run(args, db, posts)
    except ServerError as error:
        sys.exit(str(error))
    text, ok = report(args, source, outcome)
    print("\n" + text)
    args.report.write_text(text, encoding="utf-8")
    print(f"written to {args.report}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
