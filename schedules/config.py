"""The daemon's configuration: a TOML file (or the embedded default), validated before anything runs.

Every mistake becomes a `ConfigError` whose message is one line naming the key and its value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ticker.core.base import DEFAULT_DB, BadInput, check_database_path, check_http_url
from ticker.core.settings import (
    ARCHIVE_KEEP_CHOICES,
    MAX_KEEP_DAYS,
    AlertSettings,
    ArchiveSettings,
    Settings,
    check_keep_days,
)
from ticker.jobs.sources import BUILTIN_SOURCES, SourceSpec, UnknownSource, builtin_source
from ticker.kinds import BadSourceConfig, kinds
from ticker.schedules.backoff import MAX_BACKOFF_S
from ticker.schedules.watch import MAX_TERM_CHARS, MAX_TERMS, folded

TOP_KEYS = ("db", "sources", "archive", "alerts", "max_backoff")
SOURCE_KEYS = ("kind", "url", "urls", "every", "channels", "max_backoff", "min_items")  # + the kind's own
MAX_MIN_ITEMS = 10000
MAX_INTERVAL_S = 7 * 86400.0  # `every`, `max_backoff`, `blocked_for`: at most a week
MIN_REMOTE_EVERY_S = 30.0  # the least interval for a host that is not this machine
MAX_FAIL_AFTER = 10000
_LOOPBACK_NAMES = ("localhost", "localhost.")
ARCHIVE_KEYS = ("keep", "keep_days")
ALERT_KEYS = ("urls", "fail_after", "blocked_for", "on_recovery", "on_pulled", "on_rate_mismatch", "watch",
              "stories", "on_story_pulled")  # fmt: skip
MAX_STORY_OUTLETS = 1000
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ConfigError(ValueError):
    """A configuration mistake, as one line naming the key and value."""


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """What `ticker run` will do: which sources, how often, into which database."""

    db: Path
    sources: tuple[SourceSpec, ...]
    settings: Settings = field(default_factory=Settings)
    path: Path | None = None  # the file it came from; None for the embedded default
    max_backoff_s: float = MAX_BACKOFF_S  # the top-level `max_backoff`
    source_max_backoff_s: tuple[tuple[str, float], ...] = ()  # (source name, its own `max_backoff`)

    def max_backoff_for(self, name: str) -> float:
        """The longest wait before a source's next request (backoff and Retry-After alike)."""
        return dict(self.source_max_backoff_s).get(name, self.max_backoff_s)


def parse_interval(value: Any, key: str, *, maximum: float = MAX_INTERVAL_S) -> float:
    """Seconds from a TOML number (0.5, 45) or a string ("45s", "2m", "1h"), at most `maximum`."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _INTERVAL.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(
            f"{key} = {value!r}: not an interval (a positive number of seconds, or '45s', '2m', '1h')"
        )
    if seconds > maximum:
        raise ConfigError(f"{key} = {value!r}: longer than the most allowed ({_seconds_text(maximum)})")
    return seconds


def _seconds_text(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} days"
    return f"{seconds:g} s"


def is_loopback(url: str) -> bool:
    """True when the address's host is this machine (127.0.0.0/8, ::1, localhost)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}{key}: unknown key (known: {', '.join(allowed)})")


def _table(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} = {value!r}: must be a table ([{key}])")
    return value


def _check_url(value: Any, key: str) -> str:
    """An http(s) address with a host, a valid port and no whitespace or control character."""
    try:
        return check_http_url(value, key)
    except BadInput as error:
        raise ConfigError(str(error)) from None


def _check_floor(spec: SourceSpec, every_key: str) -> None:
    """Refuse an interval under 30 s for any polled host that is not this machine."""
    if spec.every_s is None or spec.every_s >= MIN_REMOTE_EVERY_S:
        return
    for channel in spec.channels:
        if not is_loopback(spec.url_for(channel)):
            raise ConfigError(
                f"{every_key} = {spec.every_s:g}: under {MIN_REMOTE_EVERY_S:g} s is allowed only for "
                f"a loopback host (127.0.0.1, ::1, localhost); channel {channel} polls "
                f"{urlsplit(spec.url_for(channel)).hostname}"
            )


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} = {value!r}: must be true or false")
    return value


def _source(name: str, raw: Any) -> SourceSpec:
    where = f"sources.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"[{where}]: bad source name {name!r} (letters, digits, '_', '-', '.')")
    table = _table(raw, where)
    known = kinds()
    kind = table.get("kind")
    if kind is None:
        raise ConfigError(f"{where}.kind: missing (one of: {', '.join(known)})")
    if not isinstance(kind, str) or kind not in known:
        raise ConfigError(f"{where}.kind = {kind!r}: unknown kind (known: {', '.join(known)})")
    kind_def = known[kind]
    _check_keys(table, SOURCE_KEYS + tuple(kind_def.options), f"{where}.")
    options = _kind_options(kind_def, table, where)
    url = _check_url(table["url"], f"{where}.url") if "url" in table else None
    every = parse_interval(table["every"], f"{where}.every") if "every" in table else kind_def.every_s
    min_items = _min_items(table["min_items"], f"{where}.min_items") if "min_items" in table else None
    if "max_backoff" in table:
        parse_interval(table["max_backoff"], f"{where}.max_backoff")  # read again by parse_config
    channels = table.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise ConfigError(f"{where}.channels = {channels!r}: must be a list of channel names")
    if "channels" in table and not channels:
        raise ConfigError(f"{where}.channels = []: name at least one channel")
    if len(set(channels)) != len(channels):
        raise ConfigError(f"{where}.channels = {channels!r}: a channel is named twice")
    urls = {
        channel: _check_url(address, f"{where}.urls.{channel}")
        for channel, address in _table(table.get("urls", {}), f"{where}.urls").items()
    }
    for channel in urls:
        if channel not in kind_def.channel_names:
            raise ConfigError(
                f"{where}.urls.{channel}: kind {kind!r} has no channel {channel!r} "
                f"(it has: {', '.join(kind_def.channel_names)})"
            )
    try:
        spec = SourceSpec(
            name=name, kind=kind, url=url, every_s=every, channels=tuple(channels), urls=tuple(urls.items()),
            options=options, min_items_override=min_items,
        )  # fmt: skip
    except UnknownSource as error:
        raise ConfigError(f"{where}.channels = {channels!r}: {error}") from None
    for channel in spec.channels:
        try:
            _check_url(spec.url_for(channel), f"{where}.url")
        except UnknownSource as error:
            raise ConfigError(f"{where}.url: missing: {error}") from None
    _check_floor(spec, f"{where}.every")
    return spec


def _archive(raw: Any) -> ArchiveSettings:
    table = _table(raw, "archive")
    _check_keys(table, ARCHIVE_KEYS, "archive.")
    defaults = ArchiveSettings()
    keep = table.get("keep", defaults.keep)
    if keep not in ARCHIVE_KEEP_CHOICES:
        raise ConfigError(f"archive.keep = {keep!r}: must be one of {', '.join(ARCHIVE_KEEP_CHOICES)}")
    keep_days = table.get("keep_days", defaults.keep_days)
    try:
        days = check_keep_days(keep_days)
    except ValueError:
        raise ConfigError(
            f"archive.keep_days = {keep_days!r}: must be a number of days from 0 (forever) to {MAX_KEEP_DAYS}"
        ) from None
    return ArchiveSettings(keep=keep, keep_days=days)


def check_alert_url(url: Any, key: str) -> str:
    """An alert URL Apprise understands; the message never repeats the URL (it may hold a token)."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{key}: must be a notification URL (scheme://...)")
    import apprise

    if not apprise.Apprise().add(url):
        scheme = url.split("://", 1)[0]
        raise ConfigError(f"{key}: Apprise does not understand this {scheme}:// URL (see Apprise's URL list)")
    return url


def _alerts(raw: Any) -> AlertSettings:
    table = _table(raw, "alerts")
    _check_keys(table, ALERT_KEYS, "alerts.")
    defaults = AlertSettings()
    urls = table.get("urls", [])
    if not isinstance(urls, list):
        raise ConfigError("alerts.urls: must be a list of notification URLs (scheme://...)")
    for number, url in enumerate(urls, start=1):
        check_alert_url(url, f"alerts.urls #{number}")
    fail_after = table.get("fail_after", defaults.fail_after)
    if (
        isinstance(fail_after, bool)
        or not isinstance(fail_after, int)
        or not 1 <= fail_after <= MAX_FAIL_AFTER
    ):
        raise ConfigError(
            f"alerts.fail_after = {fail_after!r}: must be a whole number from 1 to {MAX_FAIL_AFTER}"
        )
    blocked_for = defaults.blocked_for_s
    if "blocked_for" in table:
        blocked_for = parse_interval(table["blocked_for"], "alerts.blocked_for")
    flags = {
        key: _bool(table[key], f"alerts.{key}")
        for key in ("on_recovery", "on_pulled", "on_rate_mismatch", "on_story_pulled")
        if key in table
    }
    stories = table.get("stories", defaults.stories)
    if (
        isinstance(stories, bool)
        or not isinstance(stories, int)
        or not (stories == 0 or 2 <= stories <= MAX_STORY_OUTLETS)
    ):
        raise ConfigError(
            f"alerts.stories = {stories!r}: must be 0 (off) or a whole number of outlets from 2 to {MAX_STORY_OUTLETS}"
        )
    watch = _watch(table.get("watch", []))
    if watch and not urls:
        raise ConfigError("alerts.watch: needs alerts.urls, the notification URLs its alerts go to")
    return AlertSettings(
        urls=tuple(urls),
        fail_after=fail_after,
        blocked_for_s=blocked_for,
        watch=watch,
        stories=stories,
        **flags,
    )


def _watch(raw: Any) -> tuple[str, ...]:
    """`alerts.watch`: a list of non-empty words, bounded in number and length (duplicates, in
    any case, kept once)."""
    example = '(watch = ["Набиуллина", "ставк"])'
    if not isinstance(raw, list):
        raise ConfigError(f"alerts.watch = {raw!r}: must be a list of words {example}")
    if len(raw) > MAX_TERMS:
        raise ConfigError(f"alerts.watch: {len(raw)} words, at most {MAX_TERMS}")
    terms: dict[str, str] = {}
    for number, term in enumerate(raw, start=1):
        if not isinstance(term, str) or not term.strip():
            raise ConfigError(
                f"alerts.watch #{number} = {term!r}: must be a word or phrase (text, not empty)"
            )
        if len(term.strip()) > MAX_TERM_CHARS:
            raise ConfigError(
                f"alerts.watch #{number}: {len(term.strip())} characters, at most {MAX_TERM_CHARS}"
            )
        terms.setdefault(folded(term.strip()), term.strip())
    return tuple(terms.values())


def default_sources() -> tuple[SourceSpec, ...]:
    """The embedded default: RBC every 2 minutes, the Bank of Russia every hour."""
    return tuple(builtin_source(name) for name in BUILTIN_SOURCES)


def _kind_options(kind, table: dict, where: str) -> dict:
    """The kind's own keys (`select`, `preset`...), each checked by the kind."""
    options = {}
    try:
        for key, check in kind.options.items():
            if key in table:
                options[key] = check(table[key], f"{where}.{key}")
        if kind.check is not None:
            kind.check(options, where)
    except BadSourceConfig as error:
        raise ConfigError(str(error)) from None
    return options


def _min_items(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MIN_ITEMS:
        raise ConfigError(
            f"{key} = {value!r}: must be a whole number from 1 to {MAX_MIN_ITEMS} (an empty list is never a ticker)"
        )
    return value


def _db_path(value: str | Path, key: str) -> Path:
    """The database path, checked before anything opens it (a FIFO would hang the daemon's lock)."""
    try:
        check_database_path(value, key)
    except BadInput as error:
        raise ConfigError(str(error)) from None
    return Path(value)


def default_config(db_override: str | Path | None = None) -> DaemonConfig:
    """No config file: the default sources into `ticker.db` in the current folder."""
    return DaemonConfig(db=_db_path(db_override or DEFAULT_DB, "--db"), sources=default_sources())


def parse_config(data: dict, base: Path, *, db_override: str | Path | None = None) -> DaemonConfig:
    """Validate a parsed TOML document; a relative `db` is relative to `base` (the file's folder)."""
    _check_keys(data, TOP_KEYS, "")
    if db_override is not None:
        db = _db_path(db_override, "--db")
    else:
        raw_db = data.get("db", DEFAULT_DB)
        if not isinstance(raw_db, str) or not raw_db.strip():
            raise ConfigError(f"db = {raw_db!r}: must be a file path")
        db = Path(raw_db).expanduser()
        if not db.is_absolute():
            db = base / db
        db = _db_path(raw_db if raw_db.endswith("/") else db, "db")
    if "sources" in data:
        sources_table = _table(data["sources"], "sources")
        if not sources_table:
            raise ConfigError("[sources]: no source configured (add a [sources.NAME] table)")
        sources = tuple(_source(name, raw) for name, raw in sources_table.items())
    else:
        sources = default_sources()
    settings = Settings(
        archive=_archive(data["archive"]) if "archive" in data else ArchiveSettings(),
        alerts=_alerts(data["alerts"]) if "alerts" in data else AlertSettings(),
    )
    max_backoff = MAX_BACKOFF_S
    if "max_backoff" in data:
        max_backoff = parse_interval(data["max_backoff"], "max_backoff")
    own = tuple(
        (name, parse_interval(raw["max_backoff"], f"sources.{name}.max_backoff"))
        for name, raw in (data.get("sources") or {}).items()
        if "max_backoff" in raw
    )
    return DaemonConfig(
        db=db, sources=sources, settings=settings, max_backoff_s=max_backoff, source_max_backoff_s=own
    )


def load_config(path: str | Path, *, db_override: str | Path | None = None) -> DaemonConfig:
    """Read and validate a TOML config file; every error names the file, the key and the value."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {file}: not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {file}: cannot read it: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {file}: not valid TOML: {error}") from None
    try:
        config = parse_config(data, file.resolve().parent, db_override=db_override)
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from None
    return dataclasses.replace(config, path=file)
