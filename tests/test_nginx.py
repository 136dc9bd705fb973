"""Two `news-archive serve` replicas of one database behind Debian's nginx, on 127.0.0.1,
with deploy/nginx.conf (the configuration docs/deploying.md shows): requests through
nginx across a new build and a replica's restart all answered, the new build served by
both replicas, and each visitor's address reaching the per-client limits, unspoofable.
"""
from __future__ import annotations

import http.client
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from bench.proxy import SITE_CONF, nginx_binary, replicas, running_nginx, start_replica, wait_answering
from bench.servers import HOST, free_port
from newsarchive.build.pipeline import build
from newsarchive.serve import stop_process

from .conftest import DATASETTE_1

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample" / "posts"
NEW_ID = "ARTSCALEOUT0000001"
NEW_POST = f"""---
code: "{NEW_ID}"
title: "Replicas pick up a new build"
category: "NEWS"
language: "en"
date: 2024-12-31T10:00:00Z
---

A post added while two replicas serve the archive behind nginx.
"""
#: What the load asks for: pages of the site that every build has.
PAGES = ["/", "/news/posts", "/news/posts.json?_shape=array&_size=5", "/news/search?q=harbour",
         "/news/posts/ART2412020226TT6C5K"]



@dataclass
class Answer:
    status: int | None
    upstream: str
    body: bytes = b""
    error: str = ""


def fetch(port: int, path: str, client: str = HOST, headers: dict | None = None) -> Answer:
    """One GET through nginx from a given loopback address, on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60, source_address=(client, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.getheader("x-upstream") or "", response.read())
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, "", error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


@dataclass
class Site:
    db: Path
    posts: Path
    port: int
    replicas: dict
    logs: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    assert nginx_binary(), "nginx is missing: the scale-out test needs Debian's nginx (install it with `make nginx`)"
    root = tmp_path_factory.mktemp("nginx")
    posts = root / "posts"
    shutil.copytree(SAMPLE, posts)
    db = root / "news.db"
    build(posts, db, quiet=True)
    with replicas(db, root / "logs") as procs:
        port = free_port()
        with running_nginx(root / "nginx", port, list(procs)):
            yield Site(db, posts, port, procs, root / "logs")


@dataclass
class Load:
    """Clients requesting PAGES through nginx without a pause until stopped."""

    port: int
    clients: int = 4
    answers: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self):
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def run(self, i: int) -> None:
        n = i
        while not self.stop.is_set() and n < 100_000:
            self.answers.append((PAGES[n % len(PAGES)], fetch(self.port, PAGES[n % len(PAGES)])))
            n += self.clients

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(90)

    def failed(self) -> list:
        return [(path, a.status, a.error) for path, a in self.answers if a.status != 200]


def serves_new_post(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", f"/news/posts/{NEW_ID}.json")
        response = conn.getresponse()
        return response.status == 200 and NEW_ID.encode() in response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_for(condition, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def test_the_docs_show_the_configuration_that_is_tested():
    deploying = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    shown = re.findall(r"```nginx\n(.*?)```", deploying, flags=re.S)
    assert SITE_CONF.read_text(encoding="utf-8") in shown


def test_nginx_spreads_requests_over_both_replicas(site):
    upstreams = {fetch(site.port, "/news/posts.json?_shape=array&_size=1").upstream for _ in range(8)}
    assert upstreams == {f"{HOST}:{port}" for port in site.replicas}


def test_a_new_build_is_served_by_both_replicas_with_no_failed_request(site):
    assert not any(serves_new_post(port) for port in site.replicas)
    with Load(site.port) as load:
        time.sleep(2)
        (site.posts / "2024-12" / "scale-out.md").write_text(NEW_POST, encoding="utf-8")
        summary = build(site.posts, site.db, quiet=True)
        assert summary.added == 1
        for port in site.replicas:
            assert wait_for(lambda: serves_new_post(port)), (site.logs / f"replica-{port}.log").read_text()[-3000:]
        # Through nginx too: the new post answered by each replica in turn.
        through: list[Answer] = []
        while len({a.upstream for a in through}) < 2 and len(through) < 20:
            through.append(fetch(site.port, f"/news/posts/{NEW_ID}"))
        assert all(a.status == 200 for a in through), [a.status for a in through]
        assert {a.upstream for a in through} == {f"{HOST}:{port}" for port in site.replicas}
        time.sleep(1)
    assert len(load.answers) > 50
    assert load.failed() == []
    assert {a.upstream for _, a in load.answers} == {f"{HOST}:{port}" for port in site.replicas}


def test_a_replica_that_restarts_costs_no_request(site):
    port, proc = next(iter(site.replicas.items()))
    log = site.logs / f"replica-{port}.log"
    with Load(site.port) as load:
        time.sleep(1)
        stop_process(proc)  # as a process manager restarting it would
        time.sleep(2)  # requests meanwhile go to the other replica
        site.replicas[port] = start_replica(site.db, port, log)
        wait_answering(site.replicas[port], port, log)
        time.sleep(1)
    assert load.failed() == []
    assert {a.upstream for _, a in load.answers} >= {f"{HOST}:{p}" for p in site.replicas}


def sql(query: str) -> str:
    return f"{'/news/-/query.json' if DATASETTE_1 else '/news.json'}?sql={quote(query)}"


#: Legal SQL that runs until the SQL time limit (3 s) cuts it.
SLOW = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
SPOOF = {"X-Forwarded-For": "10.20.30.40", "X-Real-IP": "10.20.30.40", "Forwarded": "for=10.20.30.40"}


def test_each_visitor_is_counted_apart_and_cannot_spoof_its_address(site):
    """metadata.yml lets one client run one SQL query at a time (per replica): behind
    nginx the replicas must see each visitor's own address, not nginx's, and not one
    the visitor wrote into a header."""
    # nginx takes the replicas in turn once both are up: a replica an earlier test
    # restarted may still be set aside for its fail_timeout.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pair = [fetch(site.port, "/-/versions.json").upstream for _ in range(2)]
        if len(set(pair)) == 2:
            break
        time.sleep(0.5)
    slow: list[Answer] = []
    threads = [threading.Thread(target=lambda: slow.append(fetch(site.port, sql(SLOW), client="127.0.0.2")))
               for _ in range(2)]
    for t in threads:  # one on each replica: nginx takes them in turn
        t.start()
        time.sleep(0.3)
    others = [fetch(site.port, sql("select 1"), client="127.0.0.3") for _ in range(2)]
    spoofed = [fetch(site.port, sql("select 1"), client="127.0.0.2", headers=SPOOF) for _ in range(2)]
    for t in threads:
        t.join(30)
    assert sorted(a.status for a in slow) == [400, 400]  # cut by the time limit
    assert {a.upstream for a in slow} == {f"{HOST}:{port}" for port in site.replicas}
    assert [a.status for a in others] == [200, 200]
    assert [a.status for a in spoofed] == [429, 429], [a.body for a in spoofed]
    assert all(b"one client" in a.body for a in spoofed)
