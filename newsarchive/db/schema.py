"""Every table of the database, declared once as data, and what is derived from it.

The schema is the project's public API. Its declaration below gives each table's
columns (in order, with types), primary key and foreign keys; then the indexes, the
views and the full-text indexes. From it come the DDL (through sqlite-utils, so
tables, foreign keys and FTS are laid out the way Datasette expects), the INSERT
statements of the writer, a named row type per table, and the schema a build
compares an existing database against.

The parse stage hands the writer one `Record` a post: `post`, a dict keyed by the
columns of `posts`, and `rows`, a dict of table -> list of tuples, each in that
table's `inserted` column order (ROW[table] names those places).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import NamedTuple

import sqlite_utils
from sqlite_utils.db import DescIndex


@dataclass(frozen=True)
class Table:
    name: str
    #: Column -> Python type (sqlite-utils maps str to TEXT, int to INTEGER), in order.
    columns: dict
    pk: str | tuple[str, ...] | None = None
    #: (column, other table, other column)
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    #: How a row is inserted: lookups shared by many posts arrive once per post that
    #: uses them, so they are inserted OR IGNORE.
    verb: str = "INSERT"
    #: Columns a row does not carry: SQLite assigns them (a rowid key) or a later step
    #: of the build fills them in (a link's target).
    filled_later: tuple[str, ...] = ()
    #: False for a table the site needs but a researcher would not: the data package
    #: (newsarchive.package) leaves it out. It stays in the database.
    in_package: bool = True

    @property
    def inserted(self) -> list[str]:
        return [c for c in self.columns if c not in self.filled_later]

    @property
    def insert_sql(self) -> str:
        names = self.inserted
        return f"{self.verb} INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"

    def row_type(self) -> type:
        """A NamedTuple of the inserted columns, named after the table (post_images -> PostImagesRow)."""
        name = "".join(part.title() for part in self.name.split("_")) + "Row"
        return NamedTuple(name, [(c, self.columns[c] | None) for c in self.inserted])


#: In the order they are created. The small lookups are keyed by their natural text
#: (`world`, `en`, `Reuters`, a tag, a name), so the columns that point at them read as
#: words in every page, facet and download. Images and captions, whose keys are long,
#: have integer ids (fields.hash_id), below 2**53 so that JavaScript and any tool that
#: reads numbers as doubles hold them exactly.
TABLES = (
    Table("categories", {"name": str}, pk="name", verb="INSERT OR IGNORE"),
    Table("languages", {"code": str}, pk="code", verb="INSERT OR IGNORE"),
    Table("images", {"id": int, "url": str}, pk="id", verb="INSERT OR IGNORE"),
    Table("credits", {"name": str}, pk="name", verb="INSERT OR IGNORE"),
    Table(
        "captions",
        {"id": int, "text": str, "credit": str, "credit_kind": str, "text_words": str},
        pk="id",
        foreign_keys=(("credit", "credits", "name"),),
        verb="INSERT OR IGNORE",
    ),
    Table("tags", {"name": str}, pk="name", verb="INSERT OR IGNORE"),
    Table("authors", {"name": str}, pk="name", verb="INSERT OR IGNORE"),
    # The small columns come first and the long texts last: SQLite keeps the start of a
    # row on its b-tree page and the rest in overflow pages, so a column after the body
    # costs a walk through the body's overflow chain. With `path` or `word_count` after
    # the texts, scanning it over 100,000 posts took 0.35 s; in front of them, 0.12 s.
    # body_text precedes body because search (FTS5 reads it from here) and its
    # snippets need it more often than anything but the article page needs body.
    # `authors` and `tags` repeat post_authors and post_tags as JSON arrays, for
    # Datasette's array facets and filters on the posts page (`_facet_array=tags`).
    Table(
        "posts",
        {
            "id": str, "title": str, "title_source": str, "description": str, "category": str,
            "language": str, "authors": str, "tags": str, "published_at": str, "published_month": str,
            "date_source": str, "code_time": str, "origin_url": str, "source_domain": str, "url_key": str,
            "lead_image_id": int, "word_count": int, "image_count": int, "link_count": int, "path": str,
            "sha256": str, "file_format": str, "extra": str, "title_words": str, "description_words": str,
            "body_text": str, "body": str, "frontmatter": str,
        },
        pk="id",
        foreign_keys=(
            ("category", "categories", "name"),
            ("language", "languages", "code"),
            ("lead_image_id", "images", "id"),
        ),
    ),
    Table(
        "post_images",
        {"post_id": str, "position": int, "image_id": int, "role": str, "alt": str, "caption_id": int},
        pk=("post_id", "position"),
        foreign_keys=(("post_id", "posts", "id"), ("image_id", "images", "id"), ("caption_id", "captions", "id")),
    ),
    Table(
        "links",
        {"post_id": str, "position": int, "url": str, "text": str, "domain": str, "target_key": str,
         "target_post_id": str},
        pk=("post_id", "position"),
        foreign_keys=(("post_id", "posts", "id"), ("target_post_id", "posts", "id")),
        filled_later=("target_post_id",),
    ),
    Table(
        "post_tags",
        {"post_id": str, "tag": str, "field": str},
        pk=("post_id", "tag", "field"),
        foreign_keys=(("post_id", "posts", "id"), ("tag", "tags", "name")),
        verb="INSERT OR IGNORE",
    ),
    Table(
        "post_authors",
        {"post_id": str, "position": int, "author": str, "field": str},
        pk=("post_id", "position"),
        foreign_keys=(("post_id", "posts", "id"), ("author", "authors", "name")),
    ),
    # Derived, not read from the file: each post's body as the site shows it, rendered
    # and sanitised by the build (newsarchive.parse.render), so no page renders Markdown
    # while a reader waits. Apart from posts, whose rows stay narrow.
    Table(
        "post_html",
        {"post_id": str, "article": str, "preview": str, "preview_cut": int},
        pk="post_id",
        foreign_keys=(("post_id", "posts", "id"),),
        in_package=False,
    ),
    Table(
        "builds",
        {
            "id": int, "started_at": str, "finished_at": str, "mode": str, "seen": int, "added": int,
            "updated": int, "unchanged": int, "removed": int, "failed": int, "skipped": int,
            "posts": int, "version": str,
        },
        pk="id",
        filled_later=("id",),
    ),
    Table(
        "build_errors",
        {"build_id": int, "path": str, "line": int, "level": str, "message": str},
        foreign_keys=(("build_id", "builds", "id"),),
    ),
    # Bookkeeping for incremental builds: what each file looked like when it was built.
    Table(
        "_files",
        {"path": str, "size": int, "mtime_ns": int, "sha256": str, "post_id": str, "id_line": int},
        pk="path",
        verb="INSERT OR REPLACE",
    ),
    # The archive's identity (archive.yml or the build's options), one row a key given:
    # the database carries its own name, licence and home site wherever it goes.
    Table("archive", {"key": str, "value": str}, pk="key"),
    # Relations between posts (newsarchive.relate), computed by the build from every
    # post after the posts are written. _post_features is what the parser workers
    # derive from each body for it: a MinHash signature of its word shingles and its
    # most frequent words, kept so an update need not read every body again.
    Table(
        "_post_features",
        {"post_id": str, "signature": bytes, "terms": bytes},
        pk="post_id",
        foreign_keys=(("post_id", "posts", "id"),),
    ),
    Table(
        "reprints",
        {"post_id": str, "original_post_id": str, "similarity": float},
        pk="post_id",
        foreign_keys=(("post_id", "posts", "id"), ("original_post_id", "posts", "id")),
    ),
    Table(
        "related_posts",
        {"post_id": str, "related_post_id": str, "rank": int, "score": float},
        pk=("post_id", "rank"),
        foreign_keys=(("post_id", "posts", "id"), ("related_post_id", "posts", "id")),
    ),
    # What the reprints stage keeps between builds, so an update recomputes only the
    # groups of the posts it changed (newsarchive.relate.reprint_index): each post's
    # bucket keys and what its groups depend on, each bucket's posts, and the settings
    # the groups were found with.
    Table(
        "_reprint_posts",
        {"post_id": str, "number": int, "sha256": str, "published_at": str, "language": str, "keys": bytes},
        pk="post_id",
        in_package=False,
    ),
    Table("_reprint_buckets", {"block": int, "keys": bytes, "posts": bytes}, pk="block", in_package=False),
    Table("_relations", {"key": str, "value": str}, pk="key", in_package=False),
    # What the related stage keeps between builds, so an update recomputes only the
    # lists that can change (newsarchive.relate.related_update): each post's terms,
    # group and vector as last computed, each word's document count, and every vector
    # entry: a row a word and part of the posts (related.post_part), its posts as a
    # JSON list, heaviest first, ties by id, and their weights (float32).
    Table(
        "_related_vectors",
        {"post_id": str, "language": str, "original": str, "terms": bytes, "vector": bytes},
        pk="post_id",
        in_package=False,
    ),
    Table("_related_words", {"language": str, "word": int, "df": int}, pk=("language", "word"), in_package=False),
    Table("_related_entries", {"language": str, "word": int, "part": int, "posts": str, "weights": bytes},
          pk=("language", "word", "part"), in_package=False),
    # Summaries of the whole archive, counted again by every build after its writes
    # (newsarchive.build.summaries), so that no page counts every post per request:
    # posts per month by category and by language (facet 'category' or 'language'; a
    # month's total is the sum of its category rows), photos per month by credit, the
    # photos run in more than one post, the posts table's facet counts over all posts
    # and by its three column facets together, and the rows of every table.
    Table("monthly_posts", {"month": str, "facet": str, "value": str, "posts": int}),
    Table("monthly_credits", {"month": str, "credit": str, "photos": int}),
    Table("reused_photos", {"image_id": int, "posts": int}, pk="image_id",
          foreign_keys=(("image_id", "images", "id"),)),
    Table("_facet_counts", {"facet": str, "value": str, "posts": int}, in_package=False),
    # Posts by category, language and month together: a page filtered by those columns
    # alone is counted from its few rows (newsarchive.site.facet_cube).
    Table("_facet_cube", {"category": str, "language": str, "published_month": str, "posts": int},
          in_package=False),
    Table("_table_rows", {"name": str, "rows": int}, pk="name", in_package=False),
    # Each credited photo with its post's date, so the photos_by_credit query reads one
    # credit's photos newest first from an index (idx_credit_photos) and stops at the
    # page's rows: ordered by posts.published_at through the joins, SQLite sorted all
    # 455,959 Reuters photos of a million posts and hit Datasette's time limit.
    Table("_credit_photos", {"credit": str, "published_at": str, "post_id": str, "position": int}),
)


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple
    unique: bool = False
    name: str | None = None  # None: sqlite-utils' idx_<table>_<columns>


#: An index on every foreign key, on the columns pages filter and sort by, and the
#: unique natural keys of the lookups; in the order they are created.
INDEXES = (
    *(Index(table, (column,)) for table, column in [
        ("posts", "category"), ("posts", "language"), ("posts", "lead_image_id"),
        ("posts", "published_month"), ("posts", "url_key"),
        ("posts", "path"), ("posts", "source_domain"),
        ("captions", "credit"), ("captions", "credit_kind"),
        ("post_images", "image_id"), ("post_images", "caption_id"),
        ("links", "target_post_id"), ("links", "target_key"), ("links", "domain"),
        ("post_tags", "tag"), ("post_authors", "author"), ("build_errors", "build_id"), ("_files", "post_id"),
        ("reprints", "original_post_id"), ("related_posts", "related_post_id"), ("_reprint_posts", "number"),
        ("_related_vectors", "original"),
    ]),
    Index("images", ("url",), unique=True),
    # Newest first, as the posts table is sorted: also lets Datasette page through
    # the whole table (CSV streaming) by keyset without sorting the rest each page.
    Index("posts", (DescIndex("published_at"), "id"), name="idx_posts_published_at_id"),
    Index("posts", ("category", "published_month")),
    Index("posts", ("language", "published_month")),
    # A category, language or month clicked on the posts page, newest first: without
    # these, SQLite sorts every post of the category by date (0.68 s for the 12,500 posts
    # of one category of 100,000; 0.33 s for the 16,998 of one month of 1,000,000) to
    # show the first 20.
    Index("posts", ("category", DescIndex("published_at"), "id"), name="idx_posts_category_published_at_id"),
    Index("posts", ("language", DescIndex("published_at"), "id"), name="idx_posts_language_published_at_id"),
    Index("posts", ("published_month", DescIndex("published_at"), "id"), name="idx_posts_published_month_published_at_id"),
    Index("_credit_photos", ("credit", DescIndex("published_at"), "position", "post_id"), name="idx_credit_photos"),
)

#: Flat views for people who want one CSV rather than joins.
VIEWS = {
    "posts_flat": """
        SELECT posts.id, posts.title, posts.description, posts.published_at, posts.published_month,
               posts.category, posts.language, posts.authors, posts.tags, posts.origin_url,
               posts.source_domain, images.url AS lead_image_url, posts.word_count,
               posts.image_count, posts.link_count, posts.path
        FROM posts
        LEFT JOIN images ON images.id = posts.lead_image_id
        """,
    "photos": """
        SELECT post_images.post_id, posts.title AS post_title, posts.published_at,
               post_images.position, post_images.role, images.url AS image_url,
               captions.text AS caption, captions.credit, captions.credit_kind
        FROM post_images
        JOIN posts ON posts.id = post_images.post_id
        JOIN images ON images.id = post_images.image_id
        LEFT JOIN captions ON captions.id = post_images.caption_id
        """,
    # Each reprint beside its original, for faceting by category, language or month.
    "reprint_groups": """
        SELECT reprints.original_post_id, original.title AS original_title,
               original.published_at AS original_published_at, reprints.post_id,
               copy.title AS title, copy.published_at, copy.published_month, copy.category,
               copy.language, reprints.similarity
        FROM reprints
        JOIN posts AS copy ON copy.id = reprints.post_id
        JOIN posts AS original ON original.id = reprints.original_post_id
        """,
    "current_errors": """
        SELECT path, line, level, message FROM build_errors
        WHERE build_id = (SELECT max(id) FROM builds)
        """,
    # Photo provenance: each credit's share of the photos published each month. A photo
    # counts each time a post runs it (a reused photo counts in every month it ran);
    # credit is NULL for photos without a credited caption.
    "credit_share": """
        SELECT posts.published_month AS month, captions.credit, count(*) AS photos,
               count(*) * 1.0 / sum(count(*)) OVER (PARTITION BY posts.published_month) AS share
        FROM post_images
        JOIN posts ON posts.id = post_images.post_id
        LEFT JOIN captions ON captions.id = post_images.caption_id
        WHERE posts.published_month IS NOT NULL
        GROUP BY posts.published_month, captions.credit
        """,
}

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

#: How much new index data FTS5 holds in memory before it writes a segment (its
#: default is 1 MiB). Fewer, larger segments mean less merging: the posts index of
#: 100,000 posts builds about a quarter faster with 16 MiB.
FTS_HASHSIZE = 16 * 1024 * 1024

#: Raised when the same file would give other rows than before, with the schema unchanged
#: (kept in the database as PRAGMA user_version): an incremental build would keep the
#: old rows of every unchanged file, so such a database is rebuilt in full, once.
#: 0 (SQLite's default): before it was kept; 1: word marks in body_text (newsarchive.text.words);
#: 2: lookups keyed by their text, authors, a duplicate frontmatter key's last value kept;
#: 3: post_html, each post's article and preview rendered by the build;
#: 4: post_html from pulldown-cmark's events (strikethrough kept, alt text as shown).
PARSER_VERSION = 4

# --------------------------------------------------------------------------- derived

TABLE = {table.name: table for table in TABLES}
#: The row type of each table: a Record's rows by name (a row is a tuple in the
#: table's `inserted` order, whether built as a ROW type or not).
ROW = {table.name: table.row_type() for table in TABLES}
INSERT = {table.name: table.insert_sql for table in TABLES}
POST_COLUMNS = TABLE["posts"].columns
#: The tables of a post's rows, in the order they are written: lookups before the
#: rows that point to them (the post itself goes in before CHILDREN).
LOOKUPS = ("categories", "languages", "images", "credits", "captions", "tags", "authors")
CHILDREN = ("post_images", "links", "post_tags", "post_authors", "post_html")
#: A post's rows the relations stage reads (newsarchive.relate): written and deleted
#: with the post, as its other children are.
RELATE_INPUTS = ("_post_features",)
CHILDREN = CHILDREN + RELATE_INPUTS


def create_schema(db: sqlite_utils.Database, indexes: bool = True) -> None:
    """Create every table of an empty database, and its indexes unless told not to.

    A full build creates the indexes after inserting (create_indexes): building an
    index once over sorted data is cheaper than keeping it up to date row by row.
    Full-text indexes are created by add_fts.
    """
    for table in TABLES:
        db[table.name].create(table.columns, pk=table.pk, foreign_keys=list(table.foreign_keys))
    if indexes:
        create_indexes(db)
    for name, sql in VIEWS.items():
        db.create_view(name, sql, replace=True)
    db.execute(f"PRAGMA user_version = {PARSER_VERSION}")


#: The tables the relations stages fill (newsarchive.relate), 700,000 rows at 100,000
#: posts, which a full build indexes after those stages rather than with the others:
#: sorting the rows once costs less than keeping the indexes in order through the
#: inserts. No query of a full build's stages reads them by these indexes.
FILLED_LATE = ("related_posts", "_related_vectors", "_reprint_posts")


def create_indexes(db: sqlite_utils.Database, tables: str = "all") -> None:
    """The INDEXES of every table (`all`), of the tables FILLED_LATE alone (`late`), or
    of the others (`early`)."""
    if tables not in ("all", "early", "late"):
        raise ValueError(f"create_indexes: tables is 'all', 'early' or 'late', not {tables!r}")
    for index in INDEXES:
        if tables == "all" or (index.table in FILLED_LATE) == (tables == "late"):
            db[index.table].create_index(list(index.columns), index_name=index.name, unique=index.unique)


def add_fts(db: sqlite_utils.Database) -> list[str]:
    """Create both FTS5 indexes, with the triggers that keep them in sync with their tables.

    A full build calls this on the empty tables and gets back the SQL of the insert
    triggers, which are set aside until fill_fts: filling an index in one statement
    per batch of rows (the posts, see db.write.write_records) or after the inserts
    (the captions) costs a third less than a trigger call per row.
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
