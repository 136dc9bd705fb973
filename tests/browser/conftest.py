"""Fixtures for the real-browser tests: a database built from sample/posts, a real
Datasette started with the production command line, and headless Chromium.

Nothing here talks to the internet: the server binds 127.0.0.1 only, and every page
blocks (and records) any request whose host is not 127.0.0.1.
"""
from __future__ import annotations

import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from newsarchive.build.pipeline import build
from newsarchive.serve import serve_command, stop_process

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample" / "posts"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
HOST = "127.0.0.1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


#: The widths the page tests look at: a laptop's window and a phone's.
WIDTHS = (1400, 390)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def browser_db(tmp_path_factory) -> Path:
    """news.db built from sample/posts (the stem `news` is the database name in URLs)."""
    db = tmp_path_factory.mktemp("browser") / "news.db"
    build(SAMPLE, db, quiet=True)
    return db


@pytest.fixture(scope="session")
def browser_conn(browser_db):
    """A read-only connection to browser_db, for what the pages are expected to show."""
    conn = sqlite3.connect(f"file:{browser_db}?mode=ro", uri=True)
    yield conn
    conn.close()


@contextmanager
def running_server(db: Path):
    """A real `datasette serve` of db, started exactly as production starts it; yields its base URL."""
    port = _free_port()
    command = serve_command(db, HOST, port)
    assert command[command.index("-h") + 1] == HOST
    log = db.parent / "datasette.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"datasette exited with status {proc.returncode}:\n{' '.join(command)}\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"datasette did not answer on {base} within 30 s:\n{_log_tail(log)}")
            time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def server(browser_db) -> str:
    """Base URL of a real `datasette serve` started exactly as production starts it."""
    with running_server(browser_db) as base:
        yield base


@pytest.fixture(scope="package")
def browser():
    """Headless Debian chromium driven by Playwright, launched once for tests/browser/.

    One browser for every browser test, but stopped after the last of them rather than
    at the end of the session: while Playwright's sync API is started, its event loop
    counts as running on the main thread, and every later `asyncio.run()` (Datasette's
    test client in tests/test_datasette.py) would fail.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium (install it with `make browser`)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


@dataclass
class Browse:
    """A page plus what it tried to do: requests off 127.0.0.1, dialogs, script errors."""

    page: object
    base: str
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checked: bool = False

    def goto(self, path: str):
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"
        return response

    def assert_offline(self):
        """Nothing was requested from outside 127.0.0.1 (every such request was blocked)."""
        self.checked = True
        assert self.blocked == [], f"the pages tried to fetch from outside {HOST}: {self.blocked}"

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        return path


@contextmanager
def browsing(browser, base: str, width: int = 1280, **context_options):
    """A fresh browser context, its window `width` px wide, whose page can only reach
    127.0.0.1; yields a Browse."""
    context = browser.new_context(viewport={"width": width, "height": 900}, **context_options)
    context.set_default_timeout(10_000)
    result = Browse(page=None, base=base)

    def only_local(route):
        url = route.request.url
        if urlsplit(url).hostname == HOST:
            route.continue_()
        else:
            result.blocked.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    result.page = page

    def on_dialog(dialog):
        result.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: result.errors.append(str(error)))
    try:
        yield result
    finally:
        context.close()
    if not result.checked:  # tests that do not check it themselves are still held to it
        result.assert_offline()


@pytest.fixture
def browse(browser, server):
    """A fresh browser context whose page can only reach 127.0.0.1."""
    with browsing(browser, server) as result:
        yield result


def assert_fits(page) -> None:
    """Nothing on the page is wider than the window (no sideways scrolling)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
