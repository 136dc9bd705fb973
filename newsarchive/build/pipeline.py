"""The build, stage by stage: lock, scan, plan, parse and write, finish the tables,
record the build, guard against shrinking, check, swap."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..db.bookkeeping import BuildRow, record_build, store_settings
from ..db.schema import POST_COLUMNS, create_indexes, fill_fts
from ..db.write import resolve_fresh_link_targets
from ..relate import features, related_update
from ..relate.reprint_update import refresh_reprints
from . import swap
from ..site.identity import read_identity as stored_identity
from .archive import read_identity, store_identity
from .checks import choose_checks, run_checks
from .lock import build_lock
from .options import BuildOptions
from .filelist import FileList
from .plan import Plan, make_plan
from .previous import Previous, not_ours, open_previous, outdated, read_previous, relations_outdated
from .scan import scan_into
from .summaries import ChangedPosts, changed_post_ids, store_summaries
from .summary import BuildRefused, Problem, Summary
from .workers import ParseFailure, collector_paused, parse_all, parse_each, start_pool
from .write import Writer, id_rank, open_new_database, renamed_id

#: Up to this many files to parse, an update parses them before it copies the
#: database, to learn whether anything changed at all.
SMALL_UPDATE = 2000
#: Up to this size the copy an update writes to starts with the scan, on the chance
#: that something changed (swap.BackgroundCopy); a larger one waits for the first
#: change: copied for nothing, 24 GB at a million posts, it held the disk and the
#: page cache for longer than the whole update with nothing changed may take.
EARLY_COPY_BYTES = 4 << 30


def build(posts_dir, db_path, *, options: BuildOptions | None = None, **settings) -> Summary:
    """Build or update db_path from posts_dir and return what happened.

    The options are a BuildOptions, or its fields as keywords: build(posts, db, full=True).
    Raises BuildRefused when the new database is not swapped in.
    """
    if options is None:
        options = BuildOptions(**settings)
    elif settings:
        raise TypeError("build() takes options or their keywords, not both")
    # archive.yml is read first: a mistake in it stops the build before anything is written.
    identity = read_identity(posts_dir, options.identity)
    run = _Run(posts_dir, Path(db_path), options, time.monotonic(), _now(), identity)
    try:
        run.db_path.parent.mkdir(parents=True, exist_ok=True)
        with build_lock(run.db_path), collector_paused():
            return _build_locked(run)
    except (OSError, sqlite3.OperationalError) as exc:
        unwritable = swap.cannot_write(run.db_path, exc)
        if unwritable is None:
            raise
        raise unwritable from exc


@dataclass
class _Run:
    """One build under way: what it reads and writes, how, and since when."""

    posts_dir: str | os.PathLike
    db_path: Path
    options: BuildOptions
    started_clock: float
    started_at: str
    #: The archive's identity (build.archive), and the one the database being updated holds.
    identity: dict
    old_identity: dict | None = None
    #: A new database from scratch (a full build), not an update of a copy of the old one.
    fresh: bool = True
    pool: ProcessPoolExecutor | None = None
    copier: swap.BackgroundCopy | None = None

    @property
    def tmp_path(self) -> Path:
        return swap.temp_path(self.db_path)


def _build_locked(run: _Run) -> Summary:
    db_path = run.db_path
    swap.clear_leftovers(db_path)
    update = not run.options.full and db_path.exists()
    changed_schema = outdated(db_path) if update else None
    run.fresh = not update or changed_schema is not None
    if run.fresh and run.options.workers > 1:
        run.pool = start_pool(run.options.workers)
    if not run.fresh:
        run.copier = swap.BackgroundCopy(db_path, run.tmp_path)
    try:
        summary = _build_with(run)
        if changed_schema:
            summary.notes.append(f"rebuilt in full: {db_path} could not be updated in place ({changed_schema})")
        return summary
    finally:
        if run.pool is not None:
            run.pool.shutdown(wait=True, cancel_futures=True)
        if run.copier is not None:
            run.copier.cancel()
        # Swapped in, the new database is no longer at tmp_path; anything still there is
        # a build that was refused, failed or not needed.
        run.tmp_path.unlink(missing_ok=True)


def _build_with(run: _Run) -> Summary:
    with FileList() as files:
        return _build_from(run, files)


def _build_from(run: _Run, files: FileList) -> Summary:
    skipped, previous, plan = _scan(run, files)
    summary = Summary(seen=len(files), skipped=len(skipped))
    summary.problems.extend(skipped)
    summary.lap("scan", run.started_clock)
    renamed = not run.fresh and run.old_identity != run.identity
    # Reprints found at another threshold, and related posts computed with other settings
    # (or with none of their state kept), are found again, even with no file changed.
    relations_stale = not run.fresh and relations_outdated(run.db_path, run.options.reprint_threshold)
    if run.copier is not None and (plan.changes or renamed or relations_stale):
        run.copier.start()
    results = None
    if not run.fresh and plan.to_parse <= SMALL_UPDATE:
        results = list(parse_each(files.tasks(), run.options.workers, run.options.quiet, total=plan.to_parse))
        kept = [Problem.from_row(row) for row in previous.errors if row[2] == "warning"]
        if not (renamed or relations_stale) and _nothing_changed(plan, results, skipped + kept, previous):
            summary.unchanged = plan.unchanged
            summary.warn(kept)
            for _, failure in results:
                summary.fail(failure.problem())
            summary.sort_problems()
            summary.posts = previous.posts
            summary.seconds = time.monotonic() - run.started_clock
            return summary
    if results is None:
        results = parse_each(files.tasks(), run.options.workers, run.options.quiet, run.pool, total=plan.to_parse)
    _write(run, summary, plan, previous, results)
    summary.seconds = time.monotonic() - run.started_clock
    return summary


def _scan(run: _Run, files: FileList) -> tuple[list[Problem], Previous, Plan]:
    """The folder's post files (into `files`) and the files passed over, the database
    being replaced, and the plan: what of it stands."""
    old, previous = open_previous(run.db_path, run.fresh)
    update = old is not None and not run.fresh
    try:
        if update:
            files.compare_with(run.db_path)
        if run.copier is None:
            skipped = scan_into(files, run.posts_dir)
        else:
            if run.db_path.stat().st_size <= EARLY_COPY_BYTES:
                run.copier.prepare()  # copy while scanning, on the chance that something changed
            # A post written since the database was is a change: flush the copy from
            # meeting it, before the file list of the database is even read (0.3 s at
            # 100,000 posts). Changes this misses (a file put back with an old mtime, a
            # deletion) are found after the scan, and only start the flush later.
            skipped = scan_into(files, run.posts_dir, lambda found: run.copier.start(),
                                since_ns=run.db_path.stat().st_mtime_ns)
        if update:
            read_previous(old, previous)
            run.old_identity = stored_identity(old)
        plan = make_plan(files)
    except sqlite3.DatabaseError as exc:
        raise not_ours(run.db_path, exc) from None
    finally:
        if old is not None:
            old.close()
    return skipped, previous, plan


def _nothing_changed(plan: Plan, results: list, standing: list[Problem], previous: Previous) -> bool:
    """No file to write or remove, and the same problems as the last build (`standing`:
    files skipped, and the warnings of files that stand unchanged): then the database is
    left exactly as it is."""
    if plan.removed or plan.restamped or not all(isinstance(r, ParseFailure) for _, r in results):
        return False
    errors = {failure.problem().row() for _, failure in results} | {problem.row() for problem in standing}
    return errors == previous.errors


def _write(run: _Run, summary: Summary, plan: Plan, previous: Previous, results) -> None:
    """Write the new database beside the old one, check it and swap it in.

    `results`: (task, parse result) pairs, in the order of plan.files.tasks().
    """
    conn = None
    try:
        clock = time.monotonic()
        if run.copier is not None:
            run.copier.wait_copied()
        clock = summary.lap("copy", clock)
        run.options.reached("copied")
        db, insert_triggers = open_new_database(run.tmp_path, run.fresh)
        conn = db.conn
        writer = Writer(conn, summary, plan.files, run.fresh)
        writer.start(plan)
        for task, result in results:
            writer.add(task, result)
        writer.finish()
        run.options.reached("inserted")
        clock = summary.lap("parse+insert", clock)
        if run.fresh:
            create_indexes(db, "early")
            clock = summary.lap("indexes", clock)
            resolve_fresh_link_targets(conn)
            clock = summary.lap("links", clock)
            fill_fts(db, insert_triggers, tables=["captions"])  # posts were indexed batch by batch
            clock = summary.lap("fts", clock)
        else:
            writer.settle_update()
            clock = summary.lap("links", clock)
        reprints = refresh_reprints(conn, run.options.reprint_threshold)
        summary.notes.extend(reprints.notes)
        summary.timings["reprints:" + reprints.mode] = 0.0
        clock = summary.lap("reprints", clock)
        related = related_update.refresh_related(conn, fresh=run.fresh)
        store_settings(conn, features.settings(), features.SETTINGS_KEY)
        summary.notes.extend(related.notes)
        summary.timings["related:" + related.mode] = 0.0
        clock = summary.lap("related", clock)
        if run.fresh:
            create_indexes(db, "late")
            clock = summary.lap("relations_indexes", clock)
        summary.posts = writer.posts
        summary.sort_problems()
        record_build(conn, _build_row(run, summary), [p.row() for p in summary.problems],
                     history=run.db_path if run.fresh else None)
        store_identity(conn, run.identity)
        # Last: it counts the rows of every table, the build's record included.
        changed = None if run.fresh else ChangedPosts(run.db_path, changed_post_ids(plan.files))
        summary.timings["summaries:" + store_summaries(conn, changed)] = 0.0
        clock = summary.lap("summaries", clock)
        conn.execute("COMMIT")
        if run.fresh:
            conn.execute("ANALYZE")
        clock = summary.lap("commit+analyze", clock)
        run.options.reached("committed")
        _refuse_shrinking(run, summary.posts, previous.posts)
        conn.close()
        conn = None
        _check_and_swap(run, summary, plan.files.written_ids(), plan.removed, clock)
    finally:
        if conn is not None:
            conn.close()  # _build_locked deletes the file


def _build_row(run: _Run, summary: Summary) -> BuildRow:
    return BuildRow(
        run.started_at, _now(), "full" if run.fresh else "incremental", summary.seen, summary.added,
        summary.updated, summary.unchanged, summary.removed, summary.failed, summary.skipped, summary.posts,
        __version__,
    )


def _refuse_shrinking(run: _Run, posts: int, old_posts: int) -> None:
    options = run.options
    if old_posts and posts < old_posts * (1 - options.max_shrink) and not options.allow_shrink:
        raise BuildRefused(
            f"the new build holds {posts} posts, {old_posts - posts} fewer than the "
            f"{old_posts} in {run.db_path} (over {options.max_shrink:.0%} lost: a half-synced folder or an empty "
            f"mount?). Nothing was replaced; rerun with --allow-shrink if the posts were really removed."
        )


def _check_and_swap(run: _Run, summary: Summary, written_ids: Sequence[str], removed: int, clock: float) -> None:
    # The checks only read the file: flushing it to disk meanwhile leaves the swap
    # little to wait for.
    flusher = swap.flush_in_background(run.tmp_path)
    checks = choose_checks(run.options.checks, run.fresh, len(written_ids) + removed, summary.posts, run.tmp_path)
    summary.timings["checks:" + checks] = 0.0
    problems = run_checks(checks, run.tmp_path, written_ids, summary.posts)
    if problems:
        raise BuildRefused("the new database failed its checks, nothing was replaced: " + "; ".join(problems))
    clock = summary.lap("checks", clock)
    run.options.reached("checked")
    if run.copier is not None:
        run.copier.wait_flushed()  # the copy's own flush, started before the build's writes
    flusher.join()
    swap.fsync(run.tmp_path)  # anything written since the flush began (nothing, unless the checks wrote)
    swap.swap_in(run.tmp_path, run.db_path)
    summary.lap("swap", clock)
    summary.written = True


def check_folder(posts_dir, jobs: int | None = None, quiet: bool = True) -> Summary:
    """Parse every post without writing anything; the Summary lists every problem."""
    started = time.monotonic()
    read_identity(posts_dir)  # archive.yml is checked too
    with FileList() as files:
        skipped = scan_into(files, posts_dir)
        summary = Summary(seen=len(files), skipped=len(skipped))
        summary.problems.extend(skipped)
        _check_posts(summary, parse_all(files.tasks(), BuildOptions(jobs=jobs).workers, quiet, total=len(files)))
    summary.posts = summary.added
    summary.seconds = time.monotonic() - started
    return summary


def _check_posts(summary: Summary, results) -> None:
    with _IdOwners() as owners:
        for result in results:
            if isinstance(result, ParseFailure):
                summary.fail(result.problem())
                continue
            summary.added += 1
            summary.warn(result.problems())
            claim = (id_rank(result.post_id, result.path, result.post[0][_PUBLISHED]), result.id_line)
            held = owners.claim(result.post_id, claim)
            if held is not None:  # both posts are kept, the other under its path (build.write)
                (keeper, _), (other, line) = sorted([held, claim])
                summary.warn([Problem(other[2], line, renamed_id(result.post_id, keeper[2], other[2]), "warning")])


_PUBLISHED = list(POST_COLUMNS).index("published_at")


class _IdOwners:
    """Which file keeps each post id a check has seen, as (id_rank, line of its code), in
    a private temporary SQLite database: its pages go to a file past SQLite's small
    cache, where a dict of every id held ~300 bytes a post (tests/test_build_memory_bounded.py)."""

    def __init__(self):
        self.conn = sqlite3.connect("", isolation_level=None)  # "": a temporary file, deleted on close
        self.conn.execute("CREATE TABLE owners (post_id TEXT PRIMARY KEY, tier INTEGER, published TEXT,"
                          " path TEXT, line INTEGER) WITHOUT ROWID")
        self.conn.execute("BEGIN")  # nothing to sync: the file is thrown away

    def __enter__(self) -> _IdOwners:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()

    def claim(self, post_id: str, claim: tuple) -> tuple | None:
        """None when `post_id` is new; else the claim held before, the lower of the two
        kept."""
        (tier, published, path), line = claim
        if self.conn.execute("INSERT OR IGNORE INTO owners VALUES (?, ?, ?, ?, ?)",
                             (post_id, tier, published, path, line)).rowcount:
            return None
        tier, published, path, line = self.conn.execute(
            "SELECT tier, published, path, line FROM owners WHERE post_id = ?", (post_id,)).fetchone()
        held = ((tier, published, path), line)
        if claim < held:
            self.conn.execute("UPDATE owners SET tier = ?, published = ?, path = ?, line = ? WHERE post_id = ?",
                              (*claim[0], claim[1], post_id))
        return held


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
