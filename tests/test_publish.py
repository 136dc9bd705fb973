"""The deploy: the command line, the staged files, that the image's own install of the
project (not this checkout's) is what the plugins import and that the staged image
serves; a missing tool is one line and exit 2, a failed publish is never exit 0."""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from email.parser import Parser
from pathlib import Path

import pytest
from datasette.utils import make_dockerfile

from newsarchive.build.pipeline import build
from newsarchive.publish import SOURCE_FOLDER, publish_command
from newsarchive.serve import stop_process
from newsarchive.site.identity import MIRROR_MOUNT, PUBLISHED_MIRROR

from .conftest import ROOT


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


# --------------------------------------------------------------------------- the command, run


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` in bin_dir: a Python script that sees its arguments as `args`."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\nimport os, shutil, sys\nargs = sys.argv[1:]\n{textwrap.dedent(body)}")
    path.chmod(0o755)


def fake_docker(bin_dir: Path, state: Path, build_fails: bool = False) -> None:
    """A Docker whose daemon answers; `build` copies the build context to state/context and
    tags a new image, or (build_fails) fails as a real build does; `image inspect` knows the tag."""
    state.mkdir(exist_ok=True)
    fake_tool(bin_dir, "docker", f"""
        STATE, FAILS = {str(state)!r}, {build_fails!r}
        ID = os.path.join(STATE, "id")
        if args[:1] == ["info"]:
            print("27.0.0")
        elif args[:2] == ["image", "inspect"]:
            if not os.path.exists(ID):
                sys.exit("Error: No such image: " + args[-1])
            print(open(ID).read())
        elif args[:1] == ["build"] and FAILS:
            sys.exit('ERROR: failed to solve: process "/bin/sh -c pip install" did not complete')
        elif args[:1] == ["build"]:
            shutil.copytree(".", os.path.join(STATE, "context"), dirs_exist_ok=True)
            open(ID, "w").write("sha256:" + os.urandom(8).hex())
        else:
            sys.exit("unexpected docker " + " ".join(args))
        """)


def gcloud(account: str = "", project: str = "") -> str:
    """A Google Cloud CLI with this account and project (as gcloud does, "(unset)" on
    stderr for an empty one), which refuses everything else."""
    return f"""
        values = {{"account": {account!r}, "project": {project!r}}}
        if args[:2] == ["config", "get-value"]:
            print(values[args[2]] or "(unset)", file=sys.stdout if values[args[2]] else sys.stderr)
        else:
            sys.exit("ERROR: (gcloud) " + " ".join(args) + ": permission denied")
        """


def run_publish(db: Path, *args: str, path: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": str(db.parent)}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "newsarchive", "publish", *args[:1], str(db), *args[1:]],
                          capture_output=True, text=True, env=env, cwd=db.parent, timeout=600)


@pytest.fixture
def db(sample_db, tmp_path) -> Path:
    copy = tmp_path / "news.db"
    shutil.copyfile(sample_db, copy)
    return copy


@pytest.mark.parametrize("target, tools, plugin, expected", [
    ("package", {}, False, "Error: docker is not on PATH; install Docker: https://docs.docker.com/get-docker/"),
    ("package", {"docker": "print('Cannot connect to the Docker daemon at unix:///var/run/docker.sock.', file=sys.stderr)\n"
                           "sys.exit(1)"}, False,
     "Error: the Docker daemon is not reachable (Cannot connect to the Docker daemon at unix:///var/run/docker.sock.); "
     "start it, or install Docker: https://docs.docker.com/get-docker/"),
    ("cloudrun", {}, False, "Error: gcloud is not on PATH; install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"),
    ("cloudrun", {"gcloud": gcloud()}, False, "Error: gcloud is not logged in; run: gcloud auth login"),
    ("cloudrun", {"gcloud": gcloud(account="me@example.org")}, False,
     "Error: gcloud has no project set; run: gcloud config set project PROJECT_ID"),
    ("fly", {"flyctl": "print('me@example.org')"}, False,
     f"Error: publishing to Fly needs the datasette-publish-fly plugin: {sys.executable} -m pip install datasette-publish-fly"),
    ("fly", {}, True, "Error: flyctl is not on PATH; install flyctl: https://fly.io/docs/flyctl/install/"),
    ("fly", {"flyctl": "sys.exit('Error: no access token available. Please login with flyctl auth login')"}, True,
     "Error: flyctl is not logged in; run: flyctl auth login"),
])
def test_a_missing_tool_is_one_line_and_exit_2(db, tmp_path, target, tools, plugin, expected):
    """Each program (or login) a target needs, missing: one line naming what to install,
    exit 2, no traceback, nothing staged."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        fake_tool(bin_dir, name, body)
    site = None
    if plugin:
        site = tmp_path / "site"
        (site / "datasette_publish_fly").mkdir(parents=True)
        (site / "datasette_publish_fly" / "__init__.py").write_text("")
    result = run_publish(db, target, path=str(bin_dir), pythonpath=site)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""
    assert not (tmp_path / ".news-publish").exists()


def test_the_dry_run_prints_the_exact_command_and_needs_no_tool(db, tmp_path):
    result = run_publish(db, "package", "--name", "my-archive", "--dry-run", path=str(tmp_path / "empty"))
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    command = shlex.split(line)
    staged = tmp_path / ".news-publish"
    assert command[:3] == ["datasette", "package", str(db)]
    assert command[-2:] == ["--tag", "my-archive"]
    assert command[command.index("--static") + 1] == f"photos:{staged / 'photos'}"
    assert command[command.index("--version-note") + 1].startswith("news.db, published ")
    for option, path in (("-m", "metadata.json"), ("--plugins-dir", "plugins"), ("--template-dir", "templates")):
        assert command[command.index(option) + 1] == str(staged / path)
    assert sorted(p.name for p in staged.iterdir()) == ["metadata.json", "photos", "plugins", "templates"]


def test_a_failed_docker_build_exits_non_zero(db, tmp_path):
    """`datasette package` exits 0 after a failed docker build; publish does not."""
    bin_dir, state = tmp_path / "bin", tmp_path / "docker"
    fake_docker(bin_dir, state, build_fails=True)
    result = run_publish(db, "package", path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 1, result.stderr
    assert "ERROR: failed to solve" in result.stderr, "docker's own output is shown"
    assert result.stderr.splitlines()[-1] == "Error: docker build made no new image news-archive (its output is above)"
    assert "Traceback" not in result.stderr
    # An older image under the same tag is no proof of this build.
    (state / "id").write_text("sha256:0123456789abcdef")
    again = run_publish(db, "package", path=f"{bin_dir}:/usr/bin:/bin")
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == "Error: docker build made no new image news-archive (its output is above)"


def test_a_failed_publish_command_exits_with_its_status(db, tmp_path):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "gcloud", gcloud(account="me@example.org", project="my-project"))
    result = run_publish(db, "cloudrun", path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 1, result.stderr
    assert "permission denied" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "Error: datasette publish cloudrun failed with exit status 1 (its output is above)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@contextlib.contextmanager
def image_server(context: Path, site: Path):
    """What the image runs, here, on the build context datasette package handed to docker:
    its Dockerfile's pip install, inspect and CMD; yields the server's base URL."""
    dockerfile = (context / "Dockerfile").read_text()
    steps = [line.split(" ", 1) for line in dockerfile.splitlines() if line.startswith(("RUN ", "CMD "))]
    [install] = [shlex.split(rest)[3:] for kind, rest in steps if rest.startswith("pip install -U ")]
    assert install[0] == "datasette" and install[1:] == [f"./plugins/{SOURCE_FOLDER}"]
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), *install[1:]], cwd=context, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    [inspect] = [shlex.split(rest) for kind, rest in steps if rest.startswith("datasette inspect")]
    subprocess.run([sys.executable, "-m", *inspect], cwd=context, check=True)
    [cmd] = [rest for kind, rest in steps if kind == "CMD"]
    port = free_port()
    serve = shlex.split(cmd.replace("$PORT", str(port)))
    serve[serve.index("--host") + 1] = "127.0.0.1"
    assert serve[:2] == ["datasette", "serve"] and "-i" in serve
    server = subprocess.Popen([sys.executable, "-m", *serve], cwd=context, env={**os.environ, "PYTHONPATH": str(site)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get(f"{base}/-/versions.json")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr and server.stderr.read()
                time.sleep(0.2)
        yield base
    finally:
        stop_process(server)


def test_the_image_serves_what_was_staged(db, tmp_path):
    """publish package, with a Docker whose build keeps the build context: the context
    holds the database, metadata, plugins, templates, photos and the project's source;
    its Dockerfile's pip install, inspect and CMD, run here, serve the archive."""
    bin_dir, state, site = tmp_path / "bin", tmp_path / "docker", tmp_path / "site-packages"
    fake_docker(bin_dir, state)
    result = run_publish(db, "package", "--name", "archive-test", path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert "built the Docker image archive-test (sha256:" in result.stdout
    context = state / "context"
    assert {"Dockerfile", "news.db", "metadata.json", "plugins", "templates", "photos"} <= {p.name for p in context.iterdir()}
    assert (context / "plugins" / SOURCE_FOLDER / "newsarchive" / "site" / "__init__.py").exists()
    photo = next((ROOT / "sample" / "photos").rglob("*.jpg"))
    relative = photo.relative_to(ROOT / "sample" / "photos")
    assert (context / "photos" / relative).read_bytes() == photo.read_bytes()
    with image_server(context, site) as base:
        versions = json.loads(get(f"{base}/-/versions.json"))
        assert versions["datasette"]["note"].startswith("news.db, published ")
        assert b"news-chart-section" in get(f"{base}/"), "our templates"
        assert json.loads(get(f"{base}/news/search.json?_shape=array&q=harbour")), "our plugins and canned queries"
        assert get(f"{base}/photos/{relative.as_posix()}") == photo.read_bytes()


MIRRORED_POST = """---
code: "MIRRORED1"
title: A post with a site-relative photo
date: 2024-05-01T10:00:00Z
---

![The harbour at dawn](/assets/img/harbour.png)
"""


def test_the_image_carries_the_archives_photo_mirror(tmp_path):
    """An archive with base_url and image_mirror: the published image holds the mirror
    folder and serves its photos from it, with the folder the build recorded gone."""
    posts, mirror = tmp_path / "posts", tmp_path / "mirror"
    (mirror / "assets" / "img").mkdir(parents=True)
    photo = os.urandom(2048)  # any bytes: the test compares what is served with what was mirrored
    (mirror / "assets" / "img" / "harbour.png").write_bytes(photo)
    posts.mkdir()
    (posts / "archive.yml").write_text("title: Mirrored\nbase_url: https://news.example.org\nimage_mirror: ../mirror\n")
    (posts / "post.md").write_text(MIRRORED_POST)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    bin_dir, state, site = tmp_path / "bin", tmp_path / "docker", tmp_path / "site-packages"
    fake_docker(bin_dir, state)
    result = run_publish(db, "package", "--name", "mirror-test", path=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    context = state / "context"
    assert (context / PUBLISHED_MIRROR / "assets" / "img" / "harbour.png").read_bytes() == photo
    shutil.rmtree(mirror)  # the image has only its own copy
    with image_server(context, site) as base:
        page = get(f"{base}/news/posts/MIRRORED1").decode()
        assert f'src="{MIRROR_MOUNT}assets/img/harbour.png"' in page
        assert get(f"{base}{MIRROR_MOUNT}assets/img/harbour.png") == photo
