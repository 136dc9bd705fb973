"""`news-archive serve` of a database, started as production runs it, for tests that
need the real server: its wrapper, its worker threads and its socket."""
from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from newsarchive.serve import stop_process

from .conftest import ROOT

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def status(port: int, path: str, timeout: float = 2) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@contextmanager
def serving(db: Path, log: Path):
    """Serve db until the block ends; yields the port."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "newsarchive", "serve", str(db), "--port", str(port)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while status(port, "/-/versions.json") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        yield port
    finally:
        stop_process(proc)


def raw_get(port: int, target: bytes, timeout: float = 30) -> tuple[bytes, dict[str, str]]:
    """GET `target` sent byte for byte (HTTP clients rewrite backslashes and dot
    segments); the status line and the headers, names in lower case."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " + f"{HOST}:{port}".encode() + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
    lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].encode("latin-1"), headers
