"""How each source is doing, for `ticker status`: read from the summaries the writers keep
(`address_state`: each address's latest success; `outage_runs`: runs of failures; `fetch_hours`:
attempts per hour), never by scanning the fetch log. Never writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from ticker.core.base import to_iso, utc_now
from ticker.db import health as summaries
from ticker.kinds import UnknownSource, get_kind


@dataclass
class SourceHealth:
    name: str
    kind: str | None
    every_s: float | None
    channels: list[str]
    url: str | None = None  # the main channel's address, as registered (redacted)
    last_success: dict | None = None  # id, started_at, channel, outcome
    last_failure: dict | None = None  # id, started_at, channel, outcome, error
    consecutive_failures: int = 0  # failed fetches of its channels since its last success
    outcomes_24h: dict[str, int] = field(default_factory=dict)  # the last 24 whole hours and this one
    channel: str | None = None  # the channel of the latest success
    channel_since: str | None = None  # first success on it since it last ran on another one
    outages: list[dict] = field(default_factory=list)  # each channel's ongoing run of failures

    @property
    def on_fallback(self) -> bool:
        return bool(self.channel and self.channels and self.channel != self.channels[0])

    @property
    def fetches_24h(self) -> int:
        return sum(self.outcomes_24h.values())


def _main_first(kind: str | None, channels: list[str]) -> list[str]:
    """`ticker fetch --channel X` registers just [X]: the kind's main channel still comes first."""
    try:
        main = get_kind(kind).main.name if kind else None
    except UnknownSource:
        main = None
    if main is None or not channels or channels[0] == main:
        return channels
    return [main, *[c for c in channels if c != main]]


def _hour_start(moment: datetime) -> str:
    return to_iso(moment.replace(minute=0, second=0, microsecond=0))


def source_health(db: Database, *, now: datetime | None = None) -> list[SourceHealth]:
    """Per source: last success and failure, failures in a row, the last 24 h, the current channel."""
    since = _hour_start((now or utc_now()) - timedelta(hours=24))
    result = []
    for source in summaries.sources(db):
        channels = _main_first(source.kind, source.channels)
        health = SourceHealth(source.name, source.kind, source.every_s, channels, url=source.url)
        success = summaries.last_success(db, source.name, channels)
        health.last_success = success
        failure = summaries.last_failure(db, source.name, channels)
        health.last_failure = failure
        health.consecutive_failures = summaries.failures_since(
            db, source.name, channels, success["id"] if success else 0
        )
        health.outcomes_24h = summaries.outcomes_since(db, source.name, since)
        health.outages = summaries.ongoing_outages(db, source.name, channels)
        if success is not None:
            health.channel = success["channel"]
            health.channel_since = summaries.on_channel_since(db, source.name, success["channel"], channels)
        result.append(health)
    return result
