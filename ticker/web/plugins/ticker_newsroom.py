"""Datasette plugin (loaded by `ticker serve`): the newsroom's pages, no SQL needed.

- `/-/search?q=TEXT&source=NAME`: every title ever shown containing the words, with its outlet;
- `/-/today?until=TIME`: what every outlet added, reworded and pulled in 24 hours;
- `/-/changes.atom?event=pulled,reworded&source=NAME&q=TEXT&since=TIME`: those changes as an
  Atom 1.0 feed, for feed readers and chat integrations.

Bad parameters answer 400 with one line saying why, never a server error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from sqlite_utils import Database

from ticker.core.base import BadTime, from_iso, parse_user_time, to_iso, to_moscow_text, utc_now
from ticker.db import front

SEARCH_LIMIT = 50
MAX_SEARCH_LIMIT = 500
FEED_LIMIT = 100
MAX_FEED_LIMIT = 200
MAX_TEXT = 200  # characters of search text
TODAY_SHOWN = 100  # rows listed per outlet and kind (all are counted)
ATOM = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 cannot carry at all (a title with a stray control character stays readable).
_DIGITS = re.compile(r"^[0-9]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ROWID = 2**63 - 1
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
EVENT_WORDS = {
    "new": "new",
    "reworded": "reworded",
    "pulled": "pulled",
    "scrolled_off": "scrolled off",
    "back": "back",
}


class BadParameter(ValueError):
    """A query parameter that cannot be used; the message is the one line the 400 says."""


async def _read(datasette, fn: Callable[[Database], Any]) -> Any:
    """Run fn(db) on a read-only connection of the served database."""
    return await datasette.get_database().execute_fn(lambda conn: fn(Database(conn)))


def _time(args, name: str) -> str | None:
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        return to_iso(parse_user_time(text))
    except BadTime as error:
        raise BadParameter(f"{name}: {error}") from None


def _whole(args, name: str, most: int) -> int | None:
    """A whole number from 1 to `most` (None when absent); BadParameter otherwise."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    if not _DIGITS.match(text) or not 1 <= int(text) <= most:
        raise BadParameter(f"{name} = {text[:40]!r}: must be a whole number from 1 to {most}")
    return int(text)


def _limit(args, default: int, most: int) -> int:
    found = _whole(args, "limit", most)
    return default if found is None else found


def _text(args, name: str) -> str:
    text = (args.get(name) or "").strip()
    if len(text) > MAX_TEXT:
        raise BadParameter(f"{name}: at most {MAX_TEXT} characters")
    if _CONTROL.search(text):
        raise BadParameter(f"{name}: contains a control character")
    return text


def _source(db: Database, name: str) -> str | None:
    if not name:
        return None
    known = [row["name"] for row in front.sources(db)]
    if name not in known:
        raise BadParameter(f"unknown source {name!r} (known: {', '.join(known) or 'none recorded yet'})")
    return name


def _events(args) -> tuple[str, ...]:
    text = (args.get("event") or "").strip()
    if not text:
        return front.FEED_DEFAULT_EVENTS
    asked = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [event for event in asked if event not in front.CHANGE_EVENTS]
    if unknown or not asked:
        raise BadParameter(
            f"event = {text[:60]!r}: use one or more of {', '.join(front.CHANGE_EVENTS)}, comma-separated"
        )
    return asked


def _headline_path(datasette, headline_id: str) -> str:
    return datasette.urls.path(f"/-/headline/{quote(str(headline_id), safe='')}")


async def _page(datasette, request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    html = await datasette.render_template(template, context, request=request)
    return Response.html(html, status=status)


async def search_page(datasette, request) -> Response:
    """/-/search: title search over every version, the latest recorded first, with each hit's outlet."""
    args = request.args
    context: dict[str, Any] = {
        "q": args.get("q") or "",
        "search_source": args.get("source") or "",
        "hits": None,
    }
    try:
        text = _text(args, "q")
        limit = _limit(args, SEARCH_LIMIT, MAX_SEARCH_LIMIT)
        before = _whole(args, "before", MAX_ROWID)

        def read(db: Database) -> dict[str, Any]:
            found = {"search_sources": front.sources(db)}
            source = _source(db, context["search_source"].strip())
            if text:
                found["hits"] = front.search_titles(db, text, source=source, before=before, limit=limit)
            return found

        context.update(await _read(datasette, read))
    except (BadParameter, front.BadSearch) as error:
        context["error"] = str(error)
        context.setdefault("search_sources", await _read(datasette, front.sources))
        return await _page(datasette, request, "ticker_search.html", context, status=400)
    for hit in context.get("hits") or []:
        hit["href"] = _headline_path(datasette, hit["headline_id"])
    hits = context.get("hits") or []
    if len(hits) == limit:
        more: dict[str, Any] = {"q": text, "before": hits[-1]["title_id"]}
        if limit != SEARCH_LIMIT:
            more["limit"] = limit
        if context["search_source"]:
            more["source"] = context["search_source"]
        context["more_href"] = datasette.urls.path("/-/search?" + urlencode(more))
    return await _page(datasette, request, "ticker_search.html", context)


async def today_page(datasette, request) -> Response:
    """/-/today: per outlet, what was added, reworded and pulled in the 24 hours up to `until`."""
    try:
        until = _time(request.args, "until") or to_iso(utc_now())
    except BadParameter as error:
        context = {"error": str(error), "outlets": {}}
        return await _page(datasette, request, "ticker_today.html", context, status=400)
    since = to_iso(from_iso(until) - timedelta(hours=24))
    day = await _read(datasette, lambda db: front.day_of_changes(db, since, until))
    outlets = []
    for name, kinds in day["outlets"].items():
        for rows in kinds.values():
            for row in rows:
                row["href"] = _headline_path(datasette, row["headline_id"])
        outlets.append(
            {
                "name": name,
                "counts": {kind: len(rows) for kind, rows in kinds.items()},
                "lists": {kind: rows[:TODAY_SHOWN] for kind, rows in kinds.items()},
                "ticker_href": datasette.urls.path("/-/ticker?" + urlencode({"source": name, "at": until})),
            }
        )
    context = {
        "since": since,
        "until": until,
        "outlets": outlets,
        "capped": day["capped"],
        "shown": TODAY_SHOWN,
        "feed_href": datasette.urls.path(
            "/-/changes.atom?" + urlencode({"event": "new,reworded,pulled", "since": since})
        ),
    }
    return await _page(datasette, request, "ticker_today.html", context)


def _xml_text(text: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if text is None else str(text))


def _entry_text(change: dict[str, Any]) -> tuple[str, str]:
    """An entry's title and its text: what happened, on which outlet, when (Moscow time)."""
    word = EVENT_WORDS[change["event"]]
    title = f"[{change['source']}] {word}: {change['title']}"
    when = to_moscow_text(change["at"])
    if change["event"] == "reworded":
        summary = f"Reworded on {change['source']} at {when}: «{change['old_title']}» → «{change['title']}»"
    else:
        summary = f"{word.capitalize()} on {change['source']} at {when}: «{change['title']}»"
        if change["detail"]:
            summary += f" ({change['detail']})"
    return title, summary


def atom_feed(
    changes: list[dict[str, Any]], *, feed_id: str, self_url: str, site_url: str, link: Callable[[str], str]
) -> bytes:
    """An Atom 1.0 document of changes (newest first); entry ids follow the stored rows, so a
    reader sees each change once however often it asks."""
    ET.register_namespace("", ATOM)

    def add(parent: ET.Element, tag: str, text: object = None, **attributes: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if text is not None:
            element.text = _xml_text(text)
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    add(feed, "id", feed_id)
    add(feed, "title", "ticker: headline changes")
    add(
        feed,
        "subtitle",
        "Headlines pulled, reworded and more, as ticker recorded them (times in Moscow time, MSK)",
    )
    add(feed, "updated", changes[0]["at"] if changes else to_iso(utc_now()))
    add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    add(feed, "link", rel="alternate", type="text/html", href=site_url)
    author = add(feed, "author")
    add(author, "name", "ticker")
    add(feed, "generator", "ticker")
    for change in changes:
        entry = add(feed, "entry")
        title, summary = _entry_text(change)
        add(entry, "id", f"{feed_id}:{change['event']}/{quote(str(change['key']), safe=':/')}")
        add(entry, "title", title, type="text")
        add(entry, "updated", change["at"])
        add(entry, "published", change["at"])
        add(entry, "link", rel="alternate", type="text/html", href=link(change["headline_id"]))
        add(entry, "category", term=change["event"])
        add(entry, "category", term=change["source"], label=f"outlet {change['source']}")
        add(entry, "summary", summary, type="text")
    ET.indent(feed)  # one element a line: readable when opened in a browser
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


async def changes_feed(datasette, request) -> Response:
    """/-/changes.atom: headline changes as Atom 1.0 (default: pulled and reworded)."""
    args = request.args
    try:
        events = _events(args)
        since = _time(args, "since") or "0000"
        until = _time(args, "until") or "9999"
        limit = _limit(args, FEED_LIMIT, MAX_FEED_LIMIT)
        text = _text(args, "q")

        def read(db: Database) -> list[dict[str, Any]]:
            source = _source(db, (args.get("source") or "").strip())
            return front.feed_changes(
                db, events, since=since, until=until, source=source, text=text, limit=limit
            )

        changes = await _read(datasette, read)
    except (BadParameter, front.BadSearch) as error:
        return Response.text(f"Error: {error}\n", status=400)
    database = datasette.get_database().name
    body = atom_feed(
        changes,
        feed_id=f"tag:ticker,2024:{database}/changes",
        self_url=datasette.absolute_url(
            request, request.path + (f"?{request.query_string}" if request.query_string else "")
        ),
        site_url=datasette.absolute_url(request, datasette.urls.path("/-/today")),
        link=lambda headline_id: datasette.absolute_url(request, _headline_path(datasette, headline_id)),
    )
    return Response(body, status=200, content_type="application/atom+xml; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff"})  # fmt: skip


@hookimpl
def extra_template_vars(template, database, request, datasette):
    """The front page's search box lists the outlets."""
    if template != "index.html":
        return {}

    async def outlets() -> dict[str, Any]:
        return {
            "search_sources": await _read(datasette, front.sources),
            "feed_href": datasette.urls.path("/-/changes.atom"),
        }

    return outlets


@hookimpl
def register_routes():
    """The pages: /-/search, /-/today, /-/changes.atom."""
    return [
        (r"^/-/search$", search_page),
        (r"^/-/today$", today_page),
        (r"^/-/changes\.atom$", changes_feed),
    ]
