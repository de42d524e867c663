"""Datasette plugin (loaded by `ticker serve`): the pages a journalist asks for, and how cells read.

- `/-/ticker?source=rbc&at=2024-11-25T18:57`: the ticker at a moment (`at` as `ticker at` takes it);
- `/-/headline/<id>`: one headline's life: title versions with word diffs, presences, evidence;
- `/-/body/<sha256>`: an archived response body, as plain text (never rendered as a page);
- cells: headline ids link to their page, UTC instants read as Moscow time (UTC in a tooltip),
  durations as `1 h 20 min`, flags as yes/no. JSON and CSV keep the stored values.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from ticker.core.base import (
    BadTime,
    from_iso,
    from_moscow_wall,
    parse_user_time,
    to_iso,
    to_moscow,
    to_moscow_text,
    utc_now,
)
from ticker.core.display import duration_text, flag_text, safe_href, word_diff
from ticker.db.archive import CorruptBody, is_archived, read_body, resolve_sha
from ticker.db.front import (
    MAX_FAILED_SHOWN,
    body_content_type,
    default_source,
    failed_fetches,
    first_poll,
    headline,
    poll_steps,
    sources,
)
from ticker.db.queries import BadQuestion, fallback_note, ticker_at, ticker_channel
from ticker.db.stories import story_of
from ticker.stories.update import catch_up

_UTC_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_MOSCOW_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?)(?: MSK)?$")
_SHA = re.compile(r"^[0-9a-fA-F]{8,64}$")
HEADLINE_ID_COLUMNS = {"headline_id"}
FLAG_COLUMNS = {"paid", "ongoing", "mismatch", "new", "reworded_later"}
DURATION_COLUMNS = {"duration_s", "shown_s", "every_s", "retry_after_s"}
BODY_COLUMNS = {"first_body", "last_body", "body_sha256"}  # an archived body's SHA-256: a link to it


def _database(datasette):
    return datasette.get_database()


async def _read(datasette, fn: Callable[..., Any]) -> Any:
    """Run fn(db) on a read-only connection of the served database (a sqlite_utils Database)."""
    from sqlite_utils import Database

    return await _database(datasette).execute_fn(lambda conn: fn(Database(conn)))


def _moscow_html(iso: str | None) -> Markup:
    """A stored UTC instant as Moscow time with its zone, the UTC value in the tooltip; text that
    is no instant is shown as it is."""
    if not iso:
        return Markup("")
    try:
        shown = to_moscow_text(iso)
    except (TypeError, ValueError):
        return Markup("{}").format(iso)
    return Markup('<time datetime="{0}" title="UTC {0}">{1}</time>').format(iso, shown)


def _utc_html(iso: str) -> Markup:
    """A stored UTC instant shown as UTC, labelled (beside its `_msk` column)."""
    return Markup('<time datetime="{0}" title="Moscow time {1}">{2} UTC</time>').format(
        iso, to_moscow_text(iso), iso[:19].replace("T", " ")
    )


def _keys(row: Any) -> tuple[str, ...]:
    try:
        return tuple(row.keys())
    except AttributeError:  # a row that is no mapping: no sibling columns to look at
        return ()


def _moscow_text_html(text: str) -> Markup:
    """A Moscow wall time (a view's `_msk` column) labelled MSK, its UTC value in the tooltip."""
    wall = _MOSCOW_TEXT.match(text).group(1)
    utc = to_iso(from_moscow_wall(wall))
    return Markup('<time datetime="{0}" title="UTC {0}">{1} MSK</time>').format(utc, wall.replace("T", " "))


def _headline_href(datasette, headline_id: str) -> str:
    return datasette.urls.path(f"/-/headline/{quote(str(headline_id), safe='')}")


def _ticker_href(datasette, source: str, at: str) -> str:
    return datasette.urls.path("/-/ticker?" + urlencode({"source": source, "at": at}))


@hookimpl
def prepare_jinja2_environment(env, datasette) -> None:
    """Filters the templates use: moscow, moscow_text, duration, yesno_flag, safe_href, headline_href."""
    env.filters["moscow"] = _moscow_html
    env.filters["moscow_text"] = to_moscow_text
    env.filters["duration"] = duration_text
    env.filters["yesno_flag"] = flag_text
    env.filters["safe_href"] = safe_href
    env.filters["headline_href"] = lambda headline_id: _headline_href(datasette, headline_id)


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """How a cell reads in HTML (None: Datasette's own rendering)."""
    if value is None or value == "":
        return None
    if column in HEADLINE_ID_COLUMNS or (table == "headlines" and column == "id"):
        if isinstance(value, dict):  # a foreign key Datasette expanded: {"value": id, "label": title}
            return Markup('<a href="{}">{}</a> {}').format(
                _headline_href(datasette, value["value"]), value["value"], value.get("label") or ""
            )
        return Markup('<a href="{}">{}</a>').format(_headline_href(datasette, value), value)
    if column in BODY_COLUMNS and isinstance(value, str) and _SHA.match(value):
        href = datasette.urls.path(f"/-/body/{value}")
        return Markup('<a class="body-link" href="{}" title="SHA-256 {}">{}</a>').format(
            href, value, value[:12]
        )
    if table == "headlines" and column == "title":  # the id cell links to the row: the title to its life
        return Markup('<a href="{}">{}</a>').format(_headline_href(datasette, row["id"]), value)
    try:
        if isinstance(value, str) and _UTC_INSTANT.match(value):
            if f"{column}_msk" in _keys(row):  # its Moscow time is the next column: this one says UTC
                return _utc_html(value)
            return _moscow_html(value)
        if column.endswith("_msk") and isinstance(value, str) and _MOSCOW_TEXT.match(value):
            return _moscow_text_html(value)
    except (ValueError, OverflowError):  # shaped like a time but no such day (`2024-02-30`, year 1): as it is
        return None
    if column in DURATION_COLUMNS and isinstance(value, int | float):
        return Markup('<span title="{} s">{}</span>').format(value, duration_text(value))
    if column in FLAG_COLUMNS and value in (0, 1):
        return flag_text(value)
    return None


@hookimpl
def extra_template_vars(template, database, request, datasette):
    """The front page's list of questions: every canned query with its one-line summary."""
    if template != "index.html":
        return {}

    async def questions() -> dict[str, Any]:
        found = []
        for name in datasette.databases:
            if name == "_internal":
                continue
            queries = await datasette.get_canned_queries(name, request.actor if request else None)
            for query_name, query in queries.items():
                found.append({"name": query_name, "href": datasette.urls.query(name, query_name),
                              "title": query.get("title") or query_name,
                              "summary": query.get("summary") or ""})  # fmt: skip
        return {"ticker_questions": found, "ticker_database": _database(datasette).name}

    return questions


def _ticker_context(db, source: str | None, at_text: str) -> dict[str, Any]:
    """What /-/ticker shows: the same answer as `ticker at` (db.queries.ticker_at), its steps."""

    with_ticker = [s for s in sources(db) if s["ticker_channel"]]
    source = source or default_source(db)
    context: dict[str, Any] = {"sources": with_ticker, "source": source, "error": None, "poll": None}
    if source is None:
        context["error"] = "no source with a ticker is recorded in this database yet"
        return context
    try:
        channel = ticker_channel(db, source)
        asked = to_iso(parse_user_time(at_text)) if at_text.strip() else to_iso(utc_now())
    except (BadQuestion, BadTime) as error:
        context["error"] = str(error)
        return context
    context["asked"] = asked
    found = ticker_at(db, asked, source)
    if found is None:
        context["error"] = f"no successful poll of {source} at or before {to_moscow_text(asked)}"
        context["first"] = first_poll(db, source, channel)
        return context
    poll = {"source": source, "channel": found["channel"], "started_at": found["shown_at"]} | {
        key: found[key] for key in ("fetch_id", "outcome", "body_sha256", "snapshot_id")
    }
    context.update(
        poll=poll,
        fallback_note=fallback_note(found),
        steps=poll_steps(db, poll),
        failed=found["failed_since"],
        rates=found["rates"],
        items=found["headlines"],
        body_archived=is_archived(db, poll["body_sha256"]),
    )
    return context


def _failed_fetches(db, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed fetches of the shown source's ticker after the poll shown (or, when there is
    none, before the asked time), newest first: each links to its archived body (a block page)."""

    asked = context.get("asked")
    channel = next((s["ticker_channel"] for s in sources(db) if s["name"] == context.get("source")), None)
    if not asked or not channel:
        return []
    after = context["poll"]["started_at"] if context.get("poll") else ""
    return failed_fetches(db, context["source"], channel, after, asked, MAX_FAILED_SHOWN)


def _moscow_input(iso: str) -> str:
    """The value of a datetime-local field showing `iso` in Moscow time."""
    return to_moscow(from_iso(iso)).strftime("%Y-%m-%dT%H:%M")


async def ticker_page(datasette, request) -> Response:
    """/-/ticker?source=NAME&at=TIME: the ticker at a moment."""
    source = request.args.get("source") or None
    at_text = request.args.get("at") or ""
    context = await _read(datasette, lambda db: _ticker_context(db, source, at_text))
    context["database_name"] = _database(datasette).name
    if context.get("asked"):
        context["at_input"] = _moscow_input(context["asked"])
    for step in ("previous", "next", "next_change"):
        found = (context.get("steps") or {}).get(step)
        context[f"{step}_href"] = (
            _ticker_href(datasette, found["source"], found["started_at"]) if found else None
        )
    first = context.get("first")
    context["first_href"] = _ticker_href(datasette, first["source"], first["started_at"]) if first else None
    if context.get("poll") and context.get("body_archived"):
        context["body_href"] = datasette.urls.path(f"/-/body/{context['poll']['body_sha256']}")
    context["failed_fetches"] = await _read(datasette, lambda db: _failed_fetches(db, context))
    for fetch in context["failed_fetches"]:
        if fetch["archived"]:
            fetch["body_href"] = datasette.urls.path(f"/-/body/{fetch['body_sha256']}")
    status = 400 if context["error"] and not context.get("first") and context.get("source") else 200
    html = await datasette.render_template("ticker_at.html", context, request=request)
    return Response.html(html, status=status)


def _headline_context(db, headline_id: str) -> dict[str, Any] | None:

    found = headline(db, headline_id)
    if found is None:
        return None
    found["story_id"] = story_of(db, headline_id)  # /-/story/<id> (ticker_stories.py)
    versions = found["versions"]
    for previous, version in zip([None, *versions], versions, strict=False):
        version["diff"] = word_diff(previous["title"], version["title"]) if previous else None
    return found


async def headline_page(datasette, request) -> Response:
    """/-/headline/<id>: one headline's life."""
    # Links quote the id whole (`tass:2276`, a URL-shaped id with `/`): the route sees it quoted.
    headline_id = unquote(request.url_vars["id"])
    path = datasette.get_database().path
    if path:  # its story link: group what one-off fetches recorded (a failure leaves no link)
        await asyncio.to_thread(catch_up, path)
    found = await _read(datasette, lambda db: _headline_context(db, headline_id))
    if found is None:
        html = await datasette.render_template(
            "headline.html", {"missing": headline_id, "headline": None}, request=request
        )
        return Response.html(html, status=404)
    for presence in found["presences"]:
        presence["during_href"] = _ticker_href(datasette, presence["source"], presence["first_seen"])
    for version in found["versions"]:
        shown_by = version["source"] or found["headline"]["source"]
        version["ticker_href"] = _ticker_href(datasette, shown_by, version["shown_at"])
    database = _database(datasette)
    db_name = database.name
    found["db_arg"] = f" --db {shlex.quote(str(database.path))}" if database.path else ""
    found["history_href"] = (
        datasette.urls.query(db_name, "headline_history") + "?" + urlencode({"id": headline_id})
    )
    for fetch in found["evidence"]:
        if fetch["archived"]:
            fetch["body_href"] = datasette.urls.path(f"/-/body/{fetch['body_sha256']}")
    html = await datasette.render_template("headline.html", found, request=request)
    return Response.html(html)


async def body_page(datasette, request) -> Response:
    """/-/body/<sha256 or a unique prefix>: an archived body as plain text, never run as a page."""

    sha = request.url_vars["sha"]
    if not _SHA.match(sha):
        return Response.text("not a body hash", status=400)

    def read(db) -> tuple[bytes | None, str | None]:
        digest = sha.lower() if len(sha) == 64 else resolve_sha(db, sha)
        if not digest:
            return None, None
        return read_body(db, digest), body_content_type(db, digest)

    try:
        body, content_type = await _read(datasette, read)
    except LookupError as error:  # an ambiguous prefix
        return Response.text(str(error), status=400)
    except CorruptBody as error:  # never wrong bytes: the body is named instead
        return Response.text(str(error), status=500)
    if body is None:
        return Response.text(f"no archived body {sha}", status=404)
    charset = "utf-8"
    match = re.search(r"charset=([\w.-]+)", content_type or "", re.I)
    if match:
        charset = match.group(1)
    return Response(
        body,
        status=200,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": f'inline; filename="{sha[:16]}.txt"',
        },
        content_type=f"text/plain; charset={charset}",
    )


@hookimpl
def register_routes():
    """The pages: /-/ticker, /-/headline/<id>, /-/body/<sha256>."""
    return [
        (r"^/-/ticker$", ticker_page),
        (r"^/-/headline/(?P<id>[^/]+)$", headline_page),
        (r"^/-/body/(?P<sha>[^/]+)$", body_page),
    ]
