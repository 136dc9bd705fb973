#!/usr/bin/env python3
"""Benchmark the archive: build speed against the nearest public tool, big builds,
rebuilds, and serving with our production settings against Datasette's defaults.

    .venv/bin/python bench/run.py                 # 10,000 and 100,000 posts (`make bench`)
    .venv/bin/python bench/run.py --quick         # 2,000 and 10,000 posts: a few minutes
    .venv/bin/python bench/run.py --posts-small N --posts-large N
    .venv/bin/python bench/run.py --scale 1000000   # 100,000 and 1,000,000 side by side (`make bench-scale`)
    .venv/bin/python bench/run.py --serve bench/out/n100000/news.db   # figure 4 alone, on a database built before

Prints one Markdown table (and writes the same text to bench/results.md). Every
comparison is measured side by side in the same run on the same corpus:

1. Full build of the small corpus: `build_db.py DIR --db X --full -q` against
   `markdown-to-sqlite DB posts FILES...` (installed only here, in bench/.venv-peer,
   which this script creates). Wall time: median of --runs runs for ours, of 1 to
   --runs for the peer (as many as fit in --peer-budget seconds), and the ratio.
2. Full build of the large corpus, --runs times: median wall time, posts per second,
   peak RSS of the whole process tree (psutil, every 50 ms), database size against
   corpus size.
3. Incremental rebuild of the large corpus: nothing changed, one file changed.
4. Serving the large database with a real `datasette serve` on 127.0.0.1: the
   production command (`newsarchive.serve.serve_command`) against Datasette's default
   settings on the same file: start-up, median and p95 latency of a table page with
   facets, a full-text search, a row page and a canned query, and the time to stream
   the whole posts table as CSV. The research pages (a term trend, the concordance, the
   Atom feed), which plain Datasette has no page for, are set beside the posts page of
   the same production server, each with its target.

Corpora come from bench/generate.py (seed 42) into bench/out/nN/posts/ and are reused
while the generator is unchanged; databases, server logs and CSV dumps also live in
bench/out/ (git-ignored). The machine's load average is printed: numbers taken while
something else is busy on the machine are not worth much.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from bench.procs import TreeSampler  # noqa: E402
from bench.servers import HOST, ServerError, free_port, http_get, running_server  # noqa: E402
from newsarchive import config  # noqa: E402
from newsarchive.serve import serve_command  # noqa: E402

BENCH = ROOT / "bench"
OUT = BENCH / "out"
PEER_VENV = BENCH / ".venv-peer"
PEER_PACKAGE = "markdown-to-sqlite"
RESULTS = BENCH / "results.md"
RESULTS_SCALE = BENCH / "results-scale.md"  # --scale keeps its own table beside make bench's
BUILD_DB = ROOT / "build_db.py"
GENERATOR = BENCH / "generate.py"
SEED = 42
SAMPLE_EVERY = 0.05  # seconds between RSS samples
BUILD_TIMEOUT = 4 * 3600
DB_NAME = "news"  # the file is news.db so that URLs are /news/... as in production


class BenchError(Exception):
    """A step failed; its figure is reported as failed and the run goes on."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- formatting

def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 0.01:
        return f"{s * 1000:.1f} ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 100:
        return f"{s:.1f} s"
    return f"{s:,.0f} s"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "–"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 100 * size else f"{n / size:,.0f} {unit}"
    return f"{n} B"


def fmt_ratio(ours: float | None, other: float | None) -> str:
    if not ours or not other:
        return "–"
    return f"{ours / other:.2f}×"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile (with 30 samples: the 29th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# --------------------------------------------------------------------------- machine

@dataclass
class Machine:
    cores: int
    ram_bytes: int
    system: str
    python: str
    sqlite: str
    datasette: str
    load: tuple[float, float, float]
    commit: str
    peer: str = "not installed"

    def line(self) -> str:
        load = " / ".join(f"{x:.2f}" for x in self.load)
        return (
            f"Machine: {self.cores} cores, {fmt_bytes(self.ram_bytes)} RAM, {self.system}; "
            f"Python {self.python}, SQLite {self.sqlite}, Datasette {self.datasette}; "
            f"peer {self.peer}; load average at start {load} (1/5/15 min)"
        )


def machine_facts() -> Machine:
    from datasette.utils.sqlite import sqlite3 as datasette_sqlite
    from datasette.version import __version__ as datasette_version

    return Machine(
        cores=os.cpu_count() or 1,
        ram_bytes=psutil.virtual_memory().total,
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        # The build opens the standard library's sqlite3; Datasette prefers pysqlite3.
        sqlite=f"{sqlite3.sqlite_version} (build), {datasette_sqlite.sqlite_version} (Datasette)",
        datasette=datasette_version,
        load=os.getloadavg(),
        commit=git_state(),
    )


def git_state() -> str:
    """Commit of the code measured, and whether the build code had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "build_db.py", "newsarchive", "plugins", "templates", "metadata.yml"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" with uncommitted changes to the build/serve code" if dirty else "")


# --------------------------------------------------------------------------- corpora

@dataclass
class Corpus:
    posts: int
    path: Path
    files: int
    bytes: int

    def relative_files(self) -> list[str]:
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*.md"))


def corpus_key(count: int) -> str:
    digest = hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:16]
    return f"count={count} seed={SEED} generator={digest} python={sys.version_info[0]}.{sys.version_info[1]}"


def ensure_corpus(count: int) -> Corpus:
    """bench/out/nCOUNT/posts, generated once and reused while the generator is unchanged."""
    folder = OUT / f"n{count}"
    posts, marker = folder / "posts", folder / "posts.json"
    key = corpus_key(count)
    if marker.exists() and posts.is_dir():
        info = json.loads(marker.read_text())
        if info.get("key") == key:
            log(f"reusing corpus {posts.relative_to(ROOT)} ({info['files']:,} posts)")
            return Corpus(count, posts, info["files"], info["bytes"])
    if posts.exists():
        assert OUT in posts.resolve().parents, posts
        shutil.rmtree(posts)
    marker.unlink(missing_ok=True)
    log(f"generating {count:,} posts into {posts.relative_to(ROOT)}")
    files, nbytes = generate(str(posts), count, seed=SEED, workers=os.cpu_count() or 1)
    marker.write_text(json.dumps({"key": key, "files": files, "bytes": nbytes}))
    return Corpus(count, posts, files, nbytes)


# --------------------------------------------------------------------------- processes

@dataclass
class ProcessRun:
    """One measured command: wall time, peak RSS of its process tree, CPU time."""

    seconds: float
    peak_rss: int
    cpu_seconds: float
    stdout: str = ""
    #: CPU time the machine's hypervisor gave to others while the command ran, summed
    #: over the cores (None where /proc/stat is not there): the noise of a shared host.
    stolen: float | None = None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stolen_seconds() -> float | None:
    """The machine's steal time so far (/proc/stat, all cores), in seconds."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else None


def run_measured(cmd: list[str], cwd: Path = ROOT, timeout: float = BUILD_TIMEOUT) -> ProcessRun:
    """Run a command to completion; raise BenchError if it fails."""
    cpu0, t0, stolen0 = children_cpu(), time.perf_counter(), stolen_seconds()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid, SAMPLE_EVERY)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BenchError(f"{Path(cmd[1]).name if len(cmd) > 1 else cmd[0]}: still running after {timeout:.0f} s, killed")
    finally:
        peak = sampler.stop()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (err or out).strip().splitlines()[-3:]
        raise BenchError(f"`{' '.join(cmd[:3])} ...` exited {proc.returncode}: {' | '.join(tail)}")
    stolen = stolen_seconds()
    return ProcessRun(seconds, peak, children_cpu() - cpu0, out,
                      None if stolen is None or stolen0 is None else stolen - stolen0)


def combine(runs: list[ProcessRun]) -> ProcessRun:
    """Several commands that together do one job (the peer's argv chunks)."""
    return ProcessRun(
        sum(r.seconds for r in runs), max(r.peak_rss for r in runs), sum(r.cpu_seconds for r in runs),
        "".join(r.stdout for r in runs),
    )


def remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def count_rows(db: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(f"select count(*) from [{table}]").fetchone()[0]


# --------------------------------------------------------------------------- our build

SUMMARY = re.compile(r"seen (\d+), added (\d+), updated (\d+), unchanged (\d+), removed (\d+), failed (\d+), skipped (\d+)")


def build_ours(corpus: Corpus, db: Path, full: bool) -> ProcessRun:
    cmd = [sys.executable, str(BUILD_DB), str(corpus.path), "--db", str(db), "--timings"]
    cmd += ["--full", "-q"] if full else ["-q"]
    return run_measured(cmd)


#: The build's stages reported on their own: the relations between posts (docs/relations.md)
#: and the indexes of the tables they fill (db.schema.FILLED_LATE).
REPORTED_STAGES = ("reprints", "related", "relations_indexes")


def stage_seconds(run: ProcessRun) -> dict[str, float]:
    """The build's own `timings:` line (build --timings): stage -> seconds."""
    for line in run.stdout.splitlines():
        if line.startswith("timings: "):
            return {m[1]: float(m[2]) for m in re.finditer(r"([\w:+-]+) ([\d.]+) s", line[len("timings: "):])}
    return {}


def stages_note(runs: list[ProcessRun]) -> str:
    """The median seconds of each of REPORTED_STAGES over the runs."""
    timings = [stage_seconds(r) for r in runs]
    return ", ".join(f"{name} {fmt_seconds(median([t.get(name, 0.0) for t in timings]))}" for name in REPORTED_STAGES)


def summary_of(run: ProcessRun) -> str:
    """The build's own summary line, shortened to its counts."""
    lines = [line for line in run.stdout.splitlines() if SUMMARY.search(line)]
    line = lines[-1] if lines else ""
    match = SUMMARY.search(line)
    if not match:
        return line
    names = ("seen", "added", "updated", "unchanged", "removed", "failed", "skipped")
    parts = [f"{n} {v}" for n, v in zip(names, match.groups()) if v != "0" or n == "failed"]
    return ", ".join(parts) + (" (database unchanged)" if "unchanged)" in line else "")


# --------------------------------------------------------------------------- the peer

def ensure_peer() -> tuple[Path, str]:
    """bench/.venv-peer with markdown-to-sqlite; (its CLI, 'name version (sqlite-utils v)')."""
    cli = PEER_VENV / "bin" / "markdown-to-sqlite"
    python = PEER_VENV / "bin" / "python"
    if not cli.exists():
        log(f"creating {PEER_VENV.relative_to(ROOT)} with {PEER_PACKAGE}")
        base = shutil.which("python3") or sys.executable
        for cmd in ([base, "-m", "venv", str(PEER_VENV)], [str(python), "-m", "pip", "install", "--quiet", PEER_PACKAGE]):
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise BenchError(f"could not install {PEER_PACKAGE}: {' '.join(cmd[:4])}: {done.stderr.strip()[-300:]}")
    probe = "import importlib.metadata as m; print(m.version('markdown-to-sqlite'), m.version('sqlite-utils'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    versions = done.stdout.split() if done.returncode == 0 else ["?", "?"]
    return cli, f"{PEER_PACKAGE} {versions[0]} (sqlite-utils {versions[1]})"


def argv_chunks(files: list[str]) -> list[list[str]]:
    """Split file names so that no command line goes over a quarter of ARG_MAX."""
    limit = max(64 * 1024, os.sysconf("SC_ARG_MAX") // 4)
    chunks, current, size = [], [], 0
    for name in files:
        cost = len(name) + 1 + 8  # the string, its NUL, its pointer
        if current and size + cost > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(name)
        size += cost
    return chunks + ([current] if current else [])


def build_peer(cli: Path, corpus: Corpus, db: Path, files: list[str]) -> ProcessRun:
    """markdown-to-sqlite DB posts FILES... run in the corpus folder (short relative paths)."""
    remove_db(db)
    return combine([run_measured([str(cli), str(db), "posts", *chunk], cwd=corpus.path) for chunk in argv_chunks(files)])


# --------------------------------------------------------------------------- figure 1

@dataclass
class BuildComparison:
    corpus: Corpus
    ours: list[ProcessRun] = field(default_factory=list)
    peer: list[ProcessRun] = field(default_factory=list)
    ours_posts: int = 0
    ours_db_bytes: int = 0
    ours_summary: str = ""
    peer_rows: int | None = None
    peer_db_bytes: int | None = None
    peer_chunks: int = 0
    peer_error: str | None = None

    def median_ours(self) -> float | None:
        return median([r.seconds for r in self.ours])

    def median_peer(self) -> float | None:
        return median([r.seconds for r in self.peer])


def peer_wants_another_run(peer: list[ProcessRun], runs: int, budget: float) -> bool:
    if not peer:
        return True
    spent = sum(r.seconds for r in peer)
    return len(peer) < runs and spent + median([r.seconds for r in peer]) <= budget


def compare_full_builds(corpus: Corpus, runs: int, peer_cli: Path | None, peer_budget: float) -> BuildComparison:
    """Ours and the peer alternately, each from no database, so drift hits both alike."""
    folder = corpus.path.parent
    ours_db, peer_db = folder / "ours-full.db", folder / "peer.db"
    result = BuildComparison(corpus)
    files = corpus.relative_files()
    result.peer_chunks = len(argv_chunks(files))
    for i in range(runs):
        remove_db(ours_db)
        log(f"full build of {corpus.posts:,} posts, ours, run {i + 1}/{runs}")
        result.ours.append(build_ours(corpus, ours_db, full=True))
        if peer_cli and result.peer_error is None and peer_wants_another_run(result.peer, runs, peer_budget):
            log(f"full build of {corpus.posts:,} posts, {PEER_PACKAGE}, run {len(result.peer) + 1}")
            try:
                result.peer.append(build_peer(peer_cli, corpus, peer_db, files))
            except BenchError as exc:
                result.peer_error = str(exc)
    result.ours_summary = summary_of(result.ours[-1])
    result.ours_posts = count_rows(ours_db, "posts")
    result.ours_db_bytes = ours_db.stat().st_size
    if result.peer:
        result.peer_rows = count_rows(peer_db, "posts")
        result.peer_db_bytes = peer_db.stat().st_size
    return result


# --------------------------------------------------------------------------- figures 2 and 3

@dataclass
class LargeBuild:
    corpus: Corpus
    db: Path
    runs: list[ProcessRun]
    posts: int
    db_bytes: int
    summary: str

    @property
    def seconds(self) -> float:
        return median([r.seconds for r in self.runs])

    @property
    def cpu_seconds(self) -> float:
        return median([r.cpu_seconds for r in self.runs])

    @property
    def peak_rss(self) -> int:
        return max(r.peak_rss for r in self.runs)

    @property
    def posts_per_second(self) -> float:
        return self.posts / self.seconds


def large_build(corpus: Corpus, runs: int) -> LargeBuild:
    """`runs` full builds from nothing: on these machines one build of 100,000 posts
    has taken 30 s and 65 s within the same hour, so one run says little."""
    db = corpus.path.parent / f"{DB_NAME}.db"
    done = []
    for i in range(runs):
        remove_db(db)
        log(f"full build of {corpus.posts:,} posts, run {i + 1}/{runs} (peak RSS sampled every {SAMPLE_EVERY * 1000:.0f} ms)")
        done.append(build_ours(corpus, db, full=True))
    return LargeBuild(corpus, db, done, count_rows(db, "posts"), db.stat().st_size, summary_of(done[-1]))


@dataclass
class Rebuilds:
    unchanged: list[ProcessRun]
    one_changed: list[ProcessRun]
    changed_file: str
    unchanged_summary: str
    changed_summary: str


def measure_rebuilds(corpus: Corpus, db: Path, runs: int) -> Rebuilds:
    """Incremental builds: nothing changed, then one sentence appended to one post each run.

    The edited file gets its original bytes and mtime back at the end, so the corpus
    stays the generator's (the database then holds the edited post until the next build).
    """
    unchanged = []
    for i in range(runs):
        log(f"rebuild of {corpus.posts:,} posts, nothing changed, run {i + 1}/{runs}")
        unchanged.append(build_ours(corpus, db, full=False))
    files = corpus.relative_files()
    target = corpus.path / files[len(files) // 2]
    original, stat = target.read_bytes(), target.stat()
    changed = []
    try:
        for i in range(runs):
            with target.open("ab") as f:
                f.write(f" The benchmark appended sentence number {i + 1} to this post.".encode())
            log(f"rebuild of {corpus.posts:,} posts, one file changed, run {i + 1}/{runs}")
            changed.append(build_ours(corpus, db, full=False))
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return Rebuilds(unchanged, changed, str(target.relative_to(corpus.path)), summary_of(unchanged[-1]), summary_of(changed[-1]))


# --------------------------------------------------------------------------- figure 4

@dataclass(frozen=True)
class Endpoint:
    key: str
    title: str
    production: str  # path on the production server
    defaults: str  # the same question asked of Datasette with default settings
    production_json: str | None = None  # .json twin, fetched once for notes
    defaults_json: str | None = None
    #: A page with no counterpart in plain Datasette: set beside this endpoint (its key)
    #: on the production server in the same run, and not asked of the defaults server.
    beside: str | None = None
    #: Paths asked in turn instead of `production`, one a request (warm-ups included), so
    #: that no answer comes from a cache the server keeps of an earlier one.
    variants: tuple[str, ...] = ()
    #: The median the page should stay under, in seconds (its row says met or missed).
    target: float | None = None

    def path(self, label: str, request: int) -> str:
        if label != "production":
            return self.defaults
        return self.variants[request % len(self.variants)] if self.variants else self.production


@dataclass
class Latency:
    path: str
    seconds: list[float] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    nbytes: int = 0
    notes: list[str] = field(default_factory=list)
    first: float | None = None  # the first request (a warm-up): before any cache of the server's is filled

    @property
    def median(self) -> float | None:
        return median(self.seconds)

    @property
    def p95(self) -> float | None:
        return p95(self.seconds)

    def status_note(self) -> str:
        if set(self.statuses) == {200}:
            return ""
        return "statuses " + ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items(), key=str))


@dataclass
class CsvStream:
    path: str
    seconds: list[float] = field(default_factory=list)
    nbytes: int = 0
    rows: int | None = None
    status: int | None = None
    cut: str | None = None  # Datasette's message when it stopped the stream
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.status == 200 and not self.cut and not self.error


@dataclass
class ServerRun:
    label: str
    startup_seconds: float | None = None
    inspect_seconds: float | None = None
    latencies: dict[str, Latency] = field(default_factory=dict)
    csv: CsvStream | None = None
    error: str | None = None


def endpoints(post_id: str, terms: list[str], credit: str, canned_sql: str, category: str = "") -> list[Endpoint]:
    from datasette.utils import tilde_encode

    q = urllib.parse.quote_plus
    facets = "_facet=category&_facet=language&_facet=published_month"
    sql = f"sql={q(canned_sql)}&credit={q(credit)}"
    return [
        # The pages that summarise the whole archive, read from the build's summaries.
        Endpoint("home", "home page (chart of posts per month)", "/", "/"),
        Endpoint("provenance", "photo provenance page (other: the credit_share view)", f"/{DB_NAME}/provenance",
                 f"/{DB_NAME}/credit_share"),
        Endpoint("table", "posts table page with 3 facets", f"/{DB_NAME}/posts", f"/{DB_NAME}/posts?{facets}",
                 f"/{DB_NAME}/posts.json", f"/{DB_NAME}/posts.json?{facets}"),
        Endpoint("facet-click", f"posts page, facet clicked (category={category})",
                 f"/{DB_NAME}/posts?category={q(category)}", f"/{DB_NAME}/posts?category={q(category)}&{facets}",
                 f"/{DB_NAME}/posts.json?category={q(category)}",
                 f"/{DB_NAME}/posts.json?category={q(category)}&{facets}"),
        *(Endpoint(f"search:{term}", f"full-text search '{term}'", f"/{DB_NAME}/search?q={q(term)}",
                   f"/{DB_NAME}/posts?_search={q(term)}",
                   f"/{DB_NAME}/search.json?q={q(term)}", f"/{DB_NAME}/posts.json?_search={q(term)}") for term in terms),
        Endpoint("row", "a post's row page", f"/{DB_NAME}/posts/{tilde_encode(post_id)}", f"/{DB_NAME}/posts/{tilde_encode(post_id)}"),
        Endpoint("canned", f"canned query photos_by_credit={credit}", f"/{DB_NAME}/photos_by_credit?credit={q(credit)}",
                 f"/{DB_NAME}?{sql}", f"/{DB_NAME}/photos_by_credit.json?credit={q(credit)}", f"/{DB_NAME}.json?{sql}"),
        *research_endpoints(terms),
    ]


#: Two words in most generated posts (54% and 87% of them), for the research pages.
TREND_TERMS = ("ferry", "harbour")
#: Days of the concordance's `from` filter, all before the first generated post (2020), one a
#: request: each is a new concordance (the server keeps those it has read) of the same posts.
FROM_DAYS = tuple((dt.date(2019, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(365))


def research_endpoints(terms: list[str]) -> list[Endpoint]:
    """The research pages (docs/instruments.md), each beside the posts page of the same
    production server: plain Datasette has none of them."""
    trend = ",".join(TREND_TERMS)
    word = TREND_TERMS[0]
    concordance = f"/{DB_NAME}/concordance?q={word}&size=50"
    return [
        Endpoint("trends", f"term trend of two common words '{trend}', JSON (beside: posts page)",
                 f"/{DB_NAME}/trends.json?q={trend}", "", beside="table", target=0.5),
        Endpoint("concordance", f"concordance '{word}', first page of 50 lines by date, each request a new "
                 "concordance (beside: posts page)", concordance + f"&from={FROM_DAYS[0]}", "",
                 f"/{DB_NAME}/concordance.json?q={word}&size=50", beside="table",
                 variants=tuple(f"{concordance}&from={day}" for day in FROM_DAYS), target=0.2),
        Endpoint("concordance-kept", f"concordance '{word}', the same page asked again (beside: posts page)",
                 concordance, "", beside="table", target=0.2),
        Endpoint("concordance-right", f"concordance '{word}', first page of 50 lines by the words to the right, "
                 "each request a new concordance (beside: posts page)", concordance + f"&sort=right&from={FROM_DAYS[0]}",
                 "", beside="table", variants=tuple(f"{concordance}&sort=right&from={day}" for day in FROM_DAYS),
                 target=0.2),
        Endpoint("feed", "Atom feed of the 50 newest posts (beside: posts page)", f"/{DB_NAME}/feed.atom", "",
                 beside="table", target=0.2),
    ]


def measure_latency(port: int, path, warmups: int, requests: int, budget: float, timeout: float) -> Latency:
    """warmups + requests sequential GETs, stopping early once budget seconds have passed.
    `path`: one path, or a function of the request's number giving each its own."""
    path_of = path if callable(path) else (lambda _: path)
    result = Latency(path_of(0))
    deadline = time.perf_counter() + budget
    for i in range(warmups + requests):
        if time.perf_counter() > deadline:
            result.notes.append(f"stopped after {len(result.seconds)} requests (time budget {budget:.0f} s)")
            break
        resp = http_get(port, path_of(i), timeout=timeout)
        if i == 0 and resp.status == 200:
            result.first = resp.seconds
        if i < warmups:
            continue
        result.statuses[resp.status if resp.status is not None else "error"] += 1
        if resp.status is None:
            if (resp.error or "error") not in result.notes:
                result.notes.append(resp.error or "error")
            continue
        result.seconds.append(resp.seconds)
        result.nbytes = resp.nbytes
    return result


def json_notes(port: int, path: str, timeout: float) -> list[str]:
    """What the .json twin of a page says: rows matched, facets that timed out, errors."""
    resp = http_get(port, path, timeout=timeout)
    try:
        data = json.loads(resp.body)
    except ValueError:
        return [f".json twin: status {resp.status}, not JSON"] if resp.status != 200 else []
    if not isinstance(data, dict):
        return []
    notes = []
    if data.get("ok") is False or data.get("error"):
        notes.append(f"error: {str(data.get('error'))[:120]}")
    if data.get("facets_timed_out"):
        notes.append("facets timed out: " + ", ".join(map(str, data["facets_timed_out"])))
    if data.get("suggested_facets"):
        notes.append(f"{len(data['suggested_facets'])} facet suggestions computed")
    if data.get("filtered_table_rows_count") is not None:
        notes.append(f"{data['filtered_table_rows_count']:,} rows counted")
    elif isinstance(data.get("rows"), list):
        notes.append(f"{len(data['rows']):,} rows")
    if data.get("truncated"):
        notes.append("truncated at max_returned_rows")
    return notes


def csv_row_count(path: Path, cut: bool) -> int:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        records = sum(1 for _ in csv.reader(f))
    return max(0, records - 1 - (1 if cut else 0))  # the header; Datasette's message after a cut


def measure_csv(port: int, path: str, dump: Path, runs: int, budget: float, timeout: float) -> CsvStream:
    """Stream the whole table as CSV: 1 to `runs` transfers within budget; rows counted on the first."""
    result = CsvStream(path)
    started = time.perf_counter()
    for i in range(runs):
        spent = time.perf_counter() - started
        if i and spent + (median(result.seconds) or 0) > budget:
            break
        with (dump.open("wb") if i == 0 else open(os.devnull, "wb")) as sink:
            resp = http_get(port, path, timeout=timeout, sink=sink, deadline=started + budget + timeout)
        result.status, result.nbytes = resp.status, resp.nbytes
        if resp.error or resp.status != 200:
            result.error = resp.error or f"status {resp.status}"
            break
        result.seconds.append(resp.seconds)
        text_tail = resp.tail.decode("utf-8", "replace")
        if "CSV contains more than" in text_tail:
            result.cut = text_tail[text_tail.rindex("CSV contains more than"):].strip()
        elif not text_tail.endswith(("\n", "\r\n")):
            # Datasette writes the error of a failed page where the next row would be.
            result.cut = "stream ended without a final newline: " + text_tail.splitlines()[-1][:160].strip()
        if i == 0:
            result.rows = csv_row_count(dump, bool(result.cut))
    dump.unlink(missing_ok=True)
    return result


def benchmark_server(label: str, cmd: list[str], port: int, folder: Path, eps: list[Endpoint], opts) -> ServerRun:
    run = ServerRun(label)
    log_path = folder / f"datasette-{label}.log"
    log(f"serving with {label} settings on {HOST}:{port}")
    with running_server(cmd, port, log_path) as (_, startup):
        run.startup_seconds = startup
        for ep in eps:
            if ep.beside and label != "production":
                continue
            log(f"  {label}: {ep.title}: {opts.warmups} warm-ups + {opts.requests} requests")
            latency = measure_latency(port, lambda i, ep=ep: ep.path(label, i), opts.warmups, opts.requests,
                                      opts.endpoint_budget, opts.request_timeout)
            twin = ep.production_json if label == "production" else ep.defaults_json
            if twin:
                latency.notes += json_notes(port, twin, opts.request_timeout)
            run.latencies[ep.key] = latency
        log(f"  {label}: streaming the posts table as CSV")
        run.csv = measure_csv(port, f"/{DB_NAME}/posts.csv?_stream=on", folder / f"stream-{label}.csv",
                              opts.runs, opts.csv_budget, opts.request_timeout)
    return run


def sample_post_id(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        n = conn.execute("select count(*) from posts").fetchone()[0]
        return conn.execute("select id from posts order by id limit 1 offset ?", (n // 2,)).fetchone()[0]


def common_category(db: Path) -> str:
    """The category of most posts: the facet a reader clicks first."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute("select category from posts where category is not null"
                           " group by category order by count(*) desc limit 1").fetchone()
        return row[0] if row else ""


def compare_serving(db: Path, opts) -> tuple[ServerRun, ServerRun, list[Endpoint]]:
    """Production command, then Datasette defaults, one server at a time on the same file."""
    canned_sql = config.load(config.METADATA, DB_NAME)["databases"][DB_NAME]["queries"]["photos_by_credit"]["sql"]
    eps = endpoints(sample_post_id(db), opts.search, opts.credit, canned_sql, common_category(db))
    folder = db.parent
    runs = []
    for n, label in enumerate(("production", "defaults")):
        port = opts.port + n if opts.port else free_port()
        t0 = time.perf_counter()
        if label == "production":
            cmd = serve_command(db, HOST, port)  # writes the inspect file, as production does
        else:
            cmd = [sys.executable, "-m", "datasette", "serve", str(db), "-p", str(port), "-h", HOST]
        inspect_seconds = time.perf_counter() - t0 if label == "production" else None
        try:
            run = benchmark_server(label, cmd, port, folder, eps, opts)
        except (BenchError, ServerError) as exc:
            run = ServerRun(label, error=str(exc))
        run.inspect_seconds = inspect_seconds
        runs.append(run)
    return runs[0], runs[1], eps


# --------------------------------------------------------------------------- the report

@dataclass
class Row:
    figure: str
    ours: str
    other: str = ""
    ratio: str = ""
    notes: str = ""


def rows_build_comparison(c: BuildComparison) -> list[Row]:
    ours_med, peer_med = c.median_ours(), c.median_peer()
    if c.peer:
        other = f"{PEER_PACKAGE}: {fmt_seconds(peer_med)} ({len(c.peer)} run{'s' if len(c.peer) > 1 else ''})"
    else:
        other = f"{PEER_PACKAGE}: not measured ({c.peer_error or 'not installed'})"
    notes = [
        f"peer builds ONE table (posts: frontmatter + text + HTML), no FTS, no lookup tables, no checks, one process; "
        f"ours builds the normalised schema with 2 FTS5 indexes, integrity checks and an atomic swap, "
        f"{os.cpu_count()} parser processes",
        f"ours: {c.ours_summary}; DB {fmt_bytes(c.ours_db_bytes)}, peak RSS {fmt_bytes(max(r.peak_rss for r in c.ours))}, "
        f"CPU {fmt_seconds(median([r.cpu_seconds for r in c.ours]))}",
    ]
    if c.peer:
        notes.append(
            f"peer: {c.peer_rows:,} rows, DB {fmt_bytes(c.peer_db_bytes)}, peak RSS {fmt_bytes(max(r.peak_rss for r in c.peer))}, "
            f"CPU {fmt_seconds(median([r.cpu_seconds for r in c.peer]))}"
            + (f", {c.peer_chunks} command lines (ARG_MAX)" if c.peer_chunks > 1 else "")
        )
    if c.peer_error and c.peer:
        notes.append(f"peer failed on a later run: {c.peer_error}")
    return [Row(
        f"1. Full build, {c.corpus.posts:,} posts: wall time, median",
        f"{fmt_seconds(ours_med)} ({len(c.ours)} runs)", other, fmt_ratio(ours_med, peer_med), "; ".join(notes),
    )]


def rows_large_build(b: LargeBuild) -> list[Row]:
    n = f"{b.corpus.posts:,} posts"
    return [
        Row(f"2. Full build, {n}: wall time, median", f"{fmt_seconds(b.seconds)} ({len(b.runs)} runs)", "", "",
            f"{b.summary}; runs {', '.join(fmt_seconds(r.seconds) for r in b.runs)}; "
            f"CPU {fmt_seconds(b.cpu_seconds)} (all processes, median)"),
        Row(f"2. Full build, {n}: throughput", f"{b.posts_per_second:,.0f} posts/s"),
        Row(f"2. Full build, {n}: relations stages, median", stages_note(b.runs), "", "",
            "reprints and related posts (docs/relations.md), from the build's --timings; the MinHash "
            "signatures and word counts they read are made by the parser processes, within the build's time"),
        Row(f"2. Full build, {n}: peak RSS of the process tree (max of the runs)", fmt_bytes(b.peak_rss), "", "",
            f"build_db.py and its parser processes, summed, sampled every {SAMPLE_EVERY * 1000:.0f} ms "
            "(shared pages counted once per process)"),
        Row(f"2. Full build, {n}: database size vs corpus size", f"DB {fmt_bytes(b.db_bytes)}",
            f"corpus {fmt_bytes(b.corpus.bytes)} in {b.corpus.files:,} files", fmt_ratio(b.db_bytes, b.corpus.bytes),
            "the DB keeps body, body_text and frontmatter of each post, plus FTS indexes"),
    ]


def rows_rebuilds(r: Rebuilds, corpus: Corpus) -> list[Row]:
    n = f"{corpus.posts:,} posts"
    return [
        Row(f"3. Rebuild, {n}, nothing changed: wall time, median", f"{fmt_seconds(median([x.seconds for x in r.unchanged]))} ({len(r.unchanged)} runs)",
            "", "", r.unchanged_summary),
        Row(f"3. Rebuild, {n}, one file changed: wall time, median", f"{fmt_seconds(median([x.seconds for x in r.one_changed]))} ({len(r.one_changed)} runs)",
            "", "", f"{r.changed_summary}; a sentence appended to {r.changed_file} before each run; "
            f"stages {stages_note(r.one_changed)}"),
    ]


def latency_cell(lat: Latency | None) -> str:
    if lat is None or not lat.seconds:
        return "failed" if lat is None else f"no answer ({'; '.join(lat.notes)[:100]})"
    first = f" (first {fmt_seconds(lat.first)})" if lat.first is not None else ""
    return f"{fmt_seconds(lat.median)} / {fmt_seconds(lat.p95)}{first}"


def server_notes(label: str, lat: Latency | None) -> str:
    if lat is None:
        return ""
    parts = [p for p in (lat.status_note(), *lat.notes) if p]
    parts.insert(0, f"{len(lat.seconds)} req, {fmt_bytes(lat.nbytes)}")
    return f"{label}: " + ", ".join(parts)


def csv_cell(c: CsvStream | None) -> str:
    if c is None:
        return "failed"
    if c.error and not c.seconds:
        return f"failed: {c.error}"
    rows = f", {c.rows:,} rows" if c.rows is not None else ""
    state = "complete" if c.complete else "CUT"
    return f"{fmt_seconds(median(c.seconds))}, {fmt_bytes(c.nbytes)}{rows}, {state}"


def rows_serving(prod: ServerRun, dflt: ServerRun, eps: list[Endpoint], posts: int) -> list[Row]:
    n = f"{posts:,} posts"
    if prod.error or dflt.error:
        errors = "; ".join(f"{r.label}: {r.error}" for r in (prod, dflt) if r.error)
        if not (prod.latencies or dflt.latencies):
            return [Row(f"4. Serve {n}", "failed", "", "", errors)]
    rows = [Row(
        f"4. Serve {n}: start-up until the first answer",
        f"{fmt_seconds(prod.startup_seconds)} (+ inspect file {fmt_seconds(prod.inspect_seconds)})",
        f"defaults: {fmt_seconds(dflt.startup_seconds)}", fmt_ratio(prod.startup_seconds, dflt.startup_seconds),
        "production: immutable with an inspect file (row counts precomputed); defaults: mutable file, counts at request time",
    )]
    for ep in eps:
        p, d = prod.latencies.get(ep.key), dflt.latencies.get(ep.key)
        if ep.beside:
            rows.append(research_row(n, ep, p, prod.latencies.get(ep.beside), next(e for e in eps if e.key == ep.beside)))
            continue
        rows.append(Row(
            f"4. Serve {n}: {ep.title}, median / p95", latency_cell(p), f"defaults: {latency_cell(d)}",
            fmt_ratio(p and p.median, d and d.median), "; ".join(x for x in (server_notes("production", p), server_notes("defaults", d)) if x),
        ))
    pc, dc = prod.csv, dflt.csv
    both_complete = pc is not None and dc is not None and pc.complete and dc.complete
    notes = [f"{r.label}: Datasette stopped the stream: “{r.csv.cut}”" for r in (prod, dflt) if r.csv and r.csv.cut]
    notes += [f"{r.label}: {r.csv.error}" for r in (prod, dflt) if r.csv and r.csv.error]
    notes.append("production max_csv_mb 0 (no cap); defaults max_csv_mb 100")
    rows.append(Row(
        f"4. Serve {n}: stream posts as CSV (_stream=on), median of {len(pc.seconds) if pc else 0} / {len(dc.seconds) if dc else 0}",
        csv_cell(pc), f"defaults: {csv_cell(dc)}",
        fmt_ratio(median(pc.seconds), median(dc.seconds)) if both_complete else "– (not the same output)",
        "; ".join(notes),
    ))
    return rows


def research_row(n: str, ep: Endpoint, lat: Latency | None, beside: Latency | None, other: Endpoint) -> Row:
    """A research page beside the page `other` of the same production server, with its target."""
    notes = [server_notes("production", lat)]
    if ep.target is not None and lat is not None and lat.median is not None:
        met = "met" if lat.median < ep.target else "MISSED"
        notes.insert(0, f"target under {fmt_seconds(ep.target)} median: {met}")
    if ep.variants:
        notes.append(f"{len(ep.variants)} paths asked in turn (`{ep.variants[0]}`, `{ep.variants[1]}`, …)")
    return Row(f"4. Serve {n}: {ep.title}, median / p95", latency_cell(lat),
               f"{other.title.split(' with ')[0]}, same server: {latency_cell(beside)}",
               fmt_ratio(lat and lat.median, beside and beside.median), "; ".join(x for x in notes if x))


def escape_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(machine: Machine, mode: str, rows: list[Row], eps: list[Endpoint] | None, failures: list[str]) -> str:
    lines = [
        machine.line(),
        "",
        f"Run {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {mode}; code at {machine.commit}; "
        f"corpora from bench/generate.py (seed {SEED}).",
        "",
        "| figure | ours / production | other | ratio | notes |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(escape_cell(c) for c in (r.figure, r.ours, r.other, r.ratio, r.notes))} |" for r in rows]
    lines += [
        "",
        "Ratio = ours ÷ other (time, or DB size ÷ corpus size): below 1 means ours takes less. "
        "Wall times include interpreter start-up. Latency: sequential requests on 127.0.0.1, one connection each, "
        "timed to the last byte, after warm-ups; p95 is the nearest-rank 95th percentile; "
        "(first …) is the first request of all, before any cache of the server's was filled.",
    ]
    if eps:
        lines += ["", "Requests (production → Datasette defaults on the same file):"]
        lines += [f"- {ep.title}: `{ep.production}` → `{ep.defaults[:160]}{'…' if len(ep.defaults) > 160 else ''}`"
                  for ep in eps if not ep.beside]
        lines += [f"- {ep.title}: `{ep.production}`{' (and the other days of `from`)' if ep.variants else ''}, "
                  f"production only" for ep in eps if ep.beside]
        lines.append(f"- CSV: `/{DB_NAME}/posts.csv?_stream=on` on both")
    if failures:
        lines += ["", "Failed steps:"] + [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 / 10,000 posts and smaller time budgets")
    parser.add_argument("--posts-small", type=int, help="posts for the build comparison (default 10,000; quick 2,000)")
    parser.add_argument("--posts-large", type=int, help="posts for the big build, rebuilds and serving (default 100,000; quick 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per timed build (default 3)")
    parser.add_argument("--peer-budget", type=float, help="seconds the peer's runs may take in all before no more are started (default 600; quick 90)")
    parser.add_argument("--no-peer", action="store_true", help="skip markdown-to-sqlite")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (default 30)")
    parser.add_argument("--warmups", type=int, default=3, help="untimed requests first (default 3)")
    parser.add_argument("--endpoint-budget", type=float, default=120, help="seconds at most per page and server (default 120)")
    parser.add_argument("--csv-budget", type=float, help="seconds of CSV streaming per server before no more runs (default 300; quick 60)")
    parser.add_argument("--request-timeout", type=float, default=300, help="socket timeout of one request (default 300 s)")
    parser.add_argument(
        "--search", action="append",
        help="full-text search term, may be repeated (default: ferry, in 54%% of the generated posts, and "
        "heritage, in 1%%)",
    )
    parser.add_argument("--credit", default="Reuters", help="credit for the canned query (default Reuters)")
    parser.add_argument("--results", type=Path, help="where to write the table (default bench/results.md; with --scale bench/results-scale.md)")
    parser.add_argument(
        "--scale", type=int, metavar="N",
        help="figures 2 to 4 for --posts-large posts and for N posts, each row beside its other size (no figure 1); "
        "`make bench-scale` runs it with N = 1,000,000",
    )
    parser.add_argument("--port", type=int, help="port of the production server, the next one of the defaults server "
                        "(default: free ones)")
    parser.add_argument(
        "--serve", type=Path, metavar="DB",
        help="figure 4 alone, on this database built from a generated corpus (for example bench/out/n100000/news.db "
        "of an earlier run); the file's name must be news.db, as the pages' URLs say /news/",
    )
    opts = parser.parse_args(argv)
    if opts.serve and (opts.serve.name != f"{DB_NAME}.db" or not opts.serve.is_file()):
        parser.error(f"--serve takes an existing {DB_NAME}.db, not {opts.serve}")
    if opts.serve and opts.scale:
        parser.error("--serve and --scale measure different things: give one")
    opts.search = opts.search or ["ferry", "heritage"]
    opts.results = opts.results or (RESULTS_SCALE if opts.scale else RESULTS)
    opts.posts_small = opts.posts_small or (2_000 if opts.quick else 10_000)
    opts.posts_large = opts.posts_large or (10_000 if opts.quick else 100_000)
    opts.peer_budget = opts.peer_budget if opts.peer_budget is not None else (90 if opts.quick else 600)
    opts.csv_budget = opts.csv_budget if opts.csv_budget is not None else (60 if opts.quick else 300)
    if min(opts.posts_small, opts.posts_large, opts.runs, opts.requests, opts.scale or 1) < 1:
        parser.error("counts must be at least 1")
    return opts


class Steps:
    """Runs each step, turning a failure into a line of the report instead of a crash."""

    def __init__(self):
        self.failures: list[str] = []

    def run(self, name: str, fn, *args):
        try:
            return fn(*args)
        except (BenchError, OSError, sqlite3.Error, subprocess.SubprocessError) as exc:
            log(f"{name} failed: {exc}")
            self.failures.append(f"{name}: {exc}")
            return None


def large_figures(steps: "Steps", count: int, opts) -> tuple[list[Row], list[Endpoint] | None]:
    """Figures 2 to 4 (large build, serving, rebuilds) on a corpus of `count` posts."""
    large = steps.run(f"corpus of {count:,}", ensure_corpus, count)
    if not large:
        return [], None
    big = steps.run("figure 2 (large full build)", large_build, large, opts.runs)
    if not big:
        return [Row(f"2. Full build, {large.posts:,} posts", "failed")], None
    rows, eps = rows_large_build(big), None
    served = steps.run("figure 4 (serving)", compare_serving, big.db, opts)
    if served:
        prod, dflt, eps = served
        steps.failures += [f"serving with {r.label} settings: {r.error}" for r in (prod, dflt) if r.error]
        rows += rows_serving(prod, dflt, eps, big.posts)
    rebuilds = steps.run("figure 3 (rebuilds)", measure_rebuilds, large, big.db, opts.runs)
    if rebuilds:
        rows += rows_rebuilds(rebuilds, large)
    return rows, eps


def serve_only(machine: Machine, steps: Steps, opts) -> int:
    """Figure 4 on an existing database (--serve)."""
    posts = count_rows(opts.serve, "posts")
    rows, eps = [], None
    served = steps.run("figure 4 (serving)", compare_serving, opts.serve, opts)
    if served:
        prod, dflt, eps = served
        steps.failures += [f"serving with {r.label} settings: {r.error}" for r in (prod, dflt) if r.error]
        rows = rows_serving(prod, dflt, eps, posts)
    return report(machine, f"--serve run: figure 4 on {opts.serve} ({posts:,} posts)", rows, eps, steps, opts)


def report(machine: Machine, mode: str, rows: list[Row], eps, steps: Steps, opts) -> int:
    text = render(machine, mode, rows, eps, steps.failures)
    opts.results.write_text(text, encoding="utf-8")
    print(text, end="")
    log(f"wrote {opts.results}")
    return 1 if steps.failures else 0


def main(argv=None) -> int:
    opts = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    machine = machine_facts()
    if machine.load[0] > 0.5 * machine.cores:
        log(f"warning: load average {machine.load[0]:.2f} on {machine.cores} cores: something else is running; figures will be noisy")
    steps = Steps()
    peer_cli = None
    if not opts.no_peer:
        peer = steps.run("installing the peer", ensure_peer)
        if peer:
            peer_cli, machine.peer = peer
    mode = f"{'--quick' if opts.quick else 'full'} run: {opts.posts_small:,} / {opts.posts_large:,} posts"
    log(mode)

    started = time.monotonic()
    if opts.serve:
        return serve_only(machine, steps, opts)
    rows: list[Row] = []
    eps = None
    small = None if opts.scale else steps.run(f"corpus of {opts.posts_small:,}", ensure_corpus, opts.posts_small)
    if small:
        comparison = steps.run("figure 1 (full build comparison)", compare_full_builds, small, opts.runs, peer_cli, opts.peer_budget)
        rows += rows_build_comparison(comparison) if comparison else [Row(f"1. Full build, {small.posts:,} posts", "failed")]
    for count in [opts.posts_large] + ([opts.scale] if opts.scale else []):
        large_rows, large_eps = large_figures(steps, count, opts)
        rows += large_rows
        eps = eps or large_eps
    # Stable: figures 1, 2, 3, 4 in their own order; with --scale each row beside the same row at the other size.
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(re.sub(r"[\d,]+ posts", "", row.figure) if opts.scale else "", len(first))
    rows.sort(key=lambda r: (r.figure.split(".")[0], first[re.sub(r"[\d,]+ posts", "", r.figure) if opts.scale else ""]))
    if opts.scale:
        mode = f"scale run: {opts.posts_large:,} and {opts.scale:,} posts, which took {fmt_seconds(time.monotonic() - started)}"

    return report(machine, mode, rows, eps, steps, opts)


if __name__ == "__main__":
    sys.exit(main())
