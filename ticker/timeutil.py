"""Explicit time handling: UTC instants stored as ISO 8601 text, Moscow as the sites' clock."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class BadTime(ValueError):
    """A time the user typed that cannot be understood."""


def utc_now() -> datetime:
    """The current instant, timezone-aware UTC (never the host's zone)."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Format an aware datetime as stored: UTC, second precision, `Z` suffix."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the zone must be explicit")
    return moment.astimezone(UTC).strftime(_ISO_FORMAT)


def from_iso(text: str) -> datetime:
    """Parse a stored instant back into an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def from_unix(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def unix_to_iso(seconds: int) -> str:
    """A Unix time as a stored instant (what `to_iso(from_unix(s))` gives, faster)."""
    return time.strftime(_ISO_FORMAT, time.gmtime(seconds))


def moscow_day(moment: datetime) -> date:
    """The Moscow calendar day of an instant."""
    return moment.astimezone(MOSCOW).date()


def to_moscow_text(iso: str | None) -> str | None:
    """A stored UTC instant shown in Moscow time, `YYYY-MM-DD HH:MM:SS MSK`."""
    if iso is None:
        return None
    return from_iso(iso).astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M:%S MSK")


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_user_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a time typed by a user.

    Accepts ISO 8601 with a zone (`2024-11-25T18:57:00+03:00`, `...Z`), a time without a zone
    (taken as Moscow time), a bare date (`2024-11-25`, Moscow midnight), and a relative age
    (`90s`, `15m`, `1h`, `2d`, `1w`: that long before now).
    """
    raw = text.strip()
    match = _RELATIVE.match(raw)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return (now or utc_now()) - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    candidate = raw.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", raw) else raw
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise BadTime(
            f"cannot read time {text!r}: use ISO 8601 (2024-11-25T18:57, zone optional, "
            "Moscow if absent), a date (2024-11-25) or an age (30m, 2h, 1d)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MOSCOW)
    return parsed.astimezone(UTC)
