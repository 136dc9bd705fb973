"""The article page's reprints and related posts (plugins/news_related.py,
templates/_news_related.html): what the build's relations stage stored
(newsarchive.relate), read for one post."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

#: The post's original when it is a reprint.
ORIGINAL_SQL = """
    SELECT r.original_post_id AS post_id, p.title, p.published_at, r.similarity
    FROM reprints r JOIN posts p ON p.id = r.original_post_id
    WHERE r.post_id = :post_id
"""
#: The other posts of the post's reprint group (its copies, or its original's other
#: copies), earliest first.
GROUP_SQL = """
    WITH original AS (
        SELECT coalesce((SELECT original_post_id FROM reprints WHERE post_id = :post_id), :post_id) AS id
    )
    SELECT r.post_id, p.title, p.published_at, r.similarity
    FROM reprints r JOIN posts p ON p.id = r.post_id
    WHERE r.original_post_id = (SELECT id FROM original) AND r.post_id != :post_id
    ORDER BY p.published_at IS NULL, p.published_at, r.post_id
"""
RELATED_SQL = """
    SELECT r.related_post_id AS post_id, p.title, p.published_at, r.score, r.rank
    FROM related_posts r JOIN posts p ON p.id = r.related_post_id
    WHERE r.post_id = :post_id
    ORDER BY r.rank
"""


class Linked(NamedTuple):
    """A post the section links to, with the number that relates it (similarity or score)."""

    post_id: str
    title: str | None
    published_at: str | None
    url: str
    value: float


async def post_relations(db, post_id: str, row_url: Callable[[str], str],
                         reprints: bool = True, related: bool = True) -> dict:
    """`related` for templates/_news_related.html; empty for a database built without
    the relations tables. A part not asked for (`reprints`, `related` False) is not read
    and is None, which the template leaves out: `original` and `copies` come from the
    reprints table, `related` from related_posts."""
    if not {"reprints", "related_posts"} <= set(await db.table_names()):
        return {}
    params = {"post_id": post_id}

    async def linked(sql: str, value: str) -> list[Linked]:
        rows = (await db.execute(sql, params)).rows
        return [Linked(r["post_id"], r["title"], r["published_at"], row_url(r["post_id"]), r[value]) for r in rows]

    original = copies = related_posts = None
    if reprints:
        originals = await linked(ORIGINAL_SQL, "similarity")
        original = originals[0] if originals else None
        copies = await linked(GROUP_SQL, "similarity")
    if related:
        related_posts = await linked(RELATED_SQL, "score")
    return {"post_id": post_id, "original": original, "copies": copies, "related": related_posts}
