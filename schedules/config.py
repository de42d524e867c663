"""The daemon's configuration: a TOML file (or the embedded default), validated before anything runs.

Every mistake becomes a `ConfigError` whose message is one line naming the key and its value.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ticker.settings import ARCHIVE_KEEP_CHOICES, AlertSettings, ArchiveSettings, Settings
from ticker.sources import DEFAULT_EVERY_S, KINDS, SourceSpec, UnknownSource

DEFAULT_DB = "ticker.db"
TOP_KEYS = ("db", "sources", "archive", "alerts")
SOURCE_KEYS = ("kind", "url", "urls", "every", "channels")
ARCHIVE_KEYS = ("keep", "keep_days")
ALERT_KEYS = ("urls", "fail_after", "blocked_for", "on_recovery", "on_pulled", "on_rate_mismatch")
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


def parse_interval(value: Any, key: str) -> float:
    """Seconds from a TOML number (0.5, 45) or a string ("45s", "2m", "1h")."""
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
    return seconds


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}{key}: unknown key (known: {', '.join(allowed)})")


def _table(value: Any, key: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} = {value!r}: must be a table ([{key}])")
    return value


def _check_url(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} = {value!r}: must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key} = {value!r}: must be an http:// or https:// address")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} = {value!r}: must be true or false")
    return value


def _source(name: str, raw: Any) -> SourceSpec:
    where = f"sources.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"[{where}]: bad source name {name!r} (letters, digits, '_', '-', '.')")
    table = _table(raw, where)
    _check_keys(table, SOURCE_KEYS, f"{where}.")
    kind = table.get("kind")
    if kind is None:
        raise ConfigError(f"{where}.kind: missing (one of: {', '.join(KINDS)})")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind = {kind!r}: unknown kind (known: {', '.join(KINDS)})")
    url = _check_url(table["url"], f"{where}.url") if "url" in table else None
    every = parse_interval(table["every"], f"{where}.every") if "every" in table else DEFAULT_EVERY_S[kind]
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
        if channel not in KINDS[kind]:
            raise ConfigError(
                f"{where}.urls.{channel}: kind {kind!r} has no channel {channel!r} "
                f"(it has: {', '.join(KINDS[kind])})"
            )
    try:
        return SourceSpec(
            name=name, kind=kind, url=url, every_s=every, channels=tuple(channels), urls=tuple(urls.items())
        )
    except UnknownSource as error:
        raise ConfigError(f"{where}.channels = {channels!r}: {error}") from None


def _archive(raw: Any) -> ArchiveSettings:
    table = _table(raw, "archive")
    _check_keys(table, ARCHIVE_KEYS, "archive.")
    defaults = ArchiveSettings()
    keep = table.get("keep", defaults.keep)
    if keep not in ARCHIVE_KEEP_CHOICES:
        raise ConfigError(f"archive.keep = {keep!r}: must be one of {', '.join(ARCHIVE_KEEP_CHOICES)}")
    keep_days = table.get("keep_days", defaults.keep_days)
    if isinstance(keep_days, bool) or not isinstance(keep_days, int | float) or keep_days < 0:
        raise ConfigError(f"archive.keep_days = {keep_days!r}: must be a number of days, 0 for forever")
    return ArchiveSettings(keep=keep, keep_days=float(keep_days))


def _alerts(raw: Any) -> AlertSettings:
    table = _table(raw, "alerts")
    _check_keys(table, ALERT_KEYS, "alerts.")
    defaults = AlertSettings()
    urls = table.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and "://" in u for u in urls):
        raise ConfigError(f"alerts.urls = {urls!r}: must be a list of notification URLs (scheme://...)")
    fail_after = table.get("fail_after", defaults.fail_after)
    if isinstance(fail_after, bool) or not isinstance(fail_after, int) or fail_after < 1:
        raise ConfigError(f"alerts.fail_after = {fail_after!r}: must be a whole number >= 1")
    blocked_for = defaults.blocked_for_s
    if "blocked_for" in table:
        blocked_for = parse_interval(table["blocked_for"], "alerts.blocked_for")
    flags = {
        key: _bool(table[key], f"alerts.{key}")
        for key in ("on_recovery", "on_pulled", "on_rate_mismatch")
        if key in table
    }
    return AlertSettings(urls=tuple(urls), fail_after=fail_after, blocked_for_s=blocked_for, **flags)


def default_sources() -> tuple[SourceSpec, ...]:
    """The embedded default: RBC every 2 minutes, the Bank of Russia every hour."""
    return tuple(SourceSpec(name=kind, kind=kind, every_s=DEFAULT_EVERY_S[kind]) for kind in ("rbc", "cbr"))


def default_config(db_override: str | Path | None = None) -> DaemonConfig:
    """No config file: the default sources into `ticker.db` in the current folder."""
    return DaemonConfig(db=Path(db_override or DEFAULT_DB), sources=default_sources())


def parse_config(data: dict, base: Path, *, db_override: str | Path | None = None) -> DaemonConfig:
    """Validate a parsed TOML document; a relative `db` is relative to `base` (the file's folder)."""
    _check_keys(data, TOP_KEYS, "")
    if db_override is not None:
        db = Path(db_override)
    else:
        raw_db = data.get("db", DEFAULT_DB)
        if not isinstance(raw_db, str) or not raw_db.strip():
            raise ConfigError(f"db = {raw_db!r}: must be a file path")
        db = Path(raw_db).expanduser()
        if not db.is_absolute():
            db = base / db
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
    return DaemonConfig(db=db, sources=sources, settings=settings)


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
    return DaemonConfig(db=config.db, sources=config.sources, settings=config.settings, path=file)
