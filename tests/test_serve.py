"""`news-archive serve` as production runs it, on a real port of 127.0.0.1: a new build
swaps in without one refused or failed request, a Datasette that dies comes back by
itself, and SIGTERM or Ctrl-C stops everything the command started."""
from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import contextlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from newsarchive.build import build
from newsarchive.supervise import Backoff, Supervisor

from .conftest import ROOT, SAMPLE
from .test_reliability import wait_for

# Table pages, not ?sql= (that has a per-client limit): the posts each build adds, and pages.
LATE = "/news/posts.json?_shape=array&_size=max&title__contains=of+the+late+news"
PAGES = ("/news/posts?_size=5", "/news", "/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    log: Path

    def get(self, path: str, timeout: float = 10) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
            assert response.status == 200
            return response.read()

    def late(self) -> list[str]:
        return [row["title"] for row in json.loads(self.get(LATE))]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def datasettes(self) -> list[psutil.Process]:
        """The Datasette processes the command runs (not a `datasette inspect` of the moment)."""
        found = []
        for child in psutil.Process(self.process.pid).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if "inspect" not in child.cmdline():
                    found.append(child)
        return found


@contextmanager
def serving(db: Path, wait: bool = True):
    port = free_port()
    log = db.parent / f"serve-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "newsarchive", "serve", str(db), "--port", str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        if wait:
            wait_for(lambda: process.poll() is not None or server.get("/-/versions.json"))
            assert process.poll() is None, server.output()
        yield server
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


class KeepAlive:
    """A client that keeps one connection open as long as the server does, and never
    retries a request (as a browser or a proxy would)."""

    def __init__(self, base: str):
        self.address = urllib.parse.urlsplit(base).netloc
        self.connection = http.client.HTTPConnection(self.address, timeout=10)

    def get(self, path: str) -> bytes:
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            body = response.read()
        except OSError:
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.address, timeout=10)
            raise
        assert response.status == 200, response.status
        return body


@dataclass
class Probes:
    """Clients that GET the site's pages without a pause: most on a new connection
    each time, some on one kept-alive connection."""

    server: Server
    answered: int = 0
    failures: list = field(default_factory=list)
    counts: set = field(default_factory=set)
    running: bool = True

    def loop(self, paths, get):
        while self.running:
            for path in paths:
                try:
                    body = get(path)
                except Exception as exc:  # noqa: BLE001 -- every kind of failure counts
                    self.failures.append(f"{path}: {exc!r}")
                    time.sleep(0.01)
                    continue
                self.answered += 1
                if path == LATE:
                    self.counts.add(len(json.loads(body)))

    @contextmanager
    def running_on(self, clients: int = 3, kept_alive: int = 2):
        threads = [threading.Thread(target=self.loop, args=((LATE, PAGES[i % len(PAGES)]), self.server.get))
                   for i in range(clients)]
        threads += [threading.Thread(target=self.loop, args=((LATE, PAGES[i % len(PAGES)]), KeepAlive(self.server.base).get))
                    for i in range(kept_alive)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self.running = False
            for thread in threads:
                thread.join()


@pytest.fixture()
def posts_and_db(tmp_path):
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    return posts, db


def test_builds_swap_in_with_no_refused_or_failed_request(posts_and_db):
    posts, db = posts_and_db
    with serving(db) as server:
        with Probes(server).running_on() as probes:
            for n in range(1, 4):
                # Each build adds a post and changes one: the probes must see it land.
                (posts / f"late-{n}.md").write_text(f"---\ntitle: Post {n} of the late news\ndate: 2025-01-0{n}\n---\n\nBody {n}.\n")
                edited = sorted(posts.rglob("*.md"))[n]
                edited.write_text(edited.read_text(encoding="utf-8-sig") + f"\n\nCorrection {n}.\n", encoding="utf-8")
                build(posts, db, quiet=True)
                wait_for(lambda: n in probes.counts, timeout=20)
                # For a moment both servers accept: the old one may answer once more.
                wait_for(lambda: f"Post {n} of the late news" in server.late(), timeout=5)
        assert probes.failures == [], f"{len(probes.failures)} of {probes.answered + len(probes.failures)} failed"
        # A floor, not a rate: the probes kept asking through all three swaps (each build's
        # count was seen above); how many they fit in depends on the machine.
        assert probes.answered > 50
        assert probes.counts == {0, 1, 2, 3}
        assert server.output().count("now serving") == 4, server.output()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0


def stops_leaving_no_process(server: Server, signum: int) -> None:
    children = psutil.Process(server.process.pid).children(recursive=True)
    server.process.send_signal(signum)
    assert server.process.wait(timeout=30) == 0
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {alive}"
    with pytest.raises(OSError):
        server.get("/", timeout=2)


def test_a_killed_datasette_is_restarted_with_a_growing_delay_and_ctrl_c_stops_all(posts_and_db):
    _, db = posts_and_db
    with serving(db) as server:
        for delay in ("0.5 s", "1 s"):
            [datasette] = server.datasettes()
            datasette.kill()
            datasette.wait(5)
            # The port stays open: a request made while no Datasette runs waits for the next.
            started = time.monotonic()
            assert b"<table" in server.get(PAGES[0], timeout=30)
            assert time.monotonic() - started < 15
            assert "died (killed by SIGKILL) after" in server.output()
            assert f"restarting in {delay}" in server.output()
        stops_leaving_no_process(server, signal.SIGINT)


def test_sigterm_during_a_swap_stops_both_datasettes(posts_and_db):
    posts, db = posts_and_db
    with serving(db) as server:
        (posts / "late.md").write_text("---\ntitle: Late\n---\n\nBody.\n")
        build(posts, db, quiet=True)
        wait_for(lambda: len(server.datasettes()) == 2, timeout=20)  # the old one and the new one
        stops_leaving_no_process(server, signal.SIGTERM)


@pytest.mark.parametrize("when", ["as it starts", "once it answers"])
def test_datasettes_stop_when_the_serve_command_is_killed(posts_and_db, when):
    _, db = posts_and_db
    with serving(db, wait=when == "once it answers") as server:
        children = wait_for(lambda: [p for p in server.datasettes() if "newsarchive.shared_socket" in p.cmdline()])
        server.process.kill()
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"outlived the serve command: {alive}"


def test_backoff_doubles_to_its_cap_and_resets_after_a_healthy_minute():
    backoff = Backoff()
    assert [backoff.failed(healthy_for=5) for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.failed(healthy_for=59) == 30
    assert backoff.failed(healthy_for=60) == 0.5
    assert backoff.failed(healthy_for=0) == 1


def test_a_port_in_use_is_one_line_and_exit_2(posts_and_db):
    _, db = posts_and_db
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "newsarchive", "serve", str(db), "--port", str(port)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_build_that_cannot_be_served_leaves_the_old_one_serving(capsys):
    """The supervisor alone, with a stand-in server that says ready and waits."""
    build, broken = ["first"], []

    def command(this_build, fds, ready_fd):
        if broken:
            raise ValueError("bad metadata.yml")
        return [sys.executable, "-c", "import os, sys, time; os.write(int(sys.argv[1]), b'ready'); time.sleep(60)", str(ready_fd)]

    supervisor = Supervisor(command, lambda: build[0], [], "news.db")
    try:
        wait_for(lambda: supervisor.step(time.monotonic()) or supervisor.serving, timeout=20)
        first = supervisor.serving
        build[0], broken[:] = "second", [True]
        supervisor.step(time.monotonic())
        assert supervisor.serving is first and first.process.poll() is None and supervisor.status is None
        assert "could not start (bad metadata.yml) (still serving the previous build); restarting in 0.5 s" in capsys.readouterr().err
        broken.clear()
        wait_for(lambda: supervisor.step(time.monotonic()) or supervisor.serving is not first, timeout=20)
        assert supervisor.serving.build == "second"
    finally:
        supervisor.stop_all()
    assert first.process.poll() is not None
