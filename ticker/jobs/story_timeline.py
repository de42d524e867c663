"""One story told in time: who had it first and when (with the resolution of the polls), each
outlet's wordings and exits, with the citation behind each member. Shared by `ticker story` and
the page `/-/story/<id>`."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from ticker.core.base import to_moscow_text
from ticker.db import stories as store
from ticker.jobs.citations import cite_headline

MAX_VERSIONS = 20  # title versions shown per member (the citation holds them all)


def _hm(iso: str | None) -> str:
    """`18:52` Moscow time (the zone is named where it is used)."""
    text = to_moscow_text(iso) or ""
    return text[11:16]


def resolution(member: dict[str, Any]) -> str:
    """When the member was first seen, bounded by the poll before that did not show it:
    `between 18:52 and 18:54 MSK`; how it was learned of when not by a live poll."""
    first, previous = member["first_poll"], member["previous_poll"]
    if member["learned_after_the_fact"]:
        return f"learned of after the fact ({member['learned_after_the_fact']}) at {to_moscow_text(member['first_seen'])}"
    if first is None:
        return f"first seen {to_moscow_text(member['first_seen'])}"
    if previous is None:
        return f"at {_hm(first['at'])} MSK, the first poll of {member['source']}/{first['channel']} (none before it)"
    same_day = (to_moscow_text(previous["at"]) or "")[:10] == (to_moscow_text(first["at"]) or "")[:10]
    before = _hm(previous["at"]) if same_day else to_moscow_text(previous["at"])
    return f"between {before} and {_hm(first['at'])} MSK"


def story_timeline(db: Database, story_id: int, db_arg: str = "") -> dict[str, Any] | None:
    """The story with each member's citation and the events of all members in time order."""
    found = store.story(db, story_id)
    if found is None:
        return None
    events: list[dict[str, Any]] = []
    for member in found["members"]:
        citation = cite_headline(db, member["headline_id"], db_arg)
        member["citation"] = citation
        member["resolution"] = resolution(member)
        member["cite_command"] = f"ticker cite {member['headline_id']}{db_arg}"
        for number, version in enumerate(citation["titles"][:MAX_VERSIONS]):
            events.append({
                "at": version["first_seen"], "source": member["source"],
                "headline_id": member["headline_id"], "event": "first seen" if number == 0 else "reworded",
                "title": version["title"], "fetch_id": (version["first_fetch"] or {}).get("fetch_id"),
            })  # fmt: skip
        for sighting in citation["sightings"]:
            if sighting["exit_fetch_id"] is None or sighting["channel"] == "backfill":
                continue
            events.append({
                "at": sighting["exited_at"], "source": member["source"],
                "headline_id": member["headline_id"],
                "event": f"left {sighting['channel']}: {sighting['exit_reason'] or 'not the ticker'}",
                "title": None, "fetch_id": sighting["exit_fetch_id"],
            })  # fmt: skip
    events.sort(key=lambda e: (e["at"] or "", e["source"], e["headline_id"]))
    found["timeline"] = events
    return found
