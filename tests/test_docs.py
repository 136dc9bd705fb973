"""The README documents the schema (our public API) exactly as metadata.yml and the
database have it."""
from __future__ import annotations

import re
import sqlite3

from newsarchive import config
from newsarchive.docs import README, render

from .conftest import ROOT


def test_readme_schema_section_is_generated_from_metadata():
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m newsarchive.docs"


def test_readme_documents_every_column_of_the_built_database(sample_db):
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)`", text, re.MULTILINE))
    meta = config.load()["databases"]["news"]["tables"]
    conn = sqlite3.connect(sample_db)
    objects = [
        r[0] for r in conn.execute(
            "select name from sqlite_master where type in ('table','view')"
            " and name not like '%\\_fts%' escape '\\' and name != 'sqlite_stat1'")
    ]
    for name in objects:
        if meta.get(name, {}).get("hidden"):
            continue
        assert name in documented, f"README does not document {name}"
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for (column,) in conn.execute(f"select name from pragma_table_info('{name}')"):
            description = meta[name]["columns"][column]
            assert f"| `{column}` |" in section and description.replace("|", "/") in section


def test_readme_two_commands_exist():
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
