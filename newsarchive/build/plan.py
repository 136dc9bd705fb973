"""The incremental plan: the files a database was built from against the files in the
folder now -> what to parse, what stands as it is, and what goes.

The decision is recorded file by file in the build's FileList (each file looked up in
the old database's `_files` as the scan adds it), and the Plan holds only the counts.
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from .filelist import FileList, State, Task

__all__ = ["Plan", "Task", "file_sha256", "make_plan"]


@dataclass
class Plan:
    """How many files are in each state; the files themselves are in `files`."""

    files: FileList
    #: Files new or changed since the database was built (every file, for a full build).
    to_parse: int = 0
    #: Files as they were built, whose posts stay as they are.
    unchanged: int = 0
    #: Unchanged files with a new modification time: the same bytes (a checkout, a
    #: copy, `touch`), so only `_files` learns the new time.
    restamped: int = 0
    #: Files the database was built from that are gone.
    removed: int = 0

    @property
    def changes(self) -> bool:
        """Whether any file is to be parsed, removed or restamped."""
        return bool(self.to_parse or self.removed or self.restamped)


def make_plan(files: FileList) -> Plan:
    """Every file of the list, compared as it was added with the `_files` of the
    database being updated (FileList.compare_with; none: a full build, every file is
    parsed) by size and modification time, and where only the time differs, here, by
    content. Raises sqlite3.DatabaseError if that database cannot be read."""
    if files.old_db is not None:
        _compare_contents(files)
    removed = files.note_removed()
    plan = _count(files, removed)
    if plan.changes and files.old_db is not None:
        _reread_renamed(files)
        plan = _count(files, removed)
    return plan


def _compare_contents(files: FileList) -> None:
    """Files of the same size with a new modification time: the same bytes are restamped."""
    after = ""
    while batch := files.to_compare(after):
        files.set_states(
            (State.RESTAMPED if file_sha256(files.abspath(path)) == sha else State.PARSE, path) for path, sha in batch
        )
        after = batch[-1][0]


def _reread_renamed(files: FileList) -> None:
    """Posts that lost their id to another file (their id is their path: build.write)
    are read again whenever anything changed: the file holding their id may have gone
    or changed, and a full build would give the id back."""
    files.reread_renamed()


def _count(files: FileList, removed: int) -> Plan:
    counts = files.counts()
    return Plan(files, counts.get(State.PARSE, 0), counts.get(State.UNCHANGED, 0) + counts.get(State.RESTAMPED, 0),
                counts.get(State.RESTAMPED, 0), removed)


def file_sha256(abspath: str) -> str | None:
    # Opened non-blocking and checked: a file swapped for a FIFO since the scan would
    # otherwise hold the build at the open, waiting for a writer.
    try:
        fd = os.open(abspath, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None
