"""Per-source politeness state: exponential backoff, Retry-After, and channel fallback.

Pure bookkeeping (no I/O), one instance per source, touched only by that source's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ticker.core.base import SUCCESS_OUTCOMES
from ticker.core.politeness import MAX_WAIT_S, honoured_wait

MAX_BACKOFF_S = MAX_WAIT_S  # the default `max_backoff`: the longest wait, backoff or Retry-After
FALLBACK_AFTER_FAILURES = 2  # a channel failing this many polls in a row hands over to the next
PRIMARY_RETRY_EVERY = 3  # on a fallback channel, try the main channel again every Nth run


def backoff_delay(every_s: float, consecutive_failures: int, max_backoff_s: float = MAX_BACKOFF_S) -> float:
    """Seconds until the next run: the interval after a success or a first failure, then doubling,
    capped at `max_backoff_s` (never below the interval itself)."""
    if consecutive_failures <= 1:
        return every_s
    grown = every_s * 2 ** min(consecutive_failures - 1, 30)
    return max(every_s, min(grown, max_backoff_s))


@dataclass
class SourceState:
    """What one source's job remembers between runs."""

    every_s: float
    channels: tuple[str, ...]
    max_backoff_s: float = MAX_BACKOFF_S  # no wait is longer, whatever the server asks
    consecutive_failures: int = 0  # runs in a row in which every channel tried failed
    retry_after_s: float | None = None  # the wait honoured for the server's Retry-After (last run)
    retry_after_asked_s: float | None = None  # what the server asked, when more than the cap
    channel_failures: dict[str, int] = field(default_factory=dict)
    active: str = ""  # the channel the source is running on
    runs_on_fallback: int = 0  # runs completed since it moved off the main channel

    def __post_init__(self) -> None:
        self.active = self.active or self.channels[0]

    @property
    def primary(self) -> str:
        return self.channels[0]

    @property
    def on_fallback(self) -> bool:
        return self.active != self.primary

    def channel_order(self) -> list[str]:
        """Channels to try this run, in order; the run stops at the first success."""
        if not self.on_fallback:
            return list(self.channels)
        if self.runs_on_fallback % PRIMARY_RETRY_EVERY == 0:
            ordered = [self.primary, self.active]
        else:
            ordered = [self.active]
        return ordered + [c for c in self.channels if c not in ordered and c != self.primary]

    def record_poll(self, channel: str, outcome: str, retry_after_s: float | None = None) -> bool:
        """Note one poll's outcome; True when the run should go on to the next channel."""
        if outcome in SUCCESS_OUTCOMES:
            self.channel_failures[channel] = 0
            if channel != self.active:
                self.active = channel
                self.runs_on_fallback = 0
            return False
        self.channel_failures[channel] = self.channel_failures.get(channel, 0) + 1
        if retry_after_s is not None:
            asked = float(retry_after_s)
            if asked > self.max_backoff_s:
                self.retry_after_asked_s = asked
            self.retry_after_s = max(
                self.retry_after_s or 0.0, honoured_wait(asked, self.max_backoff_s) or 0.0
            )
            return False  # the source asked us to wait: no other request now
        return outcome == "blocked" or self.channel_failures[channel] >= FALLBACK_AFTER_FAILURES

    def start_run(self) -> None:
        self.retry_after_s = None
        self.retry_after_asked_s = None

    def finish_run(self, succeeded: bool) -> None:
        self.consecutive_failures = 0 if succeeded else self.consecutive_failures + 1
        if self.on_fallback:
            self.runs_on_fallback += 1

    def next_delay(self) -> float:
        """The least time before this source's next request: backoff or Retry-After, whichever is longer."""
        delay = backoff_delay(self.every_s, self.consecutive_failures, self.max_backoff_s)
        if self.retry_after_s is not None:
            delay = max(delay, self.retry_after_s)
        return delay
