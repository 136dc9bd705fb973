"""The writer: parse results -> rows in the new database, a batch at a time, keeping
one post per id."""
from __future__ import annotations

import sqlite3

import sqlite_utils

from ..db.bookkeeping import FileRow, forget_files, last_warnings, record_files, restamp_files
from ..db.schema import add_fts, create_schema
from ..db.write import DeletedRefs, delete_posts, prune_orphans, resolve_link_targets, write_records
from .plan import Plan
from .scan import SourceFile
from .summary import Problem, Summary
from .workers import ParseFailure, ParseResult

#: Posts written per executemany.
BATCH = 500
#: SQLite's own page cache, in KiB. The file's pages stay in the kernel's page cache
#: anyway, so a bigger one bought no speed: 16, 32 and 64 MiB built 10,000 and 100,000
#: posts in the same time side by side, and each MiB is one more of the build's peak
#: memory (100,000 posts: 228 MiB at 16, 280 at 64).
WRITER_CACHE_KIB = 16 * 1024


def open_new_database(path, fresh: bool) -> tuple[sqlite_utils.Database, list[str]]:
    """The new database, in a transaction; for a `fresh` one (a full build) the empty
    tables without indexes, and the FTS insert triggers set aside (see schema.add_fts).

    The file is a temporary one nobody else reads, swapped in only once checked: it
    needs no journal and no syncs of its own.
    """
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    conn.execute("PRAGMA temp_store = MEMORY")
    db = sqlite_utils.Database(conn)
    insert_triggers = []
    if fresh:
        create_schema(db, indexes=False)
        insert_triggers = add_fts(db)
    conn.execute("BEGIN")
    return db, insert_triggers


def kept_warnings(conn: sqlite3.Connection, plan: Plan) -> list[Problem]:
    """The last build's warnings about files that stand unchanged: a full build would
    report them again, so an update does too."""
    unchanged = set(plan.unchanged)
    return [Problem.from_row(row) for row in last_warnings(conn) if row[0] in unchanged]


def duplicate_id(post_id: str, other: str) -> str:
    return f"id {post_id!r} is already used by {other}; every post needs its own id (give one a distinct `code`)"


class Writer:
    """Writes a build's posts into the new database.

    Of two files with the same post id, the one whose path sorts first is kept, in a
    full build and an update alike; the other is an error.
    """

    def __init__(self, conn: sqlite3.Connection, summary: Summary, known: dict[str, FileRow],
                 files: dict[str, SourceFile], fresh: bool):
        self.conn = conn
        self.summary = summary
        self.known = known  # the files the database was built from, by path
        self.files = files  # the files in the folder now, by path
        self.fresh = fresh  # a new database (a full build), not an update
        self.owners: dict[str, str] = {}  # post id -> path, for every post the new database holds
        self.written_ids: list[str] = []
        self.refs = DeletedRefs()
        self._new_keys: set = set()
        # Held for a batch only: at 100,000 posts, lists of every row would cost ~30 MB.
        self._posts: list = []
        self._file_rows: list = []

    def start(self, plan: Plan) -> None:
        """Keep the posts of unchanged files, with their warnings, and delete those of
        removed and changed files before any is written, so a changed file may keep its id."""
        for path in plan.unchanged:
            self.owners[self.known[path].post_id] = path
        if not self.fresh:
            self.summary.warn(kept_warnings(self.conn, plan))
        restamp_files(self.conn, plan.restamped)
        gone = plan.removed + [task.path for task in plan.to_parse if task.path in self.known]
        stale = [self.known[path].post_id for path in gone if self.known[path].post_id is not None]
        if stale:
            delete_posts(self.conn, stale, self.refs)
        forget_files(self.conn, gone)
        self.summary.removed = len(plan.removed)
        self.summary.unchanged = len(plan.unchanged)

    def add(self, result: ParseResult | ParseFailure) -> None:
        if isinstance(result, ParseFailure):
            self.summary.fail(result.problem())
            return
        if not self._claim(result):
            return
        if result.path in self.known:
            self.summary.updated += 1
        else:
            self.summary.added += 1
        self.summary.warn(result.problems())
        self._posts.append(result.post)
        if not self.fresh:
            self._new_keys.add(result.url_key)
        self.written_ids.append(result.post_id)
        found = self.files[result.path]
        self._file_rows.append(FileRow(result.path, found.size, found.mtime_ns, result.sha256, result.post_id, result.id_line))
        if len(self._posts) >= BATCH:
            self.flush()

    def _claim(self, result: ParseResult) -> bool:
        """Give the post its id, unless a file that sorts earlier holds it."""
        post_id, path = result.post_id, result.path
        holder = self.owners.get(post_id)
        if holder is not None and holder < path:
            self.summary.fail(Problem(path, result.id_line, duplicate_id(post_id, holder)))
            return False
        if holder is not None:
            # A file that sorts earlier claims an id an unchanged file held: the
            # earlier one wins, as it would in a full build.
            self.flush()
            delete_posts(self.conn, [post_id], self.refs)
            forget_files(self.conn, [holder])
            self.summary.unchanged -= 1
            self.summary.problems = [p for p in self.summary.problems if p.path != holder]  # its kept warnings
            self.summary.fail(Problem(holder, self.known[holder].id_line, duplicate_id(post_id, path)))
        self.owners[post_id] = path
        return True

    def flush(self) -> None:
        if self._posts:
            write_records(self.conn, self._posts, index_posts=self.fresh)
            self._posts.clear()
        if self._file_rows:
            record_files(self.conn, self._file_rows)
            self._file_rows.clear()

    def settle_update(self) -> None:
        """After an update's writes: drop the lookups only deleted posts used, and point
        the links that may now resolve differently at their posts."""
        prune_orphans(self.conn, self.refs)
        resolve_link_targets(self.conn, self.written_ids, self.refs.keys | self._new_keys)
