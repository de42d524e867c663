"""How each source is doing, read from the database alone (for `ticker status`; never writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from ticker.base import SUCCESS_SQL, to_iso, utc_now
from ticker.sources import KINDS


@dataclass
class SourceHealth:
    name: str
    kind: str | None
    every_s: float | None
    channels: list[str]
    last_success: dict | None = None  # started_at, channel, outcome
    last_failure: dict | None = None  # started_at, channel, outcome, error
    consecutive_failures: int = 0
    outcomes_24h: dict[str, int] = field(default_factory=dict)
    channel: str | None = None  # the channel of the latest success
    channel_since: str | None = None  # first success on it since it last ran on another one

    @property
    def on_fallback(self) -> bool:
        return bool(self.channel and self.channels and self.channel != self.channels[0])

    @property
    def fetches_24h(self) -> int:
        return sum(self.outcomes_24h.values())


def _row(db: Database, sql: str, params: list) -> dict | None:
    cursor = db.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _configured(db: Database) -> dict[str, tuple[str | None, float | None, list[str]]]:
    found: dict[str, tuple[str | None, float | None, list[str]]] = {}
    for name, kind, every_s, channels in db.execute(
        "SELECT name, kind, every_s, channels FROM sources ORDER BY name"
    ).fetchall():
        try:
            listed = json.loads(channels) if channels else []
        except ValueError:
            listed = []
        if kind in KINDS and listed and listed[0] != next(iter(KINDS[kind])):
            # `ticker fetch --channel X` registers just [X]: the main channel still comes first.
            listed = [next(iter(KINDS[kind])), *[c for c in listed if c != next(iter(KINDS[kind]))]]
        found[name] = (kind, every_s, listed)
    for (name,) in db.execute("SELECT DISTINCT source FROM fetches").fetchall():
        found.setdefault(name, (None, None, []))
    return found


def source_health(db: Database, *, now: datetime | None = None) -> list[SourceHealth]:
    """Per source: last success and failure, failures in a row, the last 24 h, the current channel."""
    since_24h = to_iso((now or utc_now()) - timedelta(hours=24))
    result = []
    for name, (kind, every_s, channels) in sorted(_configured(db).items()):
        health = SourceHealth(name, kind, every_s, channels)
        # Only the live channels count: backfill requests (feed_json, xml_dynamic) are not polls.
        live = f" AND channel IN ({', '.join('?' for _ in channels)})" if channels else ""
        scope = [name, *channels]
        success = _row(
            db,
            f"SELECT id, started_at, channel, outcome FROM fetches WHERE source = ?{live} "
            f"AND outcome IN {SUCCESS_SQL} ORDER BY id DESC LIMIT 1",
            scope,
        )
        health.last_failure = _row(
            db,
            f"SELECT id, started_at, channel, outcome, error FROM fetches WHERE source = ?{live} "
            f"AND outcome NOT IN {SUCCESS_SQL} ORDER BY id DESC LIMIT 1",
            scope,
        )
        health.last_success = success
        health.consecutive_failures = db.execute(
            f"SELECT count(*) FROM fetches WHERE source = ?{live} AND id > ?",
            [*scope, success["id"] if success else 0],
        ).fetchone()[0]
        health.outcomes_24h = dict(
            db.execute(
                f"SELECT outcome, count(*) FROM fetches WHERE source = ?{live} AND started_at >= ? "
                "GROUP BY outcome ORDER BY count(*) DESC, outcome",
                [*scope, since_24h],
            ).fetchall()
        )
        if success is not None:
            health.channel = success["channel"]
            other = db.execute(
                f"SELECT max(id) FROM fetches WHERE source = ?{live} AND outcome IN {SUCCESS_SQL} AND channel != ?",
                [*scope, success["channel"]],
            ).fetchone()[0]
            health.channel_since = db.execute(
                f"SELECT min(started_at) FROM fetches WHERE source = ? AND outcome IN {SUCCESS_SQL} "
                "AND channel = ? AND id > ?",
                [name, success["channel"], other or 0],
            ).fetchone()[0]
        result.append(health)
    return result
