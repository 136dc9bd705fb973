"""The scan into the build's file list, each file compared with the `_files` of the
database being updated: real folders, a real build, real SQLite."""
from __future__ import annotations

import os
import sqlite3

from newsarchive.build import build
from newsarchive.build.filelist import FileList, State
from newsarchive.build.plan import make_plan
from newsarchive.build.scan import scan_into

from .conftest import write_posts


def _post(code: str, body: str = "A body of some words.") -> str:
    return f"---\ncode: {code}\ntitle: Post {code}\n---\n\n{body}\n"


def _later(path) -> None:
    """A new modification time, a second on, for the same bytes."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _listed(files: FileList) -> dict[str, tuple[State, bool, int, int]]:
    return {path: (State(state), bool(known), size, mtime) for path, state, known, size, mtime in
            files.conn.execute("SELECT path, state, known, size, mtime_ns FROM files")}


def test_each_file_is_compared_with_its_row_of_the_old_files(tmp_path):
    posts = write_posts(tmp_path / "posts", {
        "a/same.md": _post("SAME1"), "a/touched.md": _post("TOUCH1"), "b/longer.md": _post("LONG1"),
        "b/gone.md": _post("GONE1"), "rewritten.md": _post("REWR1"), "c/Z.markdown": _post("ZED1"),
        "d/one.md": _post("TWIN1"), "d/two.md": _post("TWIN1"),
    })
    db = tmp_path / "news.db"
    assert build(posts, db, quiet=True).added == 8
    with sqlite3.connect(db) as conn:
        # Of two files with one code, one post takes its path as its id (build.write).
        (renamed,) = [p for (p,) in conn.execute("SELECT path FROM _files WHERE post_id = path")]
    _later(posts / "a/touched.md")  # the same bytes: restamped
    (posts / "b/longer.md").write_text(_post("LONG1", "A body of some more words."))
    (posts / "b/gone.md").unlink()
    (posts / "rewritten.md").write_text(_post("REWR1", "A body of some wards."))  # the same size
    _later(posts / "rewritten.md")
    write_posts(posts, {"new.md": _post("NEW1")})

    with FileList() as files:
        files.compare_with(db)
        assert scan_into(files, posts) == []
        plan = make_plan(files)
        listed = _listed(files)
        gone = sorted(row for chunk in files.gone() for row in chunk)

    expected = {"a/same.md": State.UNCHANGED, "a/touched.md": State.RESTAMPED, "b/longer.md": State.PARSE,
                "rewritten.md": State.PARSE, "c/Z.markdown": State.UNCHANGED, "new.md": State.PARSE,
                "d/one.md": State.UNCHANGED, "d/two.md": State.UNCHANGED}
    expected[renamed] = State.PARSE  # read again whenever something changed
    assert {path: state for path, (state, *_) in listed.items()} == expected
    assert {path for path, (_, known, *_) in listed.items() if not known} == {"new.md"}
    for path, (_, _, size, mtime) in listed.items():
        st = os.stat(posts / path)
        assert (size, mtime) == (st.st_size, st.st_mtime_ns), path
    assert (plan.to_parse, plan.unchanged, plan.restamped, plan.removed) == (4, 4, 1, 1)
    assert gone == sorted([("b/gone.md", "GONE1"), ("b/longer.md", "LONG1"), ("rewritten.md", "REWR1"),
                           (renamed, renamed)])


def test_with_nothing_changed_every_file_stands(tmp_path):
    posts = write_posts(tmp_path / "posts", {f"{i % 3}/p{i}.md": _post(f"P{i}") for i in range(40)})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    with FileList() as files:
        files.compare_with(db)
        scan_into(files, posts)
        plan = make_plan(files)
        assert (plan.to_parse, plan.unchanged, plan.removed, plan.changes) == (0, 40, 0, False)
        assert list(files.tasks()) == []


def test_a_full_builds_list_parses_every_file_in_path_order(tmp_path):
    names = [f"{i % 4}/{i:03d}-{'x' * (i % 5)}.md" for i in range(30)]
    posts = write_posts(tmp_path / "posts", {name: _post(f"F{i}") for i, name in enumerate(names)})
    with FileList() as files:
        scan_into(files, posts)
        tasks = list(files.tasks())
        assert [task.path for task in tasks] == sorted(names)
        assert all(not task.known and task.abspath == f"{os.path.realpath(posts)}/{task.path}" for task in tasks)
        assert make_plan(files).to_parse == 30
