"""Which columns a table page selects (newsarchive.site.columns): the posts page opens
with the columns a reader scans, links to all of them, and a page that hides its sort
column answers rather than failing (a Datasette bug)."""
from datasette import hookimpl

from newsarchive.site.columns import TablePath, choose_columns, column_links, reading_columns


@hookimpl
def asgi_wrapper(datasette):
    return choose_columns(datasette)


@hookimpl
def extra_template_vars(template, database, table, request, datasette):
    """`news_columns` (total, reading_url, all_url) for templates/table.html."""
    if template != "table.html" or request is None or not table:
        return {}
    if not reading_columns(datasette, TablePath(database, table, None)):
        return {}

    async def inner():
        total = len(await datasette.get_database(database).table_columns(table))
        return {"news_columns": column_links(request.path, request.query_string.encode("latin-1"), total)}

    return inner
