"""Parquet in the data package: every table as a Parquet file that DuckDB reads with the
database's row counts, column types and values, listed in a datapackage.json that
frictionless validates."""
from __future__ import annotations

import copy
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from newsarchive import parquet
from newsarchive.package import package

from .conftest import CORPUS_18F, ROOT
from .test_package import GRAPH_FILES, GRAPH_RESOURCES, METADATA, data_tables, errors_of, frictionless_validate

#: DuckDB's name for each SQLite type the schema declares.
DUCKDB_TYPES = {"INTEGER": "BIGINT", "TEXT": "VARCHAR", "REAL": "DOUBLE", "BLOB": "BLOB"}
DOC = ROOT / "docs" / "data-package.md"


def sqlite_columns(db: Path, table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column, from the declared types in the SQLite file."""
    conn = sqlite3.connect(db)
    try:
        declared = [(name, kind.upper()) for _, name, kind, *_ in conn.execute(f"PRAGMA table_info([{table}])")]
    finally:
        conn.close()
    assert all(kind in DUCKDB_TYPES for _, kind in declared), (table, declared)
    return [(name, DUCKDB_TYPES[kind]) for name, kind in declared]


def sqlite_rows(db: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT * FROM [{table}]").fetchall()
    finally:
        conn.close()


def assert_same_as_database(folder: Path, db: Path) -> None:
    """Each table's Parquet file, read by DuckDB: the columns, types and rows of the database."""
    con = duckdb.connect()
    for table in data_tables(db):
        path = str(folder / f"{table}.parquet")
        described = [(name, kind) for name, kind, *_ in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()]
        assert described == sqlite_columns(db, table), table
        rows = con.execute("SELECT * FROM read_parquet(?)", [path]).fetchall()
        expected = sqlite_rows(db, table)
        assert len(rows) == len(expected), table
        assert Counter(rows) == Counter(expected), table


@pytest.fixture(scope="module")
def both(sample_db, tmp_path_factory):
    """(folder, descriptor) of the sample database as CSV and Parquet."""
    folder = tmp_path_factory.mktemp("parquet")
    metadata = folder / "metadata.yml"
    metadata.write_text(METADATA, encoding="utf-8")
    return folder / "out", package(sample_db, folder / "out", metadata, ("csv", "parquet"))


def test_duckdb_reads_every_table_with_the_databases_rows_and_types(both, sample_db):
    folder, _ = both
    assert_same_as_database(folder, sample_db)


def test_the_package_lists_the_parquet_files_and_validates(both, sample_db):
    folder, descriptor = both
    tables = data_tables(sample_db)
    assert [r["name"] for r in descriptor["resources"]] == (
        tables + [f"{t}-parquet" for t in tables] + list(GRAPH_RESOURCES))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{t}.csv" for t in tables] + [f"{t}.parquet" for t in tables] + [f for f, *_ in GRAPH_FILES]
        + ["datapackage.json"]
    )
    resources = {r["name"]: r for r in descriptor["resources"]}
    posts = resources["posts-parquet"]
    assert (posts["format"], posts["mediatype"], posts["path"]) == ("parquet", "application/vnd.apache.parquet", "posts.parquet")
    # The CSV's Table Schema, its foreign keys pointing at the Parquet resources instead.
    as_csv = copy.deepcopy(posts["schema"])
    for fk in as_csv["foreignKeys"]:
        fk["reference"]["resource"] = fk["reference"]["resource"].removesuffix("-parquet")
    assert as_csv == resources["posts"]["schema"]
    assert as_csv != posts["schema"]
    assert descriptor["profile"] == "data-package"
    report = frictionless_validate(folder)
    assert report["valid"], errors_of(report)
    assert len(report["tasks"]) == 2 * len(tables) + len(GRAPH_RESOURCES)


def test_frictionless_checks_the_parquet_files_bytes(both, tmp_path):
    """Frictionless does read the Parquet files: one changed byte fails the package."""
    folder, _ = both
    copy = tmp_path / "out"
    copy.mkdir()
    for path in folder.iterdir():
        copy.joinpath(path.name).write_bytes(path.read_bytes())
    data = bytearray((copy / "tags.parquet").read_bytes())
    data[len(data) // 2] ^= 1
    (copy / "tags.parquet").write_bytes(bytes(data))
    report = frictionless_validate(copy)
    assert not report["valid"]
    assert {e[0] for e in errors_of(report)} == {"tags-parquet"}


def test_parquet_alone_names_resources_after_their_tables(sample_db, tmp_path):
    descriptor = package(sample_db, tmp_path / "out", None, "parquet")
    tables = data_tables(sample_db)
    assert [r["name"] for r in descriptor["resources"]] == tables + list(GRAPH_RESOURCES)
    references = {fk["reference"]["resource"] for r in descriptor["resources"]
                  for fk in r.get("schema", {}).get("foreignKeys", [])}
    assert references and references <= set(tables)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"{t}.parquet" for t in tables] + [f for f, *_ in GRAPH_FILES] + ["datapackage.json"])
    assert frictionless_validate(tmp_path / "out")["valid"]


def test_row_groups_are_bounded_and_all_rows_arrive(sample_db, tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "ROW_GROUP_BYTES", 20_000)
    monkeypatch.setattr("newsarchive.package.BATCH_ROWS", 4)
    package(sample_db, tmp_path / "out", None, "parquet")
    assert pq.ParquetFile(tmp_path / "out" / "posts.parquet").metadata.num_row_groups > 1
    assert_same_as_database(tmp_path / "out", sample_db)


def test_the_18f_blog_as_parquet(tmp_path):
    if not CORPUS_18F.is_dir():
        pytest.skip(f"no 18F corpus at {CORPUS_18F}")
    from newsarchive.build import build

    db = tmp_path / "news.db"
    build(CORPUS_18F, db, quiet=True)
    package(db, tmp_path / "out", None, "parquet")
    assert_same_as_database(tmp_path / "out", db)
    assert frictionless_validate(tmp_path / "out")["valid"]


def test_a_value_that_does_not_fit_its_column_is_one_error_line(sample_db, tmp_path):
    db = tmp_path / "news.db"
    db.write_bytes(sample_db.read_bytes())
    conn = sqlite3.connect(db)
    conn.execute("UPDATE posts SET word_count = 'many' WHERE rowid = (SELECT min(rowid) FROM posts)")
    conn.commit()
    conn.close()
    result = run_cli("package", str(db), str(tmp_path / "out"), "--format", "parquet")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()] and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: posts.word_count (int64): Could not convert 'many'")
    assert not list((tmp_path / "out").glob("*.parquet.*")), "no half-written file is left"


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newsarchive", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_cli_writes_both_formats(sample_db, tmp_path):
    result = run_cli("package", str(sample_db), str(tmp_path / "out"), "--format", "csv,parquet", "--metadata", "none.yml")
    assert result.returncode == 0, result.stderr
    assert f"{len(data_tables(sample_db))} tables as csv, parquet" in result.stdout
    assert (tmp_path / "out" / "posts.parquet").exists() and (tmp_path / "out" / "posts.csv").exists()


def test_cli_unknown_format_is_one_line(sample_db, tmp_path):
    result = run_cli("package", str(sample_db), str(tmp_path / "out"), "--format", "csv,xlsx")
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: unknown format xlsx: choose from csv, parquet"
    assert not (tmp_path / "out").exists()


def test_cli_without_pyarrow_says_what_to_install(sample_db, tmp_path):
    blocked = tmp_path / "blocked" / "pyarrow"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('pyarrow is hidden for this test')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(blocked.parent)}
    result = run_cli("package", str(sample_db), str(tmp_path / "out"), "--format", "parquet", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: --format parquet needs pyarrow: pip install 'news-archive[parquet]'"
    assert not (tmp_path / "out").exists()


def doc_query(name: str) -> str:
    """The SQL of the doc's `name` example: the double-quoted argument of its command."""
    block = re.search(rf"<!-- {name} -->\n```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, f"{DOC.name} has no {name} example"
    return re.search(r'"(SELECT .*?)"', block.group(1), re.S).group(1)


def test_the_docs_duckdb_question_gives_the_databases_answer(both, sample_db):
    """docs/data-package.md asks posts per category per year of DuckDB over the Parquet
    files and of SQLite over the database: the same question, the same answer."""
    folder, _ = both
    with_duckdb = duckdb.connect().execute(doc_query("duckdb").replace("'posts.parquet'", f"'{folder / 'posts.parquet'}'")).fetchall()
    conn = sqlite3.connect(sample_db)
    with_sqlite = conn.execute(doc_query("sqlite")).fetchall()
    conn.close()
    assert with_duckdb == with_sqlite
    assert len(with_duckdb) > 1
