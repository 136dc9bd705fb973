#!/usr/bin/env python3
"""Bounded load test of the published archive: the production server under concurrent
normal and hostile traffic, on 127.0.0.1 only.

    .venv/bin/python bench/loadtest.py [DB] [--seconds 60] [--clients 16] [--attackers 32] [--plain]

DB defaults to bench/out/bench-100k.db when it exists; otherwise a corpus of --posts
(10,000) posts is generated with bench/generate.py and built into
bench/out/loadtest/loadtest-10k.db (reused by later runs while it holds that many posts).

The server is started with `newsarchive.serve.serve_command` (the exact production
command line: immutable, inspect file, metadata, plugins, templates, settings) on a free
port of 127.0.0.1; with --plain, as `datasette serve DB` with Datasette's defaults and
nothing of ours, for comparison on the same file. Three kinds of client run for --seconds,
each with its own keep-alive http.client connection and its own loopback address
(127.0.x.y), as separate visitors would:

  readers    --clients of them, a weighted mix: the posts table with its facets, a
             facet-filtered page, full-text search (canned /search and the table's
             _search), row pages of random posts, CSV (posts.csv?_size=50), JSON
             (_shape=array), the other canned queries (kinds the server does not serve,
             as plain Datasette has none of our canned queries, are left out)
  one probe  plain pages one after another (a row page, a small JSON page, the home
             page): what a visitor waits while the load runs
  attackers  --attackers of them, half sending SQL bombs (instr, replace, LIKE, GLOB,
             trim over a long set, 50 rows of 8 MB, randomblob(1e9), printf padding),
             half expensive legal queries (a runaway recursive CTE, a cross join of
             posts), each again half a second after being turned away; sent where
             the server answers SQL as JSON (/DB.json on Datasette 0.65,
             /DB/-/query.json on 1.0, read from the redirect it answers
             /DB.json?sql= with)

It records per kind: count, errors, median / p95 / max latency; samples the server's
RSS with psutil; and checks, by report: zero errors on readers' and the probe's
requests (anything but HTTP 200); the probe's p95 under --probe-p95 seconds; every
hostile request held (refused: HTTP 400 with a JSON error; turned away: 429 or 503 with
Retry-After; or answered small), each within the SQL time limit plus --margin seconds;
the server's peak RSS under --rss-limit-mb; the server still answering afterwards.

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
from urllib.parse import quote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import HOST, ServerError, free_port, http_get, running_server  # noqa: E402
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
#: Seconds an attacker waits when turned away before it sends again (it does not wait the
#: Retry-After it was given): twice a second, as a persistent script would.
TURNED_AWAY_PAUSE = 0.5
#: Hard cap on requests per client, whatever the duration.
MAX_REQUESTS_PER_CLIENT = 200_000

#: SQL whose cost in SQLite's own functions is string length x pattern length (one step
#: the time limit cannot stop), or whose answer is hundreds of MB.
BOMBS = {
    "instr": "select instr(hex(zeroblob(800000)), hex(zeroblob(400000))||'1') as n",
    "replace": "select length(replace(hex(zeroblob(800000)), hex(zeroblob(400000))||'1', 'x')) as n",
    "like": "select hex(zeroblob(800000)) like '%'||hex(zeroblob(24000))||'1' as n",
    "glob": "select hex(zeroblob(800000)) glob '*'||hex(zeroblob(500))||'?1' as n",
    "trim, long set": "select length(trim(hex(zeroblob(800000)), (with recursive c(x) as (select 256 union all "
                      "select x + 1 from c where x < 50256) select group_concat(char(x), '') from c)||'0')) as n",
    "50 rows of 8 MB": "select hex(zeroblob(4000000)) as big from posts limit 50",
    "randomblob(1e9)": "select length(randomblob(1e9)) as n",
    "printf padding": "select printf('%.*c', 1000000000, 'x') as padded",
}
#: Legal SQL that runs until the time limit cuts it.
EXPENSIVE = {
    "recursive CTE": "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
    "cross join": "select count(*) from posts a, posts b, posts c",
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


def sql_path(port: int, name: str) -> str:
    """Where the server answers a visitor's SQL as JSON: `/DB.json` on Datasette 0.65,
    the path it redirects that to on 1.0 (`/DB/-/query.json`). Attackers send there,
    so that each request reaches the SQL rather than a redirect."""
    path = f"/{quote(name)}.json"
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", f"{path}?sql=select+1")
        response = conn.getresponse()
        response.read()
        location = response.getheader("location") if 300 <= response.status < 400 else None
    except (OSError, http.client.HTTPException) as error:
        raise ServerError(f"asking where the server answers SQL: {type(error).__name__}: {error}") from None
    finally:
        conn.close()
    return urlsplit(location).path if location else path


def request_mix(db: Path, name: str, rng: random.Random, sql_at: str) -> tuple[list[Kind], list[Kind], list[Kind]]:
    """(readers' kinds, the probe's kinds, attackers' kinds), with paths drawn from the
    database itself; the attackers' SQL goes to `sql_at` (sql_path)."""
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
    probe = [Kind("plain pages (probe)", False, 1, [row(i) for i in ids[:50]] + [f"{base}/posts.json?_size=5&_col=title", "/"])]
    hostile = [Kind(f"bomb: {k}", True, 1, [f"{sql_at}?" + urlencode({"sql": sql})]) for k, sql in BOMBS.items()]
    hostile += [Kind(f"expensive: {k}", True, 1, [f"{sql_at}?" + urlencode({"sql": sql})]) for k, sql in EXPENSIVE.items()]
    return normal, probe, hostile


# --------------------------------------------------------------------------- clients
@dataclass
class Result:
    kind: str
    status: int | None
    seconds: float
    size: int
    error: str | None  # why the request counts as failed, None when it answered as it should


def classify(kind: Kind, status: int, body: bytes, retry_after: str | None) -> str | None:
    if not kind.hostile:
        return None if status == 200 else f"HTTP {status}"
    if status == 400:
        try:
            data = json.loads(body)
        except ValueError:
            return "HTTP 400 without a JSON error"
        return None if isinstance(data, dict) and data.get("error") else "HTTP 400 without an error message"
    if status in (429, 503):
        return None if retry_after else f"HTTP {status} without Retry-After"
    if status == 200:
        return None if len(body) <= MAX_HOSTILE_BODY else f"answered {len(body)} bytes"
    return f"HTTP {status}"


@dataclass
class Visitor:
    """One client: where it connects from, what it asks, and until when."""

    address: str
    kinds: list[Kind]
    seed: int
    deadline: float
    timeout: float


def client(port: int, visitor: Visitor, out: list[Result]):
    rng = random.Random(visitor.seed)
    weights = [k.weight for k in visitor.kinds]
    conn = None
    for n in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= visitor.deadline:
            break
        # Attackers go through their kinds in turn, so that each is sent however short the run.
        kind = visitor.kinds[n % len(visitor.kinds)] if visitor.kinds[0].hostile else rng.choices(visitor.kinds, weights)[0]
        path = rng.choice(kind.paths)
        if conn is None:
            conn = http.client.HTTPConnection(HOST, port, timeout=visitor.timeout, source_address=(visitor.address, 0))
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
            error = classify(kind, response.status, body, response.getheader("retry-after"))
            out.append(Result(kind.name, response.status, elapsed, len(body), error))
            if response.will_close:
                conn.close()
                conn = None
            if kind.hostile and response.status in (429, 503):
                time.sleep(TURNED_AWAY_PAUSE)
        except (OSError, http.client.HTTPException) as error:
            out.append(Result(kind.name, None, time.monotonic() - started, 0, f"{type(error).__name__}: {error}"))
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def visitors(args, readers: list[Kind], probe: list[Kind], attackers: list[Kind], deadline: float, timeout: float) -> list[Visitor]:
    """Readers from 127.0.0.x, the probe from 127.0.3.1, attackers from 127.0.1.x (bombs)
    and 127.0.2.x (expensive queries): each its own client to the server's per-client limits."""
    bombs = [k for k in attackers if k.name.startswith("bomb")]
    expensive = [k for k in attackers if not k.name.startswith("bomb")]
    out = [Visitor(f"127.0.0.{10 + i}", readers, args.seed * 1000 + i, deadline, timeout) for i in range(args.clients)]
    out.append(Visitor("127.0.3.1", probe, args.seed, deadline, timeout))
    for i in range(args.attackers):
        kinds = bombs if i % 2 == 0 else expensive
        shift = (i // 2) % len(kinds)
        out.append(Visitor(f"127.0.{1 + i % 2}.{1 + i // 2}", kinds[shift:] + kinds[:shift], 0, deadline, timeout))
    return out


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
    from datasette.utils.sqlite import sqlite_version

    served_sqlite_version = ".".join(map(str, sqlite_version()))
    served = ("plain `datasette serve` (Datasette's defaults, nothing of ours)" if args.plain
              else "the production command")
    by_kind: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)
    lines = [
        "# Load test",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `{db.relative_to(ROOT) if db.is_relative_to(ROOT) else db}` "
        f"({posts:,} posts, {db.stat().st_size / 1e6:,.0f} MB) · Datasette {datasette_version} served with {served} "
        f"on 127.0.0.1 · {args.clients} readers, one probe and {args.attackers} attackers for {args.seconds:g} s "
        f"(last answer after {elapsed:.0f} s) · {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, SQLite {served_sqlite_version} · SQL time limit {time_limit:g} s · "
        f"load average {os.getloadavg()[0]:.1f} at the end",
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
        f"| **all readers and probe** | **{len(normal):,}** | **{sum(1 for r in normal if r.error):,}** | "
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
    parser.add_argument("--clients", type=int, default=4, help="concurrent readers (default 4)")
    parser.add_argument("--attackers", type=int, default=32, help="concurrent attackers, half bombs, half expensive queries (default 32)")
    parser.add_argument("--plain", action="store_true", help="serve with plain `datasette serve DB` (Datasette's defaults), for comparison")
    parser.add_argument("--probe-p95", type=float, default=1.0, help="bound on the probe's p95 in seconds (default 1)")
    parser.add_argument("--posts", type=int, default=10_000, help="posts in the generated corpus when no database is given (default 10,000)")
    parser.add_argument("--margin", type=float, default=2.0, help="seconds a hostile request may take beyond the SQL time limit (default 2)")
    parser.add_argument("--rss-limit-mb", type=float, default=1024.0, help="bound on the server's peak RSS (default 1024)")
    parser.add_argument("--rss-period", type=float, default=0.2, help="RSS sampling period in seconds")
    parser.add_argument("--rss-kill-mb", type=float, default=4096.0,
                        help="the server is killed past this RSS, so that a server without bounds cannot take the machine (default 4096)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, default=REPORT, help="Markdown report (default bench/loadtest.md)")
    args = parser.parse_args(argv)
    if not (0 < args.seconds <= 3600 and 1 <= args.clients <= 200 and 0 <= args.attackers <= 400):
        parser.error("--seconds must be in (0, 3600], --clients in [1, 200], --attackers in [0, 400]")
    try:
        import psutil  # noqa: F401
    except ImportError:
        parser.error("psutil is needed (pip install -e '.[test]')")
    from datasette.version import __version__ as datasette_version

    db = ensure_database(args).resolve()
    posts = posts_in(db)
    time_limit = 1.0 if args.plain else config.settings(config.load(config.METADATA, db.stem)).get("sql_time_limit_ms", 1000) / 1000
    log_dir = DEFAULT_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = ([sys.executable, "-m", "datasette", "serve", str(db), "-h", HOST, "-p", str(port)] if args.plain
               else serve_command(db, HOST, port))
    print(f"serving {db} on http://{HOST}:{port}/ (log: {log_dir / 'server.log'})", flush=True)
    try:
        with running_server(command, port, log_dir / "server.log", timeout=120) as (proc, _):
            readers, probe, attackers = request_mix(db, db.stem, random.Random(args.seed), sql_path(port, db.stem))
            readers = [k for k in readers if http_get(port, k.paths[0], timeout=60).status == 200]  # what this server serves
            run = run_load(args, port, proc, readers, probe, attackers, time_limit)
    except ServerError as error:
        sys.exit(str(error))
    kinds = readers + probe + attackers
    results = checks(args, run, {k.name for k in attackers}, time_limit)
    text = report(args, db, posts, kinds, run.results, run.rss, run.baseline_rss, results, run.elapsed, datasette_version, time_limit)
    print()
    print(text)
    args.report.write_text(text, encoding="utf-8")
    print(f"written to {args.report}")
    return 0 if all(ok for *_, ok in results) else 1


@dataclass
class Run:
    results: list[Result]
    rss: list[int]
    baseline_rss: int
    elapsed: float
    stuck: int
    after_ok: bool
    after_text: str


def run_load(args, port: int, proc, readers: list[Kind], probe: list[Kind], attackers: list[Kind], time_limit: float) -> Run:
    """Every visitor for --seconds, the server's RSS sampled meanwhile; then one more request."""
    from bench.procs import TreeSampler  # needs psutil, checked in main

    sampler = TreeSampler(proc.pid, args.rss_period, limit_seconds=args.seconds + 120)
    try:
        baseline_rss = sampler.rss()
        http_get(port, "/", timeout=60)  # warm up: the first page renders templates, reads inspect data
        sampler.start()
        threading.Thread(target=kill_past, args=(proc, sampler, args.rss_kill_mb * 2**20, args.seconds + 120), daemon=True).start()
        timeout = time_limit + args.margin + 30
        crowd = visitors(args, readers, probe, attackers, time.monotonic() + args.seconds, timeout)
        outputs: list[list[Result]] = [[] for _ in crowd]
        threads = [threading.Thread(target=client, args=(port, v, out), daemon=True) for v, out in zip(crowd, outputs)]
        started = time.monotonic()
        print(f"{args.clients} readers, a probe and {args.attackers} attackers for {args.seconds:g} s ...", flush=True)
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, started + args.seconds + timeout + 10 - time.monotonic()))
        elapsed = time.monotonic() - started
        # The server still answers, and answers right, once the load is over.
        versions = http_get(port, "/-/versions.json", timeout=10)
        rows = http_get(port, f"{readers[0].paths[0].split('?')[0]}.json?_shape=array&_size=1", timeout=10)
        after_ok = proc.poll() is None and versions.status == rows.status == 200 and len(json.loads(rows.body)) == 1
        after_text = versions.error or rows.error or f"HTTP {versions.status}/{rows.status}, {(versions.seconds + rows.seconds) * 1000:.0f} ms"
        sampler.stop(timeout=5)
    finally:
        sampler.stop(timeout=0)  # halt it; no waiting on the way out of an error
    return Run([r for out in outputs for r in out], sampler.samples, baseline_rss, elapsed,
               sum(1 for t in threads if t.is_alive()), after_ok, after_text)


def kill_past(proc, sampler, limit: float, seconds: float) -> None:
    """Kill the server once its RSS passes `limit` (the run then counts its errors)."""
    end = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < end:
        if sampler.samples and sampler.samples[-1] > limit:
            print(f"server RSS {sampler.samples[-1] / 2**20:,.0f} MB: killed", flush=True)
            proc.kill()
            return
        time.sleep(0.1)


def checks(args, run: Run, hostile_kinds: set[str], time_limit: float) -> list[tuple[str, str, str, bool]]:
    normal = [r for r in run.results if r.kind not in hostile_kinds]
    probe = [r.seconds for r in run.results if r.kind == "plain pages (probe)"]
    hostile = [r for r in run.results if r.kind in hostile_kinds]
    normal_errors = sum(1 for r in normal if r.error)
    wrong = sum(1 for r in hostile if r.error)
    slow = [r for r in hostile if r.seconds > time_limit + args.margin]
    held = sum(1 for r in hostile if not r.error and r.seconds <= time_limit + args.margin)
    outcomes = Counter("refused" if r.status == 400 else "turned away" if r.status in (429, 503) else "answered"
                       for r in hostile if not r.error)
    peak = max(run.rss, default=0)
    return [
        ("readers' and probe's requests answered (HTTP 200)", "0 errors", f"{normal_errors:,} errors in {len(normal):,}",
         normal_errors == 0 and len(normal) > 0),
        ("plain pages (probe) p95", f"< {args.probe_p95:g} s", f"{percentile(probe, 0.95):.2f} s of {len(probe):,}",
         bool(probe) and percentile(probe, 0.95) < args.probe_p95),
        ("hostile requests held: refused, turned away or answered small, within the SQL time limit + margin",
         f"all, ≤ {time_limit + args.margin:g} s",
         f"{held:,} of {len(hostile):,} ({', '.join(f'{k} {v:,}' for k, v in outcomes.most_common())}); "
         f"{wrong:,} wrong, {len(slow):,} late, max {max((r.seconds for r in hostile), default=0):.1f} s"
         + (f" ({', '.join(f'{k} ×{v}' for k, v in Counter(r.kind for r in slow).most_common(4))})" if slow else ""),
         held == len(hostile) > 0),
        ("server peak RSS", f"< {args.rss_limit_mb:,.0f} MB", f"{peak / 2**20:,.0f} MB", 0 < peak < args.rss_limit_mb * 2**20),
        ("every client stopped by itself", "0 stuck", f"{run.stuck} stuck", run.stuck == 0),
        ("server still answers afterwards", "HTTP 200", run.after_text, run.after_ok),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
