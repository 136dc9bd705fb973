"""`news-archive serve` starts without `datasette inspect`: the inspect file comes from
the build's row counts (`_table_rows`), and says what Datasette's own would."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
import os
from pathlib import Path

import pytest

from newsarchive.build import build
from newsarchive.serve import inspect, serve_command

from .conftest import SAMPLE, copy_tree

#: Every process this test process starts, as the interpreter announces it (an audit
#: event, raised by subprocess.Popen itself), while `watching` holds a list.
watching: list | None = None


def _audit(event: str, args) -> None:
    if event == "subprocess.Popen" and watching is not None:
        watching.append(args)


sys.addaudithook(_audit)


def started_while(fn):
    global watching
    watching = []
    try:
        fn()
        return watching
    finally:
        watching = None


def datasettes_inspect(db: Path, tmp_path: Path) -> dict:
    out = tmp_path / "datasette-inspect.json"
    subprocess.run([sys.executable, "-m", "datasette", "inspect", str(db), "--inspect-file", str(out)], check=True)
    return json.loads(out.read_text())


@pytest.fixture()
def built(tmp_path) -> tuple[Path, Path]:
    posts = copy_tree(SAMPLE, tmp_path / "posts")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    return posts, db.resolve()


def test_the_inspect_file_is_written_without_datasette_inspect_and_counts_what_it_counts(built, tmp_path):
    _, db = built
    written = tmp_path / "inspect.json"
    assert started_while(lambda: inspect(db, written)) == []
    ours = json.loads(written.read_text())["news"]
    theirs = datasettes_inspect(db, tmp_path)["news"]
    assert ours["tables"] == theirs["tables"] and ours["size"] == theirs["size"] and ours["file"] == theirs["file"]
    assert len(ours["hash"]) == 64


def test_the_serve_command_runs_no_inspect(built, tmp_path):
    _, db = built
    commands = started_while(lambda: serve_command(db, port=8899, workdir=tmp_path / "serve"))
    assert commands == []
    inspect_file = json.loads((tmp_path / "serve" / "inspect.json").read_text())
    assert inspect_file["news"]["tables"]["posts"]["count"] == sqlite3.connect(db).execute(
        "select count(*) from posts").fetchone()[0]


def test_the_hash_names_one_build_and_a_table_added_later_is_counted(built, tmp_path):
    posts, db = built
    first = json.loads(inspect(db, tmp_path / "a.json").read_text())["news"]
    assert json.loads(inspect(db, tmp_path / "b.json").read_text())["news"]["hash"] == first["hash"]
    (posts / "2024-12" / "one-more.md").write_text("---\ntitle: One more\ndate: 2024-12-30\n---\n\nA post.\n")
    build(posts, db, quiet=True)
    conn = sqlite3.connect(db)
    conn.execute("create table my_notes (note text)")
    conn.executemany("insert into my_notes values (?)", [("a",), ("b",)])
    conn.commit()
    conn.close()
    again = json.loads(inspect(db, tmp_path / "c.json").read_text())["news"]
    assert again["hash"] != first["hash"]
    assert again["tables"]["posts"]["count"] == first["tables"]["posts"]["count"] + 1
    assert again["tables"]["my_notes"] == {"count": 2}
    assert again["tables"] == datasettes_inspect(db, tmp_path)["news"]["tables"]


def test_a_database_without_the_builds_counts_is_inspected_by_datasette(built, tmp_path):
    _, db = built
    older = tmp_path / "older" / "news.db"
    older.parent.mkdir()
    shutil.copyfile(db, older)
    conn = sqlite3.connect(older)
    conn.execute("drop table _table_rows")
    conn.commit()
    conn.close()
    commands = started_while(lambda: inspect(older, tmp_path / "older.json"))
    assert any("inspect" in map(str, args[1]) for args in commands)
    assert json.loads((tmp_path / "older.json").read_text())["news"]["tables"]["posts"]["count"] > 20
