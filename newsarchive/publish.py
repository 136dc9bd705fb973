"""Publish the archive to a public Datasette instance with one command.

    python -m newsarchive.publish cloudrun news.db --name news-archive
    python -m newsarchive.publish fly news.db --name news-archive      (needs datasette-publish-fly)
    python -m newsarchive.publish package news.db --name news-archive  (a Docker image, needs docker)
    ... --dry-run prints the command instead of running it

The instance runs exactly what `python -m newsarchive.serve` runs locally: immutable
database with an inspect file, our metadata, plugins, templates, static photos and
settings. Our plugins import the `newsarchive` package, which is not on PyPI, so it
travels inside the plugins folder that `datasette publish` copies into the image
(each plugin adds its own folder to sys.path when the package is not installed).
"""
from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from . import config
from .serve import PLUGINS, TEMPLATES, static_mounts

ROOT = config.ROOT
PACKAGE = Path(__file__).resolve().parent
TARGETS = ("cloudrun", "fly", "package")


PINNED = {"datasette": "datasette~=0.65.1", "pysqlite3-binary": "pysqlite3-binary~=0.5.4"}


def runtime_requirements() -> list[str]:
    """What the image must pip-install: pyproject's dependencies, shell-safe.

    Datasette itself is pinned to the 0.65 series (what the tests run) and pysqlite3
    to the 0.5 series (see newsarchive.site.security.set_limit); the rest are installed by
    name, since a `<` in a requirement would break the Dockerfile's RUN line. (The
    images datasette publish builds are Linux x86-64, where pysqlite3 has wheels.)
    """
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    out = []
    for dep in deps:
        name = re.split(r"[<>=!~ \[;]", dep, 1)[0]
        out.append(PINNED.get(name.lower(), name))
    return out


def stage_plugins(workdir: Path) -> Path:
    """plugins/*.py plus a copy of the newsarchive package, for datasette publish to copy."""
    target = workdir / "plugins"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for plugin in sorted(PLUGINS.glob("*.py")):
        shutil.copy2(plugin, target / plugin.name)
    shutil.copytree(PACKAGE, target / "newsarchive", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def serve_options(meta: dict) -> str:
    """The --setting flags that `datasette serve` gets in the image."""
    return " ".join(
        f"--setting {name} {str(value).lower() if isinstance(value, bool) else value}"
        for name, value in config.settings(meta).items()
    )


def publish_command(target: str, db_path: Path, name: str, workdir: Path) -> list[str]:
    """The `datasette publish ...` / `datasette package ...` command line."""
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
    for requirement in runtime_requirements():
        command += ["--install", requirement]
    command += ["--extra-options", serve_options(meta)]
    command += {"cloudrun": ["--service", name], "fly": ["--app", name], "package": ["--tag", name]}[target]
    return command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m newsarchive.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("db", type=Path)
    parser.add_argument("--name", default="news-archive", help="service (cloudrun), app (fly) or image tag (package)")
    parser.add_argument("--dry-run", action="store_true", help="stage the files and print the command, run nothing")
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"{args.db}: no such database; build it first", file=sys.stderr)
        return 2
    workdir = args.db.resolve().parent / f".{args.db.stem}-publish"
    command = publish_command(args.target, args.db, args.name, workdir)
    if args.dry_run:
        print(shlex.join(command))
        return 0
    return subprocess.run(command).returncode


if __name__ == "__main__":
    raise SystemExit(main())
