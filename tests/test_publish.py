"""The deploy: the command line, the staged files, and that the image's own install of
the project (not this checkout's) is what the plugins import."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from email.parser import Parser

from datasette.utils import make_dockerfile

from newsarchive.publish import SOURCE_FOLDER, publish_command


def installs(command: list[str]) -> list[str]:
    return [command[i + 1] for i, part in enumerate(command) if part == "--install"]


def test_publish_command_carries_production_settings(sample_db, tmp_path):
    command = publish_command("cloudrun", sample_db, "news-archive", tmp_path)
    assert command[:3] == ["datasette", "publish", "cloudrun"]
    joined = " ".join(command)
    assert "--service news-archive" in joined
    assert "--template-dir" in joined and "--static photos:" in joined
    # The image installs the project from the plugins folder (the image's /app/plugins).
    assert command[command.index("--plugins-dir") + 1] == str(tmp_path / "plugins")
    assert installs(command) == [f"./plugins/{SOURCE_FOLDER}"]
    extra = command[command.index("--extra-options") + 1]
    assert "--setting sql_time_limit_ms" in extra and "--setting suggest_facets false" in extra
    metadata = json.loads((tmp_path / "metadata.json").read_text())
    assert sample_db.stem in metadata["databases"] and "settings" not in metadata
    assert (tmp_path / "plugins" / SOURCE_FOLDER / "newsarchive" / "site" / "__init__.py").exists()
    assert sorted(p.name for p in (tmp_path / "plugins").glob("news_*.py"))


def test_dockerfile_serves_immutable_with_our_settings(sample_db, tmp_path):
    command = publish_command("package", sample_db, "news-archive", tmp_path)
    extra = command[command.index("--extra-options") + 1]
    dockerfile = make_dockerfile(
        [sample_db.name], "metadata.json", extra, None, "templates", "plugins", [("photos", "x")],
        installs(command), False, None, "secret",
    )
    cmd = dockerfile.split("CMD ", 1)[1]
    assert f"-i {sample_db.name}" in cmd and "--inspect-file inspect-data.json" in cmd
    assert "--setting max_returned_rows 1000" in cmd and "--plugins-dir plugins/" in cmd
    lines = dockerfile.splitlines()
    run_line = next(line for line in lines if line.startswith("RUN pip install"))
    assert "<" not in run_line and ">" not in run_line, "the RUN line must be shell-safe"
    assert run_line.endswith(f" ./plugins/{SOURCE_FOLDER}")
    assert lines.index("COPY . /app") < lines.index(run_line), "the source is in the image before pip runs"


def test_the_image_installs_the_package_the_plugins_import(sample_db, tmp_path):
    """What the image does, here: pip installs the staged source (from the folder that
    becomes /app), then Datasette loads the staged plugins, which must import that
    installed copy; this checkout's package is hidden."""
    workdir, site = tmp_path / "app", tmp_path / "site-packages"
    command = publish_command("package", sample_db, "news-archive", workdir)
    # Dependencies are already in this environment; the build backend too (no download).
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), *installs(command)],
        cwd=workdir, capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "bin" / "news-archive").exists()
    [dist_info] = site.glob("news_archive-*.dist-info")
    requires = Parser().parsestr((dist_info / "METADATA").read_text()).get_all("Requires-Dist")
    for requirement in ("datasette<0.66,>=0.65.1", "datasette-render-markdown", "markdown-it-py", "python-frontmatter",
                        "pysqlite3-binary<0.6,>=0.5.4", "click"):
        assert any(r.replace(" ", "").startswith(requirement) for r in requires), (requirement, requires)
    plugins = workdir / "plugins"
    script = textwrap.dedent(
        f"""
        import asyncio, importlib.machinery, json, sys

        SITE = {str(site)!r}

        class OnlyInstalled:
            # Hide this checkout's newsarchive: it may load only from the image's install.
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] != "newsarchive":
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path or [SITE])
                if spec is None or not spec.origin.startswith(SITE):
                    raise ModuleNotFoundError(name)
                return spec

        sys.meta_path.insert(0, OnlyInstalled())
        from datasette.app import Datasette

        ds = Datasette(immutables=[{str(sample_db)!r}], metadata=json.load(open({str(workdir / "metadata.json")!r})),
                       plugins_dir={str(plugins)!r})
        response = asyncio.run(ds.client.get("/{sample_db.stem}/search.json?_shape=array&q=harbour"))
        assert response.status_code == 200, response.text
        print(len(response.json()), sys.modules["newsarchive"].__file__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    count, origin = result.stdout.split()
    assert int(count) > 0 and origin.startswith(str(site))
