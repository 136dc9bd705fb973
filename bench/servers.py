"""A real `datasette` server on 127.0.0.1 for the benchmarks, and timed requests to it.

bench/run.py and bench/loadtest.py measure the server as it runs in production, so
both start one as a subprocess and talk to it over HTTP; the start, the wait and the
stop live here so that the two measure the same thing in the same way.
"""
from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from newsarchive.serve import stop_process

ROOT = Path(__file__).resolve().parent.parent
#: Loopback only: a benchmark must never put the archive on the network.
HOST = "127.0.0.1"


class ServerError(Exception):
    """Datasette exited or stayed silent before its first answer."""


@dataclass
class Response:
    status: int | None
    seconds: float
    nbytes: int
    body: bytes = b""
    tail: bytes = b""
    error: str | None = None


def http_get(port: int, path: str, timeout: float, sink=None, deadline: float | None = None) -> Response:
    """One GET on a fresh connection, timed until the last byte of the body is read.

    A failure comes back as a Response with `error` rather than an exception, so that a
    measurement records it and goes on. With a sink (a file), the body is streamed into
    it in 1 MiB pieces instead of kept, so that a whole table fits in no memory; past the
    deadline the transfer is abandoned.
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if sink is None:
            body = resp.read()
            return Response(resp.status, time.perf_counter() - t0, len(body), body, body[-300:])
        nbytes, tail = 0, b""
        while chunk := resp.read(1 << 20):
            nbytes += len(chunk)
            tail = (tail + chunk)[-8192:]
            sink.write(chunk)
            if deadline and time.perf_counter() > deadline:
                return Response(resp.status, time.perf_counter() - t0, nbytes, tail=tail, error="abandoned: time limit")
        return Response(resp.status, time.perf_counter() - t0, nbytes, tail=tail)
    except (OSError, http.client.HTTPException) as exc:
        return Response(None, time.perf_counter() - t0, 0, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def free_port() -> int:
    """A port nothing listens on now, so that runs side by side do not collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def shown(path: Path) -> str:
    """The log's path as a reader would type it: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path, timeout: float) -> None:
    """Return once Datasette answers: the port is bound well before the first page can be served."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"datasette exited with status {proc.returncode} before answering; see {shown(log_path)}")
        if http_get(port, "/-/versions.json", timeout=2).status == 200:
            return
        time.sleep(0.1)
    raise ServerError(f"datasette did not answer within {timeout:.0f} s; see {shown(log_path)}")


@contextlib.contextmanager
def running_server(cmd: list[str], port: int, log_path: Path, timeout: float = 120):
    """Yield the process and the seconds it took to answer; it is stopped however the
    block ends, so that no server outlives a failed measurement."""
    assert cmd[cmd.index("-h") + 1] == HOST, cmd
    with log_path.open("wb") as log_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_ready(proc, port, log_path, timeout)
            yield proc, time.perf_counter() - t0
        finally:
            stop_process(proc)
