"""Settings shared by the daemon's configuration and the features it drives (archive, alerts).

`schedules/config.py` reads them from the TOML file; `db/archive.py` and `schedules/alerts.py`
act on them. Defaults here are the embedded defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ARCHIVE_KEEP_CHOICES = ("all", "changed", "failed", "none")
MAX_KEEP_DAYS = 36500  # a hundred years


def check_keep_days(value: object) -> float:
    """A valid `keep_days` (0: forever, up to MAX_KEEP_DAYS) as a float; ValueError otherwise."""
    number = not isinstance(value, bool) and isinstance(value, int | float)
    if not number or not math.isfinite(value) or not 0 <= value <= MAX_KEEP_DAYS:
        raise ValueError(f"keep_days {value!r}: must be a number of days from 0 (forever) to {MAX_KEEP_DAYS}")
    return float(value)


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """`[archive]`: which response bodies are kept (compressed, once per SHA-256)."""

    keep: str = "all"  # all (cheap with delta chains) | changed (changed something or failed) | failed | none
    keep_days: float = 0  # 0: forever; else bodies older than this are pruned (failed ones too)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """`[alerts]`: Apprise URLs and the conditions that notify (once per condition until it clears)."""

    urls: tuple[str, ...] = ()
    fail_after: int = 3  # consecutive failed polls of a source
    blocked_for_s: float = 3600.0  # a source blocked for longer than this
    on_recovery: bool = True
    on_pulled: bool = False
    on_rate_mismatch: bool = False
    watch: tuple[str, ...] = ()  # watch words: a headline whose title contains one alerts once
    stories: int = 0  # a story picked up by this many outlets (0: no such alert)
    on_story_pulled: bool = False  # a story's item pulled by one outlet while others keep theirs


@dataclass(frozen=True, slots=True)
class Settings:
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
