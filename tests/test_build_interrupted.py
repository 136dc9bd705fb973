"""A build that cannot finish leaves the last good database as it was: refused while
another build holds the lock (exit 3), stopped by Ctrl-C (SIGINT), or unable to write
(a full disk or a read-only folder: exit 4, one line). Each runs as a real process."""
from __future__ import annotations

import errno
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from newsarchive.build import build

from .conftest import CORPUS_18F, ROOT, SAMPLE, write_posts

NEW_POST = "---\ntitle: One more post\ndate: 2024-12-30\n---\n\nA post the next build adds.\n"
#: A build in its own process that stops after `stage` (BuildOptions.stop_after), says
#: so in `ready`, and waits there until `go` exists.
PAUSED_BUILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from newsarchive.build import build
    posts, db, stage, ready, go, full = sys.argv[1:7]
    def pause(reached):
        if reached == stage:
            Path(ready).touch()
            while not Path(go).exists():
                time.sleep(0.05)
    build(posts, db, quiet=True, full=full == "full", jobs=2, stop_after=pause)
""")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(f".{db.name}."))


def cli_build(posts: Path, db: Path, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "newsarchive", "build", str(posts), "--db", str(db), "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, **popen)


@pytest.fixture()
def built(tmp_path):
    """The 18F blog built once (enough posts for the parser processes), and a post added since."""
    posts = shutil.copytree(CORPUS_18F, tmp_path / "posts")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    write_posts(posts, {"zz-new.md": NEW_POST})
    return posts, db


def paused(posts: Path, db: Path, stage: str, full: bool = False):
    ready, go = db.parent / "ready", db.parent / "go"
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_BUILD, str(posts), str(db), stage, str(ready), str(go),
                             "full" if full else "update"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.05)
    return proc, go


def test_a_second_build_is_refused_while_one_runs_and_runs_after(built):
    posts, db = built
    before = sha256(db)
    proc, go = paused(posts, db, "inserted")
    try:
        second = cli_build(posts, db)
        assert second.returncode == 3, second.stderr
        assert second.stderr.strip() == f"Error: another build of {db} is running (lock file {db}.lock)"
        assert sha256(db) == before
    finally:
        go.touch()
        assert proc.wait(timeout=300) == 0
    third = cli_build(posts, db)
    assert third.returncode == 0, "the lock is released when the build ends"
    assert "unchanged" in third.stdout and leftovers(db) == []


@pytest.mark.parametrize("stage, full", [("copied", False), ("inserted", False), ("committed", False),
                                         ("checked", False), ("inserted", True)])
def test_ctrl_c_during_a_build_leaves_the_old_database_and_no_lock(built, stage, full):
    posts, db = built
    before = sha256(db)
    proc, _ = paused(posts, db, stage, full)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr.read()
    assert sha256(db) == before, "the old database is untouched"
    assert leftovers(db) == [], "no temp file is left"
    after = cli_build(posts, db)
    assert after.returncode == 0, after.stderr  # the lock was released
    assert "added 1," in after.stdout


def _no_bigger_than(limit: int):
    def apply():
        # Ignored, SIGXFSZ leaves a write past the limit failing with EFBIG, the error a
        # full disk gives as ENOSPC on the same write path.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("full", [False, True])
def test_a_full_disk_is_one_line_exit_4_and_nothing_lost(tmp_path, full):
    posts = shutil.copytree(SAMPLE, tmp_path / "posts")
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    before = sha256(db)
    write_posts(posts, {"zz-new.md": NEW_POST})
    args = [sys.executable, "-m", "newsarchive", "build", str(posts), "--db", str(db), "-q"] + (["--full"] if full else [])
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            preexec_fn=_no_bigger_than(db.stat().st_size // 4))
    assert result.returncode == 4, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {db}: cannot write the new database in {tmp_path} (")
    assert "Traceback" not in result.stderr
    assert sha256(db) == before and leftovers(db) == []


def _read_only(folder: Path):
    """Make folder read-only for this process: chmod for a user, a read-only bind mount
    for root (whom file modes do not stop). Returns the undo, or skips where root may
    not mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip("root here may not mount: no way to make a folder read-only for it")
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
    return lambda: subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_folder_is_one_line_exit_4_and_nothing_lost(tmp_path):
    posts = shutil.copytree(SAMPLE, tmp_path / "posts")
    target = tmp_path / "site"
    target.mkdir()
    db = target / "news.db"
    build(posts, db, quiet=True)
    before = sha256(db)
    write_posts(posts, {"zz-new.md": NEW_POST})
    undo = _read_only(target)
    try:
        with pytest.raises(OSError) as probe:
            (target / "probe").touch()
        assert probe.value.errno in (errno.EROFS, errno.EACCES)
        result = cli_build(posts, db)
    finally:
        undo()
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: {db}: cannot write the new database in {target} ({os.strerror(probe.value.errno)}): "
        "is the disk full or the folder read-only? Nothing was replaced."]
    assert sha256(db) == before and leftovers(db) == []
