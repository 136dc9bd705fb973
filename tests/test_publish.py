"""The deploy: the command line, the staged plugins, and that they work without our
package installed (as in the image that `datasette publish` builds)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from datasette.utils import make_dockerfile

from newsarchive.publish import publish_command, runtime_requirements


def test_publish_command_carries_production_settings(sample_db, tmp_path):
    command = publish_command("cloudrun", sample_db, "news-archive", tmp_path)
    assert command[:3] == ["datasette", "publish", "cloudrun"]
    joined = " ".join(command)
    assert "--service news-archive" in joined
    assert "--template-dir" in joined and "--static photos:" in joined
    for requirement in ("datasette~=0.65.1", "datasette-render-markdown", "markdown-it-py", "python-frontmatter",
                        "pysqlite3-binary~=0.5.4"):
        assert requirement in command
    extra = command[command.index("--extra-options") + 1]
    assert "--setting sql_time_limit_ms" in extra and "--setting suggest_facets false" in extra
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert sample_db.stem in metadata["databases"] and "settings" not in metadata
    assert (tmp_path / "plugins" / "newsarchive" / "site" / "web.py").exists()
    assert sorted(p.name for p in (tmp_path / "plugins").glob("news_*.py"))


def test_dockerfile_serves_immutable_with_our_settings(sample_db, tmp_path):
    command = publish_command("package", sample_db, "news-archive", tmp_path)
    extra = command[command.index("--extra-options") + 1]
    dockerfile = make_dockerfile(
        [sample_db.name], "metadata.json", extra, None, "templates", "plugins", [("photos", "x")],
        runtime_requirements(), False, None, "secret",
    )
    cmd = dockerfile.split("CMD ", 1)[1]
    assert f"-i {sample_db.name}" in cmd and "--inspect-file inspect-data.json" in cmd
    assert "--setting max_returned_rows 1000" in cmd and "--plugins-dir plugins/" in cmd
    run_line = next(line for line in dockerfile.splitlines() if line.startswith("RUN pip install"))
    assert "<" not in run_line and ">" not in run_line, "the RUN line must be shell-safe"


def test_staged_plugins_work_without_the_package_installed(sample_db, tmp_path):
    publish_command("package", sample_db, "news-archive", tmp_path)
    staged = tmp_path / "plugins"
    script = textwrap.dedent(
        f"""
        import asyncio, importlib.machinery, sys

        STAGED = {str(staged)!r}

        class OnlyStaged:
            # Hide the installed newsarchive: it may load only from the staged copy.
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] != "newsarchive":
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path or [STAGED])
                if spec is None or not spec.origin.startswith(STAGED):
                    raise ModuleNotFoundError(name)
                return spec

        sys.meta_path.insert(0, OnlyStaged())
        from datasette.app import Datasette

        ds = Datasette(immutables=[{str(sample_db)!r}], metadata=__import__("json").load(open({str(tmp_path / "metadata.json")!r})),
                       plugins_dir=STAGED)
        response = asyncio.run(ds.client.get("/{sample_db.stem}/search.json?_shape=array&q=harbour"))
        assert response.status_code == 200, response.text
        print(len(response.json()), sys.modules["newsarchive"].__file__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    count, origin = result.stdout.split()
    assert int(count) > 0 and origin.startswith(str(staged))
