"""One politeness for every requester: the daemon, backfills and both importers.

The rule, defined once here:

- **A wait is never longer than `MAX_WAIT_S`** (30 minutes), whatever a server asks: a
  `Retry-After` is honoured up to it (`honoured_wait`), and a backoff stops growing there. The
  daemon's `max_backoff` setting defaults to it (`schedules/backoff.py`).
- **After a failure the wait doubles** while failures continue, from the requester's own base
  (its pause, or the source's interval for the daemon), at most `MAX_DOUBLINGS` times for a
  finite job (`failure_wait`); a `Retry-After` longer than that is honoured instead.
- **A finite job stops after `MAX_CONSECUTIVE_FAILURES` failures in a row** (`stops`): a
  backfill or an import gives up with one line rather than hammer a server; what it stored
  stays. The daemon never stops: it backs off.

`Politeness` applies the rule to one job's requests (the importers; the CDX queries and
mementos of `import wayback` share one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_WAIT_S = 30 * 60.0  # the longest wait for any requester: backoff or Retry-After
MAX_CONSECUTIVE_FAILURES = 5  # a finite job (backfill, import) stops after this many in a row
MAX_DOUBLINGS = 3  # a finite job's pause after failures grows 1x, 2x, 4x, 8x


class Stopped(Exception):
    """A finite job gave up after too many failures in a row; what was stored stays stored."""


def honoured_wait(asked_s: float | None, cap_s: float = MAX_WAIT_S) -> float | None:
    """The wait honoured for a server's `Retry-After` (None when it asked nothing): at most `cap_s`."""
    if asked_s is None:
        return None
    return max(0.0, min(float(asked_s), cap_s))


def failure_wait(
    base_s: float, failures_in_a_row: int, retry_after_s: float | None = None, *, cap_s: float = MAX_WAIT_S
) -> float:
    """The wait before asking again after `failures_in_a_row` failures (1 for the first): the base
    doubling at most MAX_DOUBLINGS times, or the server's Retry-After if longer; never over `cap_s`."""
    grown = base_s * 2 ** min(max(failures_in_a_row - 1, 0), MAX_DOUBLINGS)
    asked = honoured_wait(retry_after_s, cap_s) or 0.0
    return min(max(grown, asked), cap_s)


def stops(failures_in_a_row: int) -> bool:
    """Whether a finite job must stop now."""
    return failures_in_a_row >= MAX_CONSECUTIVE_FAILURES


class Politeness:
    """The rule applied to one job's requests: at least `pause_s` between two requests; after a
    429 a pause from `throttle_pause_s`, after a 5xx or no answer one from `transient_pause_s`
    (each by `failure_wait`, a Retry-After honoured); a stop (`Stopped`) after
    MAX_CONSECUTIVE_FAILURES. `sleep` and `clock` are injected by tests."""

    def __init__(
        self,
        pause_s: float,
        throttle_pause_s: float,
        *,
        transient_pause_s: float = 5.0,
        max_failures: int = MAX_CONSECUTIVE_FAILURES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        note: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.pause_s, self.throttle_pause_s = pause_s, throttle_pause_s
        self.transient_pause_s = transient_pause_s
        self.max_failures = max_failures
        self.sleep, self.clock, self.note = sleep, clock, note
        self.requests = 0
        self.throttles = 0
        self.failures_in_a_row = 0
        self._throttles_in_a_row = 0
        self._last: float | None = None

    def before_request(self) -> None:
        if self._last is not None:
            wait = self.pause_s - (self.clock() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()
        self.requests += 1

    def throttled(self, retry_after_s: float | None = None, what: str = "the server") -> None:
        """A 429: pause, longer each time in a row (or as long as it asked); stop if it lasts."""
        self.throttles += 1
        self._throttles_in_a_row += 1
        self.failed(f"HTTP 429 from {what} (rate limited)")
        pause = failure_wait(self.throttle_pause_s, self._throttles_in_a_row, retry_after_s)
        self.note(f"HTTP 429 (rate limited): pausing {pause:g} s")
        self.sleep(pause)
        self._last = self.clock()

    def transient(self, message: str, retry_after_s: float | None = None) -> None:
        """A 5xx or no answer: count it as a failure, then pause (doubling while they continue)."""
        self.failed(message)
        pause = failure_wait(max(self.pause_s, self.transient_pause_s), self.failures_in_a_row, retry_after_s)
        self.note(f"{message}: pausing {pause:g} s")
        self.sleep(pause)
        self._last = self.clock()

    def failed(self, message: str) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.max_failures:
            raise Stopped(f"stopped after {self.failures_in_a_row} failures in a row; last: {message}")

    def succeeded(self) -> None:
        self.failures_in_a_row = 0
        self._throttles_in_a_row = 0
