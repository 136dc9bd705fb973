"""The build: scan a folder, parse what changed (on every core), write a new database
beside the old one, check it, and swap it in with one rename.

The database a Datasette may be serving is never modified in place: a crash, a
SIGKILL or Ctrl-C at any point leaves the last good database as it was.
"""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import fcntl
import gc
import hashlib
import multiprocessing
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from .. import __version__
from ..db import store
from ..parse import MAX_BYTES, PostError, extract, has_surrogate, read_post

POST_SUFFIXES = (".md", ".markdown")
BATCH = 500
WINDOW = 1024
#: Below this many files to parse, worker processes cost more than they save.
PARALLEL_THRESHOLD = 200
#: Posts a parser process takes at a time.
CHUNK = 16
#: Seconds the build waits for a parser process to hand back the chunk it is due
#: before deciding it is stuck. A post takes ~0.3 ms to parse and a chunk of sixteen
#: 5 MiB posts (the largest read) a few seconds, so this only ever ends a parser that
#: loops on some input, or a worker that never started (fork copies a lock another
#: thread of the parent held). The stuck window is parsed again one file at a time,
#: each file given as long, and the file that does not finish is an error.
PARSE_TIMEOUT = 120
#: The writer's SQLite page cache (see _build_with).
WRITER_CACHE_KIB = 16 * 1024
#: Below this size the full checks take well under a second: always run them.
CHEAP_CHECK_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One recorded problem: `path:line: message`, at level error or skipped."""

    path: str
    line: int | None
    message: str
    level: str = "error"

    def __str__(self):
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class SourceFile:
    path: str  # relative, POSIX separators
    abspath: str
    size: int
    mtime_ns: int


@dataclass
class Summary:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    skipped: int = 0
    posts: int = 0
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    written: bool = False
    timings: dict = field(default_factory=dict)  # stage -> seconds, for benchmarks
    notes: list = field(default_factory=list)  # what the build decided on its own (see _schema_change)

    def lap(self, stage: str, since: float) -> float:
        now = time.monotonic()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    def line(self) -> str:
        return (
            f"seen {self.seen}, added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, failed {self.failed}, skipped {self.skipped}; "
            f"{self.posts} posts in {self.seconds:.1f} s"
        )


class BuildRefused(Exception):
    """The new database was built but not swapped in (shrink guard or failed checks)."""


# --------------------------------------------------------------------------- scanning

_TEMP_PREFIXES = (".#", "#", "~$", "._")


def scan(posts_dir: str | os.PathLike, seen=None, since_ns: int = 0) -> tuple[list[SourceFile], list[Problem]]:
    """Every post file below posts_dir, sorted by path, and the files passed over (and why).

    Symlinks are followed only while they stay inside the folder; editor lock and temp
    files (`.#post.md`, `#post.md#`, `~$post.md`) and hidden folders are skipped.
    os.scandir gives each entry's type without a system call, so a rebuild of 100,000
    unchanged posts costs one stat per post. `seen`, if given, is called with each
    post file modified at or after `since_ns` as it is found (the build uses it to
    learn early that something changed).
    """
    root = os.path.realpath(posts_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{posts_dir}: not a folder")
    files, skipped = [], []
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skipped.append(Problem(prefix.rstrip("/") or ".", None, f"skipped: cannot list the folder ({exc.strerror})", "skipped"))
            continue
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if not name.startswith("."):
                    folders.append((entry.path, prefix + name + "/"))
                continue
            link = entry.is_symlink()
            if link and os.path.isdir(entry.path):
                path = prefix + name
                target = os.path.realpath(entry.path)
                if _inside(target, root):
                    message = "skipped: symlinked folder inside the posts folder (its posts are read at their real path)"
                else:
                    message = f"skipped: symlinked folder points outside the posts folder ({target})"
                skipped.append(Problem(path, None, message, "skipped"))
                continue
            if not name.lower().endswith(POST_SUFFIXES):
                continue
            path = prefix + name
            # File names are bytes on Linux; one that is not UTF-8 (a surrogate once
            # decoded) cannot be a path in the database.
            if not name.isascii() and has_surrogate(path):
                shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                skipped.append(Problem(shown, None, "skipped: the file name is not valid UTF-8 (rename the file)", "skipped"))
                continue
            if name[0] in _ODD_FIRST or name[-1] == "#":
                problem = _odd_name(path, name)
                if problem is not None:
                    skipped.append(problem)
                    continue
            if link:
                target = os.path.realpath(entry.path)
                if not _inside(target, root):
                    skipped.append(Problem(path, None, f"skipped: symlink points outside the posts folder ({target})", "skipped"))
                    continue
            try:
                st = entry.stat()
            except OSError as exc:
                skipped.append(Problem(path, None, f"skipped: cannot stat ({exc.strerror})", "skipped"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(Problem(path, None, "skipped: not a regular file", "skipped"))
                continue
            found = SourceFile(path, entry.path, st.st_size, st.st_mtime_ns)
            files.append(found)
            if seen is not None and found.mtime_ns >= since_ns:
                seen(found)
    files.sort(key=lambda f: f.path)
    skipped.sort(key=lambda p: p.path)
    return files, skipped


#: First characters of the names _odd_name looks at (most names start with none).
_ODD_FIRST = frozenset(".#~")


def _odd_name(path: str, name: str) -> Problem | None:
    if name.startswith(_TEMP_PREFIXES) or name.endswith("#"):
        return Problem(path, None, "skipped: editor lock or temp file", "skipped")
    if name.startswith("."):
        return Problem(path, None, "skipped: hidden file", "skipped")
    return None


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


# --------------------------------------------------------------------------- parsing (workers)


def parse_task(task):
    """Worker: read and parse one file. Never raises: every outcome is a tuple."""
    path, abspath = task
    try:
        # Unbuffered, one read sized to the file (a MAX_BYTES buffer would be a fresh
        # 5 MiB mapping per post; Python's buffered reader costs ~7 us more a post).
        fd = os.open(abspath, os.O_RDONLY | os.O_CLOEXEC)
        try:
            expected = min(os.fstat(fd).st_size, MAX_BYTES)
            data = os.read(fd, expected + 1)
            if len(data) != expected:  # a short read, or the file changed since: read on, bounded
                while len(data) <= MAX_BYTES and (more := os.read(fd, MAX_BYTES + 1 - len(data))):
                    data += more
        finally:
            os.close(fd)
    except OSError as exc:
        return ("error", path, None, f"cannot read the file ({exc.strerror})")
    try:
        post = read_post(path, data)
        return ("ok", path, store.pack(extract(post)), post.key_lines.get("code"))
    except PostError as exc:
        return ("error", path, exc.line, exc.message)
    except RecursionError:
        return ("error", path, None, "the Markdown body is nested too deeply to parse")
    except Exception as exc:  # a parser bug must not stop the build of every other post
        return ("error", path, None, f"internal error while parsing ({type(exc).__name__}: {exc})")


def file_sha256(abspath: str) -> str | None:
    try:
        with open(abspath, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _start_pool(jobs: int) -> ProcessPoolExecutor:
    """Worker processes, forked now.

    A forked worker's RSS starts with the pages of its parent: forked before the
    scan (as a full build does), each is ~50 MB; forked after it, with 100,000 file
    entries in the parent, ~80 MB.
    """
    pool = _new_pool(jobs)
    try:
        pool.submit(int).result(timeout=PARSE_TIMEOUT)  # the fork start method starts every worker at the first task
    except (TimeoutError, BrokenProcessPool):
        _abandon(pool)
        return None  # _parse_all starts a pool of its own
    return pool


def _new_pool(jobs: int) -> ProcessPoolExecutor:
    # Everything the parent holds now moves out of the collector's sight (see
    # _collector_paused): a worker's collections would otherwise walk those objects
    # and so copy every page of them into the worker.
    gc.freeze()
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start)


def _parse_all(tasks, jobs: int, progress, pool: ProcessPoolExecutor | None = None):
    """Yield parse results in task order, using worker processes for big batches.

    `pool`, if given, is used (and shut down) first. The parsers are C and Rust
    extensions; should one ever crash a worker on some input, the batch in flight is
    parsed again one file at a time, the file that crashes is recorded as an error,
    and the build goes on.
    """
    if jobs <= 1 or len(tasks) < PARALLEL_THRESHOLD:
        for task in tasks:
            yield parse_task(task)
            progress.update(1)
        return
    done = 0
    while done < len(tasks):
        try:
            with pool or _new_pool(jobs) as active:
                pool = None
                try:
                    # The next window is handed to the workers before this one is read, so
                    # they do not idle while the writer finishes a window (at 100,000 posts
                    # both cores were 1.6-1.7 busy while parsing, 1.75-1.8 with this). At
                    # most two windows of results are held; None reads the last one (there
                    # is one: the loop runs while tasks are left).
                    in_flight = collections.deque()
                    for start in [*range(done, len(tasks), WINDOW), None]:
                        if start is not None:
                            window = tasks[start : start + WINDOW]
                            in_flight.append([active.submit(_run_chunk, window[i : i + CHUNK])
                                              for i in range(0, len(window), CHUNK)])
                            if len(in_flight) < 2:
                                continue
                        for chunk in in_flight.popleft():
                            # A chunk is usually done by the time the writer asks for it:
                            # the wait only runs while a worker is behind.
                            for result in chunk.result(timeout=PARSE_TIMEOUT):
                                yield result
                                progress.update(1)
                                done += 1
                except TimeoutError:
                    _kill_workers(active)  # or leaving `with` would wait for them forever
                    raise
        except (BrokenProcessPool, TimeoutError):
            end = min(len(tasks), done + WINDOW)
            for result in _parse_isolated(tasks[done:end]):
                yield result
                progress.update(1)
                done += 1


#: How much lower the workers' scheduling priority is than the writer's. Two workers
#: and the writer share two cores; the writer is the one everything waits for (every
#: post passes through it), and at equal priority the scheduler gave its core to a
#: worker as often as to it. Lowered, the workers take what the writer leaves:
#: 10,000 posts ~4.8 -> ~4.3 s (interleaved A/B, medians of 4).
WORKER_NICENESS = 10

#: The build lock's file descriptor while a build runs (see build()).
_LOCK_FD = None


def _worker_start():
    """In a forked worker: die with the build, let go of its lock, yield to the writer.

    A worker whose build is killed (SIGKILL, OOM) would otherwise wait for work
    forever, holding the build's stdout open; Linux sends it SIGKILL when its
    parent dies. flock belongs to the open file, which fork shares: a worker left
    behind elsewhere would keep the lock, and the next build would be refused as
    "already running" until it exits.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # the build died before the line above
            os._exit(1)
    if _LOCK_FD is not None:
        try:
            os.close(_LOCK_FD)
        except OSError:
            pass
    try:
        os.nice(WORKER_NICENESS)
    except OSError:
        pass
    # Paused in the parent (see _collector_paused). A worker parses for the whole
    # build, and a hostile frontmatter whose alias contains itself is a cycle.
    gc.enable()


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
PR_SET_PDEATHSIG = 1


def _run_task(task):
    """Looked up at call time in the (forked) worker, so the pool pickles a name only."""
    return parse_task(task)


def _run_chunk(tasks):
    return [parse_task(task) for task in tasks]


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL a pool's processes: the pool then reports itself broken and shuts down."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.kill()


def _abandon(pool: ProcessPoolExecutor) -> None:
    _kill_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)


def _parse_isolated(tasks):
    """Parse one file at a time; a file that kills its worker, or that its worker
    does not finish within PARSE_TIMEOUT, becomes an error."""
    pool = _new_pool(1)
    try:
        for task in tasks:
            try:
                yield pool.submit(_run_task, task).result(timeout=PARSE_TIMEOUT)
                continue
            except BrokenProcessPool:
                problem = "the parser crashed on this file"
            except TimeoutError:
                problem = f"the parser did not finish this file within {PARSE_TIMEOUT} s"
            yield ("error", task[0], None, f"{problem} (reported as a bug: please send it in)")
            _abandon(pool)
            pool = _new_pool(1)
    finally:
        _abandon(pool)


class _NoProgress:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty() or total < 50:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="post", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- check only


def check_folder(posts_dir, jobs: int | None = None, quiet: bool = True) -> Summary:
    """Parse every post without writing anything; the Summary lists every problem."""
    started = time.monotonic()
    files, skipped = scan(posts_dir)
    summary = Summary(seen=len(files), skipped=len(skipped))
    summary.problems.extend(skipped)
    owners: dict[str, str] = {}
    tasks = [(f.path, f.abspath) for f in files]
    progress = _progress(len(tasks), quiet)
    for result in _parse_all(tasks, jobs or os.cpu_count() or 1, progress):
        if result[0] == "error":
            summary.problems.append(Problem(result[1], result[2], result[3]))
            summary.failed += 1
            continue
        pid = result[2][0][store.POST_ID]
        if pid in owners:
            summary.problems.append(Problem(result[1], result[3], _dup_message(pid, owners[pid])))
            summary.failed += 1
            continue
        owners[pid] = result[1]
        summary.added += 1
    progress.close()
    summary.posts = len(owners)
    summary.seconds = time.monotonic() - started
    return summary


def _dup_message(post_id: str, other: str) -> str:
    return f"id {post_id!r} is already used by {other}; every post needs its own id (give one a distinct `code`)"


# --------------------------------------------------------------------------- build


def build(
    posts_dir,
    db_path,
    *,
    full: bool = False,
    quiet: bool = False,
    jobs: int | None = None,
    max_shrink: float = 0.2,
    allow_shrink: bool = False,
    checks: str = "auto",
    stop_after=None,
) -> Summary:
    """Build or update db_path from posts_dir and return what happened.

    `stop_after` is a test hook: a callable given a stage name, used to kill the build
    at chosen points and show the previous database survives.
    """
    started_clock = time.monotonic()
    started_at = _now()
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    global _LOCK_FD  # noqa: PLW0603 (read by forked workers, see _worker_start)
    lock = open(db_path.with_name(db_path.name + ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise BuildRefused(f"another build of {db_path} is running (lock file {lock.name})") from None
    _LOCK_FD = lock.fileno()
    try:
        with _collector_paused():
            return _build_locked(posts_dir, db_path, full, quiet, jobs or os.cpu_count() or 1,
                                 max_shrink, allow_shrink, checks, started_clock, started_at, stop_after or (lambda stage: None))
    finally:
        _LOCK_FD = None
        lock.close()


@contextlib.contextmanager
def _collector_paused():
    """No cyclic garbage collection in the build's own process while it builds.

    The writer unpickles every post the workers send, a few hundred tuples and
    strings each: with the collector on, those allocations set off collections that
    walk every object the build holds (100,000 file entries at 100,000 posts), and
    unpickling a post cost ~34 us instead of ~9. Nothing the build makes in a loop
    is cyclic, parsing included when the writer parses (a test holds the parser to
    that), so reference counting frees it all the same; whatever cycle a library
    leaves is collected once, at the end. The workers, forked meanwhile,
    turn the collector back on for themselves (_worker_start).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()  # what _new_pool froze before forking
        if enabled:
            gc.enable()
        gc.collect()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _build_locked(posts_dir, db_path: Path, full, quiet, jobs, max_shrink, allow_shrink, checks, started_clock, started_at, stop_after):
    # Under the lock no other build runs: any temp file left here is from a killed build.
    for stale in db_path.parent.glob(f".{db_path.name}.building-*"):
        stale.unlink(missing_ok=True)
    for retired in db_path.parent.glob(f".{db_path.name}.retired-*"):  # one a detached rm missed
        _delete_later(retired)
    tmp_path = db_path.with_name(f".{db_path.name}.building-{os.getpid()}")
    incremental = not full and db_path.exists()
    outdated = _schema_change(db_path) if incremental else None
    if outdated:
        full, incremental = True, False
    pool = _start_pool(jobs) if jobs > 1 and not incremental else None
    copier = _BackgroundCopy(db_path, tmp_path) if incremental else None
    try:
        summary = _build_with(posts_dir, db_path, tmp_path, full, quiet, jobs, max_shrink, allow_shrink, checks,
                              started_clock, started_at, stop_after, pool, copier)
        if outdated:
            summary.notes.append(f"rebuilt in full: {db_path} was built by an earlier version ({outdated})")
        return summary
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if copier is not None:
            copier.cancel()
        # Swapped in, the new database is no longer at tmp_path; anything still there is
        # a build that was refused, failed or not needed.
        tmp_path.unlink(missing_ok=True)


def _schema_change(db_path: Path) -> str | None:
    """How the schema of a database we built differs from this version's (None: it does
    not, or the file is not ours, which the build itself then reports)."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"posts", "_files", "builds"} <= tables:
            return None
        return store.schema_change(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def _build_with(posts_dir, db_path: Path, tmp_path: Path, full, quiet, jobs, max_shrink, allow_shrink, checks,
                started_clock, started_at, stop_after, pool, copier):
    old_files: dict[str, tuple] = {}
    old_errors: set = set()
    old_posts = 0
    old = None
    if db_path.exists():
        old = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            old_posts = old.execute("SELECT count(*) FROM posts").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            old.close()
            old = None
            if not full:
                raise _not_ours(db_path, exc) from None

    seen = None
    if copier is not None:
        copier.prepare()  # copy while scanning, on the chance that something changed

        # A post written since the database was is a change: flush the copy from
        # meeting it, before the file list of the database is even read (0.3 s at
        # 100,000 posts). Changes this misses (a file put back with an old mtime, a
        # deletion) are found after the scan, and only start the flush later.
        def seen(f):
            copier.start()

    try:
        files, skipped = scan(posts_dir, seen, since_ns=db_path.stat().st_mtime_ns if copier is not None else 0)
        if old is not None and not full:
            old_files = {r[0]: r[1:] for r in old.execute("SELECT path, size, mtime_ns, sha256, post_id, id_line FROM _files")}
            old_errors = {tuple(r) for r in old.execute("SELECT path, line, level, message FROM current_errors")}
    except sqlite3.DatabaseError as exc:
        raise _not_ours(db_path, exc) from None
    finally:
        if old is not None:
            old.close()
    summary = Summary(seen=len(files), skipped=len(skipped))
    summary.problems.extend(skipped)
    summary.lap("scan", started_clock)
    incremental = copier is not None  # _build_locked made one for an incremental build

    current = {f.path: f for f in files}
    tasks, unchanged_paths, touched = [], [], []
    for f in files:
        known = old_files.get(f.path)
        if known and known[3] is not None:
            if known[0] == f.size and known[1] == f.mtime_ns:
                unchanged_paths.append(f.path)
                continue
            if known[0] == f.size and file_sha256(f.abspath) == known[2]:
                # Touched but not changed: same bytes, new mtime.
                unchanged_paths.append(f.path)
                touched.append((f.mtime_ns, f.path))
                continue
        tasks.append((f.path, f.abspath))
    removed_paths = [p for p in old_files if p not in current]
    if copier is not None and (tasks or removed_paths or touched):
        copier.start()

    progress = _progress(len(tasks), quiet)
    results = list(_parse_all(tasks, jobs, progress)) if incremental and len(tasks) <= 2000 else None
    if results is not None and not removed_paths and not touched and all(r[0] == "error" for r in results):
        errors = {(r[1], r[2], "error", r[3]) for r in results}
        errors |= {(p.path, p.line, p.level, p.message) for p in skipped}
        if errors == old_errors:
            # Nothing changed, not even a problem: leave the database exactly as it is.
            progress.close()
            summary.unchanged = len(unchanged_paths)
            summary.failed = len(results)
            summary.problems.extend(Problem(r[1], r[2], r[3]) for r in results)
            summary.problems.sort(key=lambda p: (p.path, p.line or 0))
            summary.posts = old_posts
            summary.seconds = time.monotonic() - started_clock
            return summary

    conn = None
    try:
        clock = time.monotonic()
        if incremental:
            copier.wait_copied()
        clock = summary.lap("copy", clock)
        stop_after("copied")
        conn = sqlite3.connect(str(tmp_path), isolation_level=None)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        # SQLite's own page cache, in KiB. The file's pages stay in the kernel's page
        # cache anyway, so a bigger one bought no speed: 16, 32 and 64 MiB built 10,000
        # and 100,000 posts in the same time side by side, and each MiB is one more of
        # the build's peak memory (100,000 posts: 228 MiB at 16, 280 at 64).
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        conn.execute("PRAGMA temp_store = MEMORY")
        db = sqlite_utils.Database(conn)
        insert_triggers = []
        if not incremental:
            store.create_schema(db, indexes=False)
            insert_triggers = store.add_fts(db)
        conn.execute("BEGIN")
        owners = {}  # post id -> path, for every post the new database holds
        if incremental:
            for path in unchanged_paths:
                owners[old_files[path][3]] = path
            conn.executemany("UPDATE _files SET mtime_ns = ? WHERE path = ?", touched)
        # Posts of removed and changed files go first, so a changed file may keep its id.
        gone = removed_paths + [t[0] for t in tasks if t[0] in old_files]
        stale = [old_files[p][3] for p in gone if old_files[p][3] is not None]
        referred = store.Touched()  # what deleted posts referred to
        if stale:
            store.delete_posts(conn, stale, referred)
        conn.executemany("DELETE FROM _files WHERE path = ?", [(p,) for p in gone])
        summary.removed = len(removed_paths)
        summary.unchanged = len(unchanged_paths)

        # Held for a batch only: at 100,000 posts, lists of every row would cost ~30 MB.
        batch, file_rows, written_ids, new_keys = [], [], [], set()

        def flush():
            if batch:
                store.write_records(conn, batch, index_posts=not incremental)
                batch.clear()
            if file_rows:
                conn.executemany(
                    "INSERT OR REPLACE INTO _files (path, size, mtime_ns, sha256, post_id, id_line) VALUES (?, ?, ?, ?, ?, ?)",
                    file_rows,
                )
                file_rows.clear()

        source = results if results is not None else _parse_all(tasks, jobs, progress, pool)
        for result in source:
            kind, path = result[0], result[1]
            f = current[path]
            if kind == "error":
                summary.failed += 1
                summary.problems.append(Problem(path, result[2], result[3]))
                continue
            record, code_line = result[2], result[3]
            post = record[0]
            pid = post[store.POST_ID]
            holder = owners.get(pid)
            if holder is not None and holder < path:
                summary.failed += 1
                summary.problems.append(Problem(path, code_line, _dup_message(pid, holder)))
                continue
            if holder is not None:
                # A file that sorts earlier claims an id an unchanged file held: the
                # earlier one wins, as it would in a full build.
                flush()
                store.delete_posts(conn, [pid], referred)
                conn.execute("DELETE FROM _files WHERE path = ?", (holder,))
                summary.unchanged -= 1
                summary.failed += 1
                summary.problems.append(Problem(holder, old_files[holder][4], _dup_message(pid, path)))
            owners[pid] = path
            if path in old_files:
                summary.updated += 1
            else:
                summary.added += 1
            batch.append(record)
            if incremental:
                new_keys.add(post[store.POST_URL_KEY])
            written_ids.append(pid)
            file_rows.append((path, f.size, f.mtime_ns, post[store.POST_SHA256], pid, code_line))
            if len(batch) >= BATCH:
                flush()
        flush()
        progress.close()
        stop_after("inserted")
        clock = summary.lap("parse+insert", clock)
        if incremental:
            store.prune_orphans(conn, referred)
            store.resolve_link_targets(conn, written_ids, referred.keys | new_keys)
        else:
            store.create_indexes(db)
            clock = summary.lap("indexes", clock)
            store.resolve_link_targets(conn, fresh=True)
        clock = summary.lap("links", clock)
        if not incremental:
            store.fill_fts(db, insert_triggers, tables=["captions"])  # posts were indexed batch by batch
            clock = summary.lap("fts", clock)
        summary.posts = len(owners)
        summary.problems.sort(key=lambda p: (p.path, p.line or 0))
        _record_build(conn, db_path if not incremental else None, summary, started_at, "incremental" if incremental else "full")
        conn.execute("COMMIT")
        if not incremental:
            conn.execute("ANALYZE")
        clock = summary.lap("commit+analyze", clock)
        stop_after("committed")
        if old_posts and summary.posts < old_posts * (1 - max_shrink) and not allow_shrink:
            raise BuildRefused(
                f"the new build holds {summary.posts} posts, {old_posts - summary.posts} fewer than the "
                f"{old_posts} in {db_path} (over {max_shrink:.0%} lost: a half-synced folder or an empty "
                f"mount?). Nothing was replaced; rerun with --allow-shrink if the posts were really removed."
            )
        conn.close()
        conn = None
        # The checks only read the file: flushing it to disk meanwhile, on a thread
        # (fsync releases the GIL), leaves the swap little to wait for.
        flusher = threading.Thread(target=_fsync, args=(tmp_path, True), name="flush-database", daemon=True)
        flusher.start()
        if checks == "auto":
            small_change = incremental and len(written_ids) + len(removed_paths) <= max(100, summary.posts // 100)
            if not incremental:
                checks = "fresh"
            elif small_change and tmp_path.stat().st_size > CHEAP_CHECK_BYTES:
                checks = "changed"
            else:
                checks = "full"
        summary.timings["checks:" + checks] = 0.0
        if checks == "changed":
            check_conn = sqlite3.connect(tmp_path)
            problems = store.check_changed(check_conn, written_ids, expected_posts=summary.posts)
            check_conn.close()
        else:
            problems = store.check_file(tmp_path, expected_posts=summary.posts, quick=(checks == "quick"),
                                        fts_content=(checks != "fresh"))
        if problems:
            raise BuildRefused("the new database failed its checks, nothing was replaced: " + "; ".join(problems))
        clock = summary.lap("checks", clock)
        stop_after("checked")
        if copier is not None:
            copier.wait_flushed()  # the copy's own flush, started before the build's writes
        flusher.join()
        _fsync(tmp_path)  # anything written since the flush began (nothing, unless the checks wrote)
        _swap_in(tmp_path, db_path)
        _fsync_dir(db_path.parent)
        summary.lap("swap", clock)
        summary.written = True
    finally:
        progress.close()
        if conn is not None:
            conn.close()  # _build_locked deletes the file
    summary.seconds = time.monotonic() - started_clock
    return summary


def _not_ours(db_path: Path, exc: Exception) -> BuildRefused:
    return BuildRefused(f"{db_path} is not a database this tool built ({exc}); use --full to replace it")


def _record_build(conn, old_db: Path | None, summary: Summary, started_at: str, mode: str) -> int:
    """Append this build to `builds` (keeping the history of the database it replaces)."""
    if old_db is not None and old_db.exists():
        try:
            conn.execute("ATTACH DATABASE ? AS old", (f"file:{old_db}?mode=ro",))
        except sqlite3.DatabaseError:
            pass
        else:
            try:
                conn.execute("INSERT INTO builds SELECT * FROM old.builds")
                conn.execute("INSERT INTO build_errors SELECT * FROM old.build_errors")
            except sqlite3.DatabaseError:
                pass
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE old")
            conn.execute("BEGIN")
    cursor = conn.execute(
        "INSERT INTO builds (started_at, finished_at, mode, seen, added, updated, unchanged, removed, failed, skipped, posts, version)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (started_at, _now(), mode, summary.seen, summary.added, summary.updated, summary.unchanged,
         summary.removed, summary.failed, summary.skipped, summary.posts, __version__),
    )
    build_id = cursor.lastrowid
    conn.executemany(
        "INSERT INTO build_errors (build_id, path, line, level, message) VALUES (?, ?, ?, ?, ?)",
        [(build_id, p.path, p.line, p.level, p.message) for p in summary.problems],
    )
    return build_id


FICLONE = 0x40049409  # Linux ioctl: share the source's blocks (Btrfs, XFS, bcachefs)


def _copy_database(src: Path, dst: Path, stop: threading.Event | None = None) -> bool:
    """Copy the served database to build the next one beside it; False if stopped.

    On a filesystem with reflinks the copy is instant and shares blocks until they
    are written, so an incremental build only writes what it changes. Elsewhere
    (ext4) it is a kernel-side copy in chunks, so that it can be stopped.
    """
    with open(src, "rb") as source, open(dst, "wb") as target:
        try:
            fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
            return True
        except OSError:
            pass
        size = os.fstat(source.fileno()).st_size
        offset = 0
        while offset < size:
            if stop is not None and stop.is_set():
                return False
            try:
                copied = os.copy_file_range(source.fileno(), target.fileno(), min(COPY_CHUNK, size - offset))
            except OSError:  # not supported here: copy through user space
                copied = 0
            if not copied:
                break
            offset += copied
    if offset < size:
        shutil.copyfile(src, dst)
    return True


COPY_CHUNK = 64 * 1024 * 1024


class _BackgroundCopy:
    """The copy an incremental build writes to, made and flushed on a second thread.

    Copying the served database and flushing the copy to disk are most of a small
    update at 100,000 posts (1.3 GiB: ~0.9 s to copy, ~1.4 s to flush on ext4). The
    copy starts with the scan of the folder (prepare()), on the chance that
    something changed, and overlaps it (the kernel does the work, without the GIL);
    the flush starts once the build knows it will write (start(): the scan met a
    file modified since the database was written, or found another change), and
    overlaps the rest of the scan and the parsing; the fsync before the rename then
    has only the build's own changes left. When nothing changed, the copy is
    dropped unflushed: its pages never reach the disk. (Copying only from the first
    changed file on saved ~0.25 s of CPU when nothing changed but cost ~0.3 s when
    one file did, median of 3. Sending each chunk to the disk as it is copied, with
    sync_file_range, was no faster here, measured twice: 3.5 vs 3.6 s median of 6,
    and the build's own writes were at times throttled behind the writeback.)
    """

    def __init__(self, src: Path, dst: Path):
        self.src, self.dst = src, dst
        self._go = threading.Event()
        self._flush = threading.Event()
        self._stop = threading.Event()
        self._copied = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="copy-database", daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self._go.wait()
            if self._stop.is_set() or not _copy_database(self.src, self.dst, self._stop):
                return
            self._copied.set()
            self._flush.wait()
            if not self._stop.is_set():
                _fsync(self.dst)
        except BaseException as exc:  # handed to the build's thread by wait_copied()
            self._error = exc
        finally:
            self._copied.set()

    def prepare(self) -> None:
        """The build may write: copy the database now, flush it only if start() follows."""
        self._go.set()

    def start(self) -> None:
        """The build will write: copy (and flush) the database now."""
        self._flush.set()
        self._go.set()

    def wait_copied(self) -> None:
        self.start()
        self._copied.wait()
        if self._error is not None:
            raise self._error

    def wait_flushed(self) -> None:
        self.start()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        self._stop.set()
        self._go.set()
        self._flush.set()
        self._thread.join()


def _swap_in(tmp_path: Path, db_path: Path) -> None:
    """Rename the new database over the served one; the old one is deleted after the build.

    Dropping the last name of a large file frees its blocks and cached pages inside
    that system call: the rename over a 1.4 GB database took 0.6 s on ext4, a fifth of
    a one-file rebuild at 100,000 posts. So the old file gets a second name first,
    the rename only swaps names, and a detached `rm` frees the old file once the
    build has returned. (A server that still has the old file open keeps reading it,
    as before: its blocks are freed when it lets go.)
    """
    retired = db_path.with_name(f".{db_path.name}.retired-{os.getpid()}")
    try:
        os.link(db_path, retired)
    except OSError:  # no old database, or no hard links on this filesystem
        retired = None
    os.replace(tmp_path, db_path)
    if retired is not None:
        _delete_later(retired)


def _delete_later(path: Path) -> None:
    """Delete a file in a process of its own that the build does not wait for."""
    try:
        subprocess.run(["sh", "-c", 'rm -f -- "$1" &', "sh", str(path)], check=False, start_new_session=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:  # no shell: delete it now
        path.unlink(missing_ok=True)


def _fsync(path: Path, early: bool = False):
    """Flush a file to disk; an early flush (the build may yet be refused and the
    file deleted) leaves any failure to the flush that must succeed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if early:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not early:
            raise
    finally:
        os.close(fd)


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
