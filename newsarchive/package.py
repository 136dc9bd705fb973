"""The database -> a Frictionless Data Package: one file per table and format, plus datapackage.json.

A SQLite file needs SQLite (or Datasette) to be read; a folder of CSVs with a
machine-readable description opens in a spreadsheet, in R or pandas, and can be
checked offline with `frictionless validate`. Parquet files of the same tables
(newsarchive/parquet.py) carry their column types and are what DuckDB, Spark or
BigQuery read when an archive outgrows one SQLite file. The tables, their order and
their Table Schemas are read from the database itself (column types, primary keys,
foreign keys, unique indexes), so the package cannot drift from the table declaration
(db/schema.py); the words come from the archive's identity in the database (title,
description, licence, source: newsarchive.site.identity) and metadata.yml (tables' and
columns' descriptions), the file Datasette already publishes. The citation network goes
with the tables, as an edge list and as GraphML and GEXF (newsarchive.graph).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Iterator, NamedTuple

from . import config
from .db import schema
from .db.files import open_read_only
from .site.identity import read_identity, shown_metadata

#: The formats a table can be written in, in the order their resources are listed.
FORMATS = ("csv", "parquet")
#: Rows fetched from SQLite at a time for a Parquet file.
BATCH_ROWS = 2048

#: SQLite's type affinity rules (https://sqlite.org/datatype3.html, 3.1) mapped to
#: Table Schema types; checked in this order, as SQLite does.
_AFFINITY = (("INT", "integer"), ("CHAR", "string"), ("CLOB", "string"), ("TEXT", "string"),
             ("BLOB", "any"), ("REAL", "number"), ("FLOA", "number"), ("DOUB", "number"))


class Written(NamedTuple):
    """One table's file: where, and what a resource says about its bytes."""

    path: str
    bytes: int
    sha256: str


def database_metadata(metadata: dict, name: str) -> dict:
    """The `databases:` entry for this database: by name, else the only one there is."""
    databases = metadata.get("databases") or {}
    if not isinstance(databases, dict):
        return {}
    if name in databases:
        entry = databases[name]
    elif len(databases) == 1:
        entry = next(iter(databases.values()))
    else:
        entry = None
    return entry if isinstance(entry, dict) else {}


def packaged_tables(conn: sqlite3.Connection) -> list[str]:
    """Data tables, in the order the database created them: not SQLite's own, not
    `_`-prefixed bookkeeping, not full-text indexes, not what only the site needs
    (the stored HTML of post_html: schema.Table.in_package).

    FTS5 keeps its index in shadow tables named after the virtual table
    (posts_fts_data, posts_fts_idx, ...); they are derived data in a binary format.
    """
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid").fetchall()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    return [
        name for name, _ in rows
        if not name.startswith(("sqlite_", "_"))
        and name not in virtual
        and (name not in schema.TABLE or schema.TABLE[name].in_package)
        and not any(name.startswith(f"{v}_") for v in virtual)
    ]


def field_type(declared: str) -> str:
    """Table Schema type of a column from its declared SQLite type."""
    upper = (declared or "").upper()
    for marker, kind in _AFFINITY:
        if marker in upper:
            return kind
    return "number" if upper else "any"


def table_schema(conn: sqlite3.Connection, table: str, docs: dict, packaged: list[str]) -> dict:
    """Fields (types, descriptions, required/unique), primary key and foreign keys."""
    columns = conn.execute(f"PRAGMA table_info([{table}])").fetchall()
    unique = _unique_columns(conn, table)
    fields = []
    for _, name, declared, notnull, _, pk in columns:
        spec = {"name": name, "type": field_type(declared)}
        description = docs.get(name)
        if isinstance(description, str) and description.strip():
            spec["description"] = description.strip()
        constraints = {}
        if notnull:
            constraints["required"] = True
        if name in unique:
            constraints["unique"] = True
        if constraints:
            spec["constraints"] = constraints
        fields.append(spec)
    schema = {"fields": fields}
    primary = [name for _, name, _, _, _, pk in sorted(columns, key=lambda c: c[5]) if pk]
    if primary:
        schema["primaryKey"] = primary
    foreign = _foreign_keys(conn, table, packaged)
    if foreign:
        schema["foreignKeys"] = foreign
    return schema


def _unique_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """Columns with a one-column unique index (natural keys such as images.url)."""
    out = set()
    for _, index, is_unique, origin, *_ in conn.execute(f"PRAGMA index_list([{table}])"):
        if is_unique and origin != "pk":  # the primary key says so already
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info([{index}])")]
            if len(cols) == 1:
                out.add(cols[0])
    return out


def _foreign_keys(conn: sqlite3.Connection, table: str, packaged: list[str]) -> list[dict]:
    """Foreign keys between tables of the package (ones into unpackaged tables are left out)."""
    groups: dict[int, list] = {}
    for fk_id, seq, target, source, dest, *_ in conn.execute(f"PRAGMA foreign_key_list([{table}])"):
        groups.setdefault(fk_id, []).append((seq, target, source, dest))
    out = []
    for fk_id in sorted(groups):
        parts = sorted(groups[fk_id])
        target = parts[0][1]
        if target not in packaged:
            continue
        sources = [p[2] for p in parts]
        dests = [p[3] for p in parts]
        out.append({
            "fields": sources[0] if len(sources) == 1 else sources,
            "reference": {"resource": target, "fields": dests[0] if len(dests) == 1 else dests},
        })
    return out


def select(conn: sqlite3.Connection, table: str, columns: list[str], order: list[str]) -> sqlite3.Cursor:
    """The table's rows in key order, so the same database always gives the same bytes."""
    cols = ", ".join(f"[{c}]" for c in columns)
    order_by = ", ".join(f"[{c}]" for c in order) if order else "rowid"
    return conn.execute(f"SELECT {cols} FROM [{table}] ORDER BY {order_by}")


def write_csv(conn: sqlite3.Connection, table: str, schema: dict, path: Path) -> None:
    """One table as UTF-8 CSV with a header row.

    NULL is written as an empty field, Table Schema's default missing value.
    """
    columns = [f["name"] for f in schema["fields"]]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows(select(conn, table, columns, schema.get("primaryKey", [])))


def write_parquet(conn: sqlite3.Connection, table: str, schema: dict, path: Path) -> None:
    """One table as Parquet, with the column types of its Table Schema."""
    from . import parquet

    columns = [f["name"] for f in schema["fields"]]
    cursor = select(conn, table, columns, schema.get("primaryKey", []))
    try:
        parquet.write(path, schema["fields"], _batches(cursor))
    except parquet.ValueMismatch as exc:
        raise parquet.ValueMismatch(f"{table}.{exc}") from None


def _batches(cursor: sqlite3.Cursor) -> Iterator[list[tuple]]:
    while rows := cursor.fetchmany(BATCH_ROWS):
        yield rows


def write_file(conn: sqlite3.Connection, table: str, schema: dict, path: Path, fmt: str) -> Written:
    """Write through a temporary name, so a failure leaves no half file under the real one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        WRITERS[fmt](conn, table, schema, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return written_file(path)


def written_file(path: Path) -> Written:
    """A written file's name, size and SHA-256, as its resource states them."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return Written(path.name, path.stat().st_size, digest.hexdigest())


WRITERS = {"csv": write_csv, "parquet": write_parquet}
#: What a resource of each format says about its file besides its path and schema.
#: A Parquet resource is a file resource: `frictionless validate` checks its bytes and
#: hash but does not read its rows, because its Parquet reader goes through pandas,
#: which reads a nullable integer column as floats and so fails every NULL.
FILE_KEYS = {
    "csv": {"profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv", "encoding": "utf-8"},
    "parquet": {"type": "file", "profile": "data-resource", "format": "parquet", "mediatype": "application/vnd.apache.parquet"},
}


def resource_name(table: str, fmt: str, formats: tuple[str, ...]) -> str:
    """A table's resource is named after it in the first format; in a second format
    the format follows the name (posts-parquet), as resource names must be unique."""
    return table if fmt == formats[0] else f"{table}-{fmt}"


def resource(conn, table: str, outdir: Path, table_meta: dict, packaged: list[str], fmt: str,
             formats: tuple[str, ...]) -> dict:
    """Write one table in one format and describe the file as a tabular data resource."""
    docs = table_meta.get("columns") if isinstance(table_meta.get("columns"), dict) else {}
    schema = table_schema(conn, table, docs, packaged)
    for fk in schema.get("foreignKeys", []):
        # Each format's resources refer to their own kind, so either set stands alone.
        fk["reference"]["resource"] = resource_name(fk["reference"]["resource"], fmt, formats)
    written = write_file(conn, table, schema, outdir / f"{table}.{fmt}", fmt)
    kind = FILE_KEYS[fmt]
    out = {"name": resource_name(table, fmt, formats), "path": written.path, "profile": kind["profile"]}
    for key in ("title", "description"):
        if isinstance(table_meta.get(key), str) and table_meta[key].strip():
            out[key] = table_meta[key].strip()
    out.update({**kind, "bytes": written.bytes, "hash": f"sha256:{written.sha256}", "schema": schema})
    return out


def graph_resources(conn: sqlite3.Connection, outdir: Path, formats: tuple[str, ...]) -> list[dict]:
    """The citation network (newsarchive.graph) as an edge list, a tabular resource, and
    as GraphML and GEXF, file resources: Frictionless checks their bytes and hash."""
    from . import graph

    write = graph.writers(conn)
    out = []
    for filename, name, fmt, mediatype in graph.FILES:
        graph.write_atomically(write[fmt], outdir / filename)
        written = written_file(outdir / filename)
        entry = {"name": name, "path": written.path}
        if fmt == "csv":
            entry |= {"profile": "tabular-data-resource", "title": "Citation network: edge list"}
        else:
            entry |= {"type": "file", "profile": "data-resource", "title": f"Citation network ({fmt})"}
        entry |= {"description": GRAPH_DESCRIPTION, "format": fmt, "mediatype": mediatype}
        if fmt == "csv":
            entry["encoding"] = "utf-8"
        entry |= {"bytes": written.bytes, "hash": f"sha256:{written.sha256}"}
        if fmt == "csv":
            # Foreign keys only into CSV posts: a check of them reads the posts resource.
            schema = graph.edge_schema(resource_name("posts", "csv", formats))
            if "csv" not in formats:
                del schema["foreignKeys"]
            entry["schema"] = schema
        out.append(entry)
    return out


GRAPH_DESCRIPTION = (
    "Which post links to which: one edge per citing and cited post (links.target_post_id, a post "
    "linking to itself left out) with the number of links; in GraphML and GEXF each node is a post "
    "that cites or is cited, with its title, published_at and category, each edge has `links` and "
    "the same number as `weight`."
)


def package_name(text: str) -> str:
    """A Data Package name: lower case letters, digits and `-._` only."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-")
    return name or "news"


def descriptor(metadata: dict, name: str, resources: list[dict], created: str | None) -> dict:
    """datapackage.json: the package's words (the archive's identity, metadata.yml), then its resources.

    A package with Parquet files is a plain data package: the tabular profile wants
    every resource to be a tabular one, and a Parquet resource is a file resource.
    """
    tabular = all(r["profile"] == "tabular-data-resource" for r in resources)
    out = {"profile": "tabular-data-package" if tabular else "data-package", "name": package_name(name)}
    for key in ("title", "description", "version"):
        value = metadata.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            out[key] = str(value).strip()
    licence = _entry(metadata.get("license"), metadata.get("license_url"))
    if licence:
        out["licenses"] = [licence]
    source = _entry(metadata.get("source"), metadata.get("source_url"))
    if source:
        out["sources"] = [source]
    if created:
        out["created"] = created
    out["resources"] = resources
    return out


def _entry(title, url) -> dict | None:
    """A licence or source entry; the spec wants a `path` or a `name`, so a title alone
    (a licence written out in words) becomes the name."""
    title = title.strip() if isinstance(title, str) and title.strip() else None
    url = url.strip() if isinstance(url, str) and url.strip() else None
    if url:
        return {"title": title, "path": url} if title else {"path": url}
    if title:
        return {"name": title, "title": title}
    return None


def _created(conn: sqlite3.Connection) -> str | None:
    """When the data was made: the end of the latest build, if the database records it."""
    try:
        row = conn.execute("SELECT finished_at FROM builds ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def formats_of(text: str | tuple | list) -> tuple[str, ...]:
    """`csv`, `parquet`, `csv,parquet` (or a list of them) -> the formats, each once, in order."""
    names = text.split(",") if isinstance(text, str) else [n for part in text for n in part.split(",")]
    out = tuple(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    unknown = [n for n in out if n not in FORMATS]
    if unknown or not out:
        raise ValueError(f"unknown format {', '.join(unknown) or repr(text)}: choose from {', '.join(FORMATS)}")
    return out


def package(db_path, outdir, metadata_path=None, formats=("csv",)) -> dict:
    """Write each table in each format and datapackage.json for db_path into outdir; return the descriptor."""
    db_path = Path(db_path)
    formats = formats_of(formats)
    if not db_path.is_file():
        raise FileNotFoundError(f"{db_path}: no such database")
    if "parquet" in formats:
        from . import parquet

        parquet.require()  # before the first file is written
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # No metadata file is no metadata: the package is still valid, only undescribed.
    has_metadata = metadata_path is not None and Path(metadata_path).is_file()
    metadata = config.load(metadata_path, db_path.stem) if has_metadata else {}
    tables_meta = database_metadata(metadata, db_path.stem).get("tables") or {}
    conn = open_read_only(db_path)
    try:
        packaged = packaged_tables(conn)
        written = [
            resource(conn, table, outdir, tables_meta.get(table) if isinstance(tables_meta.get(table), dict) else {},
                     packaged, fmt, formats)
            for fmt in formats for table in packaged
        ] + graph_resources(conn, outdir, formats)
        # The archive's own words, stored by the build; a metadata file that names one wins.
        words = {**shown_metadata(read_identity(conn)), **metadata}
        result = descriptor(words, db_path.stem, written, _created(conn))
    finally:
        conn.close()
    tmp = outdir / f".datapackage.json.{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / "datapackage.json")
    return result
