"""Datasette plugin (loaded by `ticker serve`): a canned query's HTML page shows its first rows,
not a thousand.

Datasette 0.65 has no page size for canned queries: the page runs the SQL and renders up to
`max_returned_rows` (1,000) rows, every cell through every `render_cell` hook in Python (~0.3 ms
a row: 300 ms a page on ten years of history). A canned query that ends in `LIMIT :_ticker_rows`
gets, through this magic parameter:

- on its HTML page: `PAGE_ROWS` (100), or `?_rows=N` (1..1,000: the page's "show 1,000" link);
- as CSV or JSON (`.csv`, `.json`, `?_format=`): no limit of its own, so the export holds what it
  held before (Datasette's own cap: `max_returned_rows`, with `truncated` in JSON).

The page says how many rows it shows and links to more (templates/query.html).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

PAGE_ROWS = 100  # rows on a canned query's HTML page
PARAMETER = ":_ticker_rows"  # `LIMIT :_ticker_rows` in a canned query's SQL
ROWS_ARG = "_rows"  # the address's own count: ?_rows=1000


def _is_export(request) -> bool:
    return bool((request.url_vars or {}).get("format") or request.args.get("_format"))


def _page_rows(request, most: int) -> int:
    """The rows an HTML page shows: `_rows` when it is a whole number from 1 to `most`, else PAGE_ROWS."""
    given = request.args.get(ROWS_ARG, "").strip()
    return int(given) if given.isdigit() and 1 <= int(given) <= most else PAGE_ROWS


@hookimpl
def register_magic_parameters(datasette):
    def ticker(key: str, request) -> int:
        if key != "rows":
            raise KeyError(key)
        return -1 if _is_export(request) else _page_rows(request, datasette.max_returned_rows)

    return [("ticker", ticker)]


@hookimpl
def extra_template_vars(template, database, request, datasette) -> dict[str, Any]:
    """A paged canned query's page: how many rows it shows at most, and the address of more."""
    if template != "query.html" or request is None or database is None:
        return {}
    name = request.url_vars.get("table") if request.url_vars else None
    return {"ticker_rows_note": _note_for(datasette, database, name, request)}


def _note_for(datasette, database: str, name: str | None, request) -> dict[str, Any] | None:
    queries = (datasette.metadata("queries", database=database) or {}) if name else {}
    query = queries.get(name) if isinstance(queries, dict) else None
    if not query or PARAMETER not in query.get("sql", ""):
        return None
    most = datasette.max_returned_rows
    shown = _page_rows(request, most)
    args = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != ROWS_ARG]
    return {
        "shown": shown,
        "most": most,
        "more_href": f"{request.path}?{urlencode([*args, (ROWS_ARG, most)])}",
    }
