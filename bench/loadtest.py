#!/usr/bin/env python3
"""Bounded load test of the published archive: the production server under concurrent
normal and hostile traffic, on 127.0.0.1 only.

    .venv/bin/python bench/loadtest.py [DB] [--seconds 60] [--clients 16]

DB defaults to bench/out/bench-100k.db when it exists; otherwise a corpus of --posts
(10,000) posts is generated with bench/generate.py and built into
bench/out/loadtest/loadtest-10k.db (reused by later runs while it holds that many posts).

The server is started with `newsarchive.serve.serve_command` (the exact production
command line: immutable, inspect file, metadata, plugins, templates, settings) on a free
port of 127.0.0.1. --clients threads, each with its own keep-alive http.client
connection, send a weighted mix of requests for --seconds:

  normal   the posts table with its facets, a facet-filtered page, full-text search
           (canned /search and the table's _search), row pages of random posts, CSV
           (posts.csv?_size=50), JSON (_shape=array), the other canned queries
  hostile  a runaway recursive CTE, length(randomblob(1e9)), a three-way cross join of
           posts, printf('%.*c', 1000000000, 'x') padding

It records per kind: count, errors, median / p95 / max latency; samples the server's
RSS with psutil; and checks, by report:

  * zero errors on normal requests (anything but HTTP 200 with a full body);
  * every hostile request refused (HTTP 400 with a JSON error) or cut (a small
    answer), each within the SQL time limit plus --margin seconds;
  * the server's peak RSS under --rss-limit-mb;
  * the server still answers afterwards.

It prints a Markdown report, writes it to bench/loadtest.md (--report), and exits 1 if
a check failed. Every loop is bounded in time and count and stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import HOST, ServerError, free_port, running_server  # noqa: E402
from newsarchive import config  # noqa: E402
from newsarchive.serve import serve_command  # noqa: E402

OUT = ROOT / "bench" / "out"
DEFAULT_BIG = OUT / "bench-100k.db"
DEFAULT_DIR = OUT / "loadtest"
REPORT = ROOT / "bench" / "loadtest.md"

#: Largest body read from one response; more is an error (a hostile query that got out).
MAX_BODY = 8 * 1024 * 1024
#: Largest body a hostile request may return and still count as cut (an error or a NULL).
MAX_HOSTILE_BODY = 64 * 1024
#: Hard cap on requests per client, whatever the duration.
MAX_REQUESTS_PER_CLIENT = 200_000

HOSTILE_SQL = {
    "hostile: recursive CTE": "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
    "hostile: randomblob(1e9)": "select length(randomblob(1e9))",
    "hostile: cross join": "select count(*) from posts a, posts b, posts c",
    "hostile: printf padding": "select printf('%.*c', 1000000000, 'x') as padded",
}


# --------------------------------------------------------------------------- corpus
def posts_in(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return conn.execute("select count(*) from posts").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def ensure_database(args) -> Path:
    """The database to serve: --db, bench-100k.db, or a generated corpus (built once)."""
    if args.db:
        if not args.db.exists():
            sys.exit(f"{args.db}: no such database")
        return args.db
    if DEFAULT_BIG.exists():
        return DEFAULT_BIG
    db = DEFAULT_DIR / f"loadtest-{args.posts // 1000}k.db" if args.posts % 1000 == 0 else DEFAULT_DIR / f"loadtest-{args.posts}.db"
    if db.exists() and posts_in(db) == args.posts:
        return db
    posts = DEFAULT_DIR / f"posts-{args.posts}"
    sys.path.insert(0, str(ROOT / "bench"))
    import generate  # bench/generate.py

    from newsarchive.build import build

    started = time.monotonic()
    print(f"generating {args.posts} posts into {posts} ...", flush=True)
    generate.generate(str(posts), args.posts, seed=42, workers=os.cpu_count() or 1)
    print(f"building {db} ...", flush=True)
    summary = build(posts, db, quiet=True)
    print(f"built {summary.posts} posts in {time.monotonic() - started:.0f} s", flush=True)
    if posts_in(db) != args.posts:
        sys.exit(f"{db}: the build holds {posts_in(db)} posts, expected {args.posts}")
    return db


# --------------------------------------------------------------------------- the mix
@dataclass
class Kind:
    name: str
    hostile: bool
    weight: float
    paths: list[str]


def request_mix(db: Path, name: str, hostile_share: float, rng: random.Random) -> list[Kind]:
    """Request kinds with concrete paths drawn from the database itself."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (count,) = conn.execute("select count(*) from posts").fetchone()
        rowids = rng.sample(range(1, count + 1), min(count, 2000)) if count else []
        ids = [r[0] for r in conn.execute(
            f"select id from posts where rowid in ({','.join(map(str, rowids))})")] if rowids else []
        categories = [r[0] for r in conn.execute("select name from categories order by name")]
        months = [r[0] for r in conn.execute("select distinct published_month from posts where published_month is not null order by 1")]
        titles = [r[0] for r in conn.execute(
            f"select title from posts where rowid in ({','.join(map(str, rowids[:300]))})")] if rowids else []
        credits = [r[0] for r in conn.execute(
            "select credit from captions where credit is not null "
            "group by credit order by count(*) desc limit 20")]
        cited = [r[0] for r in conn.execute(
            "select target_post_id from links where target_post_id is not null group by 1 limit 200")]
    finally:
        conn.close()
    words = Counter(w.lower() for t in titles for w in re.findall(r"[A-Za-z]{5,}", t or ""))
    terms = [w for w, _ in words.most_common(40)] or ["harbour"]
    ids = ids or ["missing"]
    base = f"/{quote(name)}"

    def row(post_id: str) -> str:
        from datasette.utils import tilde_encode

        return f"{base}/posts/{tilde_encode(post_id)}"

    normal = [
        Kind("posts table + facets", False, 10, [f"{base}/posts"]),
        Kind("facet-filtered page", False, 10,
             [f"{base}/posts?" + urlencode({"category": c}) for c in categories] + [f"{base}/posts?published_month={m}" for m in months[-24:]]),
        Kind("FTS search (canned)", False, 12, [f"{base}/search?" + urlencode({"q": t}) for t in terms]),
        Kind("FTS search (_search)", False, 6, [f"{base}/posts?" + urlencode({"_search": t}) for t in terms]),
        Kind("row page", False, 20, [row(i) for i in ids]),
        Kind("CSV", False, 8, [f"{base}/posts.csv?_size=50", f"{base}/posts_flat.csv?_size=50", f"{base}/photos.csv?_size=50"]),
        Kind("JSON", False, 8, [f"{base}/posts.json?_shape=array&_size=50",
                                f"{base}/posts.json?_shape=array&_size=50&_col=title&_col=published_at",
                                f"{base}/photos.json?_shape=array&_size=50"]),
        Kind("canned queries", False, 8,
             [f"{base}/photos_by_credit?" + urlencode({"credit": c}) for c in credits[:10]]
             + [f"{base}/posts_citing?" + urlencode({"post_id": p}) for p in cited[:50]]
             + [f"{base}/posts_per_month?from_month=&to_month=",
                f"{base}/posts_per_month?" + urlencode({"from_month": months[0] if months else "", "to_month": months[-1] if months else ""})]),
    ]
    normal = [k for k in normal if k.paths]
    normal_weight = sum(k.weight for k in normal)
    hostile_weight = normal_weight * hostile_share / (1 - hostile_share) / len(HOSTILE_SQL)
    hostile = [
        Kind(kind, True, hostile_weight, [f"{base}.json?" + urlencode({"sql": sql, "_shape": "array"})])
        for kind, sql in HOSTILE_SQL.items()
    ]
    return normal + hostile


# --------------------------------------------------------------------------- clients
@dataclass
class Result:
    kind: str
    status: int | None
    seconds: float
    size: int
    error: str | None  # why the request counts as failed, None when it answered as it should


def classify(kind: Kind, status: int, body: bytes) -> str | None:
    if not kind.hostile:
        return None if status == 200 else f"HTTP {status}"
    if status == 400:
        try:
            data = json.loads(body)
        except ValueError:
            return "HTTP 400 without a JSON error"
        return None if isinstance(data, dict) and data.get("error") else "HTTP 400 without an error message"
    if status == 200:
        return None if len(body) <= MAX_HOSTILE_BODY else f"answered {len(body)} bytes"
    return f"HTTP {status}"


def client(index: int, port: int, kinds: list[Kind], deadline: float, seed: int, timeout: float, out: list[Result]):
    rng = random.Random(seed * 1000 + index)
    weights = [k.weight for k in kinds]
    hostile = [k for k in kinds if k.hostile]
    conn = None
    for n in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= deadline:
            break
        # Every hostile kind is sent at least once (by the first clients, first), however short the run.
        kind = hostile[index] if n == 0 and index < len(hostile) else rng.choices(kinds, weights)[0]
        path = rng.choice(kind.paths)
        if conn is None:
            conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        started = time.monotonic()
        try:
            conn.request("GET", path, headers={"Accept-Encoding": "identity"})
            response = conn.getresponse()
            body = response.read(MAX_BODY + 1)
            elapsed = time.monotonic() - started
            if len(body) > MAX_BODY:
                out.append(Result(kind.name, response.status, elapsed, len(body), f"body over {MAX_BODY} bytes"))
                conn.close()
                conn = None
                continue
            out.append(Result(kind.name, response.status, elapsed, len(body), classify(kind, response.status, body)))
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as error:
            out.append(Result(kind.name, None, time.monotonic() - started, 0, f"{type(error).__name__}: {error}"))
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


# --------------------------------------------------------------------------- server
def get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(MAX_BODY)
    finally:
        conn.close()


# --------------------------------------------------------------------------- report
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return "–" if seconds != seconds else f"{seconds * 1000:,.0f}"


def report(args, db: Path, posts: int, kinds: list[Kind], results: list[Result], rss: list[int], baseline_rss: int,
           checks: list[tuple[str, str, str, bool]], elapsed: float, datasette_version: str, time_limit: float) -> str:
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    lines = [
        "# Load test",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `{db.relative_to(ROOT) if db.is_relative_to(ROOT) else db}` "
        f"({posts:,} posts, {db.stat().st_size / 1e6:,.0f} MB) · Datasette {datasette_version} served with the production "
        f"command on 127.0.0.1 · {args.clients} clients for {args.seconds:g} s (last answer after {elapsed:.0f} s) · {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version} · SQL time limit {time_limit:g} s",
        "",
        "| kind | requests | errors | outcomes | median ms | p95 ms | max ms |",
        "|---|--:|--:|---|--:|--:|--:|",
    ]
    for kind in kinds:
        rs = by_kind.get(kind.name, [])
        times = [r.seconds for r in rs]
        outcomes = Counter("error" if r.status is None else str(r.status) for r in rs)
        outcome_text = ", ".join(f"{k}×{v}" for k, v in sorted(outcomes.items()))
        errors = sum(1 for r in rs if r.error)
        lines.append(
            f"| {kind.name} | {len(rs):,} | {errors:,} | {outcome_text or '–'} | {ms(statistics.median(times) if times else float('nan'))} "
            f"| {ms(percentile(times, 0.95))} | {ms(max(times) if times else float('nan'))} |"
        )
    normal = [r for r in results if not any(k.hostile for k in kinds if k.name == r.kind)]
    times = [r.seconds for r in normal]
    lines.append(
        f"| **all normal** | **{len(normal):,}** | **{sum(1 for r in normal if r.error):,}** | "
        f"{len(normal) / elapsed:,.1f} req/s | {ms(statistics.median(times) if times else float('nan'))} | "
        f"{ms(percentile(times, 0.95))} | {ms(max(times) if times else float('nan'))} |"
    )
    lines += [
        "",
        f"Server RSS: {baseline_rss / 2**20:,.0f} MB before the load, peak {max(rss, default=0) / 2**20:,.0f} MB "
        f"({len(rss)} samples every {args.rss_period:g} s).",
        "",
        "| check | bound | measured | |",
        "|---|---|---|---|",
    ]
    for name, bound, measured, ok in checks:
        lines.append(f"| {name} | {bound} | {measured} | {'pass' if ok else '**FAIL**'} |")
    failures = Counter((r.kind, r.error) for r in results if r.error)
    if failures:
        lines += ["", "Failures (kind, reason, count):", ""]
        lines += [f"- {kind}: {reason} ×{n}" for (kind, reason), n in failures.most_common(20)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", nargs="?", type=Path, help="database to serve (default: bench/out/bench-100k.db, else a generated corpus)")
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the load (default 60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--posts", type=int, default=10_000, help="posts in the generated corpus when no database is given (default 10,000)")
    parser.add_argument("--hostile-share", type=float, default=0.08, help="share of hostile requests (default 0.08)")
    parser.add_argument("--margin", type=float, default=2.0, help="seconds a hostile request may take beyond the SQL time limit (default 2)")
    parser.add_argument("--rss-limit-mb", type=float, default=1024.0, help="bound on the server's peak RSS (default 1024)")
    parser.add_argument("--rss-period", type=float, default=0.2, help="RSS sampling period in seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, default=REPORT, help="Markdown report (default bench/loadtest.md)")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 3600 and 1 <= args.clients <= 256 and 0 <= args.hostile_share < 1):
        parser.error("--seconds must be in (0, 3600], --clients in [1, 256], --hostile-share in [0, 1)")
    try:
        import psutil  # noqa: F401
    except ImportError:
        parser.error("psutil is needed (pip install -e '.[test]')")
    from datasette.version import __version__ as datasette_version

    db = ensure_database(args).resolve()
    posts = posts_in(db)
    meta = config.load(config.METADATA, db.stem)
    time_limit = config.settings(meta).get("sql_time_limit_ms", 1000) / 1000
    kinds = request_mix(db, db.stem, args.hostile_share, random.Random(args.seed))
    hostile_kinds = {k.name for k in kinds if k.hostile}

    log_dir = DEFAULT_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    print(f"serving {db} on http://{HOST}:{port}/ (log: {log_dir / 'server.log'})", flush=True)
    sampler = None
    try:
        with running_server(serve_command(db, HOST, port), port, log_dir / "server.log", timeout=120) as (proc, _):
            from bench.procs import TreeSampler  # needs psutil, checked above

            sampler = TreeSampler(proc.pid, args.rss_period, limit_seconds=args.seconds + 120)
            baseline_rss = sampler.rss()
            for path in ("/", f"/{quote(db.stem)}/posts"):  # warm up: first page renders, inspect data
                get(port, path, timeout=60)
            sampler.start()
            timeout = time_limit + args.margin + 30
            deadline = time.monotonic() + args.seconds
            outputs: list[list[Result]] = [[] for _ in range(args.clients)]
            threads = [
                threading.Thread(target=client, args=(i, port, kinds, deadline, args.seed, timeout, outputs[i]), daemon=True)
                for i in range(args.clients)
            ]
            started = time.monotonic()
            print(f"{args.clients} clients for {args.seconds:g} s ...", flush=True)
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.seconds + timeout + 10)
            elapsed = time.monotonic() - started
            stuck = sum(1 for t in threads if t.is_alive())
            results = [r for out in outputs for r in out]

            # The server still answers, and answers right, once the load is over.
            after_ok, after_text = False, "no answer"
            try:
                t0 = time.monotonic()
                status_versions, _ = get(port, "/-/versions.json", timeout=10)
                status_rows, body = get(port, f"/{quote(db.stem)}/posts.json?_shape=array&_size=1&_col=title", timeout=10)
                rows = json.loads(body) if status_rows == 200 else None
                after_ok = proc.poll() is None and status_versions == 200 and isinstance(rows, list) and len(rows) == 1
                after_text = f"HTTP {status_versions}/{status_rows}, {(time.monotonic() - t0) * 1000:.0f} ms"
            except (OSError, ValueError, http.client.HTTPException) as error:
                after_text = f"{type(error).__name__}: {error}"
            sampler.stop(timeout=5)
    except ServerError as error:
        sys.exit(str(error))
    finally:
        if sampler is not None:
            sampler.stop(timeout=0)  # halt it; no waiting on the way out of an error

    normal = [r for r in results if r.kind not in hostile_kinds]
    hostile = [r for r in results if r.kind in hostile_kinds]
    normal_errors = sum(1 for r in normal if r.error)
    hostile_wrong = sum(1 for r in hostile if r.error)
    hostile_slow = [r for r in hostile if r.seconds > time_limit + args.margin]
    hostile_max = max((r.seconds for r in hostile), default=0.0)
    refused = sum(1 for r in hostile if not r.error and r.status == 400)
    cut = sum(1 for r in hostile if not r.error and r.status == 200)
    peak = max(sampler.samples, default=0)
    checks = [
        ("normal requests answered (HTTP 200)", "0 errors", f"{normal_errors:,} errors in {len(normal):,}", normal_errors == 0 and len(normal) > 0),
        ("hostile requests refused (400 + error) or cut (small answer)", "all",
         f"{refused:,} refused, {cut:,} cut, {hostile_wrong:,} otherwise, of {len(hostile):,}", hostile_wrong == 0 and len(hostile) > 0),
        ("hostile requests done within the SQL time limit + margin", f"≤ {time_limit + args.margin:g} s",
         f"max {hostile_max:.2f} s; {len(hostile_slow):,} over"
         + (f" ({', '.join(f'{k} ×{v}' for k, v in Counter(r.kind for r in hostile_slow).most_common())})" if hostile_slow else ""),
         not hostile_slow and len(hostile) > 0),
        ("server peak RSS", f"< {args.rss_limit_mb:,.0f} MB", f"{peak / 2**20:,.0f} MB", 0 < peak < args.rss_limit_mb * 2**20),
        ("every client stopped by itself", "0 stuck", f"{stuck} stuck", stuck == 0),
        ("server still answers afterwards", "HTTP 200", after_text, after_ok),
    ]
    text = report(args, db, posts, kinds, results, sampler.samples, baseline_rss, checks, elapsed, datasette_version, time_limit)
    print()
    print(text)
    args.report.write_text(text, encoding="utf-8")
    print(f"written to {args.report}")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
