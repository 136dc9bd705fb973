"""The posts row page reads like the article: headline, date, category, lead photo,
body with captioned photos, the links it makes and the posts that cite it.

Provides `article` to templates/row.html; every query is by primary key or index.
"""
try:
    import newsarchive  # noqa: F401
except ImportError:  # published with `datasette publish`: the package travels in plugins/
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datasette import hookimpl

from datasette.utils import tilde_encode

from newsarchive.site.web import article_html, figure_html, is_safe_url, mirror_url


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    if view_name != "row" or table != "posts" or request is None:
        return {}

    async def article():
        post_id = request.url_vars.get("pks")
        db = datasette.get_database(database)
        if post_id is None:
            return {}
        from datasette.utils import urlsafe_components

        (post_id,) = urlsafe_components(post_id)
        post = (
            await db.execute(
                """select posts.*, categories.name as category, languages.code as language,
                          images.url as lead_image_url
                   from posts
                   left join categories on categories.id = posts.category_id
                   left join languages on languages.id = posts.language_id
                   left join images on images.id = posts.lead_image_id
                   where posts.id = ?""",
                [post_id],
            )
        ).first()
        if post is None:
            return {}
        def row_url(pk):
            return datasette.urls.row(database, "posts", tilde_encode(pk)) if pk else None

        config = datasette.plugin_config("news-archive") or {}
        markdown_config = (datasette.plugin_config("news-archive", database=database, table="posts") or {}).get("markdown") or {}
        mirror = config.get("image_mirror") or {}
        photos = (
            await db.execute(
                """select post_images.position, post_images.role, post_images.alt, images.url,
                          captions.text as caption, credits.name as credit, captions.credit_kind
                   from post_images join images on images.id = post_images.image_id
                   left join captions on captions.id = post_images.caption_id
                   left join credits on credits.id = captions.credit_id
                   where post_images.post_id = ? order by post_images.position""",
                [post_id],
            )
        ).rows
        lead = next((p for p in photos if p["role"] == "lead"), None)
        links = (
            await db.execute(
                """select links.url, links.text, links.domain, links.target_post_id, target.title as target_title
                   from links left join posts as target on target.id = links.target_post_id
                   where links.post_id = ? order by links.position""",
                [post_id],
            )
        ).rows
        cited_by = (
            await db.execute(
                """select distinct posts.id, posts.title, posts.published_at
                   from links join posts on posts.id = links.post_id
                   where links.target_post_id = ? order by posts.published_at""",
                [post_id],
            )
        ).rows
        return {
            "id": post["id"],
            "title": post["title"],
            "description": post["description"],
            "published_at": post["published_at"],
            "category": post["category"],
            "category_id": post["category_id"],
            "language": post["language"],
            "origin_url": post["origin_url"] if is_safe_url(post["origin_url"]) else None,
            "lead_html": figure_html(lead["url"], lead["alt"], lead["caption"], mirror) if lead and is_safe_url(lead["url"]) else None,
            "lead_image_url": mirror_url(post["lead_image_url"], mirror),
            "body_html": article_html(
                post["body"], mirror, markdown_config.get("extra_tags"), markdown_config.get("extra_attrs"),
                headline=post["title"] if post["title_source"] == "body" else None,
            ),
            "photos": [dict(p) for p in photos],
            "links": [
                dict(l) | {"safe": is_safe_url(l["url"]), "target_url": row_url(l["target_post_id"])} for l in links
            ],
            "cited_by": [dict(c) | {"url": row_url(c["id"])} for c in cited_by],
            "word_count": post["word_count"],
        }

    async def inner():
        return {"article": await article()}

    return inner
