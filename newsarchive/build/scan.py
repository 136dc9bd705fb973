"""The folder of posts -> the post files in it, and the files passed over (and why)."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from ..parse import has_surrogate
from .filelist import FileList
from .summary import Problem

POST_SUFFIXES = (".md", ".markdown")
_TEMP_PREFIXES = (".#", "#", "~$", "._")
#: First characters of the names _odd_name looks at (most names start with none).
_ODD_FIRST = frozenset(".#~")
#: Files written to the FileList at a time.
SCAN_BATCH = 1000


@dataclass(slots=True)
class SourceFile:
    """A post file as the scan meets it (the build keeps its files in a FileList)."""

    path: str  # relative, POSIX separators
    root: str  # the posts folder, real path
    size: int
    mtime_ns: int

    @property
    def abspath(self) -> str:
        return f"{self.root}/{self.path}"


def scan(posts_dir: str | os.PathLike, seen=None, since_ns: int = 0) -> tuple[list[SourceFile], list[Problem]]:
    """Every post file below posts_dir, sorted by path, and the files passed over (and
    why), as lists (the build keeps its files in a FileList instead: scan_into)."""
    files, skipped = [], []
    for found in walk(posts_dir, seen, since_ns):
        (files if isinstance(found, SourceFile) else skipped).append(found)
    files.sort(key=lambda f: f.path)
    skipped.sort(key=lambda p: p.path)
    return files, skipped


def scan_into(files: FileList, posts_dir: str | os.PathLike, seen=None, since_ns: int = 0) -> list[Problem]:
    """Add every post file below posts_dir to `files` (whose root it sets); return the
    files passed over (and why), sorted by path."""
    files.root = os.path.realpath(posts_dir)
    skipped, batch = [], []
    for found in _walk(posts_dir, seen, since_ns):
        if type(found) is tuple:
            batch.append(found)
            if len(batch) >= SCAN_BATCH:
                files.add(batch)
                batch = []
        else:
            skipped.append(found)
    files.add(batch)
    files.sort_in()
    skipped.sort(key=lambda p: p.path)
    return skipped


def walk(posts_dir: str | os.PathLike, seen=None, since_ns: int = 0) -> Iterator[SourceFile | Problem]:
    """Every post file below posts_dir, and every file passed over (as a Problem that
    says why), in the order the folders list them.

    Symlinks are followed only while they stay inside the folder; editor lock and temp
    files (`.#post.md`, `#post.md#`, `~$post.md`) and hidden folders are skipped.
    `seen`, if given, is called with each post file modified at or after `since_ns` as
    it is found (the build uses it to learn early that something changed).
    """
    root = os.path.realpath(posts_dir)
    for found in _walk(posts_dir, seen, since_ns):
        yield SourceFile(found[0], root, found[1], found[2]) if type(found) is tuple else found


def _walk(posts_dir: str | os.PathLike, seen, since_ns: int) -> Iterator[tuple[str, int, int] | Problem]:
    """walk(), with each post file as (path, size, mtime_ns): an update with nothing
    changed spends most of its time here, a few microseconds a file, one system call
    (fstatat) of it. os.scandir gives each entry's type without a system call, and,
    listing a folder opened as a descriptor, stats its entries relative to it."""
    root = os.path.realpath(posts_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{posts_dir}: not a folder")
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        for entry in _entries(folder):
            if isinstance(entry, OSError):
                yield _skipped(prefix.rstrip("/") or ".", f"cannot list the folder ({entry.strerror})")
                break
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if not name.startswith("."):
                    folders.append((f"{folder}/{name}", prefix + name + "/"))
                continue
            link = entry.is_symlink()
            if link and os.path.isdir(f"{folder}/{name}"):
                yield _symlinked_folder(prefix + name, os.path.realpath(f"{folder}/{name}"), root)
                continue
            if not name.lower().endswith(POST_SUFFIXES):
                continue
            path = prefix + name
            # File names are bytes on Linux; one that is not UTF-8 (a surrogate once
            # decoded) cannot be a path in the database.
            if not name.isascii() and has_surrogate(path):
                shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                yield _skipped(shown, "the file name is not valid UTF-8 (rename the file)")
                continue
            if name[0] in _ODD_FIRST or name[-1] == "#":
                problem = _odd_name(path, name)
                if problem is not None:
                    yield problem
                    continue
            if link:
                target = os.path.realpath(f"{folder}/{name}")
                if not _inside(target, root):
                    yield _skipped(path, f"symlink points outside the posts folder ({target})")
                    continue
            try:
                st = entry.stat()
            except OSError as exc:
                yield _skipped(path, f"cannot stat ({exc.strerror})")
                continue
            if not stat.S_ISREG(st.st_mode):
                yield _skipped(path, "not a regular file")
                continue
            if seen is not None and st.st_mtime_ns >= since_ns:
                seen(SourceFile(path, root, st.st_size, st.st_mtime_ns))
            yield path, st.st_size, st.st_mtime_ns


def _entries(folder: str) -> Iterator[os.DirEntry | OSError]:
    """The folder's entries as the system lists them, read as they are used (a folder
    of a million posts is not held as a list), then the error that stopped the
    listing, if one did. The folder is opened as a descriptor, so that its entries
    are stat'ed relative to it (fstatat), not by a path resolved from / each time; the
    entries are then named by `name` alone."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        yield exc
        return
    try:
        with os.scandir(fd) as listing:
            yield from listing
    except OSError as exc:
        yield exc
    finally:
        os.close(fd)


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
