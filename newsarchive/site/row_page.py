"""The posts row page, the one page several plugins add to (the article, its relations,
its photos' provenance): which post it shows, and where another post's page is."""
from __future__ import annotations

from typing import Callable

from datasette.utils import tilde_encode, urlsafe_components


def shown_post_id(view_name: str, table: str | None, request) -> str | None:
    """The id of the post a posts row page shows; None on any other page."""
    if view_name != "row" or table != "posts" or request is None:
        return None
    pks = request.url_vars.get("pks")
    if pks is None:
        return None
    (post_id,) = urlsafe_components(pks)  # posts has one primary key column
    return post_id


def post_url(datasette, database: str) -> Callable[[str], str]:
    """A post's id -> the path of its row page in `database`."""
    return lambda post_id: datasette.urls.row(database, "posts", tilde_encode(post_id))
