"""Debian's nginx in front of `news-archive serve` replicas, all on 127.0.0.1, for the
scale-out load test (bench/scaleout.py) and tests/test_nginx.py.

nginx runs as a foreground subprocess with its own prefix, logs and temporary folders,
on deploy/nginx.conf (the configuration docs/deploying.md shows) with only the ports
changed, so that what is measured and tested is what a server would run.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.servers import HOST, ServerError, free_port, http_get
from newsarchive.serve import stop_process

ROOT = Path(__file__).resolve().parent.parent
SITE_CONF = ROOT / "deploy" / "nginx.conf"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin, which is not on an ordinary user's PATH."""
    found = shutil.which("nginx")
    return found or next((p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None)


def site_config(listen: int, replicas: list[int]) -> str:
    """deploy/nginx.conf with nginx on `listen` and one upstream server per replica port."""
    text = SITE_CONF.read_text(encoding="utf-8")
    servers = re.findall(r"^( *server 127\.0\.0\.1:)\d+( .*)$", text, flags=re.M)
    if not servers:
        raise ValueError(f"{SITE_CONF}: no `server 127.0.0.1:PORT` line in its upstream")
    indent, rest = servers[0]
    lines = "\n".join(f"{indent}{port}{rest}" for port in replicas)
    text = re.sub(r"^ *server 127\.0\.0\.1:\d+ .*\n", "", text, flags=re.M)
    text = text.replace("upstream news_archive {\n", f"upstream news_archive {{\n{lines}\n", 1)
    return re.sub(r"listen 127\.0\.0\.1:\d+;", f"listen {HOST}:{listen};", text)


def main_config(prefix: Path, site: str) -> str:
    """A whole nginx.conf around the site: foreground, everything it writes under prefix."""
    temp = {name: prefix / "temp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    # As root nginx would hand its workers to `nobody`, who cannot write the folders here.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temps = "\n".join(f"    {name}_temp_path {path};" for name, path in temp.items())
    return (f"daemon off;\n{user}worker_processes 2;\npid {prefix / 'nginx.pid'};\n"
            f"error_log {prefix / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n    log_format upstream '$remote_addr $status $request_time upstream=$upstream_addr \"$request\"';\n"
            f"    access_log {prefix / 'access.log'} upstream;\n{temps}\n{site}\n}}\n")


@contextlib.contextmanager
def running_nginx(prefix: Path, listen: int, replicas: list[int], timeout: float = 30):
    """nginx on `listen` in front of the replica ports; yields its process, stops it after."""
    binary = nginx_binary()
    if binary is None:
        raise ServerError("nginx is not installed: `make nginx` installs Debian's")
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site_config(listen, replicas)), encoding="utf-8")
    with (prefix / "nginx.out").open("wb") as log:
        proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_listening(proc, listen, prefix / "error.log", timeout)
        yield proc
    finally:
        stop_process(proc)


def wait_listening(proc: subprocess.Popen, port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"nginx exited with status {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if http_get(port, "/-/versions.json", timeout=5).status == 200:
            return
        time.sleep(0.1)
    raise ServerError(f"nginx did not answer within {timeout:.0f} s; see {log}")


def start_replica(db: Path, port: int, log: Path) -> subprocess.Popen:
    """`news-archive serve DB --port PORT`, the production serve command."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "newsarchive", "serve", str(db), "--port", str(port)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_answering(proc: subprocess.Popen, port: int, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while http_get(port, "/-/versions.json", timeout=2).status != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise ServerError(f"the replica on port {port} did not answer; see {log}")
        time.sleep(0.2)


@contextlib.contextmanager
def replicas(db: Path, logs: Path, count: int = 2):
    """`count` serve commands on one database, each on a free port; yields {port: process}."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[int, subprocess.Popen] = {}
    try:
        for _ in range(count):
            port = free_port()
            procs[port] = start_replica(db, port, logs / f"replica-{port}.log")
        for port, proc in procs.items():
            wait_answering(proc, port, logs / f"replica-{port}.log")
        yield procs
    finally:
        for proc in procs.values():
            stop_process(proc)
