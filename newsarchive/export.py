"""The database -> a folder of posts again, byte for byte where the database allows.

The archive is the source of truth only as long as it can be given back: a database
that cannot be turned back into the folder it came from is a one-way door.  Every
post row keeps its frontmatter exactly as written (`posts.frontmatter`), its body
exactly as written (`posts.body`) and how the file was stored (`posts.file_format`,
"encoding;newline;fence", plus the fence lines when they are not plain `---`),
so the file is those three put back together.

Two details the reader does not keep are recovered with the stored sha256 of the
source file: the line ending after the closing fence (a file may end right at the
fence, or mix line endings) and the byte order of a UTF-16 file.  Only a handful of
layouts are possible, and the hash says which one was the original.  A row without
its raw frontmatter (a database edited by hand) still exports, with frontmatter
rebuilt from the columns: the values survive, the original bytes cannot.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import os
import posixpath
import sqlite3
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from .db.files import open_read_only
from .parse import TOML_FENCE, YAML_FENCE, ArchiveLoader
from .site.identity import read_identity

_NEWLINES = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
_FENCES = {"yaml": "---", "toml": "+++"}
#: A fence line as the reader accepts it (the same patterns), so a stored one is safe to write.
_FENCE_LINE = {"yaml": YAML_FENCE, "toml": TOML_FENCE}
_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16")
#: What a database without file_format (or a hand-made row) is written as.
DEFAULT_FORMAT = "utf-8;lf;yaml"

#: Enough to reconstruct a post; the joined names feed the fallback frontmatter.
_QUERY = """
SELECT posts.*,
       images.url AS lead_image_url,
       (SELECT json_group_array(tag) FROM post_tags
         WHERE post_tags.post_id = posts.id AND post_tags.field = 'tags') AS tag_names,
       (SELECT json_group_array(tag) FROM post_tags
         WHERE post_tags.post_id = posts.id AND post_tags.field = 'categories') AS category_names,
       (SELECT json_group_array(json_array(field, author)) FROM
         (SELECT field, author FROM post_authors WHERE post_authors.post_id = posts.id ORDER BY position)) AS bylines
FROM posts
LEFT JOIN images ON images.id = posts.lead_image_id
ORDER BY posts.path
"""


class ExportRefused(ValueError):
    """A row that cannot be written back safely: nothing is exported."""


@dataclass(frozen=True)
class FileFormat:
    """How a post file was stored, parsed from posts.file_format:
    "encoding;newline;fence", then the opening and closing fence lines when they
    were not plain `---`/`+++` ("utf-8;lf;yaml;----;---  ")."""

    encoding: str
    newline: str
    fence: str
    open_fence: str = ""
    close_fence: str = ""

    def __post_init__(self):
        for side in ("open_fence", "close_fence"):
            if not getattr(self, side):
                object.__setattr__(self, side, self.fence)

    @classmethod
    def parse(cls, text: str | None) -> "FileFormat":
        """Refuse a format this version does not know rather than write wrong bytes."""
        parts = (text or DEFAULT_FORMAT).split(";")
        if (
            len(parts) not in (3, 5) or parts[0] not in _ENCODINGS or parts[1] not in _NEWLINES
            or parts[2] not in _FENCES
            or not all(_FENCE_LINE[parts[2]].fullmatch(line) and "\n" not in line and "\r" not in line for line in parts[3:])
        ):
            raise ExportRefused(f"unknown file_format {text!r} (expected e.g. {DEFAULT_FORMAT!r})")
        return cls(parts[0], _NEWLINES[parts[1]], _FENCES[parts[2]], *parts[3:])


def post_to_bytes(row) -> bytes:
    """The file a post row came from: fence, raw frontmatter, fence, body, encoded.

    `row` is a mapping with the posts columns (body, frontmatter, file_format, and
    sha256 when known).  When several layouts are possible, the one whose hash is the
    stored sha256 wins; without a match the first (most common) layout is used.
    """
    fmt = FileFormat.parse(row.get("file_format"))
    frontmatter = row.get("frontmatter")
    if frontmatter is None:
        fmt = FileFormat(fmt.encoding, fmt.newline, "---")
        frontmatter = synthesize_frontmatter(row).replace("\n", fmt.newline)
    body = row.get("body") or ""
    candidates = [
        encode(f"{fmt.open_fence}{fmt.newline}{frontmatter}{fmt.close_fence}{closing}{body}", fmt.encoding, order)
        for closing in _closing_newlines(fmt.newline, body)
        for order in _byte_orders(fmt.encoding)
    ]
    wanted = row.get("sha256")
    if wanted:
        for data in candidates:
            if hashlib.sha256(data).hexdigest() == wanted:
                return data
    return candidates[0]


def _closing_newlines(newline: str, body: str) -> list[str]:
    """Line endings the closing fence may have had, the file's own first.

    A file can end right at its closing fence (no body, no final newline), and a
    file with mixed endings may end its fence line differently from its first line.
    """
    others = [n for n in ("\n", "\r\n", "\r") if n != newline]
    return [newline, *others, ""] if body == "" else [newline, *others]


def _byte_orders(encoding: str) -> list[str | None]:
    """UTF-16 files may be little- or big-endian; file_format says only "utf-16"."""
    return ["le", "be"] if encoding == "utf-16" else [None]


def encode(text: str, encoding: str, byte_order: str | None = None) -> bytes:
    """Text -> file bytes, with the byte order mark the reader saw (if any).

    UTF-16 is written with an explicit BOM and byte order rather than Python's
    "utf-16" codec, whose byte order is the machine's.
    """
    if encoding == "utf-16":
        if byte_order == "be":
            return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(encoding)


# --------------------------------------------------------------------------- fallback


class _Dumper(yaml.SafeDumper):
    """Quotes every string that either YAML 1.1 (PyYAML) or our 1.2 loader would read
    as something else, so a value written as text is read back as text."""


_Dumper.yaml_implicit_resolvers = {
    first: list(yaml.SafeDumper.yaml_implicit_resolvers.get(first, []))
    + list(ArchiveLoader.yaml_implicit_resolvers.get(first, []))
    for first in set(yaml.SafeDumper.yaml_implicit_resolvers) | set(ArchiveLoader.yaml_implicit_resolvers)
}


def synthesize_frontmatter(row) -> str:
    """YAML frontmatter (LF, ending in a newline) rebuilt from a post's columns.

    Only for rows whose raw frontmatter is missing.  Values that came from somewhere
    other than the frontmatter (a title taken from the body, a date from the file
    name) are left out, so that rebuilding the export gives the same database rows.
    """
    meta = {}
    stem, _ = posixpath.splitext(row.get("path") or "")
    if row.get("id") and row["id"] != stem:
        meta["code"] = row["id"]
    if row.get("title_source") == "frontmatter":
        meta["title"] = row.get("title")
    if row.get("date_source") == "frontmatter":
        meta["date"] = row.get("published_at")
    for key, column in (
        ("description", "description"), ("category", "category"), ("language", "language"),
        ("origin_url", "origin_url"), ("image", "lead_image_url"),
    ):
        if row.get(column) is not None:
            meta[key] = row[column]
    for key, column in (("tags", "tag_names"), ("categories", "category_names")):
        names = json.loads(row.get(column) or "[]")
        if names:
            meta[key] = names
    for key, name in json.loads(row.get("bylines") or "[]"):
        meta.setdefault(key, []).append(name)
    meta.update(json.loads(row.get("extra") or "{}"))
    if not meta:
        return ""
    return yaml.dump(meta, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000)


# --------------------------------------------------------------------------- to disk


def safe_target(outdir: Path, path: str) -> Path:
    """Where a post goes; a path that would land outside outdir is refused.

    posts.path is relative with POSIX separators when the build writes it, but a
    database is a file anyone can edit, and export must not write over /etc.
    """
    rel = PurePosixPath(path)
    if not path or rel.is_absolute() or ".." in rel.parts or "\\" in path:
        raise ExportRefused(f"refusing to export to {path!r}: not a relative path inside the output folder")
    return outdir.joinpath(*rel.parts)


def rows(conn: sqlite3.Connection):
    """Every post with what post_to_bytes needs, in path order, one at a time.

    Streamed rather than fetched: bodies of 10^5 posts do not need to sit in memory.
    """
    cursor = conn.execute(_QUERY)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        yield dict(zip(names, values))


def export(db_path, outdir) -> int:
    """Write every post of db_path below outdir at its original relative path.

    Every path is checked before the first file is written, so a database with one
    bad path writes nothing.  Files already in outdir that no post names are left
    alone.  Returns the number of posts written.
    """
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"{db_path}: no such database")
    outdir = Path(outdir)
    conn = open_read_only(db_path)
    try:
        for (path,) in conn.execute("SELECT path FROM posts"):
            safe_target(outdir, path)
        count = 0
        for post in rows(conn):
            target = safe_target(outdir, post["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            _write(target, post_to_bytes(post))
            count += 1
        identity = read_identity(conn)
    finally:
        conn.close()
    if identity:
        # The archive's name goes with its posts: a build of the export is named the same.
        outdir.mkdir(parents=True, exist_ok=True)
        _write(outdir / "archive.yml", yaml.safe_dump(identity, sort_keys=False, allow_unicode=True).encode("utf-8"))
    return count


def _write(target: Path, data: bytes) -> None:
    """Write through a temporary name, so an interrupted export leaves no half post."""
    tmp = target.with_name(f".{target.name}.export-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
