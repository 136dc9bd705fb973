"""Data package: the sample database as CSVs plus datapackage.json, checked by frictionless."""
from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from newsarchive import config
from newsarchive.graph import FILES as GRAPH_FILES, RESOURCE_NAMES as GRAPH_RESOURCES
from newsarchive.package import field_type, package

from .conftest import ROOT, SAMPLE

METADATA = """\
title: Test archive
description: Posts for the package tests.
license: CC BY 4.0
license_url: https://creativecommons.org/licenses/by/4.0/
source: sample/posts
source_url: https://example.org/posts
version: 1.2.0
databases:
  news:
    tables:
      posts:
        description: One row per post.
        columns:
          id: "Stable post id: the code, else the path."
          word_count: Words in body_text.
      post_images:
        columns:
          position: Order in the post.
"""

#: (table, column) -> (referenced table, column): every relation the schema declares.
EXPECTED_FOREIGN_KEYS = {
    ("posts", "category"): ("categories", "name"),
    ("posts", "language"): ("languages", "code"),
    ("posts", "lead_image_id"): ("images", "id"),
    ("captions", "credit"): ("credits", "name"),
    ("post_images", "post_id"): ("posts", "id"),
    ("post_images", "image_id"): ("images", "id"),
    ("post_images", "caption_id"): ("captions", "id"),
    ("links", "post_id"): ("posts", "id"),
    ("links", "target_post_id"): ("posts", "id"),
    ("post_tags", "post_id"): ("posts", "id"),
    ("post_tags", "tag"): ("tags", "name"),
    ("post_authors", "post_id"): ("posts", "id"),
    ("post_authors", "author"): ("authors", "name"),
    ("build_errors", "build_id"): ("builds", "id"),
    ("citations", "citing_post_id"): ("posts", "id"),
    ("citations", "cited_post_id"): ("posts", "id"),
    ("reprints", "post_id"): ("posts", "id"),
    ("reprints", "original_post_id"): ("posts", "id"),
    ("related_posts", "post_id"): ("posts", "id"),
    ("related_posts", "related_post_id"): ("posts", "id"),
    ("reused_photos", "image_id"): ("images", "id"),
}


#: What the site alone needs: the article and preview HTML the build stores for its
#: pages. docs/data-package.md says the package leaves it out.
SITE_ONLY = {"post_html"}


def data_tables(db: Path) -> list[str]:
    """The tables a package holds, found otherwise than the package finds them: the
    ordinary tables of PRAGMA table_list (which tells full-text indexes' virtual and
    shadow tables apart) but SQLite's own and the `_` bookkeeping, in creation order."""
    conn = sqlite3.connect(db)
    try:
        ordinary = {name for _, name, kind, *_ in conn.execute("PRAGMA table_list") if kind == "table"}
        created = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    finally:
        conn.close()
    return [name for name in created if name in ordinary and not name.startswith(("sqlite_", "_"))
            and name not in SITE_ONLY]


def frictionless_validate(folder: Path) -> dict:
    """Run the frictionless CLI of this environment on datapackage.json; its JSON report."""
    cli = Path(sys.executable).with_name("frictionless")
    command = [str(cli) if cli.exists() else shutil.which("frictionless"), "validate", "--json", "datapackage.json"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder)
    report = json.loads(result.stdout)
    assert (result.returncode == 0) == report["valid"], result.stderr
    return report


def errors_of(report: dict) -> list:
    return report["errors"] + [(t["name"], e["type"], e["message"]) for t in report["tasks"] for e in t["errors"]]


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def packaged(sample_db, tmp_path_factory):
    """(folder, descriptor) for the sample database with the test metadata."""
    folder = tmp_path_factory.mktemp("package")
    metadata = folder / "metadata.yml"
    metadata.write_text(METADATA, encoding="utf-8")
    descriptor = package(sample_db, folder / "out", metadata)
    return folder / "out", descriptor


def test_frictionless_validates_the_package(packaged, sample_db):
    folder, _ = packaged
    report = frictionless_validate(folder)
    assert report["valid"], errors_of(report)
    assert len(report["tasks"]) == len(data_tables(sample_db)) + len(GRAPH_RESOURCES)


def test_one_csv_per_table_and_nothing_internal(packaged, sample_db):
    folder, descriptor = packaged
    tables = data_tables(sample_db)
    assert {"posts", "images", "post_images", "links", "builds", "build_errors"} <= set(tables)
    names = [r["name"] for r in descriptor["resources"]]
    assert names == tables + list(GRAPH_RESOURCES)
    # The citation network's GraphML and GEXF are file resources, so not a tabular package.
    assert descriptor["profile"] == "data-package"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{t}.csv" for t in tables] + [f for f, *_ in GRAPH_FILES] + ["datapackage.json"])
    assert json.loads((folder / "datapackage.json").read_text(encoding="utf-8")) == descriptor


def test_row_counts_match_the_database(packaged, sample_db):
    folder, _ = packaged
    for table in data_tables(sample_db):
        assert len(read_csv(folder / f"{table}.csv")) == count(sample_db, table), table
    # Every post file of the sample is a post (none fails to build).
    assert count(sample_db, "posts") == len(list(SAMPLE.rglob("*.md"))) and count(sample_db, "links") > 0


def test_foreign_keys_are_declared_and_hold_in_the_csvs(packaged):
    folder, descriptor = packaged
    declared = {}
    for res in descriptor["resources"]:
        for fk in res.get("schema", {}).get("foreignKeys", []):
            declared[(res["name"], fk["fields"])] = (fk["reference"]["resource"], fk["reference"]["fields"])
    assert declared == EXPECTED_FOREIGN_KEYS
    for (table, column), (target, key) in declared.items():
        known = {row[key] for row in read_csv(folder / f"{target}.csv")}
        values = {row[column] for row in read_csv(folder / f"{table}.csv")} - {""}
        assert values <= known, f"{table}.{column} -> {target}.{key}: {sorted(values - known)[:3]}"


def test_a_broken_foreign_key_fails_validation(sample_db, tmp_path):
    """The validation above means something: frictionless does check the references."""
    db = tmp_path / "news.db"
    shutil.copyfile(sample_db, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE post_images SET image_id = 42 WHERE rowid = (SELECT min(rowid) FROM post_images)")
    conn.commit()
    conn.close()
    package(db, tmp_path / "out", None)
    report = frictionless_validate(tmp_path / "out")
    assert not report["valid"]
    assert [e[:2] for e in errors_of(report)] == [("post_images", "foreign-key")]


def test_schemas_keys_and_types(packaged):
    _, descriptor = packaged
    schemas = {r["name"]: r["schema"] for r in descriptor["resources"] if "schema" in r}
    assert schemas["posts"]["primaryKey"] == ["id"]
    assert schemas["post_images"]["primaryKey"] == ["post_id", "position"]
    assert schemas["post_tags"]["primaryKey"] == ["post_id", "tag", "field"]
    assert "primaryKey" not in schemas["build_errors"]
    types = {f["name"]: f["type"] for f in schemas["posts"]["fields"]}
    assert types["id"] == types["body"] == types["published_at"] == "string"
    assert types["word_count"] == types["lead_image_id"] == "integer"
    assert types["category"] == types["authors"] == "string"
    images = {f["name"]: f for f in schemas["images"]["fields"]}
    assert images["url"]["constraints"] == {"unique": True}


@pytest.mark.parametrize(
    "declared, expected",
    [("INTEGER", "integer"), ("TEXT", "string"), ("VARCHAR(20)", "string"), ("FLOAT", "number"),
     ("REAL", "number"), ("NUMERIC", "number"), ("BLOB", "any"), ("", "any")],
)
def test_field_type_follows_sqlite_affinity(declared, expected):
    assert field_type(declared) == expected


def test_descriptions_and_package_metadata_come_from_metadata_yml(packaged):
    _, descriptor = packaged
    assert descriptor["name"] == "news"
    assert descriptor["title"] == "Test archive"
    assert descriptor["description"] == "Posts for the package tests."
    assert descriptor["version"] == "1.2.0"
    assert descriptor["licenses"] == [{"title": "CC BY 4.0", "path": "https://creativecommons.org/licenses/by/4.0/"}]
    assert descriptor["sources"] == [{"title": "sample/posts", "path": "https://example.org/posts"}]
    assert descriptor["created"].endswith("Z")
    resources = {r["name"]: r for r in descriptor["resources"]}
    assert resources["posts"]["description"] == "One row per post."
    posts = {f["name"]: f for f in resources["posts"]["schema"]["fields"]}
    assert posts["id"]["description"] == "Stable post id: the code, else the path."
    assert posts["word_count"]["description"] == "Words in body_text."
    assert "description" not in posts["title"]
    position = resources["post_images"]["schema"]["fields"][1]
    assert position == {"name": "position", "type": "integer", "description": "Order in the post."}


def test_csv_text_is_exact(packaged, sample_db):
    """Bodies keep their line endings (the sample has a CRLF post) and their Unicode."""
    folder, _ = packaged
    conn = sqlite3.connect(sample_db)
    expected = dict(conn.execute("SELECT id, body FROM posts"))
    conn.close()
    rows = {row["id"]: row["body"] for row in read_csv(folder / "posts.csv")}
    assert rows == expected
    assert any("\r\n" in body for body in rows.values())


def test_missing_or_partial_metadata_is_tolerated(sample_db, tmp_path):
    # A database without the archive's identity (sample/posts/archive.yml gives one).
    sample_db = shutil.copy(sample_db, tmp_path / "news.db")
    conn = sqlite3.connect(sample_db)
    conn.execute("DELETE FROM archive")
    conn.commit()
    conn.close()
    bare = package(sample_db, tmp_path / "bare", tmp_path / "no-such-metadata.yml")
    assert set(bare) == {"profile", "name", "created", "resources"}
    partial = tmp_path / "partial.yml"
    partial.write_text("title: Only a title\nlicense: Public domain\n", encoding="utf-8")
    some = package(sample_db, tmp_path / "partial", partial)
    assert some["title"] == "Only a title"
    assert some["licenses"] == [{"name": "Public domain", "title": "Public domain"}]
    assert "sources" not in some and "description" not in some
    for folder in ("bare", "partial"):
        report = frictionless_validate(tmp_path / folder)
        assert report["valid"], errors_of(report)


def test_broken_metadata_is_an_error_with_its_line(tmp_path):
    broken = tmp_path / "metadata.yml"
    broken.write_text("title: ok\ncolumns:\n  id: a: b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"metadata.yml:3: metadata is not valid YAML"):
        config.load(broken)


def test_project_metadata_yml_describes_every_packaged_column(sample_db, tmp_path):
    """The project's own metadata.yml, when present, documents every column of the package."""
    project = ROOT / "metadata.yml"
    if not project.exists():
        pytest.skip("no metadata.yml in the project yet")
    try:
        config.load(project)
    except ValueError as exc:
        pytest.skip(f"the project's metadata.yml does not parse: {exc}")
    descriptor = package(sample_db, tmp_path / "out", project)
    assert descriptor.get("title") and descriptor.get("licenses")
    undocumented = [
        f"{r['name']}.{f['name']}" for r in descriptor["resources"] for f in r.get("schema", {}).get("fields", [])
        if "description" not in f
    ]
    assert undocumented == []
    assert frictionless_validate(tmp_path / "out")["valid"]


def test_cli_package(sample_db, tmp_path):
    metadata = tmp_path / "metadata.yml"
    metadata.write_text(METADATA, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "newsarchive", "package", str(sample_db), str(tmp_path / "out"), "--metadata", str(metadata)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(data_tables(sample_db))} tables as csv" in result.stdout
    assert json.loads((tmp_path / "out" / "datapackage.json").read_text())["title"] == "Test archive"
