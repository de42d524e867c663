"""Stories in the database: what the grouping reads from the history, what it writes, and the
questions `ticker stories`, `ticker story` and the pages ask (docs/schema.md, "stories").

Stories are derived from `headlines` and `headline_titles` only, never from the write path: any
writer that leaves the history tables right leaves the stories re-derivable.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from ticker.core.base import SUCCESS_SQL, from_iso
from ticker.core.story_records import Item, Member, Story
from ticker.db.front import PREVIOUS_POLL_SQL, rows

# Headlines that take part: every item but partners' advertisements.
_ITEMS_SQL = """
SELECT h.id, h.source, h.first_seen, h.title, t.id AS title_id, t.first_seen AS title_seen
FROM headlines h LEFT JOIN headline_titles t ON t.headline_id = h.id AND t.title = h.title
WHERE h.first_seen >= :start AND (:end IS NULL OR h.first_seen < :end) AND h.kind IS NOT 'partner'
ORDER BY h.first_seen, h.source, h.id
"""

_PRIOR_SQL = """
SELECT s.key, s.first_seen AS story_first_seen, m.headline_id, m.source, m.first_seen, h.title,
       m.title_id, m.joined_at, m.score, m.matched_headline_id, m.terms, m.explanation, m.follow_up_of
FROM stories s JOIN story_members m ON m.story_id = s.id JOIN headlines h ON h.id = m.headline_id
WHERE s.first_seen >= :from AND s.first_seen < :start AND m.first_seen < :start
ORDER BY s.first_seen, s.key, m.first_seen, m.source, m.headline_id
"""


def items(db: Database, start: str, end: str | None = None) -> list[Item]:
    """The headlines first seen in [start, end) in grouping order, by their current title."""
    return [
        Item(
            r["id"],
            r["source"],
            r["first_seen"],
            r["title"],
            r["title_id"],
            r["title_seen"] or r["first_seen"],
        )
        for r in rows(db, _ITEMS_SQL, {"start": start, "end": end})
    ]


def prior_stories(db: Database, start: str, window_from: str) -> list[Story]:
    """The stories begun in [window_from, start), with their members first seen before `start`."""
    stories: dict[str, Story] = {}
    for r in rows(db, _PRIOR_SQL, {"from": window_from, "start": start}):
        story = stories.setdefault(r["key"], Story(r["key"], r["story_first_seen"]))
        item = Item(r["headline_id"], r["source"], r["first_seen"], r["title"], r["title_id"], r["joined_at"])
        terms = tuple(json.loads(r["terms"])) if r["terms"] else ()
        story.members.append(
            Member(
                item, r["score"], r["matched_headline_id"], terms, r["explanation"] or "", r["follow_up_of"]
            )
        )
    return list(stories.values())


def changed_from(db: Database, since: str) -> str | None:
    """The earliest first sighting among headlines first seen or reworded at or after `since`:
    where the grouping must be re-run from (None: nothing changed)."""
    row = db.execute(
        "SELECT min(first_seen) FROM ("
        " SELECT min(first_seen) AS first_seen FROM headlines WHERE first_seen >= :since"
        " UNION ALL"
        " SELECT min(h.first_seen) FROM title_changes tc JOIN headlines h ON h.id = tc.headline_id"
        " WHERE tc.changed_at >= :since)",
        {"since": since},
    ).fetchone()
    return row[0] if row else None


def watermark(db: Database) -> int:
    """Fetches up to this id have been grouped."""
    row = db.execute("SELECT through_fetch_id FROM story_state WHERE id = 1").fetchone()
    return row[0] if row else 0


def fetches_after(db: Database, fetch_id: int) -> tuple[str | None, int]:
    """The earliest start among successful fetches after `fetch_id` (None: none), and the last
    fetch id recorded."""
    row = db.execute(
        f"SELECT min(CASE WHEN outcome IN {SUCCESS_SQL} THEN started_at END), max(id) FROM fetches WHERE id > ?",
        [fetch_id],
    ).fetchone()
    return row[0], row[1] if row[1] is not None else fetch_id


def chunk_end(db: Database, start: str, size: int) -> str | None:
    """Where a grouping chunk that begins at `start` ends: the first sighting `size` headlines on
    (past every headline first seen at `start` itself), None when fewer remain."""
    row = db.execute(
        "SELECT first_seen FROM headlines WHERE first_seen >= ? ORDER BY first_seen LIMIT 1 OFFSET ?",
        [start, size],
    ).fetchone()
    if row is None or row[0] > start:
        return row[0] if row else None
    return db.execute("SELECT min(first_seen) FROM headlines WHERE first_seen > ?", [start]).fetchone()[0]


def grouping_behind(db: Database) -> bool:
    """Whether headlines were first seen or reworded in fetches after the last grouping (a
    one-off `ticker fetch` records only; the stories' readers bring them up to date). Fetches
    that brought nothing new leave the stories as they are."""
    earliest, _last = fetches_after(db, watermark(db))
    return earliest is not None and changed_from(db, earliest) is not None


def last_fetch_id(db: Database) -> int:
    return db.execute("SELECT coalesce(max(id), 0) FROM fetches").fetchone()[0]


def set_watermark(db: Database, fetch_id: int, at: str) -> None:
    """Record that fetches up to `fetch_id` are grouped (never moves back)."""
    db.execute(
        "INSERT INTO story_state (id, through_fetch_id, updated_at) VALUES (1, :id, :at) "
        "ON CONFLICT (id) DO UPDATE SET through_fetch_id = max(through_fetch_id, :id), updated_at = :at",
        {"id": fetch_id, "at": at},
    )


def generation(db: Database) -> int | None:
    """The stories' current generation (None: no state yet)."""
    row = db.execute("SELECT generation FROM story_state WHERE id = 1").fetchone()
    return row[0] if row else None


def new_generation(db: Database) -> int:
    """Mark the stories changed: a new random generation (inside the write transaction)."""
    value = secrets.randbits(62)
    db.execute(
        "INSERT INTO story_state (id, through_fetch_id, generation, updated_at) "
        "VALUES (1, 0, :g, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) ON CONFLICT (id) DO UPDATE SET generation = :g",
        {"g": value},
    )
    return value


def database_file(db: Database) -> str:
    """The main database's file (the in-memory window is kept per file)."""
    for _, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return path
    return ""


def headline_span(db: Database) -> tuple[str | None, str | None]:
    """The first and the last first sighting of any headline."""
    first, last = db.execute("SELECT min(first_seen), max(first_seen) FROM headlines").fetchone()
    return first, last


def save_groups(db: Database, start: str, end: str | None, stories: Iterable[Story]) -> int:
    """Replace the membership of every headline first seen in [start, end) by `stories` (those
    the pass returned). Stories begun in the range that the pass did not produce go; a story
    keeps its id while its first member stays. Returns the number of members written."""
    stories = list(stories)
    bounds = {"start": start, "end": end}
    in_range = "first_seen >= :start AND (:end IS NULL OR first_seen < :end)"
    touched = {
        r[0] for r in db.execute(f"SELECT DISTINCT story_id FROM story_members WHERE {in_range}", bounds)
    }
    db.execute(f"DELETE FROM story_members WHERE {in_range}", bounds)
    keys = json.dumps([story.key for story in stories])
    gone = [r[0] for r in db.execute(
        f"SELECT id FROM stories WHERE {in_range} AND key NOT IN (SELECT value FROM json_each(:keys))",
        bounds | {"keys": keys},
    )]  # fmt: skip
    if gone:
        marks = json.dumps(gone)
        db.execute("DELETE FROM story_members WHERE story_id IN (SELECT value FROM json_each(?))", [marks])
        db.execute("DELETE FROM stories WHERE id IN (SELECT value FROM json_each(?))", [marks])
    written = 0
    for story in stories:
        first = story.members[0].item
        story_id = db.execute(
            "INSERT INTO stories (key, first_seen, first_source, sources, last_joined_at) "
            "VALUES (?, ?, ?, 0, ?) ON CONFLICT (key) DO UPDATE SET first_seen = excluded.first_seen, "
            "first_source = excluded.first_source RETURNING id",
            [story.key, story.first_seen, first.source, story.first_seen],
        ).fetchone()[0]
        touched.add(story_id)
        for member in story.members:
            if not (member.item.first_seen >= start and (end is None or member.item.first_seen < end)):
                continue  # a member from before the range: already stored
            item = member.item
            db.execute(
                "INSERT INTO story_members (headline_id, story_id, source, first_seen, title_id, joined_at, "
                "score, matched_headline_id, terms, explanation, follow_up_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [item.headline_id, story_id, item.source, item.first_seen, item.title_id,
                 item.title_seen or item.first_seen, member.score, member.matched,
                 json.dumps(list(member.terms), ensure_ascii=False), member.explanation, member.follow_up_of],
            )  # fmt: skip
            written += 1
    touched -= set(gone)
    db.execute(
        "UPDATE stories SET sources = (SELECT count(*) FROM story_members m WHERE m.story_id = stories.id), "
        "last_joined_at = coalesce((SELECT max(first_seen) FROM story_members m WHERE m.story_id = stories.id), "
        "first_seen) WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps(sorted(touched))],
    )
    return written


# ---- reading


_LIST_SQL = """
SELECT s.id, s.key, s.first_seen, s.first_source, s.sources, s.last_joined_at, h.title
FROM stories s JOIN headlines h ON h.id = s.key
WHERE s.first_seen >= :since AND (:until IS NULL OR s.first_seen <= :until) AND s.sources >= :min_sources
  AND (:source IS NULL OR EXISTS (SELECT 1 FROM story_members m WHERE m.story_id = s.id AND m.source = :source))
ORDER BY s.first_seen DESC, s.id DESC
LIMIT :limit
"""

_STORY_SQL = """
SELECT s.id, s.key, s.first_seen, s.first_source, s.sources, s.last_joined_at, h.title
FROM stories s JOIN headlines h ON h.id = s.key WHERE s.id = :id
"""

# Each member with its headline, the poll that first saw it, and its presence on its outlet's
# ticker (the latest presence: exit_reason NULL while shown).
# `+p.source`: a member's sightings by its headline (sightings_headline), not every sighting of its
# source's channel (sightings_channel_first, migration 0010), which SQLite picks for the equality.
_MEMBERS_SQL = """
SELECT m.story_id, m.headline_id, m.source, m.first_seen, h.title, h.url, h.published_at, h.rubric,
       m.score, m.matched_headline_id, m.terms, m.explanation, m.follow_up_of, m.joined_at,
       h.first_fetch_id, f.started_at AS first_fetch_at, f.channel AS first_channel, f.origin,
       src.ticker_channel,
       (SELECT count(*) FROM title_changes tc WHERE tc.headline_id = h.id) AS rewordings,
       last.exit_reason, last.exited_at, last.last_seen AS ticker_last_seen,
       (SELECT sum(round((julianday(p.last_seen) - julianday(p.first_seen)) * 86400)) FROM sightings p
        WHERE p.headline_id = h.id AND +p.source = m.source AND p.channel = src.ticker_channel) AS shown_s,
       EXISTS (SELECT 1 FROM sightings p WHERE p.headline_id = h.id AND p.exit_reason = 'pulled') AS ever_pulled
FROM story_members m
JOIN headlines h ON h.id = m.headline_id
LEFT JOIN fetches f ON f.id = h.first_fetch_id
LEFT JOIN sources src ON src.name = m.source
LEFT JOIN sightings last ON last.id = (
    SELECT p.id FROM sightings p WHERE p.headline_id = h.id AND +p.source = m.source
      AND p.channel = src.ticker_channel ORDER BY p.first_seen DESC, p.id DESC LIMIT 1)
WHERE m.story_id IN (SELECT value FROM json_each(:ids))
ORDER BY m.story_id, m.first_seen, m.source, m.headline_id
"""

_FOLLOW_UPS_SQL = """
SELECT m.headline_id, m.source, m.first_seen, h.title, m.story_id, m.follow_up_of
FROM story_members m JOIN headlines h ON h.id = m.headline_id
WHERE m.follow_up_of IN (SELECT headline_id FROM story_members WHERE story_id = :id)
ORDER BY m.first_seen, m.source, m.headline_id
"""

_STORY_OF_SQL = "SELECT story_id FROM story_members WHERE headline_id = ?"


def _poll(fetch_id: int | None, at: str | None, channel: str | None) -> dict[str, Any] | None:
    return None if fetch_id is None else {"fetch_id": fetch_id, "at": at, "channel": channel}


def _members(db: Database, stories: list[dict[str, Any]]) -> None:
    """Attach each story's members (with first poll, the poll before it, lag, exit)."""
    by_id = {story["id"]: story for story in stories}
    for story in stories:
        story["members"] = []
    for r in rows(db, _MEMBERS_SQL, {"ids": json.dumps(list(by_id))}):
        story = by_id[r["story_id"]]
        previous = None
        if r["first_fetch_id"] is not None and r["origin"] is None:
            found = rows(db, PREVIOUS_POLL_SQL, {"source": r["source"], "channel": r["first_channel"],
                                                 "started_at": r["first_fetch_at"], "fetch_id": r["first_fetch_id"]})  # fmt: skip
            previous = (
                _poll(found[0]["fetch_id"], found[0]["started_at"], found[0]["channel"]) if found else None
            )
        lag = _seconds_between(story["first_seen"], r["first_seen"])
        story["members"].append(
            {
                "source": r["source"],
                "headline_id": r["headline_id"],
                "title": r["title"],
                "first_seen": r["first_seen"],
                "exit_reason": r["exit_reason"],
                "exited_at": r["exited_at"],
                "ever_pulled": bool(r["ever_pulled"]),
                "shown_s": r["shown_s"],
                "rewordings": r["rewordings"],
                "lag_seconds": lag,
                "first_poll": _poll(r["first_fetch_id"], r["first_fetch_at"], r["first_channel"]),
                "previous_poll": previous,
                "learned_after_the_fact": r["origin"]
                or (r["first_channel"] if r["first_channel"] == "backfill" else None),
                "published_at": r["published_at"],
                "url": r["url"],
                "rubric": r["rubric"],
                "score": r["score"],
                "matched_headline_id": r["matched_headline_id"],
                "terms": json.loads(r["terms"]) if r["terms"] else [],
                "explanation": r["explanation"],
                "follow_up_of": r["follow_up_of"],
            }
        )


def _seconds_between(first: str, then: str) -> int:
    return round((from_iso(then) - from_iso(first)).total_seconds())


def _story(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "first_seen": row["first_seen"],
        "first_source": row["first_source"],
        "title": row["title"],
        "first_headline_id": row["key"],
        "sources": row["sources"],
        "exclusive": row["sources"] == 1,
        "last_joined_at": row["last_joined_at"],
    }


def list_stories(
    db: Database,
    since: str,
    *,
    until: str | None = None,
    source: str | None = None,
    min_sources: int = 1,
    limit: int = -1,
) -> list[dict[str, Any]]:
    """Stories first seen in [since, until], newest first, each with its members."""
    params = {"since": since, "until": until, "source": source, "min_sources": min_sources, "limit": limit}
    stories = [_story(r) for r in rows(db, _LIST_SQL, params)]
    _members(db, stories)
    return stories


def story(db: Database, story_id: int) -> dict[str, Any] | None:
    """One story with its members, and the follow-ups its outlets published as their own stories."""
    found = rows(db, _STORY_SQL, {"id": story_id})
    if not found:
        return None
    result = _story(found[0])
    _members(db, [result])
    result["follow_ups"] = rows(db, _FOLLOW_UPS_SQL, {"id": story_id})
    return result


def story_of(db: Database, headline_id: str) -> int | None:
    """The story a headline belongs to (None: none, or a database without stories yet)."""
    if not has_story_tables(db):
        return None
    row = db.execute(_STORY_OF_SQL, [headline_id]).fetchone()
    return row[0] if row else None


def story_count(db: Database) -> dict[str, int]:
    """How many stories, and how many carried by two outlets or more."""
    total, shared = db.execute("SELECT count(*), coalesce(sum(sources >= 2), 0) FROM stories").fetchone()
    return {"stories": total, "shared": shared}


def has_story_tables(db: Database) -> bool:
    """Whether the database has the stories tables (an older ticker's may not)."""
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'story_members'").fetchone()
        is not None
    )


# ---- alerts (schedules/alerts.py)

_GROWN_SQL = """
SELECT s.id, s.sources, s.first_source, s.first_seen, h.title,
       (SELECT group_concat(source, ', ') FROM (SELECT source FROM story_members WHERE story_id = s.id
        ORDER BY first_seen, source)) AS outlets
FROM stories s JOIN headlines h ON h.id = s.key
WHERE s.sources >= :outlets AND s.id IN (
    SELECT m.story_id FROM fetches f JOIN snapshots sn ON sn.id = f.snapshot_id, json_each(sn.items) j
    JOIN story_members m ON m.headline_id = json_extract(j.value, '$[0]')
    WHERE f.id = :fetch_id AND m.first_seen = f.started_at)
ORDER BY s.id
"""

_PULLED_SQL = """
SELECT m.headline_id, m.story_id, h.title,
       (SELECT group_concat(o.source, ', ') FROM story_members o WHERE o.story_id = m.story_id
          AND o.headline_id != m.headline_id AND EXISTS (
            SELECT 1 FROM sightings p JOIN sources src ON src.name = p.source AND src.ticker_channel = p.channel
            WHERE p.headline_id = o.headline_id AND p.exit_fetch_id IS NULL)) AS others
FROM sightings s JOIN story_members m ON m.headline_id = s.headline_id JOIN headlines h ON h.id = s.headline_id
WHERE s.exit_fetch_id = :fetch_id AND s.exit_reason = 'pulled'
"""


def grown_by(db: Database, fetch_id: int, outlets: int) -> list[dict[str, Any]]:
    """Stories carried by `outlets` outlets or more that one of this fetch's new items joined."""
    if not has_story_tables(db):
        return []
    return rows(db, _GROWN_SQL, {"fetch_id": fetch_id, "outlets": outlets})


def pulled_while_others_show(db: Database, fetch_id: int) -> list[dict[str, Any]]:
    """Items this fetch found pulled whose story other outlets still show (`others`: who)."""
    if not has_story_tables(db):
        return []
    return [r for r in rows(db, _PULLED_SQL, {"fetch_id": fetch_id}) if r["others"]]


def title_vectors(db: Database, shas: list[str], model: str) -> dict[str, bytes]:
    """The stored vectors of these title hashes by `model` (those stored)."""
    return dict(
        db.execute(
            "SELECT title_sha256, vector FROM title_vectors WHERE model = ? "
            "AND title_sha256 IN (SELECT value FROM json_each(?))",
            [model, json.dumps(shas)],
        ).fetchall()
    )


def save_title_vectors(db: Database, rows: list[tuple[str, bytes]], model: str) -> None:
    """Store title vectors (a hash already stored keeps its vector)."""
    db.conn.executemany(
        "INSERT OR IGNORE INTO title_vectors (title_sha256, model, vector) VALUES (?, ?, ?)",
        [(sha, model, vector) for sha, vector in rows],
    )
