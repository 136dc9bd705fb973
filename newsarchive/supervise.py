"""Keep a server answering on one port through new builds and crashes.

The serve command binds the port once and keeps the listening socket for its whole
life; every server it starts accepts from that same socket (newsarchive.shared_socket).
Connections wait in the socket's queue whichever server is there to take them, so:

- a new build: a second server starts on the new file while the first still answers;
  once the second is accepting, the first stops taking connections, finishes what it
  has and exits (its in-flight requests get DRAIN seconds);
- a server that dies (SIGKILL, the kernel's OOM killer): the next one is started after
  a delay (Backoff), and meanwhile connections wait instead of being refused.

Each server process is started fresh, so everything Datasette or a plugin keeps for a
server's life (inspect counts, caches, per-thread connections) belongs to one build.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Hashable

#: A started server gets this long to accept connections, or it is killed and retried.
READY_TIMEOUT = 120.0
#: A server replaced by a new build gets this long to finish its requests (a CSV stream).
DRAIN = 60.0
#: On SIGTERM or Ctrl-C, servers get this long to finish before they are killed.
STOP = 10.0
#: How often the database path is looked at, at most.
POLL = 0.25
BACKLOG = 2048


class Backoff:
    """The delay before restarting a server that died: 0.5 s, doubling to 30 s, and
    0.5 s again once a server had run for a healthy minute before it died."""

    def __init__(self, first: float = 0.5, most: float = 30.0, healthy: float = 60.0):
        self.first, self.most, self.healthy = first, most, healthy
        self.delay = first

    def failed(self, healthy_for: float) -> float:
        """The delay before the next start, after a server that ran `healthy_for` s."""
        if healthy_for >= self.healthy:
            self.delay = self.first
        delay, self.delay = self.delay, min(self.delay * 2, self.most)
        return delay


@dataclass
class Child:
    """One server process, the build it serves, and the pipe it says "ready" on."""

    process: subprocess.Popen
    build: Hashable
    ready_pipe: int
    started: float
    ready_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def healthy_for(self, now: float) -> float:
        return 0.0 if self.ready_at is None else now - self.ready_at

    def check_ready(self, now: float) -> bool:
        """True once the server has written to its pipe (it accepts connections)."""
        if self.ready_at is None and self.ready_pipe in select.select([self.ready_pipe], [], [], 0)[0]:
            if os.read(self.ready_pipe, 64):
                self.ready_at = now
            self.close_pipe()
        return self.ready_at is not None

    def close_pipe(self) -> None:
        if self.ready_pipe >= 0:
            os.close(self.ready_pipe)
            self.ready_pipe = -1


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address `host` resolves to, as uvicorn would bind them."""
    sockets = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def say(message: str) -> None:
    print(f"serve: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Run `command(build, socket fds, ready fd)` on `sockets`: a new one whenever
    `build()` changes, again (after a Backoff delay) whenever one dies.

    Whatever `command` raises (its preparation failed: the inspect, a bad metadata.yml)
    counts as a start that failed, but at the first start, where there is no server to
    keep and the caller reports it.
    """

    def __init__(self, command: Callable[[Hashable, list[int], int], list[str]], build: Callable[[], Hashable],
                 sockets: list[socket.socket], name: str):
        self.command, self.build, self.sockets, self.name = command, build, sockets, name
        self.backoff = Backoff()
        self.serving: Child | None = None
        self.starting: Child | None = None
        self.draining: list[tuple[subprocess.Popen, float]] = []
        self.retry_at = 0.0
        self.stopping = False
        self.ever_ready = False
        self.status: int | None = None

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (then 0), or until the first server fails to start
        (then its exit status)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.stop)
        try:
            while not self.stopping and self.status is None:
                self.wait()
                self.step(time.monotonic())
        finally:
            self.stop_all()
            for sock in self.sockets:
                sock.close()
        return self.status or 0

    def stop(self, signum, frame) -> None:
        self.stopping = True

    def wait(self) -> None:
        """Sleep until the starting server says it is ready, POLL s at most."""
        pipes = [self.starting.ready_pipe] if self.starting and self.starting.ready_pipe >= 0 else []
        select.select(pipes, [], [], POLL)

    def step(self, now: float) -> None:
        if self.starting is not None:
            self.check_starting(now)
        if self.serving is not None and self.serving.process.poll() is not None:
            child, self.serving = self.serving, None
            delay = self.backoff.failed(child.healthy_for(now))
            self.retry_at = now + delay
            say(f"datasette [{child.pid}] died ({describe(child.process.returncode)}) after "
                f"{child.healthy_for(now):.1f} s; restarting in {delay:g} s")
        build = self.build()
        if (self.starting is None and now >= self.retry_at and build is not None
                and (self.serving is None or build != self.serving.build)):
            self.start(build, now)
        self.reap(now)

    def start(self, build: Hashable, now: float) -> None:
        read, write = os.pipe()
        try:
            fds = [sock.fileno() for sock in self.sockets]
            process = subprocess.Popen(self.command(build, fds, write), pass_fds=(*fds, write), stdin=subprocess.DEVNULL,
                                       env={**os.environ, "NEWS_ARCHIVE_SERVE_PID": str(os.getpid())})
        except Exception as exc:
            os.close(read)
            if not self.ever_ready and not isinstance(exc, subprocess.CalledProcessError):
                raise
            self.start_failed(getattr(exc, "returncode", 1), now, f"could not start ({exc})")
            return
        finally:
            os.close(write)
        self.starting = Child(process, build, read, now)

    def check_starting(self, now: float) -> None:
        child = self.starting
        if child.check_ready(now):
            self.starting, old = None, self.serving
            self.serving, self.ever_ready = child, True
            if old is not None:
                self.retire(old.process, now)
            say(f"datasette [{child.pid}] now serving {self.name}")
        elif child.process.poll() is not None or now - child.started > READY_TIMEOUT:
            self.starting = None
            child.close_pipe()
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()
            self.start_failed(child.process.returncode, now, f"{describe(child.process.returncode)} before it answered")

    def start_failed(self, returncode: int, now: float, why: str) -> None:
        if self.stopping:  # Ctrl-C reached the starting process too
            return
        if not self.ever_ready:
            say(f"datasette {why}")
            self.status = returncode if returncode > 0 else 1
            return
        delay = self.backoff.failed(0)
        self.retry_at = now + delay
        kept = "still serving the previous build" if self.serving else "nothing is serving"
        say(f"datasette {why} ({kept}); restarting in {delay:g} s")

    def retire(self, process: subprocess.Popen, now: float, grace: float = DRAIN) -> None:
        """Stop a server: it takes no new connection and finishes its requests within `grace` s."""
        if process.poll() is None:
            process.terminate()
        self.draining.append((process, now + grace))

    def reap(self, now: float) -> None:
        for process, deadline in list(self.draining):
            if process.poll() is None and now > deadline:
                say(f"datasette [{process.pid}] had not finished its requests in time: killed")
                process.kill()
            if process.poll() is not None:
                self.draining.remove((process, deadline))

    def stop_all(self) -> None:
        now = time.monotonic()
        self.draining = [(process, min(deadline, now + STOP)) for process, deadline in self.draining]
        for child in (self.serving, self.starting):
            if child is not None:
                child.close_pipe()
                self.retire(child.process, now, STOP)
        self.serving = self.starting = None
        while self.draining:
            self.reap(time.monotonic())
            time.sleep(0.05)
