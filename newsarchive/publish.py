"""Publish the archive to a public Datasette instance with one command.

The instance runs exactly what `news-archive serve` runs locally: immutable database
with an inspect file, our metadata, plugins, templates, static photos and settings.
Everything but the database is staged in one folder beside it (`.NAME-publish/`),
laid out as the image's /app: metadata.json, plugins/, templates/ and one folder per
static mount.

Our plugins import the `newsarchive` package, which is not on PyPI. `datasette
publish` copies the plugins folder into the image (COPY . /app) before its `pip
install` line, so the project's source travels inside that folder and the image
pip-installs it from there, with the dependencies pyproject.toml declares.

A publish says what went wrong or exits 0. The programs a target needs (and their
login) are checked before anything is staged. `datasette package` ignores the exit
status of its `docker build`, so the image is checked afterwards: the tag must name
a new image. Each publish has its own version note (shown at /-/versions), so a
successful build always makes a new image, even from an unchanged database.
"""
from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import config
from .site.identity import PUBLISHED_MIRROR, identity_of, shown_metadata
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
#: How long a question to a host's tool (is the daemon up, who is logged in) may take.
PROBE_SECONDS = 60
#: The exit status of a publish whose command succeeded but left no new image.
NO_IMAGE = 1


class ToolMissing(Exception):
    """A program the chosen target needs is not installed, running or logged in."""


class PublishFailed(Exception):
    """The publish command failed, or claimed success without making the image."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where the file system allows one (photos can be many megabytes), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=_link_or_copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def stage_plugins(workdir: Path) -> Path:
    """plugins/*.py plus the project's source, for datasette publish to copy."""
    target = workdir / "plugins"
    target.mkdir(parents=True)
    for plugin in sorted(PLUGINS.glob("*.py")):
        shutil.copy2(plugin, target / plugin.name)
    source = target / SOURCE_FOLDER
    source.mkdir()
    for name in SOURCE:
        path = ROOT / name
        if path.is_dir():
            _copy_tree(path, source / name)
        else:
            shutil.copy2(path, source / name)
    return target


def stage(workdir: Path, meta: dict, mirror: str | None = None) -> list[str]:
    """Lay out workdir as the image's /app (less the database); return the `--static` mounts.

    `mirror`, the archive's image_mirror folder, goes in as the PUBLISHED_MIRROR mount,
    from which the published site serves it."""
    if workdir.exists():
        shutil.rmtree(workdir)
    config.write_v065(workdir, meta)
    stage_plugins(workdir)
    _copy_tree(TEMPLATES, workdir / "templates")
    mounts = []
    for mount in static_mounts(meta):
        name, folder = mount.split(":", 1)
        _copy_tree(Path(folder), workdir / name)
        mounts.append(f"{name}:{workdir / name}")
    if mirror and Path(mirror).is_dir():
        _copy_tree(Path(mirror), workdir / PUBLISHED_MIRROR)
        mounts.append(f"{PUBLISHED_MIRROR}:{workdir / PUBLISHED_MIRROR}")
    return mounts


def publish_command(target: str, db_path: Path, name: str, workdir: Path, note: str | None = None) -> list[str]:
    """The `datasette publish ...` / `datasette package ...` command line (files staged in workdir)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    db_path = Path(db_path)
    # The archive's identity, stored in the database, names the published site too (as
    # when served, a key metadata.yml gives wins).
    identity = identity_of(db_path)
    meta = {**shown_metadata(identity), **config.load(config.METADATA, db_path.stem)}
    mirror = identity.get("image_mirror")
    if mirror and not Path(mirror).is_dir():
        print(f"note: the archive's image_mirror {mirror} is not on this machine; the published site "
              f"loads its photos from {identity.get('base_url')}", file=sys.stderr)
    mounts = stage(workdir, meta, mirror)
    command = ["datasette", "package"] if target == "package" else ["datasette", "publish", target]
    command += [str(db_path), "-m", str(workdir / "metadata.json"), "--plugins-dir", str(workdir / "plugins"),
                "--template-dir", str(workdir / "templates")]
    for mount in mounts:
        command += ["--static", mount]
    # Relative to the image's WORKDIR (/app), where the plugins folder lands as plugins/.
    command += ["--install", f"./plugins/{SOURCE_FOLDER}"]
    command += ["--extra-options", " ".join(config.setting_flags(meta))]
    if note:
        command += ["--version-note", note]
    command += {"cloudrun": ["--service", name], "fly": ["--app", name], "package": ["--tag", name]}[target]
    return command


def datasette_bin() -> Path | None:
    """This environment's `datasette` script (beside sys.executable), when there is one."""
    script = Path(sys.executable).parent / "datasette"
    return script if script.is_file() else None


def _probe(args: list[str]) -> subprocess.CompletedProcess | None:
    """Ask a host tool something, quietly; None when it hangs."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def _last_line(result: subprocess.CompletedProcess | None) -> str:
    if result is None:
        return f"no answer in {PROBE_SECONDS} s"
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def _answer(args: list[str]) -> str:
    """A tool's one-line answer on stdout ("" when it has none or fails)."""
    result = _probe(args)
    return result.stdout.strip() if result is not None and result.returncode == 0 else ""


def missing_tool(target: str) -> str | None:
    """Why `target` cannot run on this machine, or None when it can."""
    if importlib.util.find_spec("datasette") is None:
        return f"datasette is not installed for {sys.executable}; pip install news-archive"
    if target == "fly" and importlib.util.find_spec("datasette_publish_fly") is None:
        return f"publishing to Fly needs the datasette-publish-fly plugin: {sys.executable} -m pip install datasette-publish-fly"
    program, where = TOOLS[target]
    if shutil.which(program) is None:
        return f"{program} is not on PATH; install {where}"
    if target == "package":
        info = _probe(["docker", "info", "--format", "{{.ServerVersion}}"])
        if info is None or info.returncode != 0:
            return f"the Docker daemon is not reachable ({_last_line(info)}); start it, or install {where}"
    if target == "cloudrun":
        if not _answer(["gcloud", "config", "get-value", "account"]):
            return "gcloud is not logged in; run: gcloud auth login"
        if not _answer(["gcloud", "config", "get-value", "project"]):
            return "gcloud has no project set; run: gcloud config set project PROJECT_ID"
    if target == "fly" and not _answer(["flyctl", "auth", "whoami"]):
        return "flyctl is not logged in; run: flyctl auth login"
    return None


def image_id(name: str) -> str | None:
    """The id of the image the tag `name` names, or None when there is none."""
    return _answer(["docker", "image", "inspect", "--format", "{{.Id}}", name]) or None


def publish(target: str, db_path: Path, name: str, dry_run: bool = False) -> None:
    """Stage the files beside the database and run (or, dry, print) the command.

    Raises ToolMissing before staging anything when a program the target needs is
    missing, and PublishFailed when the command fails or (package) makes no image.
    """
    db_path = Path(db_path)
    problem = None if dry_run else missing_tool(target)
    if problem:
        raise ToolMissing(problem)
    workdir = db_path.resolve().parent / f".{db_path.stem}-publish"
    note = f"{db_path.name}, published {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}"
    command = publish_command(target, db_path, name, workdir, note)
    script = datasette_bin()
    env = dict(os.environ)
    if script is None:
        command = [sys.executable, "-m", *command]
    else:
        # `datasette` is this environment's, whether or not its virtualenv is activated.
        env["PATH"] = os.pathsep.join([str(script.parent), env.get("PATH", os.defpath)])
    if dry_run:
        print(shlex.join(command))
        return
    before = image_id(name) if target == "package" else None
    status = subprocess.run(command, env=env).returncode
    what = "datasette package" if target == "package" else f"datasette publish {target}"
    if status:
        raise PublishFailed(f"{what} failed with exit status {status} (its output is above)", status)
    if target == "package":
        after = image_id(name)
        if after is None or after == before:
            raise PublishFailed(f"docker build made no new image {name} (its output is above)", NO_IMAGE)
        print(f"built the Docker image {name} ({after}); run it with: docker run -p 8001:8001 {name}")
