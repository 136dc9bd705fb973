"""What one SQL statement may cost the server, and where it runs (used by
plugins/news_limits.py).

Datasette runs each query as one job on its pool of SQL threads. `SqlExecutor` takes
the place of that pool: jobs of a request that carries arbitrary SQL (see
newsarchive.site.sql_gate) run on a small pool of their own, so that however many of
them run, the table pages, rows and search keep the whole of the other pool. Each job
gets a `Job`, kept per thread while it runs: the deadline that the bounded SQL
functions (newsarchive.site.bounded_sql) check, and a budget of the bytes its result
may carry, charged as values leave SQLite (`count_text`, `count_row`).
"""
from __future__ import annotations

import contextvars
import ctypes
import os
import threading
import time
import traceback
from concurrent import futures
from dataclasses import dataclass, field

#: Bytes of text and blobs one query may hand to Python (every row it reads, whatever
#: the format asked): a page of 1,000 posts of the 18F blog is about 12 MB.
MAX_RESULT_BYTES = 32 * 1024 * 1024
#: Memory SQLite may hold in the whole server (sqlite3_hard_heap_limit64). It serves
#: the site with under 50 MB; a row of thirty 16 MB blobs held 870 MB.
MAX_SQLITE_HEAP_BYTES = 512 * 1024 * 1024
#: Threads for arbitrary SQL, beside Datasette's num_sql_threads for everything else.
ARBITRARY_SQL_THREADS = 2
#: How much lower (nice) those threads' CPU priority is.
ARBITRARY_SQL_NICE = 10
#: The names of those threads start with this.
ARBITRARY_THREAD_PREFIX = "arbitrary-sql"


def on_arbitrary_sql_thread() -> bool:
    """Is this one of the arbitrary-SQL threads? Datasette opens each connection on the
    thread that will use it, so a connection opened here only ever runs a visitor's SQL."""
    return threading.current_thread().name.startswith(ARBITRARY_THREAD_PREFIX)


class Refused(Exception):
    """Why a query was stopped; the job turns it into the driver's OperationalError."""


@dataclass
class Job:
    """One query on its SQL thread: when it must stop, and what its result has cost."""

    deadline: float
    budget: int
    spent: int = 0
    refusal: str | None = None
    request: "SqlRequest | None" = None

    def over_time(self) -> bool:
        return time.perf_counter() > self.deadline or (self.request is not None and self.request.gone)

    def refuse(self, message: str) -> Refused:
        self.refusal = self.refusal or message
        return Refused(message)

    def charge(self, nbytes: int) -> None:
        self.spent += nbytes
        if self.spent > self.budget:
            raise self.refuse(
                f"Result too large: this query returns more than {self.budget // 2**20} MB of text and blobs; "
                "ask for fewer rows (_size=, LIMIT) or fewer or shorter columns (substr())"
            )


@dataclass
class SqlRequest:
    """An HTTP request whose SQL runs on the arbitrary-SQL pool; `threads` are the SQL
    threads running its jobs now, for `interrupt` when its client goes."""

    arbitrary: bool = True
    gone: bool = False
    threads: set[threading.Thread] = field(default_factory=set)


#: The request being served, set by the ASGI gate and read when a job is submitted.
CURRENT_REQUEST: contextvars.ContextVar[SqlRequest | None] = contextvars.ContextVar("news_sql_request", default=None)

_local = threading.local()
_registry_lock = threading.Lock()
#: SQL thread -> the connections Datasette opened on it (one per database). Keyed by the
#: Thread, not its id, which a later thread may be given again.
_thread_connections: dict[threading.Thread, list] = {}


def current_job() -> Job | None:
    return getattr(_local, "job", None)


def register_connection(conn) -> None:
    """Remember a connection under the thread that opened it: Datasette keeps one per
    thread and database, and runs every query of that thread on it."""
    with _registry_lock:
        _thread_connections.setdefault(threading.current_thread(), []).append(conn)


def interrupt(request: SqlRequest) -> None:
    """Stop what the request's jobs run now (its client has gone).

    Under the lock a job's thread is only listed while that job runs, so no later
    query on the same connection is hit; SQLite drops an interrupt that reaches a
    connection between statements.
    """
    request.gone = True
    with _registry_lock:
        for thread in request.threads:
            for conn in _thread_connections.get(thread, ()):
                try:
                    conn.interrupt()
                except Exception:  # closed (a test's server that has stopped): nothing runs on it
                    pass


class SqlExecutor:
    """Datasette's executor, split in two: arbitrary SQL on `arbitrary`, all else on
    `normal` (Datasette's own pool). Both Datasette 0.65 and 1.0 submit every query
    through `executor.submit`, from the request's task, so the request is known here.
    """

    def __init__(self, normal: futures.ThreadPoolExecutor, arbitrary_threads: int, time_limit_s: float,
                 budget: int, module):
        self.normal = normal
        self.arbitrary = futures.ThreadPoolExecutor(max_workers=arbitrary_threads, thread_name_prefix=ARBITRARY_THREAD_PREFIX,
                                                    initializer=_yield_the_cpu)
        self.time_limit_s = time_limit_s
        self.budget = budget
        self.module = module  # the driver: its Error and OperationalError

    def submit(self, fn, /, *args, **kwargs):
        request = CURRENT_REQUEST.get()
        pool = self.arbitrary if request is not None and request.arbitrary else self.normal
        return pool.submit(self._run, request, fn, args, kwargs)

    def _run(self, request, fn, args, kwargs):
        job = Job(deadline=time.perf_counter() + self.time_limit_s, budget=self.budget, request=request)
        thread = threading.current_thread()
        _local.job = job
        if request is not None:
            with _registry_lock:
                request.threads.add(thread)
        refused = None
        try:
            if request is not None and request.gone:  # hung up while this waited for a thread
                raise self.module.OperationalError("interrupted")
            return fn(*args, **kwargs)
        except BaseException as error:
            # The failed query's cursor lives on in the traceback's frames. Freed on
            # another thread (where the exception ends up), it would reset its
            # statement there, waiting for this connection's mutex while holding the
            # GIL, as this thread, in its next query, waits for the GIL: so it goes here.
            traceback.clear_frames(error.__traceback__)
            if isinstance(error, MemoryError):  # SQLite's heap limit (see MAX_SQLITE_HEAP_BYTES)
                refused = self.module.OperationalError(
                    "Out of memory: this query needs more than the server gives SQLite; ask for fewer or smaller columns")
            elif isinstance(error, self.module.Error) and job.refusal and job.refusal not in str(error):
                # A bounded function or the result budget said why in job.refusal; the
                # driver only says "user-defined function raised exception".
                refused = type(error)(job.refusal)
            else:
                raise
        finally:
            if request is not None:
                with _registry_lock:
                    request.threads.discard(thread)
            _local.job = None
        raise refused

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.arbitrary.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.normal.shutdown(wait=wait, cancel_futures=cancel_futures)


def _yield_the_cpu() -> None:
    """Run this thread at a lower CPU priority (nice +10; Linux sets it per thread): a
    query of the visitor's own that burns a CPU to its time limit then takes what the
    table pages, rows, search and the event loop leave."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARBITRARY_SQL_NICE)
    except (AttributeError, OSError):  # not Linux: the same priority as the rest
        pass


def count_text(error_type: type[Exception]):
    """A text_factory like Datasette's (invalid UTF-8 replaced) that charges each value
    to the running job before Python holds it."""

    def text(value: bytes) -> str:
        job = current_job()
        if job is not None:
            try:
                job.charge(len(value))
            except Refused as refused:
                raise error_type(str(refused)) from None
        return str(value, "utf-8", "replace")

    return text


def count_row(row_type, error_type: type[Exception]):
    """A row_factory making Datasette's rows (`row_type`, sqlite3.Row) that charges the
    row's blobs to the running job (text was charged as it was read)."""

    def row(cursor, values):
        job = current_job()
        if job is not None:
            blobs = sum(len(v) for v in values if isinstance(v, bytes))
            if blobs:
                try:
                    job.charge(blobs)
                except Refused as refused:
                    raise error_type(str(refused)) from None
        return row_type(cursor, values)

    return row


def return_freed_memory() -> None:
    """Have glibc hand large freed blocks back to the system at once.

    A refused result has allocated tens of MB before it was stopped; glibc's default
    raises its mmap threshold after such blocks are freed and keeps later ones in the
    heap, so the server's RSS would stay at its peak. A fixed threshold (128 KiB, the
    default's start) keeps every large block in its own mapping. Nothing on other libcs.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_mmap_threshold = -3
    libc.mallopt(m_mmap_threshold, 128 * 1024)
