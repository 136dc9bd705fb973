"""Serve a built database exactly as production does, and keep serving through new builds.

Production settings: the database is opened immutable with an inspect file (counts
precomputed by the build, no locking, nothing written), with our metadata, plugins, templates and
settings. A build replaces the database with a rename; a running Datasette would
keep reading the old, unlinked file, so `news-archive serve` watches the path and
starts a Datasette on the new file beside the old one, on the same listening socket,
before it stops the old one (newsarchive.supervise): no request is refused or lost.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from . import config

ROOT = config.ROOT
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"


def datasette_major() -> int:
    from datasette.version import __version__

    return int(__version__.split(".")[0])


def inspect(db_path: Path, inspect_path: Path) -> Path:
    """Write Datasette's inspect file (hash, size and row counts) for an immutable database.

    `datasette inspect` hashes the whole file and counts every table (28 s for a
    database of a million posts, on every start); the build has counted every table
    already (`_table_rows`, newsarchive.build.summaries), so the file is written from
    those counts (inspect_data). A database without them (not built by this version)
    is inspected by Datasette itself, which writes the same keys.
    """
    data = inspect_data(Path(db_path))
    if data is None:
        subprocess.run(
            [sys.executable, "-m", "datasette", "inspect", str(db_path), "--inspect-file", str(inspect_path)],
            check=True,
        )
    else:
        inspect_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return inspect_path


def inspect_data(db_path: Path) -> dict | None:
    """What `datasette inspect` writes for db_path, from the build's row counts; None when
    the database has none.

    Datasette uses the hash as the database's ETag and colour, not to check the file: here
    it is the SHA-256 of the build's own record (its last `builds` row) and the file's
    SQLite header (which holds its page count and a counter SQLite raises on every
    write), so it names one build of one file without reading the rest. Tables the build
    did not count (SQLite's statistics, a table added since) are counted here.
    """
    conn = sqlite3.connect(f"{db_path.as_uri()}?immutable=1", uri=True)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        if "_table_rows" not in tables:
            return None
        counted = dict(conn.execute("select name, rows from _table_rows"))
        counts = {t: counted[t] if t in counted else conn.execute(f"select count(*) from [{t}]").fetchone()[0]
                  for t in tables}
        last_build = conn.execute("select * from builds order by id desc limit 1").fetchone()
    finally:
        conn.close()
    with open(db_path, "rb") as f:
        header = f.read(100)
    digest = hashlib.sha256(json.dumps(last_build).encode() + header)
    return {db_path.stem: {"hash": digest.hexdigest(), "size": db_path.stat().st_size, "file": str(db_path),
                           "tables": {t: {"count": n} for t, n in counts.items()}}}


def static_mounts(meta: dict) -> list[str]:
    """`mount:folder` pairs from metadata plugins.news-archive.static, folders relative to the project."""
    mounts = ((meta.get("plugins") or {}).get("news-archive") or {}).get("static") or {}
    out = []
    for mount, folder in mounts.items():
        path = Path(folder)
        path = path if path.is_absolute() else ROOT / path
        if path.is_dir():
            out.append(f"{mount}:{path}")
    return out


def prepare(db_path: Path, workdir: Path, major: int | None = None) -> tuple[list[str], dict]:
    """Write the generated config files into workdir; return (datasette args, metadata)."""
    major = datasette_major() if major is None else major
    workdir.mkdir(parents=True, exist_ok=True)
    meta = config.load(config.METADATA, db_path.stem)
    args = ["-i", str(db_path), "--inspect-file", str(workdir / "inspect.json")]
    if major >= 1:
        metadata_path, config_path = config.write_v1(workdir, meta)
        args += ["-m", str(metadata_path), "-c", str(config_path)]
    else:
        args += ["-m", str(config.write_v065(workdir, meta)), *config.setting_flags(meta)]
    args += ["--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES)]
    for mount in static_mounts(meta):
        args += ["--static", mount]
    return args, meta


def serve_command(db_path: Path, host: str = "127.0.0.1", port: int = 8001, workdir: Path | None = None) -> list[str]:
    """The full `datasette serve` command line (inspect file written as a side effect)."""
    db_path = Path(db_path).resolve()
    workdir = workdir or db_path.parent / f".{db_path.stem}-serve"
    args, _ = prepare(db_path, workdir)
    inspect(db_path, workdir / "inspect.json")
    return [sys.executable, "-m", "datasette", "serve", *args, "-h", host, "-p", str(port)]


def datasette_app(db_path: Path, workdir: Path | None = None, major: int | None = None, immutable: bool = True):
    """A Datasette object configured like `serve_command`, for the test client
    (or, with immutable=False, like a development server that sees the file change).

    Works on both versions, with the same split as `prepare`: Datasette 0.65 takes the
    whole metadata plus `settings=`; 1.0 takes `metadata=` (descriptions) and
    `config=` (the datasette.yaml content: settings, plugins, table options, queries).
    """
    from datasette.app import Datasette

    major = datasette_major() if major is None else major
    db_path = Path(db_path).resolve()
    workdir = workdir or db_path.parent / f".{db_path.stem}-serve"
    workdir.mkdir(parents=True, exist_ok=True)
    meta = config.load(config.METADATA, db_path.stem)
    inspect_path = inspect(db_path, workdir / "inspect.json")
    if major >= 1:
        metadata, datasette_yaml = config.split_v1(meta)
        kwargs = {"metadata": metadata, "config": datasette_yaml}
    else:
        kwargs = {"metadata": config.v065(meta), "settings": config.settings(meta)}
    return Datasette(
        **({"immutables": [str(db_path)]} if immutable else {"files": [str(db_path)]}),
        inspect_data=json.loads(inspect_path.read_text(encoding="utf-8")) if immutable else None,
        plugins_dir=str(PLUGINS),
        template_dir=str(TEMPLATES),
        static_mounts=[tuple(m.split(":", 1)) for m in static_mounts(meta)],
        **kwargs,
    )


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Ask a server to stop (SIGTERM), and kill it if it has not within `timeout` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CannotListen(Exception):
    """The port is taken, or not ours to bind."""


def file_signature(path: Path):
    """What changes when a build swaps in a new file; None while there is no file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def run(db_path: Path, host: str, port: int) -> int:
    """Serve until SIGTERM or SIGINT (then 0), through new builds and crashes.

    Returns Datasette's exit status if the first Datasette fails before it answers;
    raises CannotListen if the port cannot be bound.
    """
    from . import supervise

    db_path = Path(db_path).resolve()
    # Datasette's log lines reach a supervisor's log as they happen, not a buffer later.
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # One folder per port: replicas of one database each write their own inspect file.
    workdir = db_path.parent / f".{db_path.stem}-serve" / str(port)
    try:
        sockets = supervise.listen(host, port)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    inspected = []  # the build the inspect file was written for: a restart after a crash reuses it

    def command(build, fds: list[int], ready_fd: int) -> list[str]:
        args, _ = prepare(db_path, workdir)
        if inspected != [build]:
            inspect(db_path, workdir / "inspect.json")
            inspected[:] = [build]
        fd_list = ",".join(map(str, fds))
        return [sys.executable, "-m", "newsarchive.shared_socket", fd_list, str(ready_fd), *args,
                "-h", host, "-p", str(port)]

    supervise.say(f"{db_path.name} on http://{host}:{port}/; a new build is served as it lands")
    return supervise.Supervisor(command, lambda: file_signature(db_path), sockets, db_path.name).run()
