"""The load test of docs/security.md, run small: the production server under readers, a
probe and SQL attackers on 127.0.0.1, every check of its report passing; and the same
run failing when a bound is one the server cannot meet."""
from __future__ import annotations

import subprocess
import sys

import pytest

from newsarchive.build.pipeline import build

from .conftest import ROOT, SAMPLE


@pytest.fixture(scope="module")
def served_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("load") / "news.db"  # metadata.yml configures the database named news
    build(SAMPLE, db, quiet=True)
    return db


def load(db, report, *extra):
    return subprocess.run([sys.executable, str(ROOT / "bench" / "loadtest.py"), str(db), "--seconds", "8",
                           "--clients", "2", "--attackers", "8", "--report", str(report), *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def check_rows(report) -> dict[str, str]:
    """check name -> 'pass' or '**FAIL**', from the report's table of checks."""
    rows = [line.split("|")[1:-1] for line in report.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[3].strip() for cells in rows if len(cells) == 4 and cells[3].strip() in ("pass", "**FAIL**")}


def test_the_load_test_passes_on_the_production_server(served_db, tmp_path):
    result = load(served_db, tmp_path / "report.md")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    checks = check_rows(tmp_path / "report.md")
    assert checks and set(checks.values()) == {"pass"}, checks
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "**all readers and probe**" in text


def test_a_bound_the_server_cannot_meet_fails_the_run(served_db, tmp_path):
    result = load(served_db, tmp_path / "report.md", "--probe-p95", "0.000001")
    assert result.returncode == 1
    assert "**FAIL**" in check_rows(tmp_path / "report.md").values()
