"""The questions the browser pages ask (`/-/ticker`, `/-/headline/<id>`), read-only.

Every source's ticker is the list of its `sources.ticker_channel`; nothing here names a kind
or a channel. Instants in and out are stored UTC ISO text.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from ticker.base import SUCCESS_SQL
from ticker.db.fetchlog import failed_poll_sql


def rows(db: Database, sql: str, params: dict | list | tuple = ()) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    cursor = db.execute(sql, params)
    keys = [column[0] for column in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def _one(db: Database, sql: str, params: dict | list | tuple = ()) -> dict[str, Any] | None:
    found = rows(db, sql, params)
    return found[0] if found else None


SOURCES_SQL = "SELECT name, kind, ticker_channel FROM sources ORDER BY name"


def sources(db: Database) -> list[dict[str, Any]]:
    """Every recorded source: name, kind and the channel whose list is its ticker (None: none)."""
    return rows(db, SOURCES_SQL)


_POLL_COLUMNS = "f.id AS fetch_id, f.source, f.channel, f.started_at, f.outcome, f.snapshot_id, f.body_sha256"

POLL_AT_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL} AND f.started_at <= :at
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

PREVIOUS_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at < :started_at OR (f.started_at = :started_at AND f.id < :fetch_id))
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

NEXT_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at > :started_at OR (f.started_at = :started_at AND f.id > :fetch_id))
ORDER BY f.started_at, f.id LIMIT 1
"""

NEXT_CHANGE_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at > :started_at OR (f.started_at = :started_at AND f.id > :fetch_id))
  AND f.snapshot_id IS NOT :snapshot_id
ORDER BY f.started_at, f.id LIMIT 1
"""

FIRST_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
ORDER BY f.started_at, f.id LIMIT 1
"""

FAILED_BETWEEN_SQL = f"""
SELECT f.outcome, count(*) AS polls, min(f.started_at) AS first_at, max(f.started_at) AS last_at,
       (SELECT g.error FROM fetches g WHERE g.source = f.source AND g.channel = f.channel
          AND g.outcome = f.outcome AND g.started_at > :after AND g.started_at <= :until
        ORDER BY g.started_at DESC, g.id DESC LIMIT 1) AS last_error
FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND {failed_poll_sql("f")}
  AND f.started_at > :after AND f.started_at <= :until
GROUP BY f.outcome ORDER BY min(f.started_at)
"""


def poll_at(db: Database, source: str, channel: str, at: str) -> dict[str, Any] | None:
    """The last successful poll of a source's channel at or before `at`."""
    return _one(db, POLL_AT_SQL, {"source": source, "channel": channel, "at": at})


def first_poll(db: Database, source: str, channel: str) -> dict[str, Any] | None:
    """The first successful poll of a source's channel."""
    return _one(db, FIRST_POLL_SQL, {"source": source, "channel": channel})


def poll_steps(db: Database, poll: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The successful polls before and after `poll`, and the next one that saw another list."""
    params = {key: poll[key] for key in ("source", "channel", "started_at", "fetch_id", "snapshot_id")}
    return {
        "previous": _one(db, PREVIOUS_POLL_SQL, params),
        "next": _one(db, NEXT_POLL_SQL, params),
        "next_change": _one(db, NEXT_CHANGE_SQL, params),
    }


def failed_between(db: Database, source: str, channel: str, after: str, until: str) -> list[dict[str, Any]]:
    """Failed polls in (after, until], one row per outcome: count, first and last time, last error."""
    params = {"source": source, "channel": channel, "after": after, "until": until}
    return rows(db, FAILED_BETWEEN_SQL, params)


# Each item of a snapshot with its marks: `new` (its presence on this channel began at this poll),
# `reworded_here` (this poll showed a new title), `reworded_later` (a later poll showed another), `exit_reason` of the presence this poll
# belongs to when it has ended (pulled, scrolled_off, unknown), and when.
TICKER_ITEMS_SQL = """
SELECT CAST(j.key AS INTEGER) + 1 AS position, h.id, coalesce(t.title, h.title) AS title,
       h.rubric, h.kind, h.paid, h.published_at, h.url,
       s.first_fetch_id = :fetch_id AS new,
       EXISTS (SELECT 1 FROM title_changes tc WHERE tc.headline_id = h.id AND tc.fetch_id = :fetch_id)
           AS reworded_here,
       EXISTS (SELECT 1 FROM title_changes tc WHERE tc.headline_id = h.id AND tc.fetch_id > :fetch_id)
           AS reworded_later,
       s.exit_reason, s.exited_at, s.first_seen AS on_ticker_since
FROM snapshots sn, json_each(sn.items) j
JOIN headlines h ON h.id = json_extract(j.value, '$[0]')
LEFT JOIN headline_titles t ON t.id = json_extract(j.value, '$[1]')
LEFT JOIN sightings s ON s.id = (
    SELECT s2.id FROM sightings s2 WHERE s2.headline_id = h.id AND s2.source = :source
      AND s2.channel = :channel AND s2.first_fetch_id <= :fetch_id AND s2.last_fetch_id >= :fetch_id
    ORDER BY s2.first_fetch_id DESC LIMIT 1)
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""

SNAPSHOT_RATES_SQL = """
SELECT r.id AS rate_id, r.currency, r.rate_date, r.value, r.change, r.source
FROM snapshots sn, json_each(sn.rates) j JOIN rates r ON r.id = j.value
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""


def ticker_items(db: Database, poll: dict[str, Any]) -> list[dict[str, Any]]:
    """The list a poll saw, in on-page order, titles as they read then, with each item's marks."""
    params = {key: poll[key] for key in ("source", "channel", "fetch_id", "snapshot_id")}
    items = rows(db, TICKER_ITEMS_SQL, params)
    for item in items:
        item["new"] = bool(item["new"])
        item["reworded_here"] = bool(item["reworded_here"])
        item["reworded_later"] = bool(item["reworded_later"])
        item["paid"] = bool(item["paid"])
    return items


def snapshot_rates(db: Database, snapshot_id: int | None) -> list[dict[str, Any]]:
    """The rate widgets a snapshot holds, in on-page order."""
    return rows(db, SNAPSHOT_RATES_SQL, {"snapshot_id": snapshot_id})


HEADLINE_SQL = """
SELECT h.id, h.source, h.url, h.title, h.rubric, h.kind, h.paid, h.project, h.published_at,
       h.first_seen, h.last_seen, h.first_fetch_id, h.last_fetch_id, h.first_channel, f.origin
FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id WHERE h.id = :id
"""

# Each title in the order it was shown: the first title, then one row per rewording (a title
# that comes back is shown again), each with the poll that first showed it.
TITLE_VERSIONS_SQL = """
SELECT title, shown_at, fetch_id, f.source, body_sha256 FROM (
    SELECT t.title, t.first_seen AS shown_at, t.first_fetch_id AS fetch_id, 0 AS ord, 0 AS change_id
    FROM headline_titles t
    WHERE t.headline_id = :id AND t.id = coalesce(
        (SELECT tc.old_title_id FROM title_changes tc WHERE tc.headline_id = :id ORDER BY tc.id LIMIT 1),
        (SELECT min(t2.id) FROM headline_titles t2 WHERE t2.headline_id = :id))
    UNION ALL
    SELECT n.title, tc.changed_at, tc.fetch_id, 1, tc.id
    FROM title_changes tc JOIN headline_titles n ON n.id = tc.new_title_id WHERE tc.headline_id = :id
) v LEFT JOIN fetches f ON f.id = v.fetch_id
ORDER BY ord, change_id
"""

PRESENCES_SQL = """
SELECT s.id AS sighting_id, s.source, s.channel, s.first_seen, s.last_seen, s.exited_at, s.exit_reason,
       s.first_position, s.last_position, s.first_fetch_id, s.last_fetch_id, s.exit_fetch_id,
       CAST(round((julianday(s.last_seen) - julianday(s.first_seen)) * 86400) AS INTEGER) AS shown_s,
       src.ticker_channel = s.channel AS on_ticker
FROM sightings s LEFT JOIN sources src ON src.name = s.source
WHERE s.headline_id = :id ORDER BY s.first_seen, s.id
"""

# Where the item stood at each poll of one presence where its position (or the list) changed.
POSITIONS_SQL = """
SELECT f.id AS fetch_id, f.started_at, CAST(j.key AS INTEGER) + 1 AS position
FROM fetches f JOIN snapshots sn ON sn.id = f.snapshot_id, json_each(sn.items) j
WHERE f.source = :source AND f.channel = :channel AND f.id BETWEEN :first AND :last
  AND json_extract(j.value, '$[0]') = :id
ORDER BY f.id
"""

EVIDENCE_SQL = """
SELECT f.id AS fetch_id, f.source, f.channel, f.started_at, f.outcome, f.body_sha256,
       b.sha256 IS NOT NULL AS archived, f.origin, f.origin_ref
FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256
WHERE f.id IN (SELECT value FROM json_each(:ids)) ORDER BY f.id
"""


def headline(db: Database, headline_id: str) -> dict[str, Any] | None:
    """One headline: its row, title versions in order, presences with positions, evidence fetches."""
    import json

    found = _one(db, HEADLINE_SQL, {"id": headline_id})
    if found is None:
        return None
    found["paid"] = bool(found["paid"])
    versions = rows(db, TITLE_VERSIONS_SQL, {"id": headline_id})
    presences = rows(db, PRESENCES_SQL, {"id": headline_id})
    for presence in presences:
        presence["on_ticker"] = bool(presence["on_ticker"])
        positions = rows(db, POSITIONS_SQL, {"source": presence["source"], "channel": presence["channel"],
                                             "first": presence["first_fetch_id"],
                                             "last": presence["last_fetch_id"], "id": headline_id})  # fmt: skip
        presence["positions"] = [
            p for i, p in enumerate(positions) if i == 0 or p["position"] != positions[i - 1]["position"]
        ]
    fetch_ids = {found["first_fetch_id"], found["last_fetch_id"]}
    fetch_ids |= {v["fetch_id"] for v in versions}
    for presence in presences:
        fetch_ids |= {presence["first_fetch_id"], presence["last_fetch_id"], presence["exit_fetch_id"]}
    evidence = rows(db, EVIDENCE_SQL, {"ids": json.dumps(sorted(i for i in fetch_ids if i is not None))})
    for fetch in evidence:
        fetch["archived"] = bool(fetch["archived"])
    return {"headline": found, "versions": versions, "presences": presences, "evidence": evidence}


def body_content_type(db: Database, sha256: str) -> str | None:
    """The Content-Type an archived body was served with."""
    row = db.execute("SELECT content_type FROM bodies WHERE sha256 = ?", [sha256]).fetchone()
    return row[0] if row else None
