"""The database -> a Frictionless Data Package: one CSV per table plus datapackage.json.

A SQLite file needs SQLite (or Datasette) to be read; a folder of CSVs with a
machine-readable description opens in a spreadsheet, in R or pandas, and can be
checked offline with `frictionless validate`.  The Table Schemas are read from the
database itself (column types, primary keys, foreign keys, unique indexes), so the
package cannot drift from the table declaration (db/schema.py); the words (titles, descriptions,
licence, sources) come from metadata.yml, the file Datasette already publishes.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sqlite3
from pathlib import Path

from . import config

#: The tables of the package, in this order; any other table a later schema adds
#: follows them, except internal ones (see packaged_tables).
TABLES = (
    "posts", "categories", "languages", "images", "post_images", "captions", "credits",
    "links", "tags", "post_tags", "builds", "build_errors",
)

#: SQLite's type affinity rules (https://sqlite.org/datatype3.html, 3.1) mapped to
#: Table Schema types; checked in this order, as SQLite does.
_AFFINITY = (("INT", "integer"), ("CHAR", "string"), ("CLOB", "string"), ("TEXT", "string"),
             ("BLOB", "any"), ("REAL", "number"), ("FLOA", "number"), ("DOUB", "number"))


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
    """Data tables: not SQLite's own, not `_`-prefixed bookkeeping, not FTS indexes.

    FTS5 keeps its index in shadow tables named after the virtual table
    (posts_fts_data, posts_fts_idx, ...); they are derived data in a binary format.
    """
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL TABLE")]
    names = [
        name for name, _ in rows
        if not name.startswith(("sqlite_", "_"))
        and name not in virtual
        and not any(name.startswith(f"{v}_") for v in virtual)
    ]
    known = [t for t in TABLES if t in names]
    return known + sorted(n for n in names if n not in TABLES)


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
    """Foreign keys between CSVs of the package (ones into unpackaged tables are left out)."""
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


def write_csv(conn: sqlite3.Connection, table: str, columns: list[str], path: Path, order: list[str]) -> tuple[int, int, str]:
    """One table as UTF-8 CSV with a header row; returns (rows, bytes, sha256).

    NULL is written as an empty field, Table Schema's default missing value.  Rows
    come in key order, so the same database always gives the same bytes.
    """
    cols = ", ".join(f"[{c}]" for c in columns)
    order_by = ", ".join(f"[{c}]" for c in order) if order else "rowid"
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in conn.execute(f"SELECT {cols} FROM [{table}] ORDER BY {order_by}"):
            writer.writerow(row)
            count += 1
    data = path.read_bytes()
    return count, len(data), hashlib.sha256(data).hexdigest()


def resource(conn, table: str, outdir: Path, table_meta: dict, packaged: list[str]) -> dict:
    """Write one table's CSV and describe it as a tabular data resource."""
    docs = table_meta.get("columns") if isinstance(table_meta.get("columns"), dict) else {}
    schema = table_schema(conn, table, docs, packaged)
    columns = [f["name"] for f in schema["fields"]]
    path = f"{table}.csv"
    _, size, digest = write_csv(conn, table, columns, outdir / path, schema.get("primaryKey", []))
    out = {"name": table, "path": path, "profile": "tabular-data-resource"}
    for key in ("title", "description"):
        if isinstance(table_meta.get(key), str) and table_meta[key].strip():
            out[key] = table_meta[key].strip()
    out.update({
        "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
        "bytes": size, "hash": f"sha256:{digest}", "schema": schema,
    })
    return out


def package_name(text: str) -> str:
    """A Data Package name: lower case letters, digits and `-._` only."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-")
    return name or "news"


def descriptor(metadata: dict, name: str, resources: list[dict], created: str | None) -> dict:
    """datapackage.json: the package's words from metadata.yml, then its resources."""
    out = {"profile": "tabular-data-package", "name": package_name(name)}
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


def package(db_path, outdir, metadata_path=None) -> dict:
    """Write the CSVs and datapackage.json for db_path into outdir; return the descriptor."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"{db_path}: no such database")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    # No metadata file is no metadata: the package is still valid, only undescribed.
    has_metadata = metadata_path is not None and Path(metadata_path).is_file()
    metadata = config.load(metadata_path, db_path.stem) if has_metadata else {}
    tables_meta = database_metadata(metadata, db_path.stem).get("tables") or {}
    conn = sqlite3.connect(f"file:{db_path.resolve()}?mode=ro", uri=True)
    try:
        packaged = packaged_tables(conn)
        resources = [
            resource(conn, table, outdir, tables_meta.get(table) if isinstance(tables_meta.get(table), dict) else {}, packaged)
            for table in packaged
        ]
        result = descriptor(metadata, db_path.stem, resources, _created(conn))
    finally:
        conn.close()
    tmp = outdir / f".datapackage.json.{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, outdir / "datapackage.json")
    return result
