"""The SQL of `ticker status`: each source's health from the summaries the writers keep.

- last success: `address_state` (each exact address's latest success), then that one fetch row;
- last failure and failures in a row: `outage_runs` (runs of failures per channel);
- the last 24 hours: `fetch_hours` (attempts per source and hour).

Only a history older than migration 0007 (no `address_state` row yet for a source) falls back to
one indexed lookup of the latest success in `fetches`. Backfills and imports (`fetches.origin`
set) are never polls: none of this counts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from ticker.core.base import OUTCOMES, SUCCESS_SQL
from ticker.db.fetchlog import FAILED_POLL_SQL


@dataclass(frozen=True, slots=True)
class RegisteredSource:
    name: str
    kind: str | None
    url: str | None
    every_s: float | None
    channels: list[str]


def sources(db: Database) -> list[RegisteredSource]:
    """Every source the daemon or `ticker fetch` registered, and any other one with fetches."""
    found: dict[str, RegisteredSource] = {}
    for name, kind, url, every_s, channels in db.execute(
        "SELECT name, kind, url, every_s, channels FROM sources ORDER BY name"
    ).fetchall():
        try:
            listed = json.loads(channels) if channels else []
        except ValueError:
            listed = []
        found[name] = RegisteredSource(name, kind, url, every_s, [c for c in listed if isinstance(c, str)])
    for (name,) in db.execute("SELECT DISTINCT source FROM fetch_hours").fetchall():
        found.setdefault(name, RegisteredSource(name, None, None, None, []))
    return [found[name] for name in sorted(found)]


def _scope(channels: list[str]) -> tuple[str, list[str]]:
    """Only the live channels count: backfill requests (feed_json, xml_dynamic) are not polls."""
    if not channels:
        return "", []
    return f" AND channel IN ({', '.join('?' for _ in channels)})", list(channels)


def _fetch(db: Database, fetch_id: int | None, columns: str) -> dict | None:
    if fetch_id is None:
        return None
    cursor = db.execute(f"SELECT {columns} FROM fetches WHERE id = ?", [fetch_id])
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def last_success(db: Database, source: str, channels: list[str]) -> dict | None:
    """id, started_at, channel, outcome of the source's latest successful fetch."""
    where, params = _scope(channels)
    fetch_id = db.execute(
        f"SELECT max(fetch_id) FROM address_state WHERE source = ?{where}", [source, *params]
    ).fetchone()[0]
    if fetch_id is None and not _has_address_state(db, source):
        found = db.execute(
            f"SELECT id FROM fetches WHERE source = ?{where} AND outcome IN {SUCCESS_SQL} AND origin IS NULL "
            "ORDER BY id DESC LIMIT 1",
            [source, *params],
        ).fetchone()
        fetch_id = found[0] if found else None
    return _fetch(db, fetch_id, "id, started_at, channel, outcome")


def _has_address_state(db: Database, source: str) -> bool:
    return db.execute("SELECT 1 FROM address_state WHERE source = ? LIMIT 1", [source]).fetchone() is not None


def last_failure(db: Database, source: str, channels: list[str]) -> dict | None:
    """id, started_at, channel, outcome, error, retry_after_s of the source's latest failed fetch."""
    where, params = _scope(channels)
    fetch_id = db.execute(
        f"SELECT max(last_fetch_id) FROM outage_runs WHERE source = ?{where}", [source, *params]
    ).fetchone()[0]
    return _fetch(db, fetch_id, "id, started_at, channel, outcome, error, retry_after_s")


def failures_since(db: Database, source: str, channels: list[str], success_id: int) -> int:
    """Failed fetches of these channels after fetch `success_id`: whole runs that began after
    it, plus the tail of a run of another channel that it fell inside."""
    where, params = _scope(channels)
    total = 0
    for channel, first_id, last_id, failures in db.execute(
        f"SELECT channel, first_fetch_id, last_fetch_id, failures FROM outage_runs WHERE source = ?{where} "
        "AND last_fetch_id > ?",
        [source, *params, success_id],
    ).fetchall():
        if first_id > success_id:
            total += failures
        else:
            total += db.execute(
                f"SELECT count(*) FROM fetches WHERE id > ? AND id <= ? AND source = ? AND channel = ? AND {FAILED_POLL_SQL}",
                [success_id, last_id, source, channel],
            ).fetchone()[0]
    return total


def ongoing_outages(db: Database, source: str, channels: list[str]) -> list[dict]:
    """Each channel's open run of failures: channel, started_at, failures, outcomes, first_error."""
    where, params = _scope(channels)
    cursor = db.execute(
        "SELECT channel, started_at, last_failure_at, failures, outcomes, first_error FROM outage_runs "
        f"WHERE source = ?{where} AND ended_at IS NULL ORDER BY started_at",
        [source, *params],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def outcomes_since(db: Database, source: str, hour: str) -> dict[str, int]:
    """Attempts by outcome in the hours starting at or after `hour`, most frequent first."""
    row = db.execute(
        f"SELECT {', '.join(f'coalesce(sum({o}), 0)' for o in OUTCOMES)} FROM fetch_hours "
        "WHERE source = ? AND hour >= ?",
        [source, hour],
    ).fetchone()
    counts = {outcome: count for outcome, count in zip(OUTCOMES, row, strict=True) if count}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def on_channel_since(db: Database, source: str, channel: str, channels: list[str]) -> str | None:
    """When the source's current channel took over: its first success since the latest success
    of another of its channels."""
    others = [c for c in channels if c != channel]
    other_id = 0
    if others:
        other_id = (
            db.execute(
                f"SELECT max(fetch_id) FROM address_state WHERE source = ? "
                f"AND channel IN ({', '.join('?' for _ in others)})",
                [source, *others],
            ).fetchone()[0]
            or 0
        )
        if other_id == 0 and not _has_address_state(db, source):
            found = db.execute(
                f"SELECT id FROM fetches WHERE source = ? AND origin IS NULL AND channel IN ({', '.join('?' for _ in others)}) "
                f"AND outcome IN {SUCCESS_SQL} ORDER BY id DESC LIMIT 1",
                [source, *others],
            ).fetchone()
            other_id = found[0] if found else 0
    first = db.execute(  # in id order from there: stops at the first match
        f"SELECT started_at FROM fetches WHERE id > ? AND source = ? AND channel = ? AND outcome IN {SUCCESS_SQL} "
        "AND origin IS NULL "
        "ORDER BY id LIMIT 1",
        [other_id, source, channel],
    ).fetchone()
    return first[0] if first else None
