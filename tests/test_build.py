"""The build end to end on real folders and real SQLite files."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from newsarchive.build import BuildRefused, build
from newsarchive.build.scan import scan
from newsarchive.db.schema import FTS_TABLES

from .conftest import ROOT, SAMPLE, rows, write_posts

SPECIMEN_ID = "ART2411200656CLKM87"


@pytest.fixture()
def specimen_db(tmp_path, specimen_bytes):
    posts = write_posts(tmp_path / "posts", {"2024/11/ART2411200656CLKM87.md": specimen_bytes})
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.written and summary.added == 1 and summary.failed == 0
    return db


def test_specimen_post_row(specimen_db):
    (post,) = rows(
        specimen_db,
        "SELECT posts.id, title, title_source, published_at, published_month, origin_url, source_domain,"
        " category, language, image_count, link_count, path, code_time FROM posts",
    )
    assert post == (
        SPECIMEN_ID,
        "US will provide land mines to Ukraine after approval on missiles",
        "body",
        "2024-11-20T07:00:34.861Z",
        "2024-11",
        "https://www.bangkokpost.com/world/2905487/united-states-will-provide-land-mines-to-ukraine-after-approval-on-missiles",
        "bangkokpost.com",
        "world",
        "en",
        3,
        1,
        "2024/11/ART2411200656CLKM87.md",
        "2024-11-20T06:56:00.000Z",
    )


def test_specimen_images_captions_credits(specimen_db):
    occurrences = rows(
        specimen_db,
        "SELECT position, role, images.url, captions.text, captions.credit, captions.credit_kind"
        " FROM post_images JOIN images ON images.id = image_id"
        " LEFT JOIN captions ON captions.id = caption_id"
        " ORDER BY position",
    )
    assert [(o[0], o[1]) for o in occurrences] == [(0, "lead"), (1, "inline"), (2, "inline")]
    assert occurrences[0][2] == "https://github.com/user-attachments/assets/1208e850-a0a9-4ee4-a7cf-2d0ce4d94a38"
    assert occurrences[0][3] is None
    assert occurrences[1][3].startswith("A serviceman of 24th Mechanised brigade")
    assert occurrences[1][3].endswith("(Photo: Reuters)")
    assert [(o[4], o[5]) for o in occurrences[1:]] == [("Reuters", "Photo"), ("Reuters", "File photo")]
    assert rows(specimen_db, "SELECT count(*) FROM captions") == [(2,)]
    assert rows(specimen_db, "SELECT name FROM credits") == [("Reuters",)]
    lead = rows(specimen_db, "SELECT images.url FROM posts JOIN images ON images.id = lead_image_id")
    assert lead == [(occurrences[0][2],)]


def test_specimen_link(specimen_db):
    assert rows(specimen_db, "SELECT position, url, text, domain, target_post_id FROM links") == [
        (
            0,
            "https://www.bangkokpost.com/world/2904976/putin-issues-new-nuclear-warning-after-ukrainian-strike",
            "threat of a nuclear response",
            "bangkokpost.com",
            None,
        )
    ]


def test_specimen_body_is_exact_and_body_text_is_plain(specimen_db, specimen_bytes):
    body, body_text, extra, word_count = rows(specimen_db, "SELECT body, body_text, extra, word_count FROM posts")[0]
    source = specimen_bytes.decode("utf-8")
    assert source.endswith(body) and body.startswith("\n# \n")
    assert body_text.count("Chasiv Yar") == 1, "each caption appears once in body_text"
    assert body_text.count("Osaka, Japan") == 1
    for syntax in ("![", "](", "# ", "_Washington Post_"):
        assert syntax not in body_text
    assert "Washington Post" in body_text
    assert json.loads(extra) == {"layout": "post"}
    assert word_count == len(body_text.split()) or abs(word_count - len(body_text.split())) < 40


def test_specimen_full_text_search(specimen_db):
    hits = rows(specimen_db, "SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'howitzer'")
    assert len(hits) == 1
    hits = rows(specimen_db, "SELECT text FROM captions_fts WHERE captions_fts MATCH 'Osaka'")
    assert len(hits) == 1


def test_links_resolve_to_other_posts(tmp_path, specimen_bytes):
    cited = (
        '---\ncode: "ART2411190900ABCDEF"\norigin_url: "https://www.bangkokpost.com/world/2904976/putin-issues-warning"\n'
        'title: "Putin issues new nuclear warning"\ndate: 2024-11-19T09:00:00.000Z\n---\n\nBody.\n'
    )
    posts = write_posts(tmp_path / "posts", {"a.md": specimen_bytes, "b.md": cited})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT post_id, target_post_id FROM links") == [(SPECIMEN_ID, "ART2411190900ABCDEF")]


# ------------------------------------------------------------------ incremental == full

def dump(db: Path) -> dict:
    """Every table's rows in key order, leaving out build history and file bookkeeping."""
    conn = sqlite3.connect(db)
    out = {}
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    for table in tables:
        if table in ("builds", "build_errors", "_files", "_table_rows", "sqlite_stat1") or table.startswith(tuple(f"{t}_fts" for t in FTS_TABLES)):
            continue
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        out[table] = sorted(conn.execute(f"SELECT {', '.join(f'[{c}]' for c in cols)} FROM [{table}]").fetchall(), key=repr)
    for table, columns in FTS_TABLES.items():
        # rowids differ between builds; what matters is which row each index entry belongs to.
        out[f"{table}_fts"] = sorted(
            conn.execute(
                f"SELECT {table}.id, {', '.join(f'{table}_fts.{c}' for c in columns)} FROM {table}_fts"
                f" JOIN {table} ON {table}.rowid = {table}_fts.rowid"
            ).fetchall(),
            key=repr,
        )
        # The index itself (not the content table it reads through): every term instance.
        conn.execute(f"CREATE VIRTUAL TABLE temp.{table}_vocab USING fts5vocab(main, {table}_fts, 'instance')")
        out[f"{table}_fts_index"] = sorted(
            conn.execute(
                f"SELECT {table}.id, v.term, v.col, v.offset FROM temp.{table}_vocab v"
                f" JOIN {table} ON {table}.rowid = v.doc"
            ).fetchall(),
            key=repr,
        )

    out["current_errors"] = sorted(conn.execute("SELECT path, line, level, message FROM current_errors").fetchall(), key=repr)
    conn.close()
    return out


@pytest.mark.parametrize("folder", ["news#1", "what?", "100% news", "a b"])
def test_a_database_in_a_folder_of_any_name_is_updated(tmp_path, folder):
    """The update reads the old database through a read-only URI: a '#', '?' or '%' in
    its folder's name is part of the path, not the end of it."""
    posts = tmp_path / "posts"
    import shutil

    shutil.copytree(SAMPLE, posts)
    db = tmp_path / folder / "news.db"
    first = build(posts, db, quiet=True)
    (posts / "world").mkdir(exist_ok=True)
    (posts / "world" / "added.md").write_text("---\ntitle: Added\ndate: 2024-01-02T03:04:05.000Z\n---\n\nA new post.\n")
    second = build(posts, db, quiet=True)
    assert (second.added, second.unchanged) == (1, first.posts)
    assert rows(db, "SELECT mode FROM builds ORDER BY rowid") == [("full",), ("incremental",)]


def test_incremental_rebuild_equals_full_build(tmp_path):
    posts = tmp_path / "posts"
    import shutil

    shutil.copytree(SAMPLE, posts)
    db = tmp_path / "news.db"
    first = build(posts, db, quiet=True)
    assert first.written and first.added > 20

    files = sorted(p for p in posts.rglob("*.md"))
    touched, changed, deleted = files[0], files[1], files[2]
    later = time.time() + 5
    os.utime(touched, (later, later))
    changed.write_bytes(changed.read_bytes().replace(b"\n\n", b"\n\nAn added sentence about the harbour.\n\n", 1))
    deleted.unlink()
    (posts / "new-post.md").write_text(
        "---\ntitle: A new post\ndate: 2024-12-30\ncategory: Sport\nlanguage: en\n---\n\nIt links [back](https://example.org/x).\n"
    )
    (posts / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")

    second = build(posts, db, quiet=True)
    assert (second.added, second.updated, second.removed, second.failed) == (1, 1, 1, 1)
    assert second.unchanged == first.added - 2

    full_db = tmp_path / "full.db"
    build(posts, full_db, full=True, quiet=True)
    expected = dump(full_db)
    assert expected["posts_fts_index"] and expected["captions_fts_index"]
    assert dump(db) == expected

    third = build(posts, db, quiet=True)
    assert not third.written, "nothing changed: the database is left as it is"
    assert third.unchanged == second.posts and third.failed == 1
    assert dump(db) == dump(full_db)


# ------------------------------------------------------------------ duplicate ids

GOOD = '---\ncode: "ART1"\ntitle: "The real post"\ndate: 2024-03-01\n---\n\nThe real story.\n'


def _dup_post(title: str, date: str | None, code: str | None = None) -> str:
    lines = [f'title: "{title}"'] + ([f"date: {date}"] if date else []) + ([f'code: "{code}"'] if code else [])
    return "---\n" + "\n".join(lines) + f"\n---\n\nBody of {title}.\n"


def _equals_a_full_build(posts, db, tmp_path) -> None:
    full_db = tmp_path / "full-check.db"
    full_db.unlink(missing_ok=True)
    build(posts, full_db, full=True, quiet=True, allow_shrink=True)
    assert dump(db) == dump(full_db)


def test_a_file_sorting_first_with_a_posts_code_does_not_take_it(tmp_path):
    """`!0000-hijack.md` sorts before the real file and copies its code: both posts are
    kept, the real one (published earlier) keeps its id, the copy gets its path as id."""
    posts = write_posts(tmp_path / "posts", {"news/real.md": GOOD})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    write_posts(posts, {"!0000-hijack.md": _dup_post("Hijack", "2024-06-01", code="ART1")})
    summary = build(posts, db, quiet=True)
    assert rows(db, "SELECT id, title, path FROM posts ORDER BY path") == [
        ("!0000-hijack.md", "Hijack", "!0000-hijack.md"), ("ART1", "The real post", "news/real.md")]
    assert summary.failed == 0
    assert rows(db, "SELECT path, level, message FROM current_errors") == [
        ("!0000-hijack.md", "warning", "id 'ART1' is also news/real.md's, which keeps it (the earlier post: "
         "docs/building.md#duplicate-ids); this post's id is '!0000-hijack.md' (give it a distinct `code`)")]
    _equals_a_full_build(posts, db, tmp_path)


def test_links_stay_with_the_earlier_post_when_a_copy_takes_its_origin_url(tmp_path):
    """A file sorting first that copies a post's code and origin_url: links naming that
    URL still point at the post published first, in an update and a full build."""
    url = "https://example.test/news/1/the-real-story"
    real = GOOD.replace("date: 2024-03-01\n", f"date: 2024-03-01\norigin_url: {url}\n")
    citing = f'---\ncode: "ART2"\ntitle: "Citing"\ndate: 2024-04-01\n---\n\nAs [reported]({url}).\n'
    posts = write_posts(tmp_path / "posts", {"news/real.md": real, "news/citing.md": citing})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    copy = _dup_post("Hijack", "2024-06-01", code="ART1").replace("---\n", f"---\norigin_url: {url}\n", 1)
    write_posts(posts, {"!0000-hijack.md": copy})
    build(posts, db, quiet=True)
    by_date = rows(db, "SELECT id FROM posts WHERE origin_url = ? ORDER BY published_at LIMIT 1", [url])
    assert rows(db, "SELECT target_post_id FROM links WHERE post_id = 'ART2'") == by_date == [("ART1",)]
    _equals_a_full_build(posts, db, tmp_path)


def test_a_code_equal_to_another_posts_path_id_does_not_take_it(tmp_path):
    """A post without `code` has its path as id; a file whose code copies that id, even
    published earlier, does not take it."""
    posts = write_posts(tmp_path / "posts", {"news/real.md": _dup_post("Path post", "2024-05-01")})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    write_posts(posts, {"!0000-hijack.md": _dup_post("Hijack", "2020-01-01", code="news/real")})
    build(posts, db, quiet=True)
    assert rows(db, "SELECT id, title FROM posts ORDER BY id") == [("!0000-hijack.md", "Hijack"), ("news/real", "Path post")]
    assert [r[0] for r in rows(db, "SELECT path FROM current_errors WHERE level = 'warning'")] == ["!0000-hijack.md"]
    _equals_a_full_build(posts, db, tmp_path)


def test_an_earlier_file_takes_the_id_and_both_rows_are_rewritten(tmp_path):
    """The holder loses its id to a new, earlier post, then gets it back when that post goes."""
    posts = write_posts(tmp_path / "posts", {"b.md": GOOD, "c.md": _dup_post("Other", "2024-01-01")})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    write_posts(posts, {"z.md": _dup_post("Earlier", "2023-01-01", code="ART1")})
    build(posts, db, quiet=True)
    assert rows(db, "SELECT id, title FROM posts ORDER BY id") == [
        ("ART1", "Earlier"), ("b.md", "The real post"), ("c", "Other")]
    _equals_a_full_build(posts, db, tmp_path)
    (posts / "z.md").unlink()
    build(posts, db, quiet=True, allow_shrink=True)
    assert rows(db, "SELECT id, title FROM posts ORDER BY id") == [("ART1", "The real post"), ("c", "Other")]
    assert rows(db, "SELECT count(*) FROM current_errors") == [(0,)]
    _equals_a_full_build(posts, db, tmp_path)


#: Files that want the id ART1, or one another's ids, in every way: (path, content).
COLLIDING = [
    ("!0000-hijack.md", _dup_post("Hijack", "2024-06-01", code="ART1")),
    ("a.md", _dup_post("Early", "2023-02-01", code="ART1")),
    ("news/real.md", GOOD),
    ("news/plain.md", _dup_post("Plain", None, code="ART1")),
    ("news/path.md", _dup_post("Path id", "2025-01-01")),
    ("news/path.markdown", _dup_post("Same stem", "2022-01-01")),
    ("z.md", _dup_post("Wants a path id", "2021-01-01", code="news/path")),
    ("y.md", _dup_post("Wants a renamed id", "2021-01-01", code="a.md")),
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["add", "edit", "remove"]), st.integers(0, len(COLLIDING) - 1),
                          st.sampled_from(["2020-01-01", "2024-03-01", "2026-01-01", None])), min_size=1, max_size=6))
def test_any_sequence_of_colliding_files_builds_as_a_full_build(tmp_path_factory, steps):
    root = tmp_path_factory.mktemp("dup")
    posts = write_posts(root / "posts", {"anchor1.md": _dup_post("Anchor one", "2024-01-01"),
                                         "anchor2.md": _dup_post("Anchor two", "2024-01-02")})
    db = root / "news.db"
    build(posts, db, quiet=True)
    for action, index, date in steps:
        path, content = COLLIDING[index]
        target = posts / path
        if action == "remove":
            target.unlink(missing_ok=True)
        else:
            if action == "edit":
                content = re.sub(r"date: [^\n]*\n", "", content).replace("---\n", f"---\ndate: {date}\n" if date else "---\n", 1)
            write_posts(posts, {path: content})
            later = time.time() + len(steps)
            os.utime(target, (later, later))  # a new size or time, whatever the clock's step
        build(posts, db, quiet=True, allow_shrink=True)
        files = sorted(p.relative_to(posts).as_posix() for p in posts.rglob("*") if p.suffix in (".md", ".markdown"))
        assert sorted(r[0] for r in rows(db, "SELECT path FROM posts")) == files, "every post is kept"
        _equals_a_full_build(posts, db, root)


def test_bad_post_is_recorded_and_the_rest_is_built(tmp_path, specimen_bytes):
    posts = write_posts(
        tmp_path / "posts",
        {
            "good.md": specimen_bytes,
            "bad-date.md": "---\ntitle: x\ncategory: a\ndate: 2024-02-30\n---\nbody\n",
            "no-frontmatter.md": "just text\n",
        },
    )
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.added == 1 and summary.failed == 2
    assert rows(db, "SELECT path, line, level, message FROM build_errors ORDER BY path") == [
        ("bad-date.md", 4, "error", "date '2024-02-30' is not a real date (day is out of range for month)"),
        ("no-frontmatter.md", 1, "error", "no frontmatter: the first line must be '---' (YAML) or '+++' (TOML)"),
    ]
    assert rows(db, "SELECT id FROM posts") == [(SPECIMEN_ID,)]
    assert rows(db, "SELECT seen, added, failed FROM builds") == [(3, 1, 2)]


def test_shrink_guard_refuses_to_replace(tmp_path):
    posts = write_posts(tmp_path / "posts", {f"p{i}.md": f"---\ntitle: P{i}\n---\nbody\n" for i in range(10)})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    before = db.read_bytes()
    for i in range(5):
        (posts / f"p{i}.md").unlink()
    with pytest.raises(BuildRefused, match="5 fewer than the 10"):
        build(posts, db, quiet=True)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".news.db.building-*"))
    build(posts, db, quiet=True, allow_shrink=True)
    assert rows(db, "SELECT count(*) FROM posts") == [(5,)]


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "build_db.py"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_cli_summary_strict_and_check(tmp_path, specimen_bytes):
    posts = write_posts(tmp_path / "posts", {"good.md": specimen_bytes, "bad.md": "---\ntitle: [x\n---\n"})
    db = tmp_path / "news.db"
    result = run_cli(posts, "--db", db)
    assert result.returncode == 0
    assert "seen 2, added 1, updated 0, unchanged 0, removed 0, failed 1, skipped 0" in result.stdout
    assert "bad.md:3: YAML" in result.stderr
    assert run_cli(posts, "--db", db, "--strict").returncode == 1
    check = subprocess.run([sys.executable, "-m", "newsarchive", "check", str(posts)], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 1
    assert check.stdout.splitlines()[0].startswith("bad.md:3: YAML")
    assert "1 good, 1 failed" in check.stdout
    assert run_cli(tmp_path / "missing", "--db", db).returncode == 2


def test_sample_builds_cleanly(sample_db):
    [(errors,)] = rows(sample_db, "SELECT count(*) FROM current_errors WHERE level = 'error'")
    assert errors == 0
    assert rows(sample_db, "SELECT count(DISTINCT category) >= 5, count(DISTINCT language) >= 2 FROM posts") == [(1, 1)]
    assert rows(sample_db, "SELECT count(*) >= 10 FROM links WHERE target_post_id IS NOT NULL") == [(1,)]
    assert rows(sample_db, "SELECT count(*) FROM categories WHERE name = 'world'") == [(1,)]


def test_incremental_link_targets_follow_removed_and_new_posts(tmp_path):
    cite = "---\ncode: A1\ntitle: A\n---\n\nSee [the report](https://news.test/world/1234567/report).\n"
    target = "---\ncode: {code}\ntitle: {code}\norigin_url: https://www.news.test/world/1234567/{slug}\n---\n\nBody.\n"
    posts = write_posts(tmp_path / "posts", {"a.md": cite, "b.md": target.format(code="B1", slug="old")})
    db, full_db = tmp_path / "news.db", tmp_path / "full.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT target_post_id FROM links") == [("B1",)]
    (posts / "b.md").unlink()
    build(posts, db, quiet=True, allow_shrink=True)  # half the posts go: the guard would stop it
    assert rows(db, "SELECT target_post_id FROM links") == [(None,)]
    write_posts(posts, {"c.md": target.format(code="C1", slug="new-slug")})
    build(posts, db, quiet=True)
    assert rows(db, "SELECT target_post_id FROM links") == [("C1",)]
    build(posts, full_db, full=True, quiet=True)
    assert dump(db) == dump(full_db)


@pytest.mark.parametrize("corpus", ["sample", "18f", "shared key"])
def test_a_full_builds_link_targets_are_those_of_the_general_statement(tmp_path, corpus):
    """A full build resolves links with a cheaper statement (every target starts NULL):
    cleared and resolved again the general way, every link points where it did."""
    from newsarchive.db.write import resolve_link_targets

    from .conftest import CORPUS_18F

    if corpus == "shared key":  # two posts claim one origin_url: the smaller id wins, both ways
        target = "---\ncode: {0}\ntitle: {0}\norigin_url: https://news.test/world/1234567/story\n---\n\nBody.\n"
        posts = write_posts(tmp_path / "posts", {
            "a.md": "---\ncode: A1\n---\n\n[x](https://news.test/world/1234567/story) [y](https://news.test/none/7654321/z)\n",
            "b.md": target.format("B2"), "c.md": target.format("B1"),
        })
    else:
        posts = SAMPLE if corpus == "sample" else CORPUS_18F / "content" / "posts"
    db = tmp_path / "news.db"
    build(posts, db, full=True, quiet=True)
    fresh = rows(db, "SELECT post_id, position, target_post_id FROM links ORDER BY post_id, position")
    assert any(target is not None for *_, target in fresh)
    if corpus == "shared key":
        assert [target for *_, target in fresh] == ["B1", None]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE links SET target_post_id = NULL")
    resolve_link_targets(conn)
    conn.commit()
    conn.close()
    assert rows(db, "SELECT post_id, position, target_post_id FROM links ORDER BY post_id, position") == fresh


def test_a_database_an_earlier_parser_read_is_rebuilt_in_full(tmp_path):
    """Same schema, other rows: body_text without the word marks of Thai, as before
    PARSER_VERSION 1. An update would keep those rows for every unchanged file, so the
    database is built afresh, once, and says so."""
    from newsarchive.db.schema import PARSER_VERSION
    from newsarchive.text.words import MARK

    db = tmp_path / "news.db"
    first = build(SAMPLE, db, quiet=True)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE posts SET body_text = replace(body_text, ?, '')", [MARK])
    conn.execute(f"PRAGMA user_version = {PARSER_VERSION - 1}")
    conn.commit()
    conn.close()
    assert rows(db, "SELECT count(*) FROM posts WHERE instr(body_text, ?)", [MARK]) == [(0,)]
    again = build(SAMPLE, db, quiet=True)
    assert again.added == first.posts and again.unchanged == 0
    assert any("rebuilt in full" in note and "parser version" in note for note in again.notes)
    assert rows(db, "PRAGMA user_version") == [(PARSER_VERSION,)]
    thai = rows(db, "SELECT count(*) FROM posts "
                    "WHERE language = 'th' AND instr(body_text, ?)", [MARK])
    assert thai[0][0] > 0
    assert build(SAMPLE, db, quiet=True).notes == []  # once


def test_the_parsers_rows_fit_the_table_declaration(specimen_bytes):
    """The parser's Record and the declaration agree: the posts row has every column,
    and each row has one value per column its table inserts, in the order its row
    type names them."""
    from newsarchive.db.schema import POST_COLUMNS, ROW
    from newsarchive.db.write import pack
    from newsarchive.parse import extract, read_post

    record = extract(read_post("2024/11/ART2411200656CLKM87.md", specimen_bytes))
    tagged = extract(read_post("tagged.md", b"---\ntitle: Tagged\ntags: [one, two]\nauthor: Ana Ruiz\n---\n\nBody.\n"))
    assert set(record.post) == set(POST_COLUMNS)
    assert all(record.rows[table] or tagged.rows[table] for table in ROW if table in record.rows)
    for table, rows in [*record.rows.items(), *tagged.rows.items()]:
        for row in rows:
            assert ROW[table](*row) == row
    captions = [ROW["captions"](*row) for row in record.rows["captions"]]
    named = dict(record.rows, captions=captions)
    assert pack(type(record)(record.post, named)) == pack(record)  # rows built by name travel as plain tuples
    assert all(type(row) is tuple for rows in pack(type(record)(record.post, named))[1] for row in rows)


def test_a_database_of_an_earlier_schema_is_rebuilt_in_full(tmp_path):
    """An update keeps the database it copies: one whose schema is not this version's
    (here an index of ours missing, as after an upgrade that added it) is built afresh,
    and says so; a view of a researcher's own is no reason to."""
    from newsarchive.db.schema import expected_schema, schema

    db, fresh = tmp_path / "news.db", tmp_path / "fresh.db"
    first = build(SAMPLE, db, quiet=True)
    conn = sqlite3.connect(db)
    assert schema(conn) == expected_schema()  # what a full build leaves is what it expects
    conn.execute("CREATE VIEW my_counts AS SELECT category, count(*) AS n FROM posts GROUP BY 1")
    conn.commit()
    conn.close()
    again = build(SAMPLE, db, quiet=True)
    assert again.notes == [] and again.unchanged == first.posts and not again.written
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'my_counts'") == [(1,)]

    conn = sqlite3.connect(db)
    conn.execute("DROP INDEX idx_posts_path")
    conn.commit()
    conn.close()
    result = run_cli(SAMPLE, "--db", db, "-q")
    assert result.returncode == 0, result.stderr
    assert "rebuilt in full" in result.stdout and "idx_posts_path is new" in result.stdout
    assert f"added {first.posts}," in result.stdout
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'idx_posts_path'") == [(1,)]
    build(SAMPLE, fresh, full=True, quiet=True)
    assert dump(db) == dump(fresh)
    assert build(SAMPLE, db, quiet=True).notes == []  # and the next update is incremental again


def test_real_corpus_18f_builds_and_records_every_problem(tmp_path):
    """The 18F blog (509 real posts, messy YAML, Jekyll dates, Liquid): nothing lost."""
    from .conftest import CORPUS_18F

    posts = CORPUS_18F / "content" / "posts"
    assert posts.is_dir(), f"the real corpus is expected at {posts} (shared/ beside the checkout)"
    db = tmp_path / "18f.db"
    summary = build(posts, db, quiet=True)
    assert summary.seen == 509
    assert summary.posts + summary.failed == 509 and summary.failed <= 1
    for problem in summary.problems:
        assert problem.line is not None and "internal error" not in problem.message, str(problem)
    # 87 posts have no date key: their date comes from the YYYY-MM-DD- file name.
    assert rows(db, "SELECT count(*) FROM posts WHERE date_source = 'filename'") == [(87,)]
    assert rows(db, "SELECT count(*) FROM posts WHERE published_at IS NULL") == [(0,)]
    # Jekyll offsets such as `2015-12-08 10:00:00 -5` are read, in UTC.
    assert rows(db, "SELECT published_at FROM posts WHERE path = '2015-12-08-using-emoji-for-knowledge-sharing.md'") == [
        ("2015-12-08T15:00:00.000Z",)
    ]
    # Lead photos from `image` (a URL in 281 files), captions from image_figcaption.
    assert rows(db, "SELECT count(*) FROM post_images WHERE role = 'lead'") == [(281 - summary.failed,)]
    assert rows(db, "SELECT count(*) > 0 FROM post_images JOIN captions ON captions.id = caption_id WHERE role = 'lead'") == [(1,)]
    # Keys without a column (authors, excerpt, tumblr_url, ...) are kept in extra.
    assert rows(db, "SELECT count(*) >= 508 FROM posts WHERE authors IS NOT NULL") == [(1,)]
    assert rows(db, "SELECT count(*) FROM tags") != [(0,)]
    # Liquid is read as the site renders it: an `{% image %}` shortcode is a photo with
    # its caption, a `{{ "/path/" | url }}` destination a link, and no template
    # syntax is left in the search text (the stored body keeps it all).
    bechdel = "2015-03-17-does-18f-pass-the-bechdel-test-for-tech.md"
    assert rows(db, "SELECT images.url, captions.text FROM post_images JOIN images ON images.id = image_id "
                    "JOIN captions ON captions.id = caption_id JOIN posts ON posts.id = post_id "
                    "WHERE path = ? AND role = 'inline'", [bechdel]) == [("assets/blog/bechdel/team.jpg", "The 18F team")]
    assert rows(db, "SELECT count(*) FROM links WHERE url LIKE '%{{%' OR url LIKE '%{\\%%' ESCAPE '\\'") == [(0,)]
    assert rows(db, "SELECT count(*) > 500 FROM links WHERE url LIKE '/20__/__/__/%'") == [(1,)]
    # Those links find the posts they cite, by the path the site serves each post at.
    assert rows(db, "SELECT count(*) > 500, count(DISTINCT target_post_id) > 200 FROM links WHERE target_post_id IS NOT NULL") == [(1, 1)]
    assert rows(db, "SELECT count(*) FROM posts WHERE body_text LIKE '%{\\% image%' ESCAPE '\\' OR body_text LIKE '%site.baseurl%'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM posts WHERE body LIKE '%{\\% image%' ESCAPE '\\'") != [(0,)]


def test_site_relative_links_resolve_against_the_posts_own_site(tmp_path, specimen_bytes):
    citing = (
        '---\ncode: "REL1"\norigin_url: "https://www.bangkokpost.com/world/1111111/citing"\ntitle: Citing\n---\n\n'
        "As [reported](/world/2905487/other-slug) and [here](#top).\n"
    )
    posts = write_posts(tmp_path / "posts", {"a.md": specimen_bytes, "b.md": citing})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT url, domain, target_post_id FROM links WHERE post_id = 'REL1' ORDER BY position") == [
        ("/world/2905487/other-slug", "bangkokpost.com", SPECIMEN_ID),
        ("#top", None, None),
    ]


def test_links_between_posts_of_a_static_site_resolve_by_site_path(tmp_path):
    """Jekyll/Eleventy posts have no origin_url: a post is where its site serves it
    (its permalink, else /YYYY/MM/DD/slug/ with the frontmatter date), and site-relative
    links, Liquid-filtered or not, with or without .html, find it."""
    posts = write_posts(tmp_path / "posts", {
        "_posts/2015-07-08-openfec-api.md": "---\ntitle: OpenFEC\n---\n\nThe API.\n",
        "_posts/2015-02-24-guide.md": "---\ntitle: Guide\ndate: 2015-03-03\n---\n\nA guide.\n",
        "_posts/2016-01-01-about.md": "---\ntitle: About\npermalink: /about/\n---\n\nUs.\n",
        "_posts/2016-05-05-citing.md": (
            "---\ntitle: Citing\n---\n\n"
            'See [the API]({{ "/2015/07/08/openfec-api/" | url }}), [the guide](/2015/03/03/guide.html), '
            "[us]({{ site.baseurl }}/about/), [the old date](/2015/02/24/guide/), [again]({% post_url 2015-07-08-openfec-api %}) "
            "and [elsewhere](https://example.org/x).\n"
        ),
    })
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert rows(db, "SELECT url, target_post_id FROM links WHERE post_id = '_posts/2016-05-05-citing' ORDER BY position") == [
        ("/2015/07/08/openfec-api/", "_posts/2015-07-08-openfec-api"),
        ("/2015/03/03/guide.html", "_posts/2015-02-24-guide"),
        ("/about/", "_posts/2016-01-01-about"),
        ("/2015/02/24/guide/", None),
        ("/2015/07/08/openfec-api/", "_posts/2015-07-08-openfec-api"),
        ("https://example.org/x", None),
    ]
    # An incremental build keeps them resolved when the target changes.
    (posts / "_posts/2015-07-08-openfec-api.md").write_text("---\ntitle: OpenFEC v2\n---\n\nThe API, again.\n")
    build(posts, db, quiet=True)
    assert rows(db, "SELECT target_post_id FROM links WHERE position = 0 AND post_id = '_posts/2016-05-05-citing'") == [
        ("_posts/2015-07-08-openfec-api",)
    ]


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(tmp_path):
    posts = write_posts(tmp_path / "posts", {"good.md": "---\ntitle: Good\n---\n\nBody.\n"})
    (posts / "caf\udce9.md").write_bytes(b"---\ntitle: Bad name\n---\n\nBody.\n")  # the bytes caf\xe9.md
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.posts == 1 and summary.skipped == 1
    assert rows(db, "SELECT path, level, message FROM current_errors") == [
        ("caf\\xe9.md", "skipped", "skipped: the file name is not valid UTF-8 (rename the file)")
    ]


def test_scan_reports_only_files_modified_since_a_time(tmp_path):
    """The build starts copying the database as soon as the scan meets a post written
    after it: scan() calls `seen` for those files only."""
    posts = write_posts(tmp_path / "posts", {"a/old.md": "x\n", "a/new.md": "y\n", "b/same.md": "z\n"})
    since = 1_700_000_000_000_000_000
    os.utime(posts / "a/old.md", ns=(since - 10**9, since - 10**9))
    os.utime(posts / "a/new.md", ns=(since + 10**9, since + 10**9))
    os.utime(posts / "b/same.md", ns=(since, since))  # coarse timestamps: the same tick counts as newer
    seen = []
    files, skipped = scan(posts, seen.append, since_ns=since)
    assert [f.path for f in files] == ["a/new.md", "a/old.md", "b/same.md"] and not skipped
    assert sorted(f.path for f in seen) == ["a/new.md", "b/same.md"]


def test_changes_the_early_copy_cannot_see_are_still_built(tmp_path):
    """A file put back with an old mtime, or a deletion, does not start the copy
    during the scan; the comparison with the database's file list after it does."""
    posts = write_posts(tmp_path / "posts", {f"p{i}.md": f"---\ntitle: P{i}\n---\nbody {i}\n" for i in range(5)})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    old = db.stat().st_mtime_ns - 3600 * 10**9
    (posts / "p1.md").write_text("---\ntitle: P1, restored from a backup\n---\nbody\n")
    os.utime(posts / "p1.md", ns=(old, old))
    (posts / "p2.md").unlink()
    summary = build(posts, db, quiet=True)
    assert summary.written and (summary.updated, summary.removed) == (1, 1)
    assert rows(db, "SELECT path, title FROM posts ORDER BY path") == [
        ("p0.md", "P0"), ("p1.md", "P1, restored from a backup"), ("p3.md", "P3"), ("p4.md", "P4")
    ]


def test_a_rebuild_with_nothing_changed_leaves_the_database_alone(tmp_path):
    """The incremental build copies the database on a second thread once its scan
    meets a change (newsarchive.build.swap.BackgroundCopy): when nothing changed, no
    copy is made and the served file is not even rewritten."""
    posts = write_posts(tmp_path / "posts", {f"p{i}.md": f"---\ntitle: P{i}\n---\nbody {i}\n" for i in range(10)})
    (posts / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    before = db.stat()
    summary = build(posts, db, quiet=True)
    assert not summary.written and summary.unchanged == 10 and summary.failed == 1
    after = db.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert not list(tmp_path.glob(".news.db.building-*"))
    # One changed post: the copy is used, flushed and swapped in.
    (posts / "p3.md").write_text("---\ntitle: P3 again\n---\nbody\n")
    summary = build(posts, db, quiet=True)
    assert summary.written and summary.updated == 1
    assert rows(db, "SELECT title FROM posts WHERE path = 'p3.md'") == [("P3 again",)]
    assert db.stat().st_ino != before.st_ino
    assert not list(tmp_path.glob(".news.db.building-*"))


def test_a_large_database_is_copied_only_once_something_changed(tmp_path, monkeypatch):
    """Up to EARLY_COPY_BYTES an update starts copying the database with its scan, on
    the chance that something changed; a larger database (24 GB at a million posts)
    is copied only once the scan meets a change: with nothing changed, never."""
    from newsarchive.build import pipeline, swap

    copies = []
    real_copy = swap.copy_database
    monkeypatch.setattr(swap, "copy_database", lambda *args: copies.append(args[0]) or real_copy(*args))
    monkeypatch.setattr(pipeline, "EARLY_COPY_BYTES", 0)
    posts = write_posts(tmp_path / "posts", {f"p{i}.md": f"---\ntitle: P{i}\n---\nbody {i}\n" for i in range(10)})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert not build(posts, db, quiet=True).written
    assert copies == []
    (posts / "p3.md").write_text("---\ntitle: P3 again\n---\nbody\n")
    assert build(posts, db, quiet=True).updated == 1
    assert copies == [db]
    assert rows(db, "SELECT title FROM posts WHERE path = 'p3.md'") == [("P3 again",)]
