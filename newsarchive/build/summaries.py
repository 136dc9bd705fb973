"""The summaries stage: what pages show of the whole archive, counted once per build.

The home chart (posts per month by category), the term trends' denominators (posts per
month, by category or language), the provenance page (photos per month by credit, the
photos run most often), the posts table's facet counts over all posts and by its three
column facets together, and the rows of
every table (what `news-archive serve` gives Datasette in place of `datasette inspect`). Counted on every
page they would grow with the archive; here each is one GROUP BY after the writes,
mostly over an index, and a full build and an update count them the same way, from
the rows the database holds, so an update equals a full build.
"""
from __future__ import annotations

import sqlite3
from typing import NamedTuple

from ..db.schema import FTS_TABLES


class SummaryQuery(NamedTuple):
    """One summary table and the SELECT that fills it, in its column order."""

    table: str
    select: str


#: monthly_posts's two groupings read the (category, published_month) and
#: (language, published_month) indexes alone.
MONTHLY_POSTS = [
    SummaryQuery("monthly_posts", f"""
        SELECT published_month, '{column}', {column}, count(*) FROM posts
        WHERE published_month IS NOT NULL GROUP BY {column}, published_month""")
    for column in ("category", "language")
]

#: What the credit_share view counts: a photo each time a post runs it.
MONTHLY_CREDITS = SummaryQuery("monthly_credits", """
    SELECT posts.published_month, captions.credit, count(*)
    FROM post_images
    JOIN posts ON posts.id = post_images.post_id
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

#: The posts page's facets as Datasette counts them over the whole table: a column
#: facet leaves NULL out; an array facet counts a value once per post that holds it
#: (at its first place in the array), NULL elements included.
COLUMN_FACETS = ("category", "language", "published_month")
ARRAY_FACETS = ("authors", "tags")
FACET_COUNTS = [
    *(SummaryQuery("_facet_counts", f"""
        SELECT '{column}', {column}, count(*) FROM posts WHERE {column} IS NOT NULL GROUP BY {column}""")
      for column in COLUMN_FACETS),
    *(SummaryQuery("_facet_counts", f"""
        SELECT '{column}', j.value, count(*) FROM posts JOIN json_each(posts.{column}) j
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
    SELECT {", ".join(COLUMN_FACETS)}, count(*) FROM posts GROUP BY {", ".join(COLUMN_FACETS)}""")

#: The photos_by_credit query's rows in its order (idx_credit_photos); uncredited
#: photos are left out, as the query cannot ask for them. The posts' dates are read
#: once from the (published_at, id) index: looked up photo by photo, each read its
#: post's row (2.0 s at 100,000 posts against 0.7 s, and 482 s against 24 s at a
#: million, into a scratch database: `sqlite3` with the archive attached read-only).
CREDIT_PHOTOS = SummaryQuery("_credit_photos", """
    WITH dates AS MATERIALIZED (SELECT id, published_at FROM posts)
    SELECT captions.credit, dates.published_at, post_images.post_id, post_images.position
    FROM dates
    JOIN post_images ON post_images.post_id = dates.id
    JOIN captions ON captions.id = post_images.caption_id
    WHERE captions.credit IS NOT NULL""")

SUMMARIES = (*MONTHLY_POSTS, MONTHLY_CREDITS, REUSED_PHOTOS, *FACET_COUNTS, FACET_CUBE, CREDIT_PHOTOS)
TABLE_ROWS = "_table_rows"


def store_summaries(conn: sqlite3.Connection) -> None:
    """Count every summary afresh, then the rows of every table (the summaries' own included)."""
    for table in {s.table for s in SUMMARIES}:
        conn.execute(f"DELETE FROM [{table}]")
    for summary in SUMMARIES:
        conn.execute(f"INSERT INTO [{summary.table}] {summary.select}")
    store_table_rows(conn)


def store_table_rows(conn: sqlite3.Connection) -> None:
    """Each table's row count, as `datasette inspect` would count it.

    A full-text index (a virtual table reading its content table) would be counted
    by reading every row of that table: its docsize table holds one row per indexed
    row, so its count is the same, read from a narrow table.
    """
    conn.execute(f"DELETE FROM [{TABLE_ROWS}]")
    names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    # SQLite's own (sqlite_stat1) are left out: a full build writes its statistics after this.
    counted = [name for name in names if name != TABLE_ROWS and not name.startswith("sqlite_")]
    rows = [(name, _count(conn, name)) for name in counted]
    rows.append((TABLE_ROWS, len(rows) + 1))
    conn.executemany(f"INSERT INTO [{TABLE_ROWS}] (name, rows) VALUES (?, ?)", rows)


def _count(conn: sqlite3.Connection, name: str) -> int:
    fts = f"{name}_docsize" if name in {f"{t}_fts" for t in FTS_TABLES} else name
    return conn.execute(f"SELECT count(*) FROM [{fts}]").fetchone()[0]
