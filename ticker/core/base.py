"""What every part of ticker shares: outcomes, records, time and address redaction.

This module imports nothing of ticker's, so the parsers (`scraper/`), the database (`db/`), the
daemon (`schedules/`) and the CLI can all build on it.

- Records: what parsers return, plain and immutable, independent of the database.
- Time: UTC instants stored as ISO 8601 text; Moscow is the sites' clock.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

# ---- outcomes: what `fetches.outcome` records (the schema's CHECK lists the same set)
SUCCESS_OUTCOMES = ("ok", "unchanged")
FAILURE_OUTCOMES = ("blocked", "http_error", "network_error", "parse_error")
OUTCOMES = SUCCESS_OUTCOMES + FAILURE_OUTCOMES
# The same set as SQL, for `outcome IN {SUCCESS_SQL}`.
SUCCESS_SQL = "(" + ", ".join(f"'{outcome}'" for outcome in SUCCESS_OUTCOMES) + ")"

# ---- the database file every command uses without `--db` (and the daemon without `db`)
DEFAULT_DB = "ticker.db"


# ---- records
class ParseError(Exception):
    """The body is not what the source should answer (no ticker, truncated, not a rates document)."""


class BlockedPage(ParseError):
    """The body is a bot challenge or block page instead of the content."""


@dataclass(frozen=True, slots=True)
class Headline:
    """One item of a headline ticker, as one page showed it."""

    id: str  # the site's item id (RBC: 24 hex digits)
    url: str | None  # canonical http(s), tracking parameters removed; None: missing or unsafe link
    title: str
    rubric: str | None
    kind: str | None  # news / article / partner, or the site's own word; None when not said
    published_at: str | None  # UTC ISO 8601
    position: int  # 1-based, on-page order
    project: str | None = None  # the site's project nick (rbcnews, crypto, trends, ...)
    paid: bool = False  # behind the subscription shield


@dataclass(frozen=True, slots=True)
class Rate:
    """A currency rate as a source showed it; value and change are exact decimal text."""

    currency: str  # ISO code: EUR, USD
    rate_date: str  # YYYY-MM-DD the rate is valid for
    value: str  # per unit, decimal point, digits as published: "108.87", "79.6"
    change: str | None = None  # signed: "+1.45", "-0.56"; None when the source gives none
    published_at: str | None = None  # when the source published it (UTC ISO), if it says
    nominal: int | None = None  # units the raw value was quoted for (Bank of Russia)
    raw_value: str | None = None  # the value for `nominal` units, as published


@dataclass(frozen=True, slots=True)
class TickerPage:
    """What one RBC page (or feed page) held: headlines in order, rate widgets, page facts."""

    headlines: tuple[Headline, ...]
    rates: tuple[Rate, ...] = ()
    edition: str | None = None  # which edition the page was served as (geo-targeting)
    updated_at: str | None = None  # the page's own newsfeed.timeLastUpdate (UTC ISO)
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RatesDocument:
    """A Bank of Russia answer: the day it is in force for and its rates."""

    rate_date: str | None  # YYYY-MM-DD (daily); None for a range document
    rates: tuple[Rate, ...]
    warnings: tuple[str, ...] = field(default=())


class HeadlineList:
    """Headlines in the order a parser finds them: the first copy of an id is kept (later ones
    are warned about), and positions count kept items only."""

    def __init__(self, what: str) -> None:
        self.what = what  # how warnings name an item: "item", "RSS item", "feed item"
        self.headlines: list[Headline] = []
        self.warnings: list[str] = []
        self._seen: set[str] = set()

    @property
    def next_position(self) -> int:
        return len(self.headlines) + 1

    def add(self, headline: Headline | None, warnings: list[str]) -> None:
        self.warnings.extend(warnings)
        if headline is None:
            return
        if headline.id in self._seen:
            self.warnings.append(f"{self.what} {headline.id} appears twice: later copy skipped")
            return
        self._seen.add(headline.id)
        self.headlines.append(headline)


# ---- time
MOSCOW = ZoneInfo("Europe/Moscow")
# Every accepted time lies in these years and every age within MAX_AGE: nothing older or later
# can be in a history, and the bounds keep each time representable after any zone shift.
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100
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


def to_moscow(moment: datetime) -> datetime:
    """An instant as Moscow wall time: the one conversion every Python-side Moscow time goes
    through (zoneinfo's Europe/Moscow: UTC+4 from 2011-03-27 to 2014-10-26, summer time
    before 2011, UTC+2 in 1991-92; never a fixed +3 h)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the zone must be explicit")
    return moment.astimezone(MOSCOW)


def moscow_day(moment: datetime) -> date:
    """The Moscow calendar day of an instant."""
    return to_moscow(moment).date()


def moscow_wall(iso: str | None) -> str | None:
    """A stored UTC instant as Moscow wall time `YYYY-MM-DD HH:MM:SS`, what the views' `*_msk`
    columns show (db/views.py computes the same in SQL)."""
    if iso is None:
        return None
    return to_moscow(from_iso(iso)).strftime("%Y-%m-%d %H:%M:%S")


def to_moscow_text(iso: str | None) -> str | None:
    """A stored UTC instant shown in Moscow time, `YYYY-MM-DD HH:MM:SS MSK`.

    Never raises: a stored value that is no instant within the years ticker's times may take
    (written by an older version, or by hand) is shown as it is, said to be no time.
    """
    if iso is None:
        return None
    try:
        moment = from_iso(str(iso))
        if in_time_bounds(moment):
            return f"{to_moscow(moment):%Y-%m-%d %H:%M:%S} MSK"
    except (ValueError, OverflowError):
        pass
    return f"{iso} (not a time ticker can show)"


def from_moscow_wall(text: str) -> datetime:
    """A Moscow wall time (`YYYY-MM-DD HH:MM[:SS]`, `T` or space) as an aware UTC instant; an
    hour the clocks passed twice is read as its first passing."""
    return datetime.fromisoformat(text.strip()).replace(tzinfo=MOSCOW).astimezone(UTC)


OFFSET_SCAN_STEP = timedelta(days=30)  # Moscow's changes are 69 days apart or more (1992: Jan 19, Mar 28)


@cache
def moscow_offsets(
    first_year: int = EARLIEST_YEAR, last_year: int = LATEST_YEAR
) -> tuple[tuple[str, int], ...]:
    """Moscow's UTC offset in seconds from each instant it changed, as (UTC ISO, seconds), from
    the start of `first_year` to the end of `last_year`; the first row is the offset in force
    at the start. Read from zoneinfo (30-day steps scanned: Moscow's changes are two months apart
    or more, and a test compares a daily scan; each change bisected to the second). Computed once a process (every new database's migration
    writes it)."""

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(MOSCOW).utcoffset().total_seconds())

    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    found = [(to_iso(moment), offset(moment))]
    while moment < end:
        following = moment + OFFSET_SCAN_STEP
        if offset(following) != offset(moment):
            low, high = moment, following
            while (high - low).total_seconds() > 1:
                middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            found.append((to_iso(high), offset(high)))
        moment = following
    return tuple(found)


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EARLIEST_UNIX = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC).timestamp()
_AFTER_LATEST_UNIX = datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()
MAX_AGE = timedelta(days=50 * 366)
OUT_OF_TIME_BOUNDS = f"outside the years {EARLIEST_YEAR}..{LATEST_YEAR} that ticker's times may take"


def in_time_bounds(moment: datetime) -> bool:
    """Whether an aware instant lies in the years every stored time must (UTC), so that it can be
    shifted to any zone and shown."""
    try:
        return EARLIEST_YEAR <= moment.astimezone(UTC).year <= LATEST_YEAR
    except (OverflowError, ValueError):
        return False


def iso_in_time_bounds(iso: str) -> bool:
    """`in_time_bounds` for a stored instant's text (`YYYY-...Z`); False for text that is none."""
    try:
        return in_time_bounds(from_iso(iso))
    except (ValueError, OverflowError, TypeError, AttributeError):
        return False


def unix_in_time_bounds(seconds: int | float) -> bool:
    """`in_time_bounds` for a Unix time (a feed's `publish_date_t`, a page's `data-modif`)."""
    return _EARLIEST_UNIX <= seconds < _AFTER_LATEST_UNIX


def without_odd_time(headline: Headline) -> tuple[Headline, str | None]:
    """The headline with `published_at` dropped (and why) when it lies outside the time bounds:
    a feed that says 9999 keeps its item, never its impossible time."""
    if headline.published_at is None or iso_in_time_bounds(headline.published_at):
        return headline, None
    return replace(headline, published_at=None), (
        f"item {headline.id}: publication time {headline.published_at[:40]!r} is {OUT_OF_TIME_BOUNDS}: not stored"
    )


TIME_FORMS = "ISO 8601 (2024-11-25T18:57, zone optional, Moscow if absent), a date (2024-11-25), an age (30m, 2h, 1d) or now"


def parse_user_time(text: str, *, now: datetime | None = None) -> datetime:
    """Parse a time typed by a user.

    Accepts `now`, ISO 8601 with a zone (`2024-11-25T18:57:00+03:00`, `...Z`), a time without a
    zone (taken as Moscow time), a bare date (`2024-11-25`, Moscow midnight), and a relative age
    (`90s`, `15m`, `1h`, `2d`, `1w`: that long before now). Years outside 1990..2100 and ages
    over 50 years are refused (BadTime), so every accepted time can be shown and compared.
    """
    raw = text.strip()
    current = now or utc_now()
    if raw.lower() == "now":
        return current
    match = _RELATIVE.match(raw)
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        age = amount * _UNIT_SECONDS[unit]
        if age > MAX_AGE.total_seconds():
            raise BadTime(f"age {text.strip()!r} is more than 50 years: give a date instead")
        return current - timedelta(seconds=age)
    if raw.upper().endswith(" MSK"):  # the form ticker prints: Moscow time, said explicitly
        raw = raw[:-4].rstrip()
        if re.search(r"(Z|[+-]\d{2}:?\d{2})$", raw):
            raise BadTime(f"cannot read time {text!r}: two zones")
    candidate = raw.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", raw) else raw
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise BadTime(f"cannot read time {text!r}: use {TIME_FORMS}") from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise BadTime(f"time {text.strip()!r} is outside the years {EARLIEST_YEAR}..{LATEST_YEAR}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=MOSCOW)
    return parsed.astimezone(UTC)


def parse_day(text: str, what: str) -> date:
    """A calendar day typed by a user (`YYYY-MM-DD`), within the years every time must lie in."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise BadTime(f"bad {what} {text!r}: use YYYY-MM-DD, e.g. 2024-11-26") from None
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise BadTime(f"bad {what} {text!r}: outside the years {EARLIEST_YEAR}..{LATEST_YEAR}")
    return day


def parse_number(text: str, what: str, kind: type, minimum: float, maximum: float) -> int | float:
    """A number typed by a user, finite and within [minimum, maximum]; else BadInput."""
    try:
        value = kind(text.strip())
    except (ValueError, OverflowError):
        raise BadInput(
            f"bad {what} {text!r}: expected {'a whole number' if kind is int else 'a number'}"
        ) from None
    if value != value or value in (float("inf"), float("-inf")) or not minimum <= value <= maximum:
        raise BadInput(f"bad {what} {text!r}: must be from {minimum:g} to {maximum:g}")
    return value


# ---- addresses
_SECRET_PARAM = re.compile(r"token|key|secret|pass|auth|sig|session", re.I)


def redact_url(url: str) -> str:
    """The URL as logs and the database may keep it: no `user:password@`, no secret-looking
    query values (`?token=`, `api_key=`, ...)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = "***@" + parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
    pieces = [
        piece.split("=", 1)[0] + "=***"
        if "=" in piece and _SECRET_PARAM.search(piece.split("=", 1)[0])
        else piece
        for piece in parts.query.split("&")
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pieces), parts.fragment))


class BadInput(ValueError):
    """A value typed by a user or written in a config that cannot be used (one line)."""


def check_http_url(value: object, what: str) -> str:
    """An http(s) address with a host, a valid port and no white space or control character;
    else BadInput naming `what` (an option or a config key)."""
    if not isinstance(value, str):
        raise BadInput(f"{what} = {value!r}: must be a string")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    try:
        port_ok = parts is None or parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{what} = {value!r}: must be an http:// or https:// address")
    if not port_ok:
        raise BadInput(f"{what} = {value!r}: bad port")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadInput(f"{what} = {value!r}: an address cannot contain spaces or control characters")
    return value


_NOT_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_database_path(path: str | os.PathLike[str], what: str = "database") -> str:
    """The path of a database file, or BadInput (one line) for one that cannot be: empty, naming
    a folder (`/`, `data/`), or an existing directory, FIFO, device or socket (opening a FIFO
    waits for a writer for ever). A missing file is fine: it is created."""
    text = os.fspath(path)
    if not text.strip():
        raise BadInput(f"{what} path {text!r} is empty: name a file")
    if text.endswith(("/", os.sep)):
        raise BadInput(f"{what} {text!r} names a folder, not a database file")
    try:
        mode = os.stat(text).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return text
    except OSError as error:
        raise BadInput(f"{what} {text!r} cannot be used: {error.strerror or error}") from None
    for test, name in _NOT_FILES:
        if test(mode):
            raise BadInput(f"{what} {text!r} is {name}, not a database file")
    return text


MAX_MESSAGE = 500  # characters of an error or log message (`fetches.error`)


def one_line(text: str) -> str:
    """A message fit for `fetches.error` and a log line: one line, bounded."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1] + "…"
