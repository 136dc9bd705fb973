"""The incremental plan: the files a database was built from against the files in the
folder now -> what to parse, what stands as it is, and what goes."""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import NamedTuple

from ..db.bookkeeping import FileRow
from .scan import SourceFile


class Task(NamedTuple):
    """A file for a parser process to read."""

    path: str
    abspath: str
    #: The id the post takes instead of its own: it lost its id to another file (build.write).
    as_id: str | None = None


@dataclass
class Plan:
    #: Files new or changed since the database was built (every file, for a full build).
    to_parse: list[Task] = field(default_factory=list)
    #: Files as they were built, whose posts stay as they are.
    unchanged: list[str] = field(default_factory=list)
    #: (mtime_ns, path) of unchanged files with a new modification time: the same bytes
    #: (a checkout, a copy, `touch`), so only `_files` learns the new time.
    restamped: list[tuple[int, str]] = field(default_factory=list)
    #: Files the database was built from that are gone.
    removed: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Whether any file is to be parsed, removed or restamped."""
        return bool(self.to_parse or self.removed or self.restamped)


def make_plan(files: list[SourceFile], known: dict[str, FileRow]) -> Plan:
    """Compare by size and modification time, and where only the time differs, by content."""
    plan = Plan()
    for f in files:
        was = known.get(f.path)
        if was is not None and was.post_id is not None:
            if was.size == f.size and was.mtime_ns == f.mtime_ns:
                plan.unchanged.append(f.path)
                continue
            if was.size == f.size and file_sha256(f.abspath) == was.sha256:
                plan.unchanged.append(f.path)
                plan.restamped.append((f.mtime_ns, f.path))
                continue
        plan.to_parse.append(Task(f.path, f.abspath))
    current = {f.path for f in files}
    plan.removed = [path for path in known if path not in current]
    if plan.changes:
        _reread_renamed(plan, files, known)
    return plan


def _reread_renamed(plan: Plan, files: list[SourceFile], known: dict[str, FileRow]) -> None:
    """Posts that lost their id to another file (their id is their path: build.write)
    are read again whenever anything changed: the file holding their id may have gone
    or changed, and a full build would give the id back."""
    renamed = {f.path: f for f in files if f.path in known and known[f.path].post_id == f.path}
    if not renamed:
        return
    plan.unchanged = [path for path in plan.unchanged if path not in renamed]
    plan.restamped = [(mtime, path) for mtime, path in plan.restamped if path not in renamed]
    listed = {task.path for task in plan.to_parse}
    plan.to_parse = sorted(plan.to_parse + [Task(f.path, f.abspath) for f in renamed.values() if f.path not in listed])


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
