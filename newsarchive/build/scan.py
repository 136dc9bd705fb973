"""The folder of posts -> the post files in it, and the files passed over (and why)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..parse import has_surrogate
from .summary import Problem

POST_SUFFIXES = (".md", ".markdown")
_TEMP_PREFIXES = (".#", "#", "~$", "._")
#: First characters of the names _odd_name looks at (most names start with none).
_ODD_FIRST = frozenset(".#~")


@dataclass(slots=True)
class SourceFile:
    """A post file. The build holds one a file for its whole run (32 MiB at 100,000
    files with the full path stored in each), so the folder is one string all share."""

    path: str  # relative, POSIX separators
    root: str  # the posts folder, real path
    size: int
    mtime_ns: int

    @property
    def abspath(self) -> str:
        return f"{self.root}/{self.path}"


def scan(posts_dir: str | os.PathLike, seen=None, since_ns: int = 0) -> tuple[list[SourceFile], list[Problem]]:
    """Every post file below posts_dir, sorted by path, and the files passed over (and why).

    Symlinks are followed only while they stay inside the folder; editor lock and temp
    files (`.#post.md`, `#post.md#`, `~$post.md`) and hidden folders are skipped.
    os.scandir gives each entry's type without a system call, so a rebuild of 100,000
    unchanged posts costs one stat per post. `seen`, if given, is called with each
    post file modified at or after `since_ns` as it is found (the build uses it to
    learn early that something changed).
    """
    root = os.path.realpath(posts_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{posts_dir}: not a folder")
    files, skipped = [], []
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skipped.append(_skipped(prefix.rstrip("/") or ".", f"cannot list the folder ({exc.strerror})"))
            continue
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if not name.startswith("."):
                    folders.append((entry.path, prefix + name + "/"))
                continue
            link = entry.is_symlink()
            if link and os.path.isdir(entry.path):
                skipped.append(_symlinked_folder(prefix + name, os.path.realpath(entry.path), root))
                continue
            if not name.lower().endswith(POST_SUFFIXES):
                continue
            path = prefix + name
            # File names are bytes on Linux; one that is not UTF-8 (a surrogate once
            # decoded) cannot be a path in the database.
            if not name.isascii() and has_surrogate(path):
                shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                skipped.append(_skipped(shown, "the file name is not valid UTF-8 (rename the file)"))
                continue
            if name[0] in _ODD_FIRST or name[-1] == "#":
                problem = _odd_name(path, name)
                if problem is not None:
                    skipped.append(problem)
                    continue
            if link:
                target = os.path.realpath(entry.path)
                if not _inside(target, root):
                    skipped.append(_skipped(path, f"symlink points outside the posts folder ({target})"))
                    continue
            try:
                st = entry.stat()
            except OSError as exc:
                skipped.append(_skipped(path, f"cannot stat ({exc.strerror})"))
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(_skipped(path, "not a regular file"))
                continue
            found = SourceFile(path, root, st.st_size, st.st_mtime_ns)
            files.append(found)
            if seen is not None and found.mtime_ns >= since_ns:
                seen(found)
    files.sort(key=lambda f: f.path)
    skipped.sort(key=lambda p: p.path)
    return files, skipped


def _symlinked_folder(path: str, target: str, root: str) -> Problem:
    if _inside(target, root):
        return _skipped(path, "symlinked folder inside the posts folder (its posts are read at their real path)")
    return _skipped(path, f"symlinked folder points outside the posts folder ({target})")


def _skipped(path: str, why: str) -> Problem:
    return Problem(path, None, f"skipped: {why}", "skipped")


def _odd_name(path: str, name: str) -> Problem | None:
    if name.startswith(_TEMP_PREFIXES) or name.endswith("#"):
        return _skipped(path, "editor lock or temp file")
    if name.startswith("."):
        return _skipped(path, "hidden file")
    return None


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)
