"""Photo provenance and the citation network, as the site shows them.

For one post (the article page, through plugins/news_provenance.py): every other post
that ran one of its photos, the first appearance of each photo marked, and the chain of
posts citing it, up to three steps away. For the archive (the provenance page): each
credit's share of the photos published each month, as an inline SVG chart drawn by
newsarchive.site.chart, and the photos run most often.

Two photos are the same photo when their URLs are the same (images.url is unique): a
photo uploaded again under another name, resized or cropped is another photo here.
"""
from __future__ import annotations

import json
import os
from typing import Callable, NamedTuple

from markupsafe import Markup

from .chart import month_chart_svg

#: How many steps of citing posts the chain follows.
CHAIN_DEPTH = 3

#: Each photo of the post that ran in more than one post, with every post it ran in.
#: The first appearance is the earliest by published_at (undated posts last), then id.
ALSO_RAN_SQL = """
with mine as (select distinct image_id from post_images where post_id = :post_id),
runs as (
  select distinct post_images.image_id, post_images.post_id
  from post_images join mine on mine.image_id = post_images.image_id
),
ordered as (
  select runs.image_id, runs.post_id,
    row_number() over (partition by runs.image_id
                       order by posts.published_at is null, posts.published_at, posts.id) as appearance,
    count(*) over (partition by runs.image_id) as posts
  from runs join posts on posts.id = runs.post_id
)
select ordered.image_id, images.url as image_url, ordered.appearance, ordered.posts,
  posts.id as post_id, posts.title, posts.published_at
from ordered
join posts on posts.id = ordered.post_id
join images on images.id = ordered.image_id
where ordered.posts > 1
order by (select min(position) from post_images p
          where p.post_id = :post_id and p.image_id = ordered.image_id), ordered.appearance
"""

#: The posts citing a post, the posts citing those, and so on up to :depth steps: each
#: post once, at the fewest steps it is from the post. UNION (not UNION ALL) keeps each
#: (post, steps) pair once, so a cycle of citations ends instead of looping, and the
#: post itself is left out where a cycle leads back to it. `cites` names the posts one
#: step nearer that it links to, as a JSON array.
CHAIN_SQL = """
with recursive chain(post_id, depth) as (
  select :post_id, 0
  union
  select links.post_id, chain.depth + 1
  from chain join links on links.target_post_id = chain.post_id
  where chain.depth < :depth and links.post_id <> links.target_post_id
),
nearest as (select post_id, min(depth) as depth from chain group by post_id)
select nearest.depth, posts.id as post_id, posts.title, posts.published_at,
  (select json_group_array(distinct links.target_post_id) from links
   join nearest cited on cited.post_id = links.target_post_id and cited.depth = nearest.depth - 1
   where links.post_id = nearest.post_id) as cites
from nearest join posts on posts.id = nearest.post_id
where nearest.depth > 0
order by nearest.depth, posts.published_at, posts.id
"""

#: The build's count of photos per month by credit (newsarchive.build.summaries); the
#: credit_share view counts the same from every photo, for a database built before it.
CREDIT_SHARE_SQL = "select month, credit, photos from monthly_credits order by month"
CREDIT_SHARE_FROM_PHOTOS_SQL = "select month, credit, photos from credit_share order by month"

#: The photos run in the most posts. The images with more than one occurrence come
#: from the image_id index alone; only their rows are read for the posts they ran in.
MOST_RUN_SQL = """
with multi as (select image_id from post_images group by image_id having count(*) > 1)
select images.id as image_id, images.url as image_url, count(distinct post_images.post_id) as posts
from multi
join post_images on post_images.image_id = multi.image_id
join images on images.id = multi.image_id
group by multi.image_id having posts > 1
order by posts desc, images.url limit :limit
"""

#: The same from the build's count (reused_photos, newsarchive.build.summaries). The
#: cross join reads the reused photos first and looks each one up: left to itself,
#: SQLite may scan every image and look each up in reused_photos.
MOST_RUN_SUMMED_SQL = """
select images.id as image_id, images.url as image_url, reused_photos.posts
from reused_photos cross join images on images.id = reused_photos.image_id
order by reused_photos.posts desc, images.url limit :limit
"""

#: The page reads the build's summaries. Counted from every photo occurrence (a database
#: without them), its queries take ~2 s at 100,000 posts with the file in the page cache,
#: past the time limit of a visitor's SQL: they are our own fixed queries, so they run
#: without it. The answer is kept while the server runs when the database is immutable,
#: as production serves it.

NO_CREDIT = "(no credit)"


class Appearance(NamedTuple):
    """One post a photo ran in: `first` marks the earliest."""

    post_id: str
    title: str | None
    published_at: str | None
    url: str
    first: bool
    current: bool


class SharedPhoto(NamedTuple):
    """A photo of this post that ran in other posts too, with every post it ran in."""

    image_id: int
    image_url: str
    appearances: list[Appearance]
    reuses_url: str


class ChainLink(NamedTuple):
    """A post in the chain of citations, `depth` steps from the post."""

    depth: int
    post_id: str
    title: str | None
    published_at: str | None
    url: str
    cites: list[tuple[str, str, str | None]]


class SiteUrls(NamedTuple):
    """Where the sections link to: a post's page, and a canned query with its parameters."""

    row: Callable[[str], str]
    query: Callable[[str, dict], str]


async def post_provenance(db, post_id: str, urls: SiteUrls, photos: bool = True, chain: bool = True) -> dict:
    """`provenance` for templates/_news_provenance.html: the post's shared photos and its
    citing chain; None for a section not asked for (`photos`, `chain` False), which the
    template leaves out."""
    shared = chained = None
    if photos:
        rows = (await db.execute(ALSO_RAN_SQL, {"post_id": post_id})).rows
        shared = shared_photos(rows, post_id, urls)
    if chain:
        rows = (await db.execute(CHAIN_SQL, {"post_id": post_id, "depth": CHAIN_DEPTH})).rows
        chained = citing_chain(rows, urls)
    return {
        "post_id": post_id,
        "shared_photos": shared,
        "chain": chained,
        "chain_depth": CHAIN_DEPTH,
        "chain_url": urls.query("citing_chain", {"post_id": post_id}),
    }


def shared_photos(rows, post_id: str, urls: SiteUrls) -> list[SharedPhoto]:
    """ALSO_RAN_SQL's rows (ordered by the photo's place in the post) grouped by photo."""
    out: dict[int, SharedPhoto] = {}
    for row in rows:
        photo = out.get(row["image_id"])
        if photo is None:
            photo = out[row["image_id"]] = SharedPhoto(
                row["image_id"], row["image_url"], [],
                urls.query("photo_reuse", {"image_url": row["image_url"]}))
        photo.appearances.append(Appearance(
            row["post_id"], row["title"], row["published_at"], urls.row(row["post_id"]),
            row["appearance"] == 1, row["post_id"] == post_id))
    return list(out.values())


def citing_chain(rows, urls: SiteUrls) -> list[ChainLink]:
    """CHAIN_SQL's rows; each post it cites (one step nearer) as (id, url, title), the
    title from the chain itself (None for the post at its start)."""
    titles = {row["post_id"]: row["title"] for row in rows}
    return [
        ChainLink(row["depth"], row["post_id"], row["title"], row["published_at"], urls.row(row["post_id"]),
                  [(cited, urls.row(cited), titles.get(cited)) for cited in sorted(json.loads(row["cites"] or "[]"))])
        for row in rows
    ]


#: Pages of immutable databases, by file and its size and time: a rebuilt file is another.
_kept: dict[tuple, dict] = {}


def _file_key(db) -> tuple | None:
    if db.is_mutable or not db.path:
        return None
    try:
        stat = os.stat(db.path)
    except OSError:
        return None
    return (db.path, stat.st_size, stat.st_mtime_ns)


async def provenance_page(db, most_run: int = 20) -> dict:
    """The provenance page's chart, credits and most-run photos."""
    key = _file_key(db)
    if key in _kept:
        return _kept[key]

    def read(conn):
        summed = conn.execute("select 1 from sqlite_master where type = 'table' and name = 'reused_photos'").fetchone()
        shares = conn.execute(CREDIT_SHARE_SQL if summed else CREDIT_SHARE_FROM_PHOTOS_SQL).fetchall()
        cursor = conn.execute(MOST_RUN_SUMMED_SQL if summed else MOST_RUN_SQL, {"limit": most_run})
        names = [d[0] for d in cursor.description]
        return shares, [dict(zip(names, row)) for row in cursor]

    shares, most = await db.execute_fn(read)
    credits = credit_totals(shares)
    page = {
        "chart": credit_chart(shares),
        "credits": credits,
        "photos": sum(c["photos"] for c in credits),
        "most_run": most,
    }
    if key is not None:
        _kept[key] = page
    return page


def credit_totals(shares) -> list[dict]:
    """(month, credit, photos) rows in month order -> each credit's photos, share, months
    and first and last month, most photos first (no credit after a credit of as many)."""
    totals: dict = {}
    for month, credit, photos in shares:
        entry = totals.setdefault(credit, {"credit": credit, "photos": 0, "months": 0, "first_month": month})
        entry["photos"] += photos
        entry["months"] += 1
        entry["last_month"] = month
    total = sum(e["photos"] for e in totals.values())
    for entry in totals.values():
        entry["share"] = entry["photos"] / total if total else 0
    return sorted(totals.values(), key=lambda e: (-e["photos"], e["credit"] is None, e["credit"] or ""))


def credit_chart(rows) -> Markup:
    """Each credit's share of the photos of each month, the largest seven by name."""
    return month_chart_svg(
        rows, subject="Share of photos per month by credit", shares=True,
        empty="No photos in dated posts yet.", none=NO_CREDIT, width=980, legend_width=230,
    )
