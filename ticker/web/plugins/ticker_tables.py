"""Datasette plugin (loaded by `ticker serve`): the table pages of tables that grow with the
history stay fast, and say what they leave out.

Datasette 0.65 counts the rows of every table page (`select count(*)` of the filtered table or
view: a pass over millions of rows on a ten-year history, and a view's count runs its joins for
each one) and has no setting to skip that but the page's own `?_nocount=1`. A table whose
metadata says `plugins: {ticker_tables: {uncounted: true}}` gets `_nocount=1` on its HTML page
unless the address asks for the count (`_count=1`, the page's "count them" link); the page then
says the rows were not counted (templates/table.html). JSON and CSV keep Datasette's own rules.

`search_page: /-/search` sends the table's plain search box to that page: Datasette's search
lists every match before it sorts and counts them (seconds for a common word over ten years of
titles), the search page reads the full-text index newest first. Plain: `_search` with nothing
else but what the page's form sends unchanged (empty filter rows, the table's default sort, the
count switch). A search with a filter, another sort or `_searchmode` stays Datasette's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils import tilde_decode
from datasette.utils.asgi import Response

PLUGIN = "ticker_tables"
COUNT_ARG = "_count"  # ask for the count a table leaves out by default


def _table_page(datasette, path: str) -> tuple[str, str] | None:
    """(database, table) when the path is a table's HTML page (no `.json`, `.csv`...)."""
    parts = path.strip("/").split("/")
    if len(parts) != 2 or "." in parts[1]:
        return None
    database, table = (tilde_decode(part) for part in parts)  # Datasette's own encoding of names
    return (database, table) if database in datasette.databases else None


def _settings(datasette, database: str, table: str) -> dict[str, Any]:
    return datasette.plugin_config(PLUGIN, database=database, table=table, fallback=False) or {}


def _plain_search(args: list[tuple[str, str]], default_desc: str | None) -> str | None:
    """The text of a search box search that asks nothing else, or None."""
    given = dict(args)
    text = given.pop("_search", "").strip()
    if not text or len(given) + 1 != len(args):  # a repeated argument: more than the form sends
        return None
    for key in ("_nocount", COUNT_ARG, "_filter_op"):
        given.pop(key, None)
    if given.pop("_filter_column", "") or given.pop("_filter_value", ""):
        return None
    descending = given.pop("_sort_by_desc", None) is not None  # the form's "descending" box
    sort, sort_desc = given.pop("_sort", ""), given.pop("_sort_desc", "")
    if sort_desc:
        sorted_by = sort_desc
    elif sort:
        sorted_by = sort if descending else None  # ascending: never the default here
    else:
        sorted_by = ""
    if given or sorted_by not in ("", default_desc):
        return None
    return text


def _search_target(datasette, database: str, table: str, settings: dict[str, Any], args) -> str | None:
    """Where a plain search box search goes, or None (no search page, or more than a search)."""
    page = settings.get("search_page")
    if not page:
        return None
    text = _plain_search(args, datasette.table_metadata(database, table).get("sort_desc"))
    return None if text is None else datasette.urls.path(f"{page}?{urlencode({'q': text})}")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def wrapped(scope, receive, send):
            found = None
            if scope.get("type") == "http" and scope.get("method") in ("GET", "HEAD"):
                found = _table_page(datasette, scope.get("path", ""))
            if found is None:
                await app(scope, receive, send)
                return
            settings = _settings(datasette, *found)
            query = scope.get("query_string", b"").decode("latin-1")
            args = parse_qsl(query, keep_blank_values=True)
            target = _search_target(datasette, *found, settings, args)
            if target is not None:
                await Response.redirect(target).asgi_send(send)
                return
            keys = {key for key, _value in args}
            if settings.get("uncounted") and not keys & {"_nocount", COUNT_ARG}:
                query = f"{query}&_nocount=1" if query else "_nocount=1"
                scope = {**scope, "query_string": query.encode("latin-1")}
            await app(scope, receive, send)

        return wrapped

    return wrap


@hookimpl
def extra_template_vars(template, database, table, request, datasette):
    """A table page left uncounted links to the same page counted."""
    if template != "table.html" or request is None:
        return {}
    args = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != "_nocount"]
    return {"ticker_count_href": f"{request.path}?{urlencode([*args, (COUNT_ARG, '1')])}"}
