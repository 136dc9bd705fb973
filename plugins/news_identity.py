"""The archive's own identity, read from its database (newsarchive.site.identity): its
title, description, licence and source as the instance's metadata (home page, footer),
its home site and photo mirror folded into the news-archive plugin's image_mirror, and
the mirror folder's files served at /-/archive-mirror/."""
import datasette as _datasette
from datasette import hookimpl
from datasette.utils.asgi import Response, asgi_send_file

from newsarchive.site.identity import (
    MIRROR_MOUNT, PUBLISHED_MIRROR, from_rows, mirrored_file, photo_mirror, shown_metadata,
)

#: Datasette 1.0 keeps instance metadata in its internal database (set_instance_metadata);
#: 0.65 merges what plugins return from get_metadata.
_V1 = int(_datasette.__version__.split(".")[0]) >= 1


async def _identity(datasette) -> dict:
    """The identity of the first database served that holds one."""
    for name, db in datasette.databases.items():
        if name.startswith("_"):
            continue
        try:
            rows = (await db.execute("select key, value from archive")).rows
        except Exception:  # no archive table: a database not built by this version
            continue
        return from_rows(tuple(row) for row in rows)
    return {}


def _with_mirror(datasette, identity: dict):
    """datasette.plugin_config, with the archive's photo mirror in news-archive's image_mirror."""
    ask = datasette.plugin_config

    def plugin_config(plugin_name, database=None, table=None, fallback=True):
        value = ask(plugin_name, database=database, table=table, fallback=fallback)
        if plugin_name != "news-archive":
            return value
        value = dict(value or {})
        value["image_mirror"] = photo_mirror(identity, value.get("image_mirror"))
        return value

    return plugin_config


@hookimpl
def startup(datasette):
    async def inner():
        identity = await _identity(datasette)
        datasette.news_identity = identity
        if identity.get("base_url"):
            datasette.plugin_config = _with_mirror(datasette, identity)
        if _V1:
            for key, value in shown_metadata(identity).items():
                await datasette.set_instance_metadata(key, value)

    return inner


if not _V1:

    @hookimpl
    def get_metadata(datasette, key, database, table):
        return shown_metadata(getattr(datasette, "news_identity", None) or {})


def _mirror_identity(datasette) -> dict:
    """The identity, its image_mirror the folder published with the site when there is one."""
    identity = getattr(datasette, "news_identity", None) or {}
    for mount, folder in datasette.static_mounts:
        if mount == PUBLISHED_MIRROR and identity.get("image_mirror"):
            return {**identity, "image_mirror": folder}
    return identity


async def _mirror_file(request, send, datasette):
    found = mirrored_file(_mirror_identity(datasette), request.url_vars["path"])
    if found is None:
        await Response.text("Not found", status=404).asgi_send(send)
        return
    await asgi_send_file(send, str(found), headers={"cache-control": "max-age=3600"})


@hookimpl
def register_routes():
    return [(rf"^{MIRROR_MOUNT}(?P<path>.+)$", _mirror_file)]
