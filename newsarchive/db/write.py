"""Posts in and out of the database: their rows, the lookups they leave behind, link targets.

The hot insert path is plain executemany with the statements derived from the
declaration (db.schema): per-row type sniffing is not needed for a fixed schema.
"""
from __future__ import annotations

import sqlite3

from ..parse import Record
from .schema import CHILDREN, FTS_TABLES, INSERT, LOOKUPS, POST_COLUMNS

#: Tables in the order a packed post holds their rows (see pack).
PACKED_TABLES = LOOKUPS + CHILDREN

#: A post as the parser workers send it to the writer (see pack): the post's values in
#: POST_COLUMNS order, then one list of rows per table in PACKED_TABLES order.
PackedPost = tuple[tuple, tuple[list, ...]]


def pack(record: Record) -> PackedPost:
    """A post's rows as plain tuples.

    Workers send every post to the writer, which unpickles it on its one core: ~55 us
    a post for a Record (a dataclass holding dicts keyed by column name), ~35 us for
    these tuples. Rows built as schema.ROW types become plain tuples here: unpickling
    a NamedTuple costs the writer a Python call per row.
    """
    rows = record.rows
    return tuple([record.post[c] for c in POST_COLUMNS]), tuple([list(map(tuple, rows[t])) for t in PACKED_TABLES])


def write_record(conn: sqlite3.Connection, record: Record) -> None:
    write_records(conn, [pack(record)])


#: A full build indexes each batch of posts as it goes (see write_records).
_INDEX_NEW_POSTS = "INSERT INTO posts_fts (rowid, {0}) SELECT rowid, {0} FROM posts WHERE rowid > ?".format(
    ", ".join(f"[{c}]" for c in FTS_TABLES["posts"])
)


def write_records(conn: sqlite3.Connection, posts: list[PackedPost], index_posts: bool = False) -> None:
    """Insert a batch of packed posts with all their rows, one executemany per table.

    With `index_posts` (a full build, whose insert trigger is set aside: see
    schema.add_fts), the batch's posts also go into the full-text index, read back
    from the pages just written. Tokenising them here overlaps the workers' parsing
    of the next posts; done in one statement after the inserts, the same work ran on
    one core with the other idle (~8 s at 100,000 posts).
    """
    for index, table in enumerate(PACKED_TABLES):
        if table == CHILDREN[0]:
            if index_posts:
                (last,) = conn.execute("SELECT max(rowid) FROM posts").fetchone()
            conn.executemany(INSERT["posts"], [values for values, _ in posts])
            if index_posts:
                conn.execute(_INDEX_NEW_POSTS, (last or 0,))
        rows = [row for _, tables in posts for row in tables[index]]
        if rows:
            conn.executemany(INSERT[table], rows)


class DeletedRefs:
    """What deleted posts referred to: the only lookup rows that may now be orphans,
    and the only link targets that may now resolve differently.

    Kept in temporary tables of the connection, which the writer spills to a file
    (temp_store FILE), not in Python sets: an update that deletes or changes every
    post would otherwise hold every key, image, caption, tag and author of the archive
    (~500 bytes a post, tests/test_build_memory_bounded.py).
    """

    #: (kind, what one deleted post, by id, refers to of that kind).
    SOURCES = (
        ("keys", "SELECT url_key AS v FROM posts WHERE id = ?"),
        ("categories", "SELECT category AS v FROM posts WHERE id = ?"),
        ("languages", "SELECT language AS v FROM posts WHERE id = ?"),
        ("images", "SELECT lead_image_id AS v FROM posts WHERE id = ?"),
        ("images", "SELECT image_id AS v FROM post_images WHERE post_id = ?"),
        ("captions", "SELECT caption_id AS v FROM post_images WHERE post_id = ?"),
        ("tags", "SELECT tag AS v FROM post_tags WHERE post_id = ?"),
        ("authors", "SELECT author AS v FROM post_authors WHERE post_id = ?"),
    )
    KINDS = ("keys", "categories", "languages", "images", "captions", "credits", "tags", "authors")

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        for kind in self.KINDS:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _deleted_{kind} (value PRIMARY KEY) WITHOUT ROWID")
            conn.execute(f"DELETE FROM {self.table(kind)}")

    def note(self, post_ids: list[str]) -> None:
        """Add what the posts `post_ids` (still in the database) refer to."""
        params = [(i,) for i in post_ids]
        for kind, source in self.SOURCES:
            self.add(kind, source, params)

    def add(self, kind: str, source: str, params) -> None:
        """The values `source` reads (column `v`, one query for each of `params`)."""
        self.conn.executemany(f"INSERT OR IGNORE INTO {self.table(kind)} SELECT v FROM ({source})"
                              " WHERE v IS NOT NULL", params)

    def values(self, kind: str):
        """A cursor over the values of one kind, a row each."""
        return self.conn.execute(f"SELECT value FROM {self.table(kind)}")

    @staticmethod
    def table(kind: str) -> str:
        return f"temp._deleted_{kind}"


def delete_posts(conn: sqlite3.Connection, post_ids: list[str], refs: DeletedRefs) -> None:
    """Remove posts and the rows that hang off them, noting in `refs` what they referred
    to (prune_orphans then sweeps those lookups)."""
    refs.note(post_ids)
    params = [(pid,) for pid in post_ids]
    for table in CHILDREN:
        conn.executemany(f"DELETE FROM {table} WHERE post_id = ?", params)
    conn.executemany("UPDATE links SET target_post_id = NULL WHERE target_post_id = ?", params)
    conn.executemany("DELETE FROM posts WHERE id = ?", params)


#: Each lookup a deleted post may have left unused, and how to delete one (its key in
#: every `?`) unless a row still uses it.
_SWEEPS = (
    ("images", "DELETE FROM images WHERE id = ? AND NOT EXISTS (SELECT 1 FROM post_images WHERE image_id = ?)"
               " AND NOT EXISTS (SELECT 1 FROM posts WHERE lead_image_id = ?)"),
    ("captions", "DELETE FROM captions WHERE id = ? AND NOT EXISTS (SELECT 1 FROM post_images WHERE caption_id = ?)"),
    ("credits", "DELETE FROM credits WHERE name = ? AND NOT EXISTS (SELECT 1 FROM captions WHERE credit = ?)"),
    ("categories", "DELETE FROM categories WHERE name = ? AND NOT EXISTS (SELECT 1 FROM posts WHERE category = ?)"),
    ("languages", "DELETE FROM languages WHERE code = ? AND NOT EXISTS (SELECT 1 FROM posts WHERE language = ?)"),
    ("tags", "DELETE FROM tags WHERE name = ? AND NOT EXISTS (SELECT 1 FROM post_tags WHERE tag = ?)"),
    ("authors", "DELETE FROM authors WHERE name = ? AND NOT EXISTS (SELECT 1 FROM post_authors WHERE author = ?)"),
)


def prune_orphans(conn: sqlite3.Connection, refs: DeletedRefs) -> None:
    """Delete the lookup rows deleted posts referred to that no post uses any more, so
    an incremental build equals a full one. Only those rows are looked at, one key at
    a time by index, read from `refs` as they are swept (each sweep reads one table and
    deletes from another). The credits are those of the captions about to be swept."""
    refs.add("credits", "SELECT credit AS v FROM captions WHERE id = ?", refs.values("captions"))
    for kind, sql in _SWEEPS:
        width = sql.count("?")
        conn.executemany(sql, ((value,) * width for (value,) in refs.values(kind)))


def resolve_fresh_link_targets(conn: sqlite3.Connection) -> None:
    """Point each link at the post whose origin_url it names (by url_key), if any, in a
    database whose links have no target yet (a full build).

    One pass over the posts' keys, joined to the links by their index, instead of a
    lookup per link (100,000 posts: 1.46 -> 0.97 s, side by side; a test holds it to
    resolve_link_targets).
    """
    conn.execute(
        """
        UPDATE links SET target_post_id = targets.id
        FROM (SELECT url_key, id FROM (
                SELECT url_key, id, row_number() OVER (
                    PARTITION BY url_key ORDER BY published_at IS NULL, published_at, id) AS n
                FROM posts WHERE url_key IS NOT NULL)
              WHERE n = 1) AS targets
        WHERE links.target_key = targets.url_key
        """
    )


def resolve_link_targets(conn: sqlite3.Connection, post_ids=None, keys=None, deleted: DeletedRefs | None = None) -> None:
    """Point each link at the post whose origin_url it names (by url_key), if any: of
    posts that share one, the earliest published, then the lowest id (as duplicate
    ids are settled, so a copy that sorts first by path does not take the links).

    With `post_ids`/`keys` (an incremental build), only links of those posts and
    links naming those keys, or the keys of the `deleted` posts, are looked at;
    otherwise every link.
    """
    scope = ""
    if post_ids is not None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _changed_posts (id TEXT PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _changed_keys (key TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM _changed_posts")
        conn.execute("DELETE FROM _changed_keys")
        conn.executemany("INSERT OR IGNORE INTO _changed_posts VALUES (?)", [(i,) for i in post_ids])
        conn.executemany("INSERT OR IGNORE INTO _changed_keys VALUES (?)", [(k,) for k in keys or () if k])
        if deleted is not None:
            conn.execute(f"INSERT OR IGNORE INTO _changed_keys SELECT value FROM {deleted.table('keys')}")
        scope = (
            " AND (post_id IN (SELECT id FROM temp._changed_posts)"
            " OR target_key IN (SELECT key FROM temp._changed_keys))"
        )
    target = """(SELECT posts.id FROM posts WHERE posts.url_key = links.target_key
                 ORDER BY posts.published_at IS NULL, posts.published_at, posts.id LIMIT 1)"""
    conn.execute(
        f"""
        UPDATE links SET target_post_id = {target}
        WHERE target_key IS NOT NULL{scope} AND target_post_id IS NOT {target}
        """
    )
