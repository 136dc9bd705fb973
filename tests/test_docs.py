"""docs/schema.md documents the schema (our public API) exactly as metadata.yml and the
database have it; the README lists every table; links between the pages resolve."""
from __future__ import annotations

import re
import sqlite3

import pytest

from newsarchive import config, docs
from newsarchive.docs import SCHEMA_DOC, schema_markdown

from .conftest import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def reader_tables(db_path) -> list[str]:
    """Every table and view of a built database that its Datasette shows."""
    meta = config.load()["databases"]["news"]["tables"]
    conn = sqlite3.connect(db_path)
    names = [
        r[0] for r in conn.execute(
            "select name from sqlite_master where type in ('table','view')"
            " and name not like '%\\_fts%' escape '\\' and name != 'sqlite_stat1'")
    ]
    return [n for n in names if not meta.get(n, {}).get("hidden")]


def test_schema_doc_is_generated_from_metadata():
    assert SCHEMA_DOC.read_text(encoding="utf-8") == schema_markdown(), "run: news-archive docs"
    assert docs.run(check=True) == 0


def test_docs_check_fails_on_an_out_of_date_page(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "schema.md"
    stale.write_text("# The schema\n", encoding="utf-8")
    monkeypatch.setattr(docs, "SCHEMA_DOC", stale)
    assert docs.run(check=True) == 1
    assert stale.read_text(encoding="utf-8") == "# The schema\n"
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert docs.run() == 0 and stale.read_text(encoding="utf-8") == schema_markdown()


def test_schema_doc_documents_every_column_of_the_built_database(sample_db):
    text = SCHEMA_DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)`", text, re.MULTILINE))
    meta = config.load()["databases"]["news"]["tables"]
    conn = sqlite3.connect(sample_db)
    for name in reader_tables(sample_db):
        assert name in documented, f"docs/schema.md does not document {name}"
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for (column,) in conn.execute(f"select name from pragma_table_info('{name}')"):
            description = meta[name]["columns"][column]
            assert f"| `{column}` |" in section and description.replace("|", "/") in section


def test_readme_lists_every_table(sample_db):
    text = README.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| \[`(\w+)`\]\(docs/schema\.md#\1\)", text, re.MULTILINE))
    assert set(reader_tables(sample_db)) <= listed


def test_readme_two_commands_exist():
    text = README.read_text(encoding="utf-8")
    assert "make run" in text and "make test" in text
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.MULTILINE) and re.search(r"^test:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def anchors(text: str) -> set[str]:
    """The fragment ids GitHub gives a page's headings."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", strip_blocks(text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def strip_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    prose = re.sub(r"`[^`\n]*`", "", strip_blocks(page.read_text(encoding="utf-8")))  # code is not links
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} names no file"
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked.read_text(encoding="utf-8")), f"{page.name}: {target} names no heading"
