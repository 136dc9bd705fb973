"""Rows -> the database: the schema (our public API), writes, FTS, link targets, checks.

Schema creation goes through sqlite-utils so tables, foreign keys, indexes and FTS are
declared the way Datasette expects; the hot insert path uses plain executemany on the
same connection, because per-row type sniffing is not needed for a fixed schema.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

import sqlite_utils

from ..parse import Record

#: The order rows of one post are written in: lookups before the rows that point to them.
LOOKUPS = ("categories", "languages", "images", "credits", "captions", "tags")
CHILDREN = ("post_images", "links", "post_tags")

#: The small columns come first and the long texts last: SQLite keeps the start of a
#: row on its b-tree page and the rest in overflow pages, so a column after the body
#: costs a walk through the body's overflow chain. With `path` or `word_count` after
#: the texts, scanning it over 100,000 posts took 0.35 s; in front of them, 0.12 s.
#: body_text precedes body because search (FTS5 reads it from here) and its
#: snippets need it more often than anything but the article page needs body.
POST_COLUMNS = {
    "id": str,
    "title": str,
    "title_source": str,
    "description": str,
    "category_id": int,
    "language_id": int,
    "published_at": str,
    "published_month": str,
    "date_source": str,
    "code_time": str,
    "origin_url": str,
    "source_domain": str,
    "url_key": str,
    "lead_image_id": int,
    "word_count": int,
    "image_count": int,
    "link_count": int,
    "path": str,
    "sha256": str,
    "file_format": str,
    "extra": str,
    "title_words": str,
    "description_words": str,
    "body_text": str,
    "body": str,
    "frontmatter": str,
}

_INSERT = {
    "categories": "INSERT OR IGNORE INTO categories (id, name) VALUES (?, ?)",
    "languages": "INSERT OR IGNORE INTO languages (id, code) VALUES (?, ?)",
    "images": "INSERT OR IGNORE INTO images (id, url) VALUES (?, ?)",
    "credits": "INSERT OR IGNORE INTO credits (id, name) VALUES (?, ?)",
    "captions": "INSERT OR IGNORE INTO captions (id, text, credit_id, credit_kind, text_words) VALUES (?, ?, ?, ?, ?)",
    "tags": "INSERT OR IGNORE INTO tags (id, name) VALUES (?, ?)",
    "post_images": "INSERT INTO post_images (post_id, position, image_id, role, alt, caption_id) VALUES (?, ?, ?, ?, ?, ?)",
    "links": "INSERT INTO links (post_id, position, url, text, domain, target_key) VALUES (?, ?, ?, ?, ?, ?)",
    "post_tags": "INSERT OR IGNORE INTO post_tags (post_id, tag_id, field) VALUES (?, ?, ?)",
}
_INSERT_POST = "INSERT INTO posts ({}) VALUES ({})".format(
    ", ".join(POST_COLUMNS), ", ".join("?" for _ in POST_COLUMNS)
)

#: What full-text search indexes. Titles, descriptions and captions are kept as
#: published; the *_words columns hold a copy with the word boundaries of Thai and
#: other scripts written without spaces marked (see newsarchive.text.words), and are NULL
#: where that copy would be the text itself (almost always). Indexing both keeps the
#: index an exact function of its table's columns (FTS5's integrity-check, snippets
#: and highlights read them back by name) and a plain `content="posts"` index that
#: Datasette and sqlite-utils find without configuration.
FTS_TABLES = {
    "posts": ["title", "description", "body_text", "title_words", "description_words"],
    "captions": ["text", "text_words"],
}


#: Raised when the same file would give other rows than before, with the schema unchanged
#: (kept in the database as PRAGMA user_version): an incremental build would keep the
#: old rows of every unchanged file, so such a database is rebuilt in full, once.
#: 0 (SQLite's default): before it was kept; 1: word marks in body_text (newsarchive.text.words).
PARSER_VERSION = 1


def create_schema(db: sqlite_utils.Database, indexes: bool = True) -> None:
    """Create every table of an empty database, and its indexes unless told not to.

    A full build creates the indexes after inserting (create_indexes): building an
    index once over sorted data is cheaper than keeping it up to date row by row.
    Full-text indexes are created by add_fts.
    """
    db["categories"].create({"id": int, "name": str}, pk="id")
    db["languages"].create({"id": int, "code": str}, pk="id")
    db["images"].create({"id": int, "url": str}, pk="id")
    db["credits"].create({"id": int, "name": str}, pk="id")
    db["captions"].create(
        {"id": int, "text": str, "credit_id": int, "credit_kind": str, "text_words": str},
        pk="id",
        foreign_keys=[("credit_id", "credits", "id")],
    )
    db["tags"].create({"id": int, "name": str}, pk="id")
    db["posts"].create(
        POST_COLUMNS,
        pk="id",
        foreign_keys=[
            ("category_id", "categories", "id"),
            ("language_id", "languages", "id"),
            ("lead_image_id", "images", "id"),
        ],
    )
    db["post_images"].create(
        {"post_id": str, "position": int, "image_id": int, "role": str, "alt": str, "caption_id": int},
        pk=("post_id", "position"),
        foreign_keys=[("post_id", "posts", "id"), ("image_id", "images", "id"), ("caption_id", "captions", "id")],
    )
    db["links"].create(
        {"post_id": str, "position": int, "url": str, "text": str, "domain": str, "target_key": str, "target_post_id": str},
        pk=("post_id", "position"),
        foreign_keys=[("post_id", "posts", "id"), ("target_post_id", "posts", "id")],
    )
    db["post_tags"].create(
        {"post_id": str, "tag_id": int, "field": str},
        pk=("post_id", "tag_id", "field"),
        foreign_keys=[("post_id", "posts", "id"), ("tag_id", "tags", "id")],
    )
    db["builds"].create(
        {
            "id": int, "started_at": str, "finished_at": str, "mode": str, "seen": int, "added": int,
            "updated": int, "unchanged": int, "removed": int, "failed": int, "skipped": int,
            "posts": int, "version": str,
        },
        pk="id",
    )
    db["build_errors"].create(
        {"build_id": int, "path": str, "line": int, "level": str, "message": str},
        foreign_keys=[("build_id", "builds", "id")],
    )
    # Bookkeeping for incremental builds: what each file looked like when it was built.
    db["_files"].create(
        {"path": str, "size": int, "mtime_ns": int, "sha256": str, "post_id": str, "id_line": int}, pk="path"
    )
    if indexes:
        create_indexes(db)
    create_views(db)
    db.execute(f"PRAGMA user_version = {PARSER_VERSION}")


def create_indexes(db: sqlite_utils.Database) -> None:
    """An index on every foreign key, on published_at, and the unique natural keys."""
    for table, column in [
        ("posts", "category_id"), ("posts", "language_id"), ("posts", "lead_image_id"),
        ("posts", "published_month"), ("posts", "url_key"),
        ("posts", "path"), ("posts", "source_domain"),
        ("captions", "credit_id"), ("captions", "credit_kind"),
        ("post_images", "image_id"), ("post_images", "caption_id"),
        ("links", "target_post_id"), ("links", "target_key"), ("links", "domain"),
        ("post_tags", "tag_id"), ("build_errors", "build_id"), ("_files", "post_id"),
    ]:
        db[table].create_index([column])
    db["images"].create_index(["url"], unique=True)
    db["categories"].create_index(["name"], unique=True)
    db["languages"].create_index(["code"], unique=True)
    db["credits"].create_index(["name"], unique=True)
    db["tags"].create_index(["name"], unique=True)
    # Newest first, as the posts table is sorted: also lets Datasette page through
    # the whole table (CSV streaming) by keyset without sorting the rest each page.
    db["posts"].create_index([sqlite_utils.db.DescIndex("published_at"), "id"], index_name="idx_posts_published_at_id")
    db["posts"].create_index(["category_id", "published_month"])
    db["posts"].create_index(["language_id", "published_month"])


def create_views(db: sqlite_utils.Database) -> None:
    """Flat views for people who want one CSV rather than joins."""
    db.create_view(
        "posts_flat",
        """
        SELECT posts.id, posts.title, posts.description, posts.published_at, posts.published_month,
               categories.name AS category, languages.code AS language, posts.origin_url,
               posts.source_domain, images.url AS lead_image_url, posts.word_count,
               posts.image_count, posts.link_count, posts.path
        FROM posts
        LEFT JOIN categories ON categories.id = posts.category_id
        LEFT JOIN languages ON languages.id = posts.language_id
        LEFT JOIN images ON images.id = posts.lead_image_id
        """,
        replace=True,
    )
    db.create_view(
        "photos",
        """
        SELECT post_images.post_id, posts.title AS post_title, posts.published_at,
               post_images.position, post_images.role, images.url AS image_url,
               captions.text AS caption, credits.name AS credit, captions.credit_kind
        FROM post_images
        JOIN posts ON posts.id = post_images.post_id
        JOIN images ON images.id = post_images.image_id
        LEFT JOIN captions ON captions.id = post_images.caption_id
        LEFT JOIN credits ON credits.id = captions.credit_id
        """,
        replace=True,
    )
    db.create_view(
        "current_errors",
        """
        SELECT path, line, level, message FROM build_errors
        WHERE build_id = (SELECT max(id) FROM builds)
        """,
        replace=True,
    )


#: How much new index data FTS5 holds in memory before it writes a segment (its
#: default is 1 MiB). Fewer, larger segments mean less merging: the posts index of
#: 100,000 posts builds about a quarter faster with 16 MiB.
FTS_HASHSIZE = 16 * 1024 * 1024


def add_fts(db: sqlite_utils.Database) -> list[str]:
    """Create both FTS5 indexes, with the triggers that keep them in sync with their tables.

    A full build calls this on the empty tables and gets back the SQL of the insert
    triggers, which are set aside until fill_fts: filling an index in one statement
    per batch of rows (the posts, see write_records) or after the inserts (the
    captions) costs a third less than a trigger call per row.
    """
    set_aside = []
    for table, columns in FTS_TABLES.items():
        db[table].enable_fts(columns, fts_version="FTS5", create_triggers=True, tokenize="porter", replace=True)
        db.execute(f"INSERT INTO [{table}_fts] ([{table}_fts], rank) VALUES ('hashsize', ?)", [FTS_HASHSIZE])
        trigger = f"{table}_ai"
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [trigger]).fetchone()
        db.execute(f"DROP TRIGGER [{trigger}]")
        set_aside.append(sql)
    return set_aside


def fill_fts(db: sqlite_utils.Database, insert_triggers: list[str], tables=tuple(FTS_TABLES)) -> None:
    """Index every row of `tables` (see add_fts), then put every insert trigger back."""
    for table in tables:
        db[table].populate_fts(FTS_TABLES[table])
    for sql in insert_triggers:
        db.execute(sql)


def schema(conn: sqlite3.Connection) -> dict[str, str]:
    """Every table, index, trigger and view of a database (SQLite's own aside): name -> SQL."""
    return {
        name: sql
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        if not name.startswith("sqlite_")
    }


def expected_schema() -> dict[str, str]:
    """The schema a full build of this version creates, from an empty in-memory database."""
    conn = sqlite3.connect(":memory:")
    try:
        db = sqlite_utils.Database(conn)
        create_schema(db)
        fill_fts(db, add_fts(db))
        return schema(conn)
    finally:
        conn.close()


def schema_change(conn: sqlite3.Connection) -> str | None:
    """How a database built by us differs from what this version builds, or None.

    An incremental build keeps the database it updates, columns and all: after an
    upgrade that changed the schema (a column, an index, a column's place), it would
    leave the old one in place, so the build starts afresh instead. Only what we
    create counts: a table or view someone added for their own work is no change
    (and survives incremental builds, as before).
    """
    (parsed_by,) = conn.execute("PRAGMA user_version").fetchone()
    if parsed_by != PARSER_VERSION:
        return f"its posts were read by parser version {parsed_by}, this is {PARSER_VERSION}"
    old = schema(conn)
    for name, sql in sorted(expected_schema().items()):
        if name not in old:
            return f"{name} is new"
        if old[name] != sql:
            return f"{name} is defined differently"
    return None


#: Tables in the order a packed post holds their rows (see pack).
TABLES = LOOKUPS + CHILDREN
POST_ID, POST_URL_KEY, POST_SHA256 = (list(POST_COLUMNS).index(c) for c in ("id", "url_key", "sha256"))


def pack(record: Record) -> tuple:
    """A post's rows as plain tuples: the post's values in POST_COLUMNS order, then one
    list of rows per table in TABLES order.

    Workers send every post to the writer, which unpickles it on its one core: ~55 us
    a post for a Record (a dataclass holding dicts keyed by column name), ~35 us for
    these tuples.
    """
    rows = record.rows
    return tuple([record.post[c] for c in POST_COLUMNS]), tuple([rows[t] for t in TABLES])


def write_record(conn: sqlite3.Connection, record: Record) -> None:
    write_records(conn, [pack(record)])


#: A full build indexes each batch of posts as it goes (see write_records).
_INDEX_NEW_POSTS = "INSERT INTO posts_fts (rowid, {0}) SELECT rowid, {0} FROM posts WHERE rowid > ?".format(
    ", ".join(f"[{c}]" for c in FTS_TABLES["posts"])
)


def write_records(conn: sqlite3.Connection, posts: list[tuple], index_posts: bool = False) -> None:
    """Insert a batch of packed posts (see pack) with all their rows, one executemany per table.

    With `index_posts` (a full build, whose insert trigger is set aside: see
    add_fts), the batch's posts also go into the full-text index, read back from the
    pages just written. Tokenising them here overlaps the workers' parsing of the
    next posts; done in one statement after the inserts, the same work ran on one
    core with the other idle (~8 s at 100,000 posts).
    """
    for index, table in enumerate(TABLES):
        if table == CHILDREN[0]:
            if index_posts:
                (last,) = conn.execute("SELECT max(rowid) FROM posts").fetchone()
            conn.executemany(_INSERT_POST, [post for post, _ in posts])
            if index_posts:
                conn.execute(_INDEX_NEW_POSTS, (last or 0,))
        rows = [row for _, tables in posts for row in tables[index]]
        if rows:
            conn.executemany(_INSERT[table], rows)


@dataclass
class Touched:
    """What deleted posts referred to: the only lookup rows that may now be orphans,
    and the only link targets that may now resolve differently."""

    keys: set = field(default_factory=set)
    images: set = field(default_factory=set)
    captions: set = field(default_factory=set)
    categories: set = field(default_factory=set)
    languages: set = field(default_factory=set)
    tags: set = field(default_factory=set)


def delete_posts(conn: sqlite3.Connection, post_ids: list[str], touched: Touched | None = None) -> None:
    """Remove posts and the rows that hang off them (lookups are swept by prune_orphans)."""
    if touched is not None:
        for start in range(0, len(post_ids), 500):
            ids = post_ids[start : start + 500]
            marks = ", ".join("?" for _ in ids)
            for key, category, language, lead in conn.execute(
                f"SELECT url_key, category_id, language_id, lead_image_id FROM posts WHERE id IN ({marks})", ids
            ):
                touched.keys.add(key)
                touched.categories.add(category)
                touched.languages.add(language)
                touched.images.add(lead)
            for image, caption in conn.execute(f"SELECT image_id, caption_id FROM post_images WHERE post_id IN ({marks})", ids):
                touched.images.add(image)
                touched.captions.add(caption)
            touched.tags.update(r[0] for r in conn.execute(f"SELECT tag_id FROM post_tags WHERE post_id IN ({marks})", ids))
    params = [(pid,) for pid in post_ids]
    for table in CHILDREN:
        conn.executemany(f"DELETE FROM {table} WHERE post_id = ?", params)
    conn.executemany("UPDATE links SET target_post_id = NULL WHERE target_post_id = ?", params)
    conn.executemany("DELETE FROM posts WHERE id = ?", params)


def prune_orphans(conn: sqlite3.Connection, touched: Touched | None = None) -> None:
    """Delete lookup rows no post uses any more, so an incremental build equals a full one.

    With `touched`, only the rows deleted posts referred to are looked at (by index);
    without it, every lookup table is swept.
    """
    if touched is None:
        conn.execute(
            "DELETE FROM images WHERE id NOT IN (SELECT image_id FROM post_images)"
            " AND id NOT IN (SELECT lead_image_id FROM posts WHERE lead_image_id IS NOT NULL)"
        )
        conn.execute("DELETE FROM captions WHERE id NOT IN (SELECT caption_id FROM post_images WHERE caption_id IS NOT NULL)")
        conn.execute("DELETE FROM credits WHERE id NOT IN (SELECT credit_id FROM captions WHERE credit_id IS NOT NULL)")
        conn.execute("DELETE FROM categories WHERE id NOT IN (SELECT category_id FROM posts WHERE category_id IS NOT NULL)")
        conn.execute("DELETE FROM languages WHERE id NOT IN (SELECT language_id FROM posts WHERE language_id IS NOT NULL)")
        conn.execute("DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM post_tags)")
        return

    def sweep(sql, ids):
        conn.executemany(sql, [(i, i, i)[: sql.count("?")] for i in ids if i is not None])

    sweep(
        "DELETE FROM images WHERE id = ? AND NOT EXISTS (SELECT 1 FROM post_images WHERE image_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM posts WHERE lead_image_id = ?)",
        touched.images,
    )
    credits = {
        r[0] for i in touched.captions if i is not None
        for r in conn.execute("SELECT credit_id FROM captions WHERE id = ?", (i,))
    }
    sweep("DELETE FROM captions WHERE id = ? AND NOT EXISTS (SELECT 1 FROM post_images WHERE caption_id = ?)", touched.captions)
    sweep("DELETE FROM credits WHERE id = ? AND NOT EXISTS (SELECT 1 FROM captions WHERE credit_id = ?)", credits)
    sweep("DELETE FROM categories WHERE id = ? AND NOT EXISTS (SELECT 1 FROM posts WHERE category_id = ?)", touched.categories)
    sweep("DELETE FROM languages WHERE id = ? AND NOT EXISTS (SELECT 1 FROM posts WHERE language_id = ?)", touched.languages)
    sweep("DELETE FROM tags WHERE id = ? AND NOT EXISTS (SELECT 1 FROM post_tags WHERE tag_id = ?)", touched.tags)


def resolve_link_targets(conn: sqlite3.Connection, post_ids=None, keys=None, fresh: bool = False) -> None:
    """Point each link at the post whose origin_url it names (by url_key), if any.

    With `post_ids`/`keys` (an incremental build), only links of those posts and
    links naming those keys are looked at; otherwise every link. `fresh` says no link
    has a target yet (a full build), which allows a cheaper statement.
    """
    if post_ids is None and fresh:
        # Every target is NULL (the links were just inserted): one pass over the posts'
        # keys, joined to the links by their index, instead of a lookup per link
        # (100,000 posts: 1.46 -> 0.97 s, side by side; a test holds it to the general statement below).
        conn.execute(
            """
            UPDATE links SET target_post_id = targets.id
            FROM (SELECT url_key, min(id) AS id FROM posts WHERE url_key IS NOT NULL GROUP BY url_key) AS targets
            WHERE links.target_key = targets.url_key
            """
        )
        return
    scope = ""
    if post_ids is not None:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _changed_posts (id TEXT PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _changed_keys (key TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM _changed_posts")
        conn.execute("DELETE FROM _changed_keys")
        conn.executemany("INSERT OR IGNORE INTO _changed_posts VALUES (?)", [(i,) for i in post_ids])
        conn.executemany("INSERT OR IGNORE INTO _changed_keys VALUES (?)", [(k,) for k in keys or () if k])
        scope = (
            " AND (post_id IN (SELECT id FROM temp._changed_posts)"
            " OR target_key IN (SELECT key FROM temp._changed_keys))"
        )
    conn.execute(
        f"""
        UPDATE links SET target_post_id = (
            SELECT min(posts.id) FROM posts WHERE posts.url_key = links.target_key
        )
        WHERE target_key IS NOT NULL{scope}
          AND target_post_id IS NOT (SELECT min(posts.id) FROM posts WHERE posts.url_key = links.target_key)
        """
    )


def check(conn: sqlite3.Connection, expected_posts: int | None = None, quick: bool = False, fts_content: bool = True) -> list[str]:
    """Integrity checks run before a new database is swapped in; returns the problems."""
    return _structure_problems(conn, expected_posts, quick) + _key_problems(conn) + _fts_problems(conn, fts_content)


def check_file(path, expected_posts: int | None = None, quick: bool = False, fts_content: bool = True) -> list[str]:
    """check() on a database file, its two halves on two connections at once.

    SQLite releases the GIL while it works, so the b-tree checks and the FTS checks
    (which re-tokenise every post) run on both cores instead of one after the other.
    The foreign-key check goes with the FTS checks: at 100,000 posts integrity_check
    takes ~3.4 s, foreign_key_check ~1.1 s, FTS5's check 2.5 s (rank 0) to 6 s.
    """
    from concurrent.futures import ThreadPoolExecutor

    def run(job):
        conn = sqlite3.connect(path, timeout=600)
        try:
            return job(conn)
        finally:
            conn.close()

    with ThreadPoolExecutor(2) as pool:
        structure = pool.submit(run, lambda conn: _structure_problems(conn, expected_posts, quick))
        fts = pool.submit(run, lambda conn: _key_problems(conn) + _fts_problems(conn, fts_content))
        return structure.result() + fts.result()


def _structure_problems(conn, expected_posts, quick) -> list[str]:
    problems = []
    pragma = "quick_check" if quick else "integrity_check"
    result = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
    if result != ["ok"]:
        problems.append(f"{pragma}: " + "; ".join(result[:5]))
    if expected_posts is not None:
        count = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        if count != expected_posts:
            problems.append(f"posts holds {count} rows but {expected_posts} posts were read")
    return problems


def _key_problems(conn) -> list[str]:
    fk = conn.execute("PRAGMA foreign_key_check").fetchall()
    if fk:
        return [f"foreign_key_check: {len(fk)} rows point nowhere, e.g. {fk[0]}"]
    return []


def _fts_problems(conn, content: bool = True) -> list[str]:
    """FTS5's own integrity-check.

    With `content`, rank 1: every row is tokenised again and the index must match
    (what catches an index out of step with its table after row-by-row updates).
    Without, rank 0, the index's own structure, plus one indexed document per row:
    enough for an index just filled from its table in bulk (not row by row through
    triggers), and ~2.5x cheaper (re-tokenising was 6 of a 100,000-post full
    build's 64 s).
    """
    problems = []
    for table in FTS_TABLES:
        try:
            conn.execute(f"INSERT INTO {table}_fts({table}_fts, rank) VALUES ('integrity-check', ?)", [1 if content else 0])
        except sqlite3.DatabaseError as exc:
            problems.append(f"{table}_fts integrity-check: {exc}")
            continue
        if not content:
            (indexed,) = conn.execute(f"SELECT count(*) FROM {table}_fts_docsize").fetchone()
            (rows,) = conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()
            if indexed != rows:
                problems.append(f"{table}_fts integrity-check: {indexed} documents indexed for {rows} rows")
    return problems


def check_changed(conn: sqlite3.Connection, post_ids: list[str], expected_posts: int | None = None) -> list[str]:
    """Targeted checks for a small incremental build: the rows this build wrote.

    Whole-file checks read every page (seconds at 100,000 posts); a one-post update
    only needs to show that the posts it wrote point at rows that exist and are in
    the search index. SQLite's transactions cover the rest of the file, which was a
    copy of a database that passed the full checks.
    """
    problems = []
    for start in range(0, len(post_ids), 500):
        ids = post_ids[start : start + 500]
        marks = ", ".join("?" for _ in ids)
        for label, sql in [
            ("posts without their category/language/lead image",
             f"select count(*) from posts where id in ({marks}) and ("
             " (category_id is not null and category_id not in (select id from categories))"
             " or (language_id is not null and language_id not in (select id from languages))"
             " or (lead_image_id is not null and lead_image_id not in (select id from images)))"),
            ("photos pointing nowhere",
             f"select count(*) from post_images where post_id in ({marks}) and (image_id not in (select id from images)"
             " or (caption_id is not null and caption_id not in (select id from captions)))"),
            ("links to missing posts",
             f"select count(*) from links where post_id in ({marks}) and target_post_id is not null"
             " and target_post_id not in (select id from posts)"),
            ("tags pointing nowhere",
             f"select count(*) from post_tags where post_id in ({marks}) and tag_id not in (select id from tags)"),
        ]:
            (bad,) = conn.execute(sql, ids).fetchone()
            if bad:
                problems.append(f"{label}: {bad}")
        for rowid, title in conn.execute(f"select rowid, title from posts where id in ({marks})", ids):
            words = [w for w in re.findall(r"\w+", title or "") if len(w) > 2]
            if words:
                query = f'"{words[0]}"'
                found = conn.execute("select count(*) from posts_fts where posts_fts match ? and rowid = ?", (query, rowid)).fetchone()[0]
                if not found:
                    problems.append(f"post {rowid} is missing from posts_fts")
    if expected_posts is not None:
        count = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        if count != expected_posts:
            problems.append(f"posts holds {count} rows but {expected_posts} posts were read")
    return problems
