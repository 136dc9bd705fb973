"""The integrity checks a new database passes before it is swapped in; each returns
the problems it found (an empty list: none)."""
from __future__ import annotations

import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from .schema import FTS_TABLES


def check(conn: sqlite3.Connection, expected_posts: int | None = None, quick: bool = False, fts_content: bool = True) -> list[str]:
    """Every check, on one connection."""
    return _structure_problems(conn, expected_posts, quick) + _key_problems(conn) + _fts_problems(conn, fts_content)


def check_file(path, expected_posts: int | None = None, quick: bool = False, fts_content: bool = True) -> list[str]:
    """check() on a database file, its two halves on two connections at once.

    SQLite releases the GIL while it works, so the b-tree checks and the FTS checks
    (which re-tokenise every post) run on both cores instead of one after the other.
    The foreign-key check goes with the FTS checks: at 100,000 posts integrity_check
    takes ~3.4 s, foreign_key_check ~1.1 s, FTS5's check 2.5 s (rank 0) to 6 s.
    """

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
    return problems + _count_problems(conn, expected_posts)


def _count_problems(conn, expected_posts) -> list[str]:
    if expected_posts is not None:
        count = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
        if count != expected_posts:
            return [f"posts holds {count} rows but {expected_posts} posts were read"]
    return []


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


#: What a post's own rows must not do, as SQL counting the offenders among the posts
#: whose ids fill the {marks}.
_CHANGED_ROW_CHECKS = [
    ("posts without their category/language/lead image",
     "select count(*) from posts where id in ({marks}) and ("
     " (category is not null and category not in (select name from categories))"
     " or (language is not null and language not in (select code from languages))"
     " or (lead_image_id is not null and lead_image_id not in (select id from images)))"),
    ("photos pointing nowhere",
     "select count(*) from post_images where post_id in ({marks}) and (image_id not in (select id from images)"
     " or (caption_id is not null and caption_id not in (select id from captions)))"),
    ("links to missing posts",
     "select count(*) from links where post_id in ({marks}) and target_post_id is not null"
     " and target_post_id not in (select id from posts)"),
    ("tags pointing nowhere",
     "select count(*) from post_tags where post_id in ({marks}) and tag not in (select name from tags)"),
    ("authors pointing nowhere",
     "select count(*) from post_authors where post_id in ({marks}) and author not in (select name from authors)"),
]


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
        for label, sql in _CHANGED_ROW_CHECKS:
            (bad,) = conn.execute(sql.format(marks=marks), ids).fetchone()
            if bad:
                problems.append(f"{label}: {bad}")
        for rowid, title in conn.execute(f"select rowid, title from posts where id in ({marks})", ids):
            words = [w for w in re.findall(r"\w+", title or "") if len(w) > 2]
            if words:
                query = f'"{words[0]}"'
                found = conn.execute("select count(*) from posts_fts where posts_fts match ? and rowid = ?", (query, rowid)).fetchone()[0]
                if not found:
                    problems.append(f"post {rowid} is missing from posts_fts")
    return problems + _count_problems(conn, expected_posts)
