"""The writer: parse results -> rows in the new database, a batch at a time, one post
per id (of two files that want one id, both are kept: see id_rank)."""
from __future__ import annotations

import posixpath
import sqlite3

import sqlite_utils

from ..db.bookkeeping import FileRow, forget_files, last_warnings, record_files, restamp_files
from ..db.schema import POST_COLUMNS, add_fts, create_schema
from ..db.write import DeletedRefs, delete_posts, prune_orphans, resolve_link_targets, write_records
from .filelist import FileList, State
from .plan import Plan, Task
from .summary import Problem, Summary
from .workers import ParseFailure, ParseResult, parse_task

#: Posts written per executemany.
BATCH = 500
#: Up to this many posts written, an update settles the links of those posts and of
#: the keys they and the deleted posts name; above it, every link (the ids and keys
#: would otherwise be held in memory, in Python and in SQLite's temporary tables).
SCOPED_LINKS = 10_000
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
    # Sorts (each index it creates, the link targets' and the summaries' groupings)
    # spill to temporary files past the page cache; in memory, they held what they
    # sort: building the indexes of 100,000 posts took 47 MiB instead of 24, growing
    # with the archive, and no less CPU.
    conn.execute("PRAGMA temp_store = FILE")
    db = sqlite_utils.Database(conn)
    insert_triggers = []
    if fresh:
        create_schema(db, indexes=False)
        insert_triggers = add_fts(db)
    conn.execute("BEGIN")
    return db, insert_triggers


def kept_warnings(conn: sqlite3.Connection, files: FileList) -> list[Problem]:
    """The last build's warnings about files that stand unchanged: a full build would
    report them again, so an update does too."""
    kept = []
    for row in last_warnings(conn):
        found = files.entry(row[0])
        if found is not None and found.state in (State.UNCHANGED, State.RESTAMPED):
            kept.append(Problem.from_row(row))
    return kept


def duplicate_id(post_id: str, other: str) -> str:
    return f"id {post_id!r} is already used by {other}; every post needs its own id (give one a distinct `code`)"


def renamed_id(post_id: str, holder: str, own: str) -> str:
    return (f"id {post_id!r} is also {holder}'s, which keeps it (the earlier post: docs/building.md#duplicate-ids);"
            f" this post's id is {own!r} (give it a distinct `code`)")


def id_rank(post_id: str, path: str, published_at: str | None) -> tuple:
    """Which of the files that want one id keeps it: the lowest rank. A file whose id is
    its own path (it has no `code`, or it lost its id and took its path) first, so that
    a `code` copying a path can never leave that file without an id; then the earlier
    published (undated last), then the path. Only the files decide, so a full build and
    any sequence of updates agree."""
    tier = 0 if post_id in (path, posixpath.splitext(path)[0]) else 1
    return tier, published_at or "\uffff", path


_PUBLISHED = list(POST_COLUMNS).index("published_at")


class Writer:
    """Writes a build's posts into the new database.

    Of two files that want the same post id, the one of lower id_rank keeps it, in a
    full build and an update alike; the other is read again with its path as its id,
    with a warning naming both. Which file holds an id is read from the posts written
    (and the batch not yet written), not kept for every post: the build's memory does
    not grow with the archive.
    """

    def __init__(self, conn: sqlite3.Connection, summary: Summary, files: FileList, fresh: bool):
        self.conn = conn
        self.summary = summary
        self.files = files  # the folder's files, with the plan's decision for each
        self.fresh = fresh  # a new database (a full build), not an update
        #: The posts the new database holds.
        self.posts = 0
        # path -> (line, the id it wanted, its own id) of each post that lost its id: its
        # warning names the file that keeps the id once every file is written, so that
        # the order in which files arrive cannot change it.
        self.renamed: dict[str, tuple[int | None, str, str]] = {}
        # Unchanged files written again, under their path, as they lost their id.
        self.rewritten: set[str] = set()
        self.refs = DeletedRefs(conn)
        # The keys of the posts an update wrote, for the links to settle; None once
        # there are more than SCOPED_LINKS (every link is settled then).
        self._new_keys: set | None = set()
        # Held for a batch only: at 100,000 posts, lists of every row would cost ~30 MB.
        self._posts: list = []
        self._file_rows: list = []
        self._ids: list = []
        #: post id -> (path, id_rank) of the posts in the batch not yet written.
        self._batch_owners: dict[str, tuple[str, tuple]] = {}

    def start(self, plan: Plan) -> None:
        """Keep the posts of unchanged files, with their warnings, and delete those of
        removed and changed files before any is written, so a changed file may keep its id."""
        self.posts = plan.unchanged
        if not self.fresh:
            self.summary.warn(kept_warnings(self.conn, self.files))
        restamp_files(self.conn, self.files.restamped())
        for gone in self.files.gone():
            stale = [post_id for _, post_id in gone if post_id is not None]
            if stale:
                delete_posts(self.conn, stale, self.refs)
            forget_files(self.conn, [path for path, _ in gone])
        self.summary.removed = plan.removed
        self.summary.unchanged = plan.unchanged

    def add(self, task: Task, result: ParseResult | ParseFailure, renamed_from: tuple[str, str] | None = None) -> None:
        """Write a post. `renamed_from`: (the id it wanted, the file that keeps it)."""
        if isinstance(result, ParseFailure):
            self.summary.fail(result.problem())
            return
        if not self._claim(result):
            return
        if task.known:
            self.summary.updated += 1
        else:
            self.summary.added += 1
        self.summary.warn(result.problems())
        if renamed_from is not None:
            self.renamed[result.path] = (result.id_line, renamed_from[0], result.post_id)
        self._posts.append(result.post)
        if self._new_keys is not None and not self.fresh:
            self._new_keys.add(result.url_key)
        self._ids.append(result.post_id)
        self._file_rows.append(FileRow(result.path, task.size, task.mtime_ns, result.sha256, result.post_id, result.id_line))
        if len(self._posts) >= BATCH:
            self.flush()

    def _claim(self, result: ParseResult) -> bool:
        """Give the post its id, unless a file of lower id_rank holds it: then the post is
        written again under its path (or refused, if that is taken too)."""
        post_id, path = result.post_id, result.path
        rank = id_rank(post_id, path, result.post[0][_PUBLISHED])
        held = self._holder(post_id)
        if held is not None and held[1] < rank:
            holder = held[0]
            if post_id == path:  # already its path: nothing left to fall back on
                self.summary.fail(Problem(path, result.id_line, duplicate_id(post_id, holder)))
            else:
                self._rename(path, post_id, holder)
            return False
        if held is not None:
            self._evict(post_id, held[0], path)
        self._batch_owners[post_id] = (path, rank)
        self.posts += 1
        return True

    def _holder(self, post_id: str) -> tuple[str, tuple] | None:
        """(path, id_rank) of the file whose post holds `post_id`, if any."""
        held = self._batch_owners.get(post_id)
        if held is not None:
            return held
        row = self.conn.execute("SELECT path, published_at FROM posts WHERE id = ?", (post_id,)).fetchone()
        return None if row is None else (row[0], id_rank(post_id, row[0], row[1]))

    def _rename(self, path: str, post_id: str, holder: str) -> None:
        task = self.files.task(path, as_id=path)
        self.add(task, parse_task(task), renamed_from=(post_id, holder))

    def _evict(self, post_id: str, holder: str, path: str) -> None:
        """`path` takes the id `holder` held: the holder's post is deleted and written
        again under its own path, as a full build would have it."""
        self.flush()
        delete_posts(self.conn, [post_id], self.refs)
        forget_files(self.conn, [holder])
        self.posts -= 1
        found = self.files.entry(holder)
        if found.state == State.PARSE or holder in self.rewritten:
            if found.known:
                self.summary.updated -= 1
            else:
                self.summary.added -= 1
        else:
            self.summary.unchanged -= 1
            self.rewritten.add(holder)
        self.summary.problems = [p for p in self.summary.problems if p.path != holder]  # written again below
        self.renamed.pop(holder, None)
        self._rename(holder, post_id, path)

    def finish(self) -> None:
        """Write what is held, and warn each post that lost its id of the file that keeps it."""
        self.flush()
        self.summary.warn([Problem(path, line, renamed_id(wanted, self._holder_path(wanted), own), "warning")
                           for path, (line, wanted, own) in self.renamed.items()])

    def _holder_path(self, post_id: str) -> str | None:
        held = self._holder(post_id)
        return None if held is None else held[0]

    def flush(self) -> None:
        if self._posts:
            write_records(self.conn, self._posts, index_posts=self.fresh)
            self._posts.clear()
        if self._file_rows:
            record_files(self.conn, self._file_rows)
            self._file_rows.clear()
        if self._ids:
            self.files.record_written(self._ids)
            self._ids.clear()
            if self._new_keys is not None and len(self.files.written_ids()) > SCOPED_LINKS:
                self._new_keys = None
        self._batch_owners.clear()

    def settle_update(self) -> None:
        """After an update's writes: drop the lookups only deleted posts used, and point
        the links that may now resolve differently at their posts (every link, once the
        update wrote more than SCOPED_LINKS posts)."""
        prune_orphans(self.conn, self.refs)
        written = self.files.written_ids()
        if self._new_keys is None or len(written) > SCOPED_LINKS:
            resolve_link_targets(self.conn)
        else:
            resolve_link_targets(self.conn, list(written), self._new_keys, deleted=self.refs)
