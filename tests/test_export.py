"""Export: database -> folder of posts, byte for byte, and back to the same database."""
from __future__ import annotations

import codecs
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.generate import generate
from newsarchive.build.pipeline import build
from newsarchive.export import FileFormat, export, post_to_bytes, safe_target
from newsarchive.parse import extract, read_post

from .conftest import CORPUS_18F, ROOT, SAMPLE, write_posts
from .test_build import dump

#: One post per storage detail the reader accepts; each must come back byte for byte.
FORMATS = {
    "lf.md": b"---\ntitle: LF\ndate: 2024-01-02\n---\n\nBody.\n",
    "crlf.md": b"---\r\ntitle: CRLF\r\ntags: [a, b]\r\n---\r\n\r\nBody one.\r\nTwo.\r\n",
    "cr.md": b"---\rtitle: CR\rcategory: World\r---\rBody\r\rMore.\r",
    "bom.md": codecs.BOM_UTF8 + "---\ntitle: BOM ä\n---\nBody é\n".encode(),
    "bom-crlf.md": codecs.BOM_UTF8 + b"---\r\ntitle: BOM CRLF\r\n---\r\nBody\r\n",
    "toml.md": b'+++\ntitle = "TOML"\ndate = 2024-03-04T05:06:07Z\ntags = ["x", "y"]\nn = 3\n+++\nBody\n',
    "toml-crlf.md": b'+++\r\ntitle = "TOML CRLF"\r\n+++\r\nBody\r\n',
    "utf16le.md": codecs.BOM_UTF16_LE + "---\r\ntitle: UTF-16 ✓\r\n---\r\nBody\r\n".encode("utf-16-le"),
    "utf16be.md": codecs.BOM_UTF16_BE + "---\ntitle: UTF-16 BE\n---\nBody\n".encode("utf-16-be"),
    "no-final-newline.md": b"---\ntitle: no final newline\n---\nBody",
    "ends-at-fence.md": b"---\ntitle: nothing after the fence\n---",
    "empty-frontmatter.md": b"---\n---\nBody only\n",
    "mixed-endings.md": b"---\r\ntitle: mixed\r\n---\nBody\n",
    "blank-lines.md": b"---\n\ntitle: blank lines\n\n# a comment\ntags:\n  - one\n\n---\n\n\nBody\n\n",
    "types.md": (
        b"---\ntitle: types\ncount: 7\nratio: 0.5\nbig: 1e3\nflag: true\nnothing: null\nno: no\n"
        b"zip: 01234\nwhen: 2024-11-20T07:00:34.861Z\nnested: {a: [1, 2.5, false], b: {c: d}}\n"
        b"quoted: \"1\"\nmulti: |\n  line one\n  line two\n---\nBody\n"
    ),
    "sub/dir/deep.md": b"---\ntitle: deep\n---\nBody\n",
    # Fence lines as editors leave them: longer, with trailing blanks, different at each end.
    "long-fence.md": b"-----\ntitle: long fences\n-----\nBody\n",
    "fence-blanks.md": b"--- \ntitle: trailing blanks\n---\t \nBody\n",
    "fence-blanks-crlf.md": b"---  \r\ntitle: CRLF and blanks\r\n----\r\nBody\r\n",
    "toml-fence-blank.md": b'+++ \ntitle = "TOML blank"\n+++\nBody\n',
}


def typed(value):
    """A value with the type of every part spelled out, so 1, 1.0, True and "1" differ."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def assert_same_post(path: str, source: bytes, exported: bytes):
    """The exported file parses to the same frontmatter (keys, order, types) and body."""
    before, after = read_post(path, source), read_post(path, exported)
    assert typed(after.meta) == typed(before.meta), path
    assert after.body == before.body, path
    assert (after.frontmatter_text, after.fence, after.encoding, after.newline) == (
        before.frontmatter_text, before.fence, before.encoding, before.newline
    ), path


def source_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.md"))}


def post_paths(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT path FROM posts ORDER BY path")]
    finally:
        conn.close()


def assert_byte_identical(source_dir: Path, db: Path, outdir: Path) -> int:
    """Export db and compare every post with its source file; return how many matched."""
    count = export(db, outdir)
    paths = post_paths(db)
    assert count == len(paths)
    assert sorted(source_files(outdir)) == paths, "exactly the posts of the database are written"
    for path in paths:
        source = (source_dir / path).read_bytes()
        exported = (outdir / path).read_bytes()
        assert exported == source, path
        assert_same_post(path, source, exported)
    return count


# ------------------------------------------------------------------ pure


@pytest.mark.parametrize("path", sorted(FORMATS))
def test_post_to_bytes_gives_back_the_source_bytes(path):
    data = FORMATS[path]
    record = extract(read_post(path, data))
    assert post_to_bytes(record.post) == data


@pytest.mark.parametrize("path", sorted(FORMATS))
def test_without_the_hash_the_values_still_survive(path):
    """Without sha256 the ambiguous layouts fall back to the common one: same values."""
    data = FORMATS[path]
    row = dict(extract(read_post(path, data)).post, sha256=None)
    assert_same_post(path, data, post_to_bytes(row))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("utf-8;lf;yaml", FileFormat("utf-8", "\n", "---")),
        ("utf-8-sig;crlf;yaml", FileFormat("utf-8-sig", "\r\n", "---")),
        ("utf-16;cr;toml", FileFormat("utf-16", "\r", "+++")),
        (None, FileFormat("utf-8", "\n", "---")),
        ("utf-8;lf;yaml;-----;--- ", FileFormat("utf-8", "\n", "---", "-----", "--- ")),
        ("utf-8;lf;toml;+++\t;+++", FileFormat("utf-8", "\n", "+++", "+++\t", "+++")),
    ],
)
def test_file_format_parse(text, expected):
    assert FileFormat.parse(text) == expected


@pytest.mark.parametrize("text", [
    "latin-1;lf;yaml", "utf-8;lf", "utf-8;crlf;json", "utf-8;lf;yaml;x",
    # Stored fence lines must be fence lines of that kind, on one line.
    "utf-8;lf;yaml;---;x", "utf-8;lf;yaml;+++;+++", "utf-8;lf;yaml;---\nevil;---", "utf-8;lf;toml;++++;+++",
])
def test_unknown_file_format_is_refused(text):
    with pytest.raises(ValueError, match="unknown file_format"):
        FileFormat.parse(text)


@pytest.mark.parametrize("path", ["../evil.md", "/etc/evil.md", "a/../../evil.md", "a\\..\\b.md", ""])
def test_paths_outside_the_folder_are_refused(tmp_path, path):
    with pytest.raises(ValueError, match="refusing"):
        safe_target(tmp_path, path)


# ------------------------------------------------------------------ real folders


def test_sample_round_trips_byte_identical(sample_db, tmp_path):
    count = assert_byte_identical(SAMPLE, sample_db, tmp_path / "out")
    assert count == len(source_files(SAMPLE)) == len(list(SAMPLE.rglob("*.md")))


def test_every_format_round_trips_through_the_database(tmp_path):
    posts = write_posts(tmp_path / "posts", FORMATS)
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.failed == 0 and summary.posts == len(FORMATS)
    assert assert_byte_identical(posts, db, tmp_path / "out") == len(FORMATS)


def test_generated_corpus_round_trips_byte_identical(tmp_path):
    posts = tmp_path / "posts"
    files, _ = generate(str(posts), 300, seed=42)
    assert files == 300
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.failed == 0
    assert assert_byte_identical(posts, db, tmp_path / "out") == 300


@pytest.mark.skipif(not CORPUS_18F.exists(), reason=f"real corpus not found at {CORPUS_18F}")
def test_18f_corpus_every_built_post_round_trips_byte_identical(tmp_path):
    posts = CORPUS_18F / "content" / "posts"
    db = tmp_path / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.posts == summary.seen - summary.failed - summary.skipped
    count = assert_byte_identical(posts, db, tmp_path / "out")
    assert count == summary.posts and count > 500


def test_archive_database_archive_database_is_stable(tmp_path):
    """Export what a build made, build from the export: the same database, the same files."""
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    write_posts(posts / "formats", FORMATS)
    first_db, second_db = tmp_path / "first.db", tmp_path / "second.db"
    first = build(posts, first_db, quiet=True)
    assert first.failed == 0
    export(first_db, tmp_path / "archive1")
    second = build(tmp_path / "archive1", second_db, quiet=True)
    assert (second.posts, second.failed) == (first.posts, 0)
    assert dump(second_db) == dump(first_db)
    export(second_db, tmp_path / "archive2")
    assert source_files(tmp_path / "archive2") == source_files(tmp_path / "archive1") == source_files(posts)


def test_rows_without_raw_frontmatter_are_rebuilt_from_the_columns(sample_db, tmp_path):
    """A hand-edited database without frontmatter still exports posts that build the same rows."""
    db = tmp_path / "edited.db"
    shutil.copyfile(sample_db, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE posts SET frontmatter = NULL, file_format = NULL")
    conn.commit()
    conn.close()
    assert export(db, tmp_path / "out") == len(source_files(SAMPLE))
    rebuilt = tmp_path / "rebuilt.db"
    summary = build(tmp_path / "out", rebuilt, quiet=True)
    assert summary.failed == 0
    kept = "id, title, title_source, description, category, language, published_at, date_source, origin_url, lead_image_id, body, body_text, extra, path"
    before, after = dump(sample_db), dump(rebuilt)
    for table in ("categories", "languages", "images", "captions", "credits", "post_images", "links", "tags", "post_tags"):
        assert after[table] == before[table], table

    def posts(path):
        conn = sqlite3.connect(path)
        try:
            return conn.execute(f"SELECT {kept} FROM posts ORDER BY id").fetchall()
        finally:
            conn.close()

    assert posts(rebuilt) == posts(sample_db)


def test_export_refuses_a_database_that_points_outside(sample_db, tmp_path):
    db = tmp_path / "evil.db"
    shutil.copyfile(sample_db, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE posts SET path = '../../escaped.md' WHERE rowid = (SELECT max(rowid) FROM posts)")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="refusing"):
        export(db, tmp_path / "deep" / "out")
    assert not (tmp_path / "escaped.md").exists()
    assert not (tmp_path / "deep" / "out").exists(), "nothing is written when any path is refused"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "newsarchive", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_cli_export(sample_db, tmp_path):
    result = run_cli("export", sample_db, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert f"exported {len(source_files(SAMPLE))} posts" in result.stdout
    assert source_files(tmp_path / "out") == source_files(SAMPLE)
    missing = run_cli("export", tmp_path / "missing.db", tmp_path / "out2")
    assert missing.returncode == 2 and "no such database" in missing.stderr
    assert run_cli("export", sample_db).returncode == 2, "OUTDIR is required"
