"""An archive's identity as the database holds it (the `archive` table, written by the
build from archive.yml): its title, description, licence and source for the site, the
data package and publish; its home site (`base_url`), against which site-relative
photo and link URLs are read; and a local mirror of that site's files.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ..db.files import open_read_only

#: archive.yml's keys, in the order docs list them.
KEYS = (
    "title", "description", "license", "license_url", "source", "source_url", "base_url", "timezone",
    "image_mirror",
)
#: The keys Datasette shows as the instance's metadata (home page, footer).
METADATA_KEYS = ("title", "description", "license", "license_url", "source", "source_url")
#: Where the site serves the files of an archive's image_mirror folder.
MIRROR_MOUNT = "/-/archive-mirror/"
#: The static mount a published site carries the image_mirror folder in (publish.py):
#: there the folder the build recorded, on the machine that built it, is not.
PUBLISHED_MIRROR = "archive-mirror"
#: The image_mirror key that stands for every site-relative URL (cells.mirror_url).
SITE_RELATIVE = "/"


def neutral_title(folder_name: str) -> str:
    """The title of an archive that names none: its folder's, claiming nothing else."""
    return f"{folder_name} news archive"


def from_rows(rows) -> dict[str, str]:
    """key -> value from the archive table's (key, value) rows."""
    return {key: value for key, value in rows if key in KEYS}


def read_identity(conn: sqlite3.Connection) -> dict[str, str]:
    """The identity a database holds (empty for a database without an archive table)."""
    try:
        return from_rows(conn.execute("SELECT key, value FROM archive"))
    except sqlite3.DatabaseError:
        return {}


def identity_of(db_path) -> dict[str, str]:
    """The identity stored in a database file, read-only."""
    conn = open_read_only(db_path)
    try:
        return read_identity(conn)
    finally:
        conn.close()


def shown_metadata(identity: dict[str, str]) -> dict[str, str]:
    """What Datasette shows as the instance's title, description, licence and source."""
    return {key: identity[key] for key in METADATA_KEYS if identity.get(key)}


def photo_mirror(identity: dict[str, str], configured: dict | None) -> dict:
    """The image_mirror (URL prefix -> where to load it from) with the archive's own:
    site-relative URLs read against base_url, and base_url's files from the mirror
    folder when there is one. The prefixes configured in metadata.yml come after."""
    mirror = {}
    base = identity.get("base_url")
    if base:
        mirror[SITE_RELATIVE] = base + "/"
        if identity.get("image_mirror"):
            mirror[base + "/"] = MIRROR_MOUNT
    for prefix, replacement in (configured or {}).items():
        mirror.setdefault(prefix, replacement)
    return mirror


def mirrored_file(identity: dict[str, str], path: str) -> Path | None:
    """The file of the mirror folder at a site path, or None (outside the folder, or none)."""
    folder = identity.get("image_mirror")
    if not folder:
        return None
    root = Path(folder).resolve()
    target = (root / path.lstrip("/")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target
