"""The one progress display every long command uses (backfill, reparse, import, archive compact).

On a terminal: a rich progress bar with count and ETA. Otherwise (a pipe, a log file, a test):
plain lines, at most one every `PLAIN_EVERY_S` seconds plus the last one. Always on stderr, so
`--json` and anything else on stdout stay exactly what they are.

    with progress(total, "importing", enabled=not as_json) as bar:
        for item in items:
            ...
            bar.advance()
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ticker.core.terminal import printable

PLAIN_EVERY_S = 10.0


class Bar:
    """What a command sees: `advance()`, `total` (may be set later) and `note()` for a line."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0

    def advance(self, steps: int = 1) -> None:
        self.done += steps

    def set_total(self, total: int | None) -> None:
        self.total = total

    def note(self, text: str) -> None:
        """A one-line message beside the bar (a pause, a skipped item)."""

    def close(self) -> None:
        """End the display (the last line or the finished bar)."""


class _RichBar(Bar):
    def __init__(self, label: str, total: int | None, stream: TextIO) -> None:
        super().__init__(label, total)
        self._console = Console(file=stream, force_terminal=True, highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, steps: int = 1) -> None:
        super().advance(steps)
        self._progress.advance(self._task, steps)

    def set_total(self, total: int | None) -> None:
        super().set_total(total)
        self._progress.update(self._task, total=total)

    def note(self, text: str) -> None:
        self._progress.console.print(printable(text), markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


class _PlainBar(Bar):
    def __init__(self, label: str, total: int | None, stream: TextIO, clock: Callable[[], float]) -> None:
        super().__init__(label, total)
        self._stream, self._clock = stream, clock
        self._last_line = clock()
        self._printed_done = -1

    def _line(self) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        self._stream.write(f"{self.label}: {self.done}{of}\n")
        self._stream.flush()
        self._printed_done = self.done

    def advance(self, steps: int = 1) -> None:
        super().advance(steps)
        now = self._clock()
        if now - self._last_line >= PLAIN_EVERY_S:
            self._last_line = now
            self._line()

    def note(self, text: str) -> None:
        self._stream.write(f"{self.label}: {printable(text)}\n")
        self._stream.flush()

    def close(self) -> None:
        if self.done and self._printed_done != self.done:
            self._line()


@contextmanager
def progress(
    total: int | None,
    label: str,
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Bar]:
    """A progress display on stderr (or `stream`): a bar with ETA on a terminal, plain lines
    otherwise, nothing at all when `enabled` is false. `total` may be None (unknown yet)."""
    out = stream if stream is not None else sys.stderr
    if not enabled:
        bar: Bar = Bar(label, total)
    elif out.isatty():
        bar = _RichBar(label, total, out)
    else:
        bar = _PlainBar(label, total, out, clock)
    try:
        yield bar
    finally:
        bar.close()
