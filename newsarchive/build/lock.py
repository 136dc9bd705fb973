"""One build of a database at a time: an flock on `<db>.lock`, held while the build runs."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .summary import BuildRefused

#: The lock's file descriptor while a build holds it (see release_in_worker).
_held_fd: int | None = None


@contextlib.contextmanager
def build_lock(db_path: Path):
    global _held_fd  # noqa: PLW0603 (read by forked parser processes, see release_in_worker)
    lock = open(db_path.with_name(db_path.name + ".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise BuildRefused(f"another build of {db_path} is running (lock file {lock.name})") from None
    _held_fd = lock.fileno()
    try:
        yield
    finally:
        _held_fd = None
        lock.close()


def release_in_worker() -> None:
    """In a process forked by the build: let go of the build's lock.

    flock belongs to the open file, which fork shares: a worker left behind would
    keep the lock, and the next build would be refused as "already running" until it
    exits.
    """
    if _held_fd is not None:
        with contextlib.suppress(OSError):
            os.close(_held_fd)
