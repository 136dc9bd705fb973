"""Shared fixtures: real folders of posts, real databases built from them, and Datasette
serving them as production does."""
from __future__ import annotations

import asyncio
import shutil
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from newsarchive import config
from newsarchive.build.pipeline import build
from newsarchive.serve import datasette_major

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample" / "posts"
SHARED = ROOT.parent / "shared"
SPECIMEN = SHARED / "seed-post.md"
CORPUS_18F = SHARED / "corpora" / "18f-blog"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: The suite runs under Datasette 0.65 (`make test`) and 1.0 (`make test-v1`), whose
#: URLs, statuses and JSON differ; tests branch on this.
DATASETTE_1 = datasette_major() >= 1


@pytest.fixture(scope="session")
def specimen_bytes() -> bytes:
    assert SPECIMEN.exists(), f"the specimen post is expected at {SPECIMEN} (shared/ beside the checkout)"
    return SPECIMEN.read_bytes()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> Path:
    """news.db built once from sample/posts/ for read-only tests."""
    db = tmp_path_factory.mktemp("sample") / "news.db"
    build(SAMPLE, db, quiet=True)
    return db


@pytest.fixture(scope="session")
def blog_db(tmp_path_factory) -> Path:
    """news.db built once from the 18F blog's 509 posts, for read-only tests; skipped
    where the corpus is not beside the checkout."""
    if not CORPUS_18F.is_dir():
        pytest.skip(f"no 18F corpus at {CORPUS_18F}")
    db = tmp_path_factory.mktemp("blog") / "news.db"
    build(CORPUS_18F, db, quiet=True)
    return db


def rows(db: Path, sql: str, params=()):
    """Run one query on a database file and return all its rows."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def get(ds, path, actor: dict | None = None):
    """GET through Datasette's test client as a browser or `curl -L` would: Datasette 1.0
    answers `/news.json?sql=` and `/news?sql=` with a redirect to `/news/-/query...`.
    With an actor, signed in as that actor (Datasette's own ds_actor cookie)."""
    cookies = {"ds_actor": ds.sign({"a": actor}, "actor")} if actor else None
    return asyncio.run(ds.client.get(path, follow_redirects=True, cookies=cookies))


def close_app(app) -> None:
    """Stop a Datasette's SQL threads, which also closes their connections.

    Tests build in this process, and a build forks its parser processes: every idle
    thread an earlier app left behind is one more that a forked child copies the locks
    of (the hazard Python 3.12 warns about). test_datasette and test_reliability together
    ended with 152 threads, 55 with this: what is left is each app's thread for writes to
    its internal database, which Datasette gives no way to stop (idle on a queue).
    """
    executor = getattr(app, "executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


@pytest.fixture
def app_for():
    """datasette_app(...) for one test, closed after it."""
    from newsarchive.serve import datasette_app

    apps = []

    def make(*args, **kwargs):
        apps.append(datasette_app(*args, **kwargs))
        return apps[-1]

    yield make
    for app in apps:
        close_app(app)


@contextmanager
def served(db: Path):
    """A Datasette of db configured as production configures it, closed when the block ends."""
    from newsarchive.serve import datasette_app

    app = datasette_app(db)
    try:
        yield app
    finally:
        close_app(app)


@pytest.fixture(scope="module")
def ds(planted_db):
    """The module's own `planted_db` served (each module that asks for `ds` plants its posts)."""
    with served(planted_db) as app:
        yield app


# The apps over the session's databases are made once: no test changes a served app,
# and each is one set of idle SQL threads (see close_app) for the rest of the session.
@pytest.fixture(scope="session")
def sample_ds(sample_db):
    with served(sample_db) as app:
        yield app


@pytest.fixture(scope="session")
def blog_ds(blog_db):
    """(app, path) of the 18F blog served."""
    with served(blog_db) as app:
        yield app, blog_db


@pytest.fixture(scope="session")
def relations_corpus(tmp_path_factory):
    """(posts, news.db) of the planted reprints and related posts of tests/test_relations.py,
    built once for it and for the pages that show them (tests/browser/test_related_page.py)."""
    from .test_relations import planted_corpus, write_corpus

    posts = planted_corpus()
    folder = write_corpus(tmp_path_factory.mktemp("relations") / "posts", posts)
    db = folder.parent / "news.db"
    summary = build(folder, db, quiet=True)
    assert summary.written and summary.failed == 0 and summary.posts == len(posts)
    return posts, db


#: The one actor a table restricted by `restricted_app` lets in.
EDITOR = {"id": "editor"}


@pytest.fixture
def restricted_app(app_for, tmp_path, monkeypatch):
    """restricted_app(db, table): a Datasette of db configured as metadata.yml has it, but
    for `table` (a name or a tuple of names), which only EDITOR may view (an `allow`
    block, as a publisher would write)."""

    def make(db: Path, table: str | tuple[str, ...]):
        def restrict(meta: dict) -> None:
            for name in (table,) if isinstance(table, str) else table:
                meta["databases"]["news"]["tables"].setdefault(name, {})["allow"] = EDITOR

        return app_with_metadata(app_for, db, restrict, tmp_path, monkeypatch)

    return make


def app_with_metadata(app_for, db: Path, edit, tmp_path: Path, monkeypatch):
    """A Datasette of db configured as metadata.yml has it, changed by `edit(meta)` (a
    publisher's edit, written to a copy the serve command then reads)."""
    meta = yaml.safe_load(config.METADATA.read_text(encoding="utf-8"))
    edit(meta)
    edited = tmp_path / "metadata.yml"
    edited.write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(config, "METADATA", edited)
    return app_for(db, workdir=tmp_path / "serve")


def write_posts(folder: Path, posts: dict[str, bytes | str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in posts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def build_planted(root: Path, posts: dict[str, str]) -> Path:
    """root/news.db built from `posts` (file name -> text) written into root/posts; each
    of them must be added, with nothing to report."""
    db = root / "news.db"
    summary = build(write_posts(root / "posts", posts), db, quiet=True)
    assert summary.added == len(posts) and not summary.problems, summary.problems
    return db


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
