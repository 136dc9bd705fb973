"""The news-archive command line: every command explains itself with an example, the
commands work end to end, and a user's mistake is one line and an exit code."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsarchive.cli import EXIT_CODES, FAILED, OK, REFUSED, UNUSABLE, cli

from .conftest import ROOT, SAMPLE, write_posts


def run(*args):
    """The command in this process, with stdout and stderr apart."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def posts(tmp_path) -> Path:
    """A copy of the sample posts in a folder named like a command."""
    folder = tmp_path / "export"
    shutil.copytree(SAMPLE, folder)
    return folder


# --------------------------------------------------------------------------- help


def test_the_group_help_shows_examples_and_every_exit_code():
    result = run("--help")
    assert result.exit_code == 0
    assert "news-archive build sample/posts --db news.db" in result.output
    for code in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+\S", result.output, re.M), code


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_help_shows_an_example(name):
    result = run(name, "--help")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s+Examples?:$", result.output, re.M), f"{name} --help has no example"
    assert f"news-archive {name}" in result.output.split("Example", 1)[1]


def test_docs_cli_md_documents_every_command_and_exit_code():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"## `news-archive {name}`" in text, name
        for param in command.params:
            for option in param.opts if param.param_type_name == "option" else ():
                assert f"`{option}" in text, f"docs/cli.md does not show {name} {option}"
    for code in EXIT_CODES:
        assert re.search(rf"^\| {code} \|", text, re.M), code


def test_the_entry_points_are_the_same_command(posts, tmp_path):
    script = Path(sys.executable).with_name("news-archive")
    assert "Examples:" in subprocess.run([script, "--help"], capture_output=True, text=True, check=True).stdout
    module = subprocess.run([sys.executable, "-m", "newsarchive", "check", posts], capture_output=True, text=True)
    assert module.returncode == OK and f"{len(list(posts.rglob('*.md')))} good" in module.stdout
    # build_db.py is the build command: the same options, and a folder named `export` is a folder.
    built = subprocess.run([sys.executable, ROOT / "build_db.py", "export", "--db", "n.db", "-q", "--timings"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == OK, built.stderr
    assert f"added {len(list(posts.rglob('*.md')))}" in built.stdout and "timings: " in built.stdout
    assert (tmp_path / "n.db").is_file()


# --------------------------------------------------------------------------- end to end


def test_build_check_export_package_config(posts, tmp_path):
    db = tmp_path / "news.db"
    n = len(list(posts.rglob("*.md")))
    built = run("build", posts, "--db", db, "-q")
    assert built.exit_code == OK, built.output
    assert f"seen {n}, added {n}" in built.stdout
    again = run("build", posts, "--db", db, "--checks", "quick", "-j", 1)
    assert again.exit_code == OK and f"unchanged {n}" in again.stdout
    checked = run("check", posts, "-q")
    assert checked.exit_code == OK and f"checked {n} files: {n} good, 0 failed" in checked.stdout
    exported = run("export", db, tmp_path / "again")
    assert exported.exit_code == OK and f"exported {n} posts" in exported.stdout
    assert sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*.md")) == sorted(
        p.relative_to(posts) for p in posts.rglob("*.md"))
    packaged = run("package", db, tmp_path / "pkg")
    assert packaged.exit_code == OK, packaged.output
    assert json.loads((tmp_path / "pkg" / "datapackage.json").read_text())["resources"]
    split = run("config", tmp_path / "v1", "--db", "news")
    assert split.exit_code == OK
    assert {p.name for p in (tmp_path / "v1").iterdir()} == {"metadata.yaml", "datasette.yaml"}


def test_serve_print_and_publish_dry_run(sample_db):
    served = run("serve", sample_db, "--port", 8123, "--print")
    assert served.exit_code == OK, served.output
    assert "datasette serve -i" in served.stdout and "-p 8123" in served.stdout
    published = run("publish", "package", sample_db, "--name", "my-archive", "--dry-run")
    assert published.exit_code == OK, published.output
    assert published.stdout.startswith("datasette package ") and "--tag my-archive" in published.stdout


def test_strict_check_and_refused_exit_codes(tmp_path, specimen_bytes):
    posts = write_posts(tmp_path / "posts", {"good.md": specimen_bytes, "bad.md": "---\ntitle: [x\n---\n"})
    db = tmp_path / "news.db"
    assert run("build", posts, "--db", db).exit_code == OK
    assert run("build", posts, "--db", db, "--strict").exit_code == FAILED
    checked = run("check", posts)
    assert checked.exit_code == FAILED and "1 good, 1 failed" in checked.stdout
    many = write_posts(tmp_path / "many", {f"p{i}.md": f"---\ntitle: Post {i}\n---\n\nBody.\n" for i in range(10)})
    assert run("build", many, "--db", db, "--full", "-q").exit_code == OK
    for i in range(5):
        (many / f"p{i}.md").unlink()
    before = db.read_bytes()
    assert "5 fewer than the 10" in one_error_line(run("build", many, "--db", db, "-q"), REFUSED)
    assert db.read_bytes() == before
    assert run("build", many, "--db", db, "-q", "--allow-shrink").exit_code == OK


def test_docs_passes_on_the_schema_pages_verdict(monkeypatch):
    import newsarchive.docs

    monkeypatch.setattr(newsarchive.docs, "run", lambda check=False: 1 if check else 0)
    assert run("docs").exit_code == OK
    assert run("docs", "--check").exit_code == FAILED


# --------------------------------------------------------------------------- mistakes


def test_mistakes_are_one_line_and_a_nonzero_exit(posts, sample_db, tmp_path, monkeypatch):
    missing, not_db = tmp_path / "missing.db", tmp_path / "notes.db"
    not_db.write_text("not a database")
    assert "not a folder" in one_error_line(run("build", tmp_path / "nowhere", "--db", tmp_path / "n.db"), UNUSABLE)
    assert "is a folder" in one_error_line(run("build", posts, "--db", tmp_path), UNUSABLE)
    one_error_line(run("check", tmp_path / "nowhere"), UNUSABLE)
    for command in (["export", missing, tmp_path / "out"], ["package", missing, tmp_path / "out"],
                    ["serve", missing], ["publish", "cloudrun", missing]):
        assert "no such database" in one_error_line(run(*command), UNUSABLE), command
    for command in (["export", not_db, tmp_path / "out"], ["serve", not_db]):
        assert "not a SQLite database" in one_error_line(run(*command), UNUSABLE), command
    (tmp_path / "news#1").mkdir()
    marked = shutil.copy(sample_db, tmp_path / "news#1" / "news.db")
    assert "cannot serve" in one_error_line(run("serve", marked, "--print"), UNUSABLE)
    one_error_line(run("config", tmp_path / "v1", "--metadata", tmp_path / "none.yml"), UNUSABLE)
    broken = tmp_path / "metadata.yml"
    broken.write_text("title: ok\ncolumns:\n  id: a: b\n")
    assert "metadata.yml:3" in one_error_line(run("package", sample_db, tmp_path / "pkg", "--metadata", broken), FAILED)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "not on PATH" in one_error_line(run("publish", "package", sample_db), UNUSABLE)


def test_bad_options_are_usage_errors(posts, tmp_path):
    assert run("build", posts, "--jobs", 0).exit_code == UNUSABLE
    assert run("build", posts, "--checks", "sometimes").exit_code == UNUSABLE
    assert run("publish", "heroku", tmp_path / "x.db").exit_code == UNUSABLE
    assert run("export", tmp_path / "x.db").exit_code == UNUSABLE, "OUTDIR is required"
    assert run("no-such-command").exit_code == UNUSABLE
