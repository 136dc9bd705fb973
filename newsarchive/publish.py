"""Publish the archive to a public Datasette instance with one command.

The instance runs exactly what `news-archive serve` runs locally: immutable database
with an inspect file, our metadata, plugins, templates, static photos and settings.

Our plugins import the `newsarchive` package, which is not on PyPI. `datasette
publish` copies the plugins folder into the image (COPY . /app) before its `pip
install` line, so the project's source travels inside that folder and the image
pip-installs it from there, with the dependencies pyproject.toml declares.
"""
from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from . import config
from .serve import PLUGINS, TEMPLATES, static_mounts

ROOT = config.ROOT
TARGETS = ("cloudrun", "fly", "package")
#: What building the project from source needs: pyproject.toml names the readme and the packages.
SOURCE = ("pyproject.toml", "README.md", "newsarchive")
#: The staged source, inside the plugins folder (Datasette loads only its *.py files).
SOURCE_FOLDER = "news-archive"
#: The program each target hands the image to, and what installs it.
TOOLS = {
    "cloudrun": ("gcloud", "the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"),
    "fly": ("flyctl", "flyctl: https://fly.io/docs/flyctl/install/"),
    "package": ("docker", "Docker: https://docs.docker.com/get-docker/"),
}


class ToolMissing(Exception):
    """A program the chosen target needs is not installed."""


def stage_plugins(workdir: Path) -> Path:
    """plugins/*.py plus the project's source, for datasette publish to copy."""
    target = workdir / "plugins"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for plugin in sorted(PLUGINS.glob("*.py")):
        shutil.copy2(plugin, target / plugin.name)
    source = target / SOURCE_FOLDER
    source.mkdir()
    for name in SOURCE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    return target


def publish_command(target: str, db_path: Path, name: str, workdir: Path) -> list[str]:
    """The `datasette publish ...` / `datasette package ...` command line (files staged in workdir)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    db_path = Path(db_path)
    meta = config.load(config.METADATA, db_path.stem)
    metadata = config.write_v065(workdir, meta)
    plugins = stage_plugins(workdir)
    command = ["datasette", "package"] if target == "package" else ["datasette", "publish", target]
    command += [str(db_path), "-m", str(metadata), "--plugins-dir", str(plugins), "--template-dir", str(TEMPLATES)]
    for mount in static_mounts(meta):
        command += ["--static", mount]
    # Relative to the image's WORKDIR (/app), where the plugins folder lands as plugins/.
    command += ["--install", f"./plugins/{SOURCE_FOLDER}"]
    command += ["--extra-options", " ".join(config.setting_flags(meta))]
    command += {"cloudrun": ["--service", name], "fly": ["--app", name], "package": ["--tag", name]}[target]
    return command


def missing_tool(target: str) -> str | None:
    """Why `target` cannot run on this machine, or None when it can."""
    if target == "fly" and importlib.util.find_spec("datasette_publish_fly") is None:
        return "publishing to Fly needs the datasette-publish-fly plugin: pip install datasette-publish-fly"
    program, where = TOOLS[target]
    if shutil.which(program) is None:
        return f"{program} is not on PATH; install {where}"
    return None


def publish(target: str, db_path: Path, name: str, dry_run: bool = False) -> int:
    """Stage the files beside the database and run (or, dry, print) the command.

    Returns the exit status of `datasette publish`/`package`.
    """
    db_path = Path(db_path)
    problem = None if dry_run else missing_tool(target)
    if problem:
        raise ToolMissing(problem)
    workdir = db_path.resolve().parent / f".{db_path.stem}-publish"
    command = publish_command(target, db_path, name, workdir)
    if dry_run:
        print(shlex.join(command))
        return 0
    # This Python's datasette, whether or not its virtualenv is on PATH.
    return subprocess.run([sys.executable, "-m", *command]).returncode
