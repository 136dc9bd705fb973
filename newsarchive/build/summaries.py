"""The summaries stage: what pages show of the whole archive, kept by every build.

The home chart (posts per month by category), the term trends' denominators (posts per
month, by category or language), the provenance page (photos per month by credit, the
photos run most often), the posts table's facet counts over all posts and by its three
column facets together, and the rows of every table (what `news-archive serve` gives
Datasette in place of `datasette inspect`). Counted on every page they would grow with
the archive; here each is one GROUP BY after the writes, mostly over an index.

A full build counts them all. An update changes them by what its changed posts (those
it wrote and those it deleted: changed_post_ids) contributed: each query below runs
once over those posts in the database being replaced (what they counted for before)
and once in the new one (what they count for now), and the difference is applied to
the summaries the update copied. Every other post's rows are as they were, so the
result is a full count's:
- monthly_posts, monthly_credits, _facet_counts, _facet_cube: sums per key. The
  differences are added in place; when a key appears or goes (its count comes to 0),
  the table is written again in the order a full build writes it (_rewrite), so its
  rows, rowids included, are a full build's.
- _credit_photos: the changed posts' old rows out, their new rows in.
- reused_photos: counted again for each photo a changed post runs or ran.
- `_table_rows`: the stored count plus the difference for the tables whose rows come
  and go with posts (POST_ROWS, their full-text indexes, and each lookup, whose rows
  only a changed post can add or leave unused: LOOKUP_KEYS); every other table (the
  relations', the full-text indexes' segments, the build's record) counted again.

An update counts everything instead when its changed posts are more than DELTA_SHARE of
the archive, or when its summaries were counted by other rules than these
(SETTINGS_KEY in `_relations`), or do not add up (a count would go below 0).

A one-file update of 20,000 posts (bench/generate.py) spent 0.27 s here counting
everything and 0.03 s keeping the summaries, medians of 9 runs each, interleaved; of
those 0.03 s, 0.015 s count the tables not kept (posts_fts_data the most, 0.008 s):
docs/performance.md, "One file changed".
"""
from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from ..db.bookkeeping import store_settings, stored_settings
from ..db.files import open_read_only
from ..db.schema import CHILDREN, FTS_TABLES, LOOKUPS, TABLES
from .filelist import FileList

#: The posts a query of this module counts: all of them, or the changed ones (a temp
#: table of their ids, in each of the two databases).
ALL_POSTS = "posts"
CHANGED = "temp.summary_changed"
CHANGED_POSTS = f"(SELECT * FROM posts WHERE id IN (SELECT id FROM {CHANGED})) AS posts"


class SummaryQuery(NamedTuple):
    """One summary table and the SELECT that fills it, in its column order; `{posts}`
    stands for the posts it counts (ALL_POSTS or CHANGED_POSTS)."""

    table: str
    select: str

    def sql(self, posts: str = ALL_POSTS) -> str:
        return self.select.format(posts=posts)


#: monthly_posts's two groupings read the (category, published_month) and
#: (language, published_month) indexes alone.
MONTHLY_POSTS = [
    SummaryQuery("monthly_posts", f"""
        SELECT published_month, '{column}', {column}, count(*) FROM {{posts}}
        WHERE published_month IS NOT NULL GROUP BY {column}, published_month""")
    for column in ("category", "language")
]

#: What the credit_share view counts: a photo each time a post runs it.
MONTHLY_CREDITS = SummaryQuery("monthly_credits", """
    SELECT posts.published_month, captions.credit, count(*)
    FROM post_images
    JOIN {posts} ON posts.id = post_images.post_id
    LEFT JOIN captions ON captions.id = post_images.caption_id
    WHERE posts.published_month IS NOT NULL
    GROUP BY posts.published_month, captions.credit""")

#: Each photo run in more than one post, with how many: from the image_id index, then
#: only those photos' rows.
REUSED_PHOTOS = SummaryQuery("reused_photos", """
    SELECT post_images.image_id, count(DISTINCT post_images.post_id) AS posts
    FROM (SELECT image_id FROM post_images GROUP BY image_id HAVING count(*) > 1) AS multi
    JOIN post_images ON post_images.image_id = multi.image_id
    GROUP BY post_images.image_id HAVING posts > 1""")
#: The same for some photos (a JSON array of their ids), each looked up in that index.
REUSED_AMONG = """
    SELECT j.value, (SELECT count(DISTINCT post_id) FROM post_images WHERE image_id = j.value) AS posts
    FROM json_each(?) j WHERE posts > 1"""

#: The posts page's facets as Datasette counts them over the whole table: a column
#: facet leaves NULL out; an array facet counts a value once per post that holds it
#: (at its first place in the array), NULL elements included.
COLUMN_FACETS = ("category", "language", "published_month")
ARRAY_FACETS = ("authors", "tags")
FACET_COUNTS = [
    *(SummaryQuery("_facet_counts", f"""
        SELECT '{column}', {column}, count(*) FROM {{posts}} WHERE {column} IS NOT NULL GROUP BY {column}""")
      for column in COLUMN_FACETS),
    *(SummaryQuery("_facet_counts", f"""
        SELECT '{column}', j.value, count(*) FROM {{posts}} JOIN json_each(posts.{column}) j
        WHERE j.key = (SELECT min(k.key) FROM json_each(posts.{column}) k WHERE k.value IS j.value)
        GROUP BY j.value""")
      for column in ARRAY_FACETS),
]

#: Posts by every combination of the column facets (NULL kept: a page filtered by one
#: facet column still counts the posts whose others are NULL), so that a page filtered
#: by those columns alone sums a few of these rows (newsarchive.site.facet_cube) where
#: Datasette would count every matching post, reading each row for the columns no index
#: holds together (12 s for the languages of 239,399 posts at a million).
FACET_CUBE = SummaryQuery("_facet_cube", f"""
    SELECT {", ".join(COLUMN_FACETS)}, count(*) FROM {{posts}} GROUP BY {", ".join(COLUMN_FACETS)}""")

#: The photos_by_credit query's rows in its order (idx_credit_photos); uncredited
#: photos are left out, as the query cannot ask for them. The posts' dates are read
#: once from the (published_at, id) index: looked up photo by photo, each read its
#: post's row (2.0 s at 100,000 posts against 0.7 s, and 482 s against 24 s at a
#: million, into a scratch database: `sqlite3` with the archive attached read-only).
CREDIT_PHOTOS = SummaryQuery("_credit_photos", """
    WITH dates AS MATERIALIZED (SELECT id, published_at FROM {posts})
    SELECT captions.credit, dates.published_at, post_images.post_id, post_images.position
    FROM dates
    JOIN post_images ON post_images.post_id = dates.id
    JOIN captions ON captions.id = post_images.caption_id
    WHERE captions.credit IS NOT NULL""")
#: One row of it, by the whole key of idx_credit_photos.
CREDIT_PHOTO_ROW = ("DELETE FROM _credit_photos WHERE credit = ? AND published_at IS ? AND post_id = ?"
                    " AND position = ?")

SUMMARIES = (*MONTHLY_POSTS, MONTHLY_CREDITS, REUSED_PHOTOS, *FACET_COUNTS, FACET_CUBE, CREDIT_PHOTOS)
#: The summaries that are sums of a count per key (the last column), in the order a
#: build writes their rows.
COUNTED = {
    "monthly_posts": "facet, value, month",
    "monthly_credits": "month, credit",
    "_facet_counts": "facet, value",
    "_facet_cube": "category, language, published_month",
}
TABLE_ROWS = "_table_rows"
#: Scratch tables: a summary's counts, and the changed posts' difference to them.
SUMS = "temp.summary_sums"
DELTA = "temp.summary_delta"

#: Above this share of the archive's posts changed, an update counts everything: the
#: changed posts are read twice, each by its key, where a full count reads indexes in
#: order. At 20,000 posts with 2,000 changed, the two cost about the same: the stage
#: took 0.21-0.23 s keeping the summaries, 0.25-0.26 s counting them (two runs each,
#: DELTA_SHARE set to 0.1 and 0 for an update after a sentence appended to 2,000 posts).
DELTA_SHARE = 0.1
#: The rules the summaries were counted by, kept in `_relations` under SETTINGS_KEY: an
#: update keeps only summaries counted by the same ones.
SETTINGS_KEY = "summaries"
RULES = hashlib.sha256("\n".join([*(s.select for s in SUMMARIES), *COUNTED.values()]).encode()).hexdigest()

#: The tables of one row per post, or of rows hanging off one post: their rows are
#: counted for the changed posts in both databases (the column naming the post).
POST_ROWS = {"posts": "id", "_files": "post_id", **{table: "post_id" for table in CHILDREN}}
#: A full-text index holds one row per row of its table (its docsize rows: _count).
FTS_MIRRORS = {f"{table}_fts": table for table in FTS_TABLES}
#: Each lookup, its key, and the keys the changed posts refer to: only those rows can
#: be added (by a written post) or swept (as a deleted post's: db.write.prune_orphans).
LOOKUP_KEYS = {
    "categories": ("name", f"SELECT category FROM {CHANGED_POSTS}"),
    "languages": ("code", f"SELECT language FROM {CHANGED_POSTS}"),
    "images": ("id", f"SELECT lead_image_id FROM {CHANGED_POSTS}"
                     f" UNION SELECT image_id FROM post_images WHERE post_id IN (SELECT id FROM {CHANGED})"),
    "captions": ("id", f"SELECT caption_id FROM post_images WHERE post_id IN (SELECT id FROM {CHANGED})"),
    "credits": ("name", "SELECT DISTINCT captions.credit FROM post_images JOIN captions"
                        f" ON captions.id = post_images.caption_id WHERE post_images.post_id IN (SELECT id FROM {CHANGED})"),
    "tags": ("name", f"SELECT tag FROM post_tags WHERE post_id IN (SELECT id FROM {CHANGED})"),
    "authors": ("name", f"SELECT author FROM post_authors WHERE post_id IN (SELECT id FROM {CHANGED})"),
}
assert set(LOOKUP_KEYS) == set(LOOKUPS)

_COLUMNS = {table.name: list(table.columns) for table in TABLES}


class ChangedPosts(NamedTuple):
    """What an update changed: the database it replaces (unchanged until the swap),
    and the ids of the posts it wrote or deleted, each once or more."""

    old_db: Path
    ids: Iterable[str]


class _Unsound(Exception):
    """The summaries copied do not match the database they were copied from."""


def store_summaries(conn: sqlite3.Connection, changed: ChangedPosts | None = None) -> str:
    """Count the summaries, then the rows of every table (the summaries' own included):
    all of them, or (`changed`: an update) by the changed posts' difference where that
    is sound. Returns how: "full" or "delta"."""
    if changed is not None:
        old = _open_old(changed.old_db)
        if old is not None:
            try:
                if _keep(conn, old, changed.ids):
                    return "delta"
            finally:
                old.close()
                for scratch in (CHANGED, DELTA):
                    conn.execute(f"DROP TABLE IF EXISTS {scratch}")
    for table in {s.table for s in SUMMARIES} - set(COUNTED):
        conn.execute(f"DELETE FROM [{table}]")
    for summary in SUMMARIES:
        if summary.table not in COUNTED:
            conn.execute(f"INSERT INTO [{summary.table}] {summary.sql()}")
    for table in COUNTED:
        _rewrite(conn, table, [s.sql() for s in SUMMARIES if s.table == table], [])
    store_settings(conn, RULES, SETTINGS_KEY)
    store_table_rows(conn)
    return "full"


def _open_old(path: Path) -> sqlite3.Connection | None:
    try:
        return open_read_only(path, isolation_level=None)
    except sqlite3.Error:
        return None


def _keep(conn: sqlite3.Connection, old: sqlite3.Connection, ids: Iterable[str]) -> bool:
    """Apply the changed posts' difference, if that is sound and cheaper; False if not
    (nothing written then)."""
    if stored_settings(conn, SETTINGS_KEY) != RULES:  # the copy's, as the old database's
        return False
    stored = dict(conn.execute(f"SELECT name, rows FROM [{TABLE_ROWS}]"))
    if not _note_changed(conn, ids, DELTA_SHARE * max(stored.get("posts", 0), 1)):
        return False
    old.execute(f"CREATE TEMP TABLE {CHANGED} (id TEXT PRIMARY KEY) WITHOUT ROWID")
    old.executemany(f"INSERT INTO {CHANGED} (id) VALUES (?)", conn.execute(f"SELECT id FROM {CHANGED}").fetchall())
    conn.execute("SAVEPOINT summaries")
    try:
        counts = _apply(conn, old)
        rows_now = _table_rows_after(conn, old, stored, counts)
    except _Unsound:
        conn.execute("ROLLBACK TO summaries")
        conn.execute("RELEASE summaries")
        return False
    conn.execute("RELEASE summaries")
    _write_table_rows(conn, rows_now)
    return True


def _note_changed(conn: sqlite3.Connection, ids: Iterable[str], most: float) -> bool:
    """The changed posts' ids into CHANGED, a chunk at a time; False past `most` of them
    (the ids of a large update are not all held at once)."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {CHANGED} (id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute(f"DELETE FROM {CHANGED}")
    ids = iter(ids)
    while chunk := [(post_id,) for post_id in itertools.islice(ids, 1000)]:
        conn.executemany(f"INSERT OR IGNORE INTO {CHANGED} (id) VALUES (?)", chunk)
        if conn.execute(f"SELECT count(*) FROM {CHANGED}").fetchone()[0] > most:
            return False
    return True


def changed_post_ids(files: FileList) -> Iterator[str]:
    """The posts an update changed: those its writer wrote and those it deleted (the
    posts of the files removed or parsed again), some twice."""
    yield from files.written_ids()
    for chunk in files.gone():
        yield from (post_id for _, post_id in chunk if post_id is not None)


def _apply(conn: sqlite3.Connection, old: sqlite3.Connection) -> dict[str, int]:
    """The changed posts' difference, applied to every summary; returns how many rows
    _credit_photos and reused_photos gained (negative: lost)."""
    for table in COUNTED:
        _apply_counts(conn, old, table)
    return {"_credit_photos": _apply_credit_photos(conn, old), "reused_photos": _apply_reused(conn, old)}


def _apply_counts(conn: sqlite3.Connection, old: sqlite3.Connection, table: str) -> None:
    """Add the changed posts' counts now and subtract those they had, key by key: in
    place when every key stays, else by writing the table again in its order."""
    queries = [s for s in SUMMARIES if s.table == table]
    before = [row for s in queries for row in old.execute(s.sql(CHANGED_POSTS))]
    columns = _COLUMNS[table]
    keys, count = columns[:-1], columns[-1]
    _sum_into(conn, table, DELTA, [s.sql(CHANGED_POSTS) for s in queries], before)
    (changed,) = conn.execute(f"SELECT count(*) FROM {DELTA}").fetchone()
    if changed == 0:
        return
    conn.execute(f"CREATE INDEX {DELTA}_keys ON {DELTA.split('.')[1]} ({', '.join(keys)})")
    same = " AND ".join(f"t.{key} IS d.{key}" for key in keys)
    found, going, negative, found_losing = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE t.{count} + d.{count} = 0),"
        f" count(*) FILTER (WHERE t.{count} + d.{count} < 0), count(*) FILTER (WHERE d.{count} < 0)"
        f" FROM main.[{table}] t JOIN {DELTA} d ON {same}").fetchone()
    (losing,) = conn.execute(f"SELECT count(*) FROM {DELTA} WHERE {count} < 0").fetchone()
    if negative or found_losing < losing:  # a count below 0, or one to subtract from that the table lacks
        raise _Unsound(table)
    if found == changed and not going:
        conn.execute(f"UPDATE main.[{table}] AS t SET {count} = t.{count} + d.{count} FROM {DELTA} d WHERE {same}")
    else:
        _rewrite(conn, table, [f"SELECT * FROM main.[{table}]", f"SELECT * FROM {DELTA}"], [])


def _sum_into(conn: sqlite3.Connection, table: str, into: str, adding: list[str], subtracting: list[tuple]) -> None:
    """Into a new temp table `into` of `table`'s columns: per key, the sum of the counts
    the `adding` queries give less those of `subtracting` (rows in the table's column
    order), keys whose sum is 0 left out. Made of `table`'s columns, the scratch gives
    every value the table's type before keys are compared."""
    scratch = "temp.summary_rows"
    for name in (scratch, into):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        conn.execute(f"CREATE TABLE {name} AS SELECT * FROM main.[{table}] WHERE 0")
    for sql in adding:
        conn.execute(f"INSERT INTO {scratch} {sql}")
    columns = _COLUMNS[table]
    if subtracting:
        conn.executemany(f"INSERT INTO {scratch} VALUES ({', '.join('?' for _ in columns)})",
                         [(*row[:-1], -row[-1]) for row in subtracting])
    keys, count = ", ".join(columns[:-1]), columns[-1]
    conn.execute(f"INSERT INTO {into} SELECT {keys}, sum({count}) FROM {scratch} GROUP BY {keys}"
                 f" HAVING sum({count}) != 0")
    conn.execute(f"DROP TABLE {scratch}")


def _rewrite(conn: sqlite3.Connection, table: str, adding: list[str], subtracting: list[tuple]) -> None:
    """Write `table` (a COUNTED one) afresh from the sums _sum_into gives, in COUNTED's
    order: a full build and an update write the same rows in the same order."""
    _sum_into(conn, table, SUMS, adding, subtracting)
    (negative,) = conn.execute(f"SELECT count(*) FROM {SUMS} WHERE {_COLUMNS[table][-1]} < 0").fetchone()
    if negative:
        raise _Unsound(table)
    conn.execute(f"DELETE FROM main.[{table}]")
    conn.execute(f"INSERT INTO main.[{table}] SELECT * FROM {SUMS} ORDER BY {COUNTED[table]}")
    conn.execute(f"DROP TABLE {SUMS}")


def _apply_credit_photos(conn: sqlite3.Connection, old: sqlite3.Connection) -> int:
    """The changed posts' old rows out (each by its whole key), their new rows in."""
    gone = old.execute(CREDIT_PHOTOS.sql(CHANGED_POSTS)).fetchall()
    before = conn.total_changes
    conn.executemany(CREDIT_PHOTO_ROW, gone)
    if conn.total_changes - before != len(gone):
        raise _Unsound("_credit_photos")
    added = conn.execute(f"INSERT INTO _credit_photos {CREDIT_PHOTOS.sql(CHANGED_POSTS)}").rowcount
    return added - len(gone)


def _apply_reused(conn: sqlite3.Connection, old: sqlite3.Connection) -> int:
    """The photos a changed post runs or ran, counted again."""
    sql = f"SELECT DISTINCT image_id FROM post_images WHERE post_id IN (SELECT id FROM {CHANGED})"
    images = json.dumps(sorted({row[0] for db in (conn, old) for row in db.execute(sql)}))
    (held,) = conn.execute("SELECT count(*) FROM reused_photos WHERE image_id IN (SELECT value FROM json_each(?))",
                           (images,)).fetchone()
    conn.execute("DELETE FROM reused_photos WHERE image_id IN (SELECT value FROM json_each(?))", (images,))
    added = conn.execute(f"INSERT INTO reused_photos {REUSED_AMONG}", (images,)).rowcount
    return added - held


def _table_rows_after(conn: sqlite3.Connection, old: sqlite3.Connection, stored: dict[str, int],
                      gained: dict[str, int]) -> list[tuple[str, int]]:
    """Every table's rows after an update: the stored count plus what the changed posts
    (or this stage) added for the tables whose rows change only with them, a fresh
    count for the rest."""
    delta = dict(gained)
    for table, column in POST_ROWS.items():
        sql = f"SELECT count(*) FROM [{table}] WHERE {column} IN (SELECT id FROM {CHANGED})"
        delta[table] = conn.execute(sql).fetchone()[0] - old.execute(sql).fetchone()[0]
    for table, (key, refs) in LOOKUP_KEYS.items():
        keys = json.dumps(sorted({row[0] for db in (conn, old) for row in db.execute(refs) if row[0] is not None},
                                 key=repr))
        sql = f"SELECT count(*) FROM [{table}] WHERE {key} IN (SELECT value FROM json_each(?))"
        delta[table] = conn.execute(sql, (keys,)).fetchone()[0] - old.execute(sql, (keys,)).fetchone()[0]
    for fts, table in FTS_MIRRORS.items():
        delta[fts] = delta[table]
    rows = []
    for name in _counted_tables(conn):
        if name in delta and name in stored:
            rows.append((name, stored[name] + delta[name]))
        else:
            rows.append((name, _count(conn, name)))
    return rows


def store_table_rows(conn: sqlite3.Connection) -> None:
    """Each table's row count, as `datasette inspect` would count it.

    A full-text index (a virtual table reading its content table) would be counted
    by reading every row of that table: its docsize table holds one row per indexed
    row, so its count is the same, read from a narrow table.
    """
    _write_table_rows(conn, [(name, _count(conn, name)) for name in _counted_tables(conn)])


def _counted_tables(conn: sqlite3.Connection) -> list[str]:
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    # SQLite's own (sqlite_stat1) are left out: a full build writes its statistics after this.
    return [name for name in names if name != TABLE_ROWS and not name.startswith("sqlite_")]


def _write_table_rows(conn: sqlite3.Connection, rows: list[tuple[str, int]]) -> None:
    conn.execute(f"DELETE FROM [{TABLE_ROWS}]")
    conn.executemany(f"INSERT INTO [{TABLE_ROWS}] (name, rows) VALUES (?, ?)", [*rows, (TABLE_ROWS, len(rows) + 1)])


def _count(conn: sqlite3.Connection, name: str) -> int:
    fts = f"{name}_docsize" if name in FTS_MIRRORS else name
    return conn.execute(f"SELECT count(*) FROM [{fts}]").fetchone()[0]
