"""The build's memory does not grow with the archive: the files' state is kept in the
build's FileList (a temporary SQLite database), not in Python objects a file."""
from __future__ import annotations

import tracemalloc

import pytest

from newsarchive.build import build, filelist, write
from newsarchive.build import scan as scanning
from newsarchive.build.filelist import FileList

from .conftest import rows, write_posts
from .test_build import dump

#: What the build may hold in Python per file, in bytes. Lists and dicts of every file
#: (the scan's entries, the previous build's `_files` rows, the parse tasks, the
#: writer's ids and lookups) cost 700-1,100 bytes a file.
PER_FILE_BOUND = 64


def _corpus(folder, count: int):
    return write_posts(folder, {
        f"{i % 8}/post-{i:05d}.md": f"---\ntitle: Post {i}\ndate: 2020-01-{1 + i % 28:02d}\n---\n\n"
                                    f"Post {i} says something about topic {i % 7} on a day of January.\n"
        for i in range(count)
    })


def _fill_free_lists() -> None:
    """Python keeps up to 2,000 freed tuples of each length (1-19) for reuse, and
    tracemalloc counts them as held: filled beforehand, they are not counted as the
    build's (a build of 200 posts would otherwise leave them less full than one of 800)."""
    spare = [tuple(range(length)) for length in range(1, 20) for _ in range(2000)]
    del spare


def _peak(run) -> int:
    """The peak of Python's allocations while `run` runs, above what was held before."""
    _fill_free_lists()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    run()
    return tracemalloc.get_traced_memory()[1] - before


def _peaks(tmp_path, count: int) -> dict[str, int]:
    posts, db = _corpus(tmp_path / f"posts{count}", count), tmp_path / f"news{count}.db"
    peaks = {
        "full": _peak(lambda: build(posts, db, jobs=1, quiet=True)),
        "nothing changed": _peak(lambda: build(posts, db, jobs=1, quiet=True)),
    }
    (posts / "0" / "post-00000.md").write_text("---\ntitle: Changed\n---\n\nA changed post.\n")
    peaks["one changed"] = _peak(lambda: build(posts, db, jobs=1, quiet=True))
    assert rows(db, "SELECT count(*) FROM posts") == [(count,)]
    return peaks


def test_the_builds_python_memory_does_not_grow_with_the_archive(tmp_path, monkeypatch):
    """Full and incremental builds of 200 and 800 posts peak alike in the build's own
    Python allocations. The batches are made small, so that what is held a batch at a
    time is the same at both sizes."""
    monkeypatch.setattr(write, "BATCH", 25)
    monkeypatch.setattr(filelist, "CHUNK", 25)
    monkeypatch.setattr(scanning, "SCAN_BATCH", 25)
    tracemalloc.start()
    try:
        _peaks(tmp_path, 30)  # imports and caches, allocated once
        small, large = _peaks(tmp_path, 200), _peaks(tmp_path, 800)
    finally:
        tracemalloc.stop()
    for kind in small:
        assert large[kind] - small[kind] < 600 * PER_FILE_BOUND, (kind, small[kind], large[kind])


def test_an_update_that_writes_many_posts_settles_every_link(tmp_path, monkeypatch):
    """Past SCOPED_LINKS posts written, an update settles every link instead of the
    links of the posts it wrote (whose ids it would have to hold): the same links as a
    full build."""
    monkeypatch.setattr(write, "SCOPED_LINKS", 1)
    cite = "---\ncode: {code}\n---\n\nSee [the report](https://news.test/world/1234567/report).\n"
    target = "---\ncode: {code}\norigin_url: https://www.news.test/world/1234567/{slug}\n---\n\nBody.\n"
    posts = write_posts(tmp_path / "posts", {"a.md": cite.format(code="A1"), "b.md": target.format(code="B1", slug="x")})
    db, full_db = tmp_path / "news.db", tmp_path / "full.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT target_post_id FROM links") == [("B1",)]
    (posts / "b.md").unlink()
    write_posts(posts, {"c.md": target.format(code="C1", slug="y"), "d.md": cite.format(code="D1"),
                        "e.md": cite.format(code="E1")})
    summary = build(posts, db, quiet=True, allow_shrink=True)
    assert (summary.added, summary.removed) == (3, 1)
    assert rows(db, "SELECT post_id, target_post_id FROM links ORDER BY post_id") == [
        ("A1", "C1"), ("D1", "C1"), ("E1", "C1")]
    build(posts, full_db, full=True, quiet=True)
    assert dump(db) == dump(full_db)


@pytest.mark.parametrize("count", [0, 1, 24, 25, 26, 80])
def test_the_written_ids_read_back_in_order_whole_and_in_slices(monkeypatch, count):
    monkeypatch.setattr(filelist, "CHUNK", 25)
    ids = [f"id-{i:03d}" for i in range(count)]
    with FileList() as files:
        for start in range(0, count, 7):
            files.record_written(ids[start : start + 7])
        written = files.written_ids()
        assert len(written) == count
        assert list(written) == ids
        for start in range(0, count + 5, 10):
            assert written[start : start + 10] == ids[start : start + 10]
        assert [written[i] for i in range(count)] == ids
        if count:
            assert written[-1] == ids[-1]
        with pytest.raises(IndexError):
            written[count]
