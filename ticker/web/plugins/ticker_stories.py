"""Datasette plugin (loaded by `ticker serve`): stories across outlets.

- `/-/stories?min_sources=2&source=tass`: the latest stories, outlets as columns, exclusives marked;
- `/-/story/<id>`: one story's timeline across outlets: who had it first and between which polls,
  each outlet's wording with word diffs against the first report and between its own versions,
  pulls, time on each ticker, the citation behind each member.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from datasette import hookimpl
from datasette.utils.asgi import Response

from ticker.core.display import word_diff
from ticker.db.front import sources
from ticker.db.stories import has_story_tables, list_stories
from ticker.jobs.story_timeline import MAX_VERSIONS, story_timeline
from ticker.stories.update import catch_up

LATEST = 100  # stories on /-/stories
DIFF_CHARS = 300  # word diffs compare at most this much of each title (difflib is quadratic)


async def _read(datasette, fn: Callable[..., Any]) -> Any:
    """Run fn(db) on a read-only connection of the served database (a sqlite_utils Database)."""
    from sqlite_utils import (
        Database,
    )  # the plugin is imported by Datasette before ticker's modules are needed

    return await datasette.get_database().execute_fn(lambda conn: fn(Database(conn)))


async def _catch_up(datasette) -> str | None:
    """Group what one-off fetches recorded since the last grouping (on its own connection, in a
    thread: the served connections are read-only); None, or why the stories are not current."""
    path = datasette.get_database().path
    return await asyncio.to_thread(catch_up, path) if path else None


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    return word_diff(old[:DIFF_CHARS], new[:DIFF_CHARS])


def _whole_number(text: str | None, default: int, maximum: int) -> int | None:
    if text is None or text.strip() == "":
        return default
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        return None
    return int(text)


def _stories_context(db, source: str | None, min_sources: int) -> dict[str, Any]:

    if not has_story_tables(db):
        return {
            "error": "this database has no stories yet: run `ticker fetch` or the daemon once",
            "stories": [],
        }
    outlets = [s["name"] for s in sources(db) if s["ticker_channel"]]
    found = list_stories(db, "", source=source, min_sources=min_sources, limit=LATEST)
    for story in found:
        story["by_source"] = {m["source"]: m for m in story["members"]}
        for member in story["members"]:
            if member["source"] not in outlets:
                outlets.append(member["source"])
    return {"stories": found, "outlets": outlets, "error": None}


async def stories_page(datasette, request) -> Response:
    """/-/stories: the latest stories, newest first."""
    source = (request.args.get("source") or "").strip() or None
    min_sources = _whole_number(request.args.get("min_sources"), 1, 10_000)
    if min_sources is None:
        context = {"stories": [], "outlets": [], "error": "min_sources: a whole number from 1"}
    else:
        note = await _catch_up(datasette)
        context = await _read(datasette, lambda db: _stories_context(db, source, min_sources))
        context["note"] = note
    context.update(source=source, min_sources=min_sources or 1, latest=LATEST)
    for story in context["stories"]:
        story["href"] = datasette.urls.path(f"/-/story/{story['id']}")
    html = await datasette.render_template("stories.html", context, request=request)
    return Response.html(html, status=400 if context["error"] and min_sources is None else 200)


def _story_context(db, story_id: int, db_arg: str) -> dict[str, Any] | None:

    if not has_story_tables(db):
        return None
    found = story_timeline(db, story_id, db_arg)
    if found is None:
        return None
    first_title = found["members"][0]["title"]
    for number, member in enumerate(found["members"]):
        member["diff_from_first"] = _diff(first_title, member["title"]) if number else None
        titles = [t["title"] for t in member["citation"]["titles"][:MAX_VERSIONS]]
        member["versions"] = [
            {"title": title, "diff": _diff(titles[i - 1], title) if i else None,
             "shown_at": member["citation"]["titles"][i]["first_seen"],
             "fetch_id": (member["citation"]["titles"][i]["first_fetch"] or {}).get("fetch_id")}
            for i, title in enumerate(titles)
        ]  # fmt: skip
        member["versions_left_out"] = len(member["citation"]["titles"]) - len(titles)
        fetches = {
            t["first_fetch"]["fetch_id"]: t["first_fetch"]
            for t in member["citation"]["titles"]
            if t["first_fetch"]
        }
        member["evidence"] = [fetches[i] for i in sorted(fetches)]
    return found


async def story_page(datasette, request) -> Response:
    """/-/story/<id>: one story's timeline across outlets."""
    text = request.url_vars["id"]
    database = datasette.get_database()
    db_arg = f" --db {shlex.quote(str(database.path))}" if database.path else ""
    found = None
    note = None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        note = await _catch_up(datasette)
        found = await _read(datasette, lambda db: _story_context(db, int(text), db_arg))
    if found is None:
        html = await datasette.render_template(
            "story.html", {"story": None, "missing": text}, request=request
        )
        return Response.html(html, status=404)
    for member in found["members"]:
        member["headline_href"] = datasette.urls.path(f"/-/headline/{quote(member['headline_id'], safe='')}")
        for fetch in member["evidence"]:
            if fetch.get("body_archived"):
                fetch["body_href"] = datasette.urls.path(f"/-/body/{fetch['body_sha256']}")
    for follow in found["follow_ups"]:
        follow["href"] = datasette.urls.path(f"/-/story/{follow['story_id']}")
    html = await datasette.render_template("story.html", {"story": found, "note": note}, request=request)
    return Response.html(html)


@hookimpl
def register_routes():
    """The pages: /-/stories, /-/story/<id>."""
    return [
        (r"^/-/stories$", stories_page),
        (r"^/-/story/(?P<id>[^/]+)$", story_page),
    ]
