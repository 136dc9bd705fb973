"""Parser processes: each reads and parses files on a core of its own and sends the
writer plain tuples; a parser that crashes or hangs costs one file, not the build."""
from __future__ import annotations

import collections
import contextlib
import errno
import gc
import itertools
import multiprocessing
import os
import signal
import stat
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import NamedTuple

from ..db.write import PackedPost, pack
from ..parse import MAX_BYTES, PostError, extract, read_post
from ..relate.features import feature_batch, feature_rows
from .lock import release_in_worker
from .plan import Task
from .summary import Problem

#: Below this many files to parse, worker processes cost more than they save.
PARALLEL_THRESHOLD = 200
#: Posts a parser process takes at a time.
CHUNK = 16
#: Posts handed to the workers at a time (see _parse_in_pool).
WINDOW = 1024
#: Seconds the build waits for a parser process to hand back the chunk it is due
#: before deciding it is stuck. A post takes ~0.3 ms to parse and a chunk of sixteen
#: 5 MiB posts (the largest read) a few seconds, so this only ever ends a parser that
#: loops on some input, or a worker that never started (fork copies a lock another
#: thread of the parent held). The stuck window is parsed again one file at a time,
#: each file given as long, and the file that does not finish is an error.
PARSE_TIMEOUT = 120
#: How much lower the workers' scheduling priority is than the writer's. Two workers
#: and the writer share two cores; the writer is the one everything waits for (every
#: post passes through it), and at equal priority the scheduler gave its core to a
#: worker as often as to it. Lowered, the workers take what the writer leaves:
#: 10,000 posts ~4.8 -> ~4.3 s (interleaved A/B, medians of 4).
WORKER_NICENESS = 10


class ParseResult(NamedTuple):
    """A file that is a post: its rows, and what the writer decides by."""

    path: str
    post_id: str
    url_key: str | None
    sha256: str
    #: The line of the post's `code`, where a clash of ids is reported.
    id_line: int | None
    post: PackedPost
    #: What the build reports of the post without refusing it, as (line, message).
    warnings: tuple[tuple[int | None, str], ...] = ()

    def problems(self) -> list[Problem]:
        return [Problem(self.path, line, message, "warning") for line, message in self.warnings]


class ParseFailure(NamedTuple):
    """A file that is not a post, and why."""

    path: str
    line: int | None
    message: str

    def problem(self) -> Problem:
        return Problem(self.path, self.line, self.message)


def parse_task(task: Task) -> ParseResult | ParseFailure:
    """Read and parse one file. Never raises: a file that is not a post is a ParseFailure."""
    return parse_chunk([task])[0]


def parse_chunk(tasks: list[Task]) -> list[ParseResult | ParseFailure]:
    """Read and parse files, each alone, then compute their relations features
    together (feature_batch: numpy's cost a call, paid once for the chunk). Never
    raises: a file that is not a post is a ParseFailure."""
    parsed = [parse_file(task) for task in tasks]
    posts = [item for item in parsed if isinstance(item, _Parsed)]
    try:
        batch = feature_batch([(p.record.post["id"], p.record.post["body_text"]) for p in posts])
    except Exception:  # a bug in the batch must cost no post: each is computed alone
        batch = [None] * len(posts)
    features = iter(batch)
    return [item.result(next(features)) if isinstance(item, _Parsed) else item for item in parsed]


class _Parsed(NamedTuple):
    """A file read and parsed, its relations features not yet computed."""

    task: Task
    post: object  # parse.Post
    record: object  # parse.Record

    def result(self, features: list[tuple] | None) -> ParseResult | ParseFailure:
        path = self.task[0]
        try:
            values = self.record.post
            self.record.rows["_post_features"] = (
                feature_rows(values["id"], values["body_text"]) if features is None else features)
            return ParseResult(path, values["id"], values["url_key"], values["sha256"],
                               self.post.key_lines.get("code"), pack(self.record),
                               tuple((d.line, d.message) for d in self.post.duplicates) + tuple(self.record.warnings))
        except Exception as exc:
            return _internal_error(path, exc)


def parse_file(task: Task) -> _Parsed | ParseFailure:
    """Read and parse one file, its relations features left for parse_chunk."""
    path, abspath = task[:2]  # a Task, or a plain (path, abspath)
    try:
        data = _read(abspath)
    except OSError as exc:
        return ParseFailure(path, None, f"cannot read the file ({exc.strerror})")
    try:
        post = read_post(path, data)
        as_id = getattr(task, "as_id", None)
        if as_id is not None:  # its own id is another file's (build.write)
            post.meta = {**post.meta, "code": as_id}
        return _Parsed(task, post, extract(post, features=False))
    except PostError as exc:
        return ParseFailure(path, exc.line, exc.message)
    except RecursionError:
        return ParseFailure(path, None, "the Markdown body is nested too deeply to parse")
    except Exception as exc:  # a parser bug must not stop the build of every other post
        return _internal_error(path, exc)


def _internal_error(path: str, exc: Exception) -> ParseFailure:
    return ParseFailure(path, None, f"internal error while parsing ({type(exc).__name__}: {exc})")


def _read(abspath: str) -> bytes:
    # Unbuffered, one read sized to the file (a MAX_BYTES buffer would be a fresh
    # 5 MiB mapping per post; Python's buffered reader costs ~7 us more a post).
    # Non-blocking, checked after the open: a file swapped for a FIFO or a device since
    # the scan must not hang the build (the open of a FIFO waits for a writer).
    fd = os.open(abspath, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file: a FIFO, socket or device")
        expected = min(info.st_size, MAX_BYTES)
        data = os.read(fd, expected + 1)
        if len(data) != expected:  # a short read, or the file changed since: read on, bounded
            while len(data) <= MAX_BYTES and (more := os.read(fd, MAX_BYTES + 1 - len(data))):
                data += more
        return data
    finally:
        os.close(fd)


def parse_all(tasks: Iterable[Task], jobs: int, quiet: bool = True, pool: ProcessPoolExecutor | None = None,
              total: int | None = None):
    """Yield the parse result of each task, in task order (see parse_each)."""
    for _, result in parse_each(tasks, jobs, quiet, pool, total):
        yield result


def parse_each(tasks: Iterable[Task], jobs: int, quiet: bool = True, pool: ProcessPoolExecutor | None = None,
               total: int | None = None):
    """Yield (task, its parse result) in task order, using worker processes for big
    batches, with a progress bar unless `quiet`.

    `tasks` may be any iterable, read as the workers need them (`total`: how many there
    are; len(tasks) if not given). `pool`, if given, is used (and shut down) first.
    """
    if total is None:
        total = len(tasks)
    bar = progress(total, quiet)
    try:
        if jobs <= 1 or total < PARALLEL_THRESHOLD:
            pairs = ((task, parse_task(task)) for task in tasks)
        else:
            pairs = _parse_in_pool(iter(tasks), jobs, pool)
        for pair in pairs:
            yield pair
            bar.update(1)
    finally:
        bar.close()


def progress(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="post", file=sys.stderr, leave=False,
                disable=quiet or not sys.stderr.isatty() or total < 50)


def _parse_in_pool(tasks: Iterator[Task], jobs: int, pool: ProcessPoolExecutor | None):
    """The parsers are C and Rust extensions; should one ever crash a worker on some
    input, the window in flight is parsed again one file at a time, the file that
    crashes is recorded as an error, and the build goes on."""
    unread: collections.deque[Task] = collections.deque()  # handed to a pool, not yet yielded
    while True:
        try:
            with pool or _new_pool(jobs) as active:
                pool = None
                try:
                    yield from _parse_windows(active, tasks, unread)
                    return
                except TimeoutError:
                    _kill_workers(active)  # or leaving `with` would wait for them forever
                    raise
        except (BrokenProcessPool, TimeoutError):
            window = [unread.popleft() for _ in range(min(WINDOW, len(unread)))]
            window += itertools.islice(tasks, WINDOW - len(window))
            yield from _parse_isolated(window)
            if not unread:
                following = next(tasks, None)
                if following is None:
                    return
                tasks = itertools.chain([following], tasks)


def _parse_windows(pool: ProcessPoolExecutor, tasks: Iterator[Task], unread: collections.deque):
    """(task, result) of every task in `unread` (handed to a pool that broke), then of
    the rest of `tasks`, a window at a time.

    The next window is handed to the workers before this one is read, so they do not
    idle while the writer finishes a window (at 100,000 posts both cores were 1.6-1.7
    busy while parsing, 1.75-1.8 with this). At most two windows of tasks and results
    are held; `unread` holds the tasks whose results are not yet yielded.
    """
    in_flight = collections.deque()

    def hand_out(window: list[Task]) -> None:
        in_flight.append([pool.submit(_run_chunk, window[i : i + CHUNK]) for i in range(0, len(window), CHUNK)])

    again = list(unread)
    for first in range(0, len(again), WINDOW):
        hand_out(again[first : first + WINDOW])
    while True:
        window = list(itertools.islice(tasks, WINDOW))
        if window:
            unread.extend(window)
            hand_out(window)
            if len(in_flight) < 2:
                continue
        if not in_flight:
            return
        for chunk in in_flight.popleft():
            # A chunk is usually done by the time the writer asks for it: the wait
            # only runs while a worker is behind.
            for result in chunk.result(timeout=PARSE_TIMEOUT):
                yield unread.popleft(), result


def _parse_isolated(tasks: list[Task]):
    """Parse one file at a time, yielding (task, result); a file that kills its worker,
    or that its worker does not finish within PARSE_TIMEOUT, becomes an error."""
    pool = _new_pool(1)
    try:
        for task in tasks:
            try:
                yield task, pool.submit(_run_task, task).result(timeout=PARSE_TIMEOUT)
                continue
            except BrokenProcessPool:
                problem = "the parser crashed on this file"
            except TimeoutError:
                problem = f"the parser did not finish this file within {PARSE_TIMEOUT} s"
            yield task, ParseFailure(task.path, None, f"{problem} (reported as a bug: please send it in)")
            _abandon(pool)
            pool = _new_pool(1)
    finally:
        _abandon(pool)


def _run_task(task: Task):
    """Looked up at call time in the (forked) worker, so the pool pickles a name only."""
    return parse_task(task)


def _run_chunk(tasks: list[Task]):
    return parse_chunk(tasks)


def start_pool(jobs: int) -> ProcessPoolExecutor | None:
    """Worker processes, forked now (None: they did not start; parse_all starts its own).

    A forked worker's RSS starts with the pages of its parent: forked before the
    scan (as a full build does), each is ~50 MB; forked after it, with 100,000 file
    entries in the parent, ~80 MB.
    """
    pool = _new_pool(jobs)
    try:
        pool.submit(int).result(timeout=PARSE_TIMEOUT)  # the fork start method starts every worker at the first task
    except (TimeoutError, BrokenProcessPool):
        _abandon(pool)
        return None
    return pool


def _new_pool(jobs: int) -> ProcessPoolExecutor:
    # Everything the parent holds now moves out of the collector's sight (see
    # collector_paused): a worker's collections would otherwise walk those objects
    # and so copy every page of them into the worker.
    gc.freeze()
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start)


def _worker_start():
    """In a forked worker: die with the build, let go of its lock, yield to the writer.

    A worker whose build is killed (SIGKILL, OOM) would otherwise wait for work
    forever, holding the build's stdout open; Linux sends it SIGKILL when its
    parent dies.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        parent = multiprocessing.parent_process()
        if parent is not None and os.getppid() != parent.pid:  # the build died before the line above
            os._exit(1)
    release_in_worker()
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # Paused in the parent (see collector_paused). A worker parses for the whole
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


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """SIGKILL a pool's processes: the pool then reports itself broken and shuts down."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.kill()


def _abandon(pool: ProcessPoolExecutor) -> None:
    _kill_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def collector_paused():
    """No cyclic garbage collection in the build's own process while it builds.

    The writer unpickles every post the workers send, a few hundred tuples and
    strings each: with the collector on, those allocations set off collections that
    walk every object the build holds (100,000 file entries at 100,000 posts), and
    unpickling a post cost ~34 us instead of ~9. Nothing the build makes in a loop
    is cyclic, parsing included when the writer parses (a test holds the parser to
    that), so reference counting frees it all the same; whatever cycle a library
    leaves is collected once, at the end. The workers, forked meanwhile, turn the
    collector back on for themselves (_worker_start).
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
