"""A packaged table as one Parquet file, for engines beyond SQLite.

A CSV file is text: every engine has to be told each column's type again. A Parquet
file carries the types with it, is compressed column by column, and is read as it
is by DuckDB on one machine and by Spark, BigQuery, pandas or polars on many, so an
archive that outgrows one SQLite file keeps one format. The column types are the
package's Table Schema types, which come from the database's declared types:
integer -> int64, number -> float64, string -> UTF-8 string, a BLOB column ->
binary; a NOT NULL column is a non-nullable field.

pyarrow is imported when a Parquet file is written, so that a CSV-only package (and
everything else) works without it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

#: Table Schema type -> Arrow type, by the name of pyarrow's factory function.
ARROW_TYPES = {"integer": "int64", "number": "float64", "string": "string", "any": "binary"}
#: Rows are buffered up to about this size before they become one row group: large
#: groups are what engines read fastest, bounded ones keep the writer's memory flat.
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: zstd: about as fast to read as snappy and smaller; DuckDB, Spark and BigQuery read it.
COMPRESSION = "zstd"
MEDIATYPE = "application/vnd.apache.parquet"


class ParquetUnavailable(ImportError):
    """pyarrow, which writes the Parquet files, is not installed."""


class ValueMismatch(ValueError):
    """A value that does not fit its column's declared type (a database edited by hand);
    the message starts with the column's name."""


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ParquetUnavailable("--format parquet needs pyarrow: pip install 'news-archive[parquet]'") from None
    return pyarrow, pyarrow.parquet


def require() -> None:
    """Raise ParquetUnavailable unless pyarrow can be imported."""
    _pyarrow()


def arrow_schema(fields: list[dict]):
    """The Arrow schema of a table from its Table Schema fields."""
    pa, _ = _pyarrow()
    return pa.schema([
        pa.field(f["name"], getattr(pa, ARROW_TYPES[f["type"]])(),
                 nullable=not (f.get("constraints") or {}).get("required", False))
        for f in fields
    ])


def write(path: Path, fields: list[dict], batches: Iterable[list[tuple]]) -> None:
    """Write the rows (batches of tuples in `fields` order) to path."""
    pa, pq = _pyarrow()
    schema = arrow_schema(fields)
    buffered, size = [], 0
    with pq.ParquetWriter(path, schema, compression=COMPRESSION) as writer:
        for rows in batches:
            batch = _record_batch(pa, schema, rows)
            buffered.append(batch)
            size += batch.nbytes
            if size >= ROW_GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(buffered, schema))
                buffered, size = [], 0
        if buffered:
            writer.write_table(pa.Table.from_batches(buffered, schema))


def _record_batch(pa, schema, rows: list[tuple]):
    """Rows -> one Arrow record batch, column by column."""
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    arrays = []
    for field, values in zip(schema, columns):
        try:
            array = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ValueMismatch(f"{field.name} ({field.type}): {exc}") from None
        if array.null_count and not field.nullable:
            raise ValueMismatch(f"{field.name} is NOT NULL in the database but holds a NULL")
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
