"""An archive's own identity: `archive.yml` at the top of the posts folder, or the
same keys as options of the build, stored in the database's `archive` table so that
the file alone carries its name, licence and home site wherever it is served,
packaged or published (newsarchive.site.identity reads it back)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ..parse.fields import read_naive_dates_in
from ..site.identity import KEYS, neutral_title

FILE_NAME = "archive.yml"


class ArchiveError(ValueError):
    """archive.yml, or an option standing for one of its keys, cannot be used: the build
    stops before writing anything."""


def read_identity(posts_dir, overrides: dict | None = None) -> dict[str, str]:
    """The archive's identity: archive.yml's keys, then the options given (`overrides`,
    None values ignored) over them, checked; the title defaults to one naming the folder.
    Raises ArchiveError naming the file and the key.

    Its `timezone` is the zone the parser reads dates written without one in, from
    here on in this process and the parser processes it forks (parse.fields): every
    build and check reads the identity before it parses anything."""
    folder = Path(posts_dir)
    path = folder / FILE_NAME
    given = _load(path) if path.is_file() else {}
    given.update({key: value for key, value in (overrides or {}).items() if value is not None})
    where = str(path) if path.is_file() else "build options"
    identity = {}
    for key, value in given.items():
        if key not in KEYS:
            raise ArchiveError(f"{where}: unknown key {key!r} (known: {', '.join(KEYS)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ArchiveError(f"{where}: {key} must be text, not {type(value).__name__}")
        identity[key] = _checked(key, str(value).strip(), where, folder)
    identity.setdefault("title", neutral_title(folder.resolve().name))
    read_naive_dates_in(identity.get("timezone"))
    return {key: identity[key] for key in KEYS if key in identity}


def _load(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ArchiveError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ArchiveError(f"{path}: must be a mapping of keys ({', '.join(KEYS)})")
    return {str(key): value for key, value in data.items()}


def _checked(key: str, value: str, where: str, folder: Path) -> str:
    if key in ("base_url", "license_url", "source_url"):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ArchiveError(f"{where}: {key} must be an http(s) URL, not {value!r}")
        return value.rstrip("/") if key == "base_url" else value
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ArchiveError(f"{where}: timezone {value!r} is not an IANA zone name (e.g. Europe/Paris)") from None
    if key == "image_mirror":
        mirror = (folder / value).resolve()
        if not mirror.is_dir():
            raise ArchiveError(f"{where}: image_mirror {value!r} is not a folder ({mirror})")
        return str(mirror)
    return value


def store_identity(conn: sqlite3.Connection, identity: dict[str, str]) -> None:
    conn.execute("DELETE FROM archive")
    conn.executemany("INSERT INTO archive (key, value) VALUES (?, ?)", identity.items())
