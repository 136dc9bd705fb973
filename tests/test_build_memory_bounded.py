"""What the build and `newsarchive check` hold while they go through many posts: the ids
a check has seen and what an update's deleted posts referred to are kept in SQLite
(pages on disk past a small cache), not in Python objects a post. Measured as in
tests/test_build_memory.py: the peak of Python's allocations at two sizes."""
from __future__ import annotations

import tracemalloc

from newsarchive.build import build, check_folder, filelist, write
from newsarchive.build import scan as scanning

from .conftest import rows, write_posts
from .test_build import dump
from .test_build_memory import PER_FILE_BOUND, _peak


def _referring_posts(folder, count: int, start: int = 0):
    """Posts each with its own url key, photo, caption credit, tag and author, so that
    deleting them leaves as many lookup rows to sweep."""
    return write_posts(folder, {
        f"{i % 8}/post-{i:05d}.md": (
            f"---\ntitle: Post {i}\ndate: 2020-01-{1 + i % 28:02d}\ncategory: topic-{i % 5}\n"
            f"origin_url: https://www.news.test/world/{1000000 + i}/post-{i}\n"
            f"tags: [tag-{i}]\nauthor: Author {i}\n---\n\n"
            f"Post {i} says something.\n\n![A view of place {i} (Photo: Credit {i})](https://img.news.test/{i}.jpg)\n")
        for i in range(start, start + count)
    })


def _long_named_posts(folder, count: int):
    """Posts whose ids are their paths, long ones: what a check held a post was mostly
    its id and path."""
    return write_posts(folder, {
        f"{i % 8}/a-post-with-a-long-name-about-the-day-in-the-life-of-its-town-{i:05d}.md":
            f"---\ntitle: Post {i}\ndate: 2020-01-{1 + i % 28:02d}\n---\n\nPost {i} says something.\n"
        for i in range(count)
    })


def _small_batches(monkeypatch) -> None:
    # What is held a batch at a time is then the same at both sizes.
    monkeypatch.setattr(write, "BATCH", 25)
    monkeypatch.setattr(filelist, "CHUNK", 25)
    monkeypatch.setattr(scanning, "SCAN_BATCH", 25)


def _growth(measure) -> int:
    tracemalloc.start()
    try:
        measure(30)  # imports and caches, allocated once
        small, large = measure(200), measure(800)
    finally:
        tracemalloc.stop()
    return large - small


def test_checking_a_folder_holds_no_python_object_per_post(tmp_path, monkeypatch):
    _small_batches(monkeypatch)

    def measure(count):
        posts = _long_named_posts(tmp_path / f"posts{count}", count)
        summary = None

        def run():
            nonlocal summary
            summary = check_folder(posts, jobs=1)
        peak = _peak(run)
        assert (summary.added, summary.problems) == (count, [])
        return peak

    assert _growth(measure) < 600 * PER_FILE_BOUND


def test_an_update_deleting_every_post_holds_no_python_object_per_deleted_post(tmp_path, monkeypatch):
    """Every file of the archive replaced by one other: the update deletes every post
    and sweeps the lookups they alone used, and ends as a full build of the folder."""
    _small_batches(monkeypatch)

    def measure(count):
        posts, db = _referring_posts(tmp_path / f"posts{count}", count), tmp_path / f"news{count}.db"
        build(posts, db, jobs=1, quiet=True)
        for path in list(posts.rglob("*.md")):
            path.unlink()
        _referring_posts(posts, 1, start=count)
        peak = _peak(lambda: build(posts, db, jobs=1, quiet=True, allow_shrink=True))
        assert rows(db, "SELECT count(*) FROM posts") == [(1,)]
        assert rows(db, "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM tags),"
                        " (SELECT count(*) FROM authors), (SELECT count(*) FROM credits)") == [(1, 1, 1, 1)]
        full = tmp_path / f"full{count}.db"
        build(posts, full, full=True, jobs=1, quiet=True)
        assert dump(db) == dump(full)
        return peak

    assert _growth(measure) < 600 * PER_FILE_BOUND


def test_checking_a_folder_warns_of_each_shared_id_as_the_build_does(tmp_path):
    """Three files with one code: the earliest published keeps it, whichever file the
    check reads first; the other two are warned of it, in the build's words."""
    def post(date):
        return f"---\ncode: DUP1\ntitle: Shared code\ndate: {date}\n---\n\nBody.\n"

    posts = write_posts(tmp_path / "posts", {"a.md": post("2024-05-01"), "b.md": post("2024-01-01"),
                                             "c.md": post("2024-09-01"), "d.md": "---\ntitle: Alone\n---\n\nBody.\n"})
    checked = check_folder(posts, jobs=1)
    built = build(posts, tmp_path / "news.db", quiet=True)
    warned = {(p.path, p.line, p.message) for p in checked.problems}
    assert warned == {(p.path, p.line, p.message) for p in built.problems}
    assert {path for path, _, _ in warned} == {"a.md", "c.md"}
    assert all("is also b.md's, which keeps it" in message for _, _, message in warned)
    assert (checked.added, checked.failed) == (4, 0)


def test_links_to_a_deleted_post_go_to_the_post_left_with_its_url(tmp_path):
    """The deleted post's url key, read back from where the update keeps it, is what
    sends the link to the other post with that origin_url."""
    url = "https://www.news.test/world/1234567/report"
    target = "---\ncode: {code}\ndate: {date}\norigin_url: " + url + "\n---\n\nBody.\n"
    posts = write_posts(tmp_path / "posts", {
        "a.md": "---\ncode: A1\n---\n\nSee [the report](https://news.test/world/1234567/report).\n",
        "b.md": target.format(code="B1", date="2024-01-01"), "c.md": target.format(code="C1", date="2024-02-01")})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT target_post_id FROM links") == [("B1",)]
    (posts / "b.md").unlink()
    summary = build(posts, db, quiet=True, allow_shrink=True)
    assert (summary.removed, summary.added, summary.updated) == (1, 0, 0)
    assert rows(db, "SELECT target_post_id FROM links") == [("C1",)]
