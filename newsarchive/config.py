"""One source of truth (metadata.yml), the files each Datasette version needs.

metadata.yml is written in the Datasette 0.65 layout plus a `settings` block. Datasette
1.0 reads settings, plugins, table options and canned queries from datasette.yaml
instead (and silently ignores canned queries left in metadata), so `split_v1` moves
exactly those keys; everything descriptive stays in metadata.
`news-archive config OUTDIR` writes that pair for a Datasette 1.0 set up by hand.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "metadata.yml"
SOURCE_DB_NAME = "news"
#: Table keys that are configuration, not description (datasette.yaml in 1.0).
TABLE_CONFIG_KEYS = (
    "sort", "sort_desc", "facets", "facet_size", "fts_table", "fts_pk", "searchmode",
    "label_column", "hidden", "size", "sortable_columns", "units", "plugins",
)


class MetadataError(ValueError):
    """metadata.yml does not parse."""


def load(path: str | Path = METADATA, db_name: str = SOURCE_DB_NAME) -> dict:
    """Read metadata.yml, keyed to the database name Datasette will use (the file stem).

    An empty file is no metadata. A file that does not parse is an error naming its
    line: serving or packaging without the licence and sources would be worse than
    stopping.
    """
    try:
        meta = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise MetadataError(f"{where}: metadata is not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(meta, dict):
        return {}
    databases = meta.get("databases")
    if isinstance(databases, dict) and db_name != SOURCE_DB_NAME and SOURCE_DB_NAME in databases:
        databases[db_name] = databases.pop(SOURCE_DB_NAME)
    return meta


def settings(meta: dict) -> dict:
    return dict(meta.get("settings") or {})


def setting_flags(meta: dict) -> list[str]:
    """`--setting NAME VALUE` for each setting, as `datasette serve` takes them
    (booleans spelled as JSON: true/false)."""
    flags = []
    for name, value in settings(meta).items():
        flags += ["--setting", name, json.dumps(value) if isinstance(value, bool) else str(value)]
    return flags


def v065(meta: dict) -> dict:
    """metadata for Datasette 0.65: everything but `settings` (passed as --setting)."""
    out = copy.deepcopy(meta)
    out.pop("settings", None)
    return out


def split_v1(meta: dict) -> tuple[dict, dict]:
    """(metadata.yaml, datasette.yaml) for Datasette 1.0."""
    metadata = copy.deepcopy(meta)
    config: dict = {}
    if "settings" in metadata:
        config["settings"] = metadata.pop("settings")
    if "plugins" in metadata:
        config["plugins"] = metadata.pop("plugins")
    for db_name, db in (metadata.get("databases") or {}).items():
        db_config: dict = {}
        for key in ("queries", "plugins", "allow"):
            if key in db:
                db_config[key] = db.pop(key)
        # Datasette 1.0 (checked on 1.0a41) does not fall back from a database-level
        # lookup to the top-level plugin config: plugin_config(name, database=db),
        # table=None, returns None when the database has a config entry but no config
        # for that plugin (the fallback's `return` is missing). So on a query page a
        # plugin got nothing; for datasette-render-markdown that meant its default
        # `*_markdown` pattern, i.e. arbitrary SQL rendering Markdown. Copying each
        # top-level plugin config to the database level (where the database has none of
        # its own) gives what 0.65's fallback gives, for every lookup: table lookups fall
        # back to the database level and then the top level, so they see the same.
        for plugin, plugin_config in (config.get("plugins") or {}).items():
            db_config.setdefault("plugins", {}).setdefault(plugin, copy.deepcopy(plugin_config))
        for table_name, table in (db.get("tables") or {}).items():
            moved = {k: table.pop(k) for k in TABLE_CONFIG_KEYS if k in table}
            if moved:
                db_config.setdefault("tables", {})[table_name] = moved
        if db_config:
            config.setdefault("databases", {})[db_name] = db_config
    return metadata, config


def write_v065(outdir: Path, meta: dict) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / "metadata.json"
    path.write_text(json.dumps(v065(meta), indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_v1(outdir: Path, meta: dict) -> tuple[Path, Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    metadata, config = split_v1(meta)
    m, c = outdir / "metadata.yaml", outdir / "datasette.yaml"
    m.write_text(yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True), encoding="utf-8")
    c.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return m, c

