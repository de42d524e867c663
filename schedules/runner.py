"""One scheduled run of one source: poll its channel(s) with fallback, call hooks, log, never raise."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlite_utils import Database

from ticker.core.base import SUCCESS_OUTCOMES, one_line, utc_now
from ticker.core.records import Saved
from ticker.db.schema import connect
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.schedules import hooks
from ticker.schedules.backoff import MAX_BACKOFF_S, SourceState
from ticker.schedules.connections import HeldConnections

log = logging.getLogger("ticker.daemon")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run did: when it started, whether any channel succeeded, the wait it asks for."""

    started_at: datetime
    succeeded: bool
    delay_s: float  # least seconds before the next run of this source
    polls: int


def describe(spec: SourceSpec, channel: str, saved: Saved, elapsed_ms: int) -> str:
    """The one log line of a fetch: source, channel, outcome, what it brought, duration."""
    text = f"{spec.name}/{channel}: {saved.outcome}, "
    if saved.outcome in SUCCESS_OUTCOMES:  # a failed fetch saw nothing: no counts to give
        if spec.channel(channel).headlines:
            text += f"{saved.items_found} items ({saved.items_new} new, {saved.titles_changed} retitled), "
        if spec.channel(channel).rates:
            text += f"{saved.rates_found} rates ({saved.rates_new} new), "
    text += f"{elapsed_ms} ms"
    error = saved.row.error if saved.row is not None else None
    if error:
        text += f": {error}"
    return text


class SourceRunner:
    """The job of one source. Runs are serialised by the scheduler (max_instances=1)."""

    def __init__(
        self,
        spec: SourceSpec,
        db_path: str | Path,
        client: httpx.Client,
        *,
        stopping: Callable[[], bool] = lambda: False,
        max_backoff_s: float = MAX_BACKOFF_S,
        connections: HeldConnections | None = None,
    ) -> None:
        self.spec = spec
        self.db_path = db_path
        self.client = client
        self.stopping = stopping
        self.connections = connections  # the daemon's kept connections (None: one per run)
        self.state = SourceState(
            every_s=spec.interval_s,
            channels=spec.channels,
            max_backoff_s=max_backoff_s,
        )

    def run(self) -> RunResult:
        """Poll the source once (with channel fallback). Any exception is logged, never raised."""
        started = utc_now()
        state = self.state
        state.start_run()
        succeeded = False
        polls = 0
        try:
            with self._database() as db:
                for channel in state.channel_order():
                    if self.stopping():
                        break
                    polls += 1
                    saved, retry_after = self._poll(db, channel)
                    if saved.outcome in SUCCESS_OUTCOMES:
                        was = state.active
                        state.record_poll(channel, saved.outcome)
                        succeeded = True
                        if state.active != was:
                            self._log_switch(was, channel)
                        break
                    go_on = state.record_poll(channel, saved.outcome, retry_after)
                    if state.retry_after_asked_s is not None:
                        log.warning(
                            "%s: the server asked to wait %.0fs (Retry-After); waiting max_backoff = %gs instead",
                            self.spec.name, state.retry_after_asked_s, state.max_backoff_s,
                        )  # fmt: skip
                    if not go_on:
                        break
        except Exception as error:
            log.error(
                "%s: run failed, retrying at the next run: %s",
                self.spec.name,
                one_line(f"{type(error).__name__}: {error}"),
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            hooks.run_failed(self.spec, error)  # e.g. an alert sent directly: nothing was recorded
        state.finish_run(succeeded)
        return RunResult(started, succeeded, state.next_delay(), polls)

    @contextlib.contextmanager
    def _database(self) -> Iterator[Database]:
        """The run's connection: one of the daemon's kept ones, else its own, closed after."""
        if self.connections is not None:
            with self.connections.connection() as db:
                yield db
            return
        db = connect(self.db_path)
        try:
            yield db
        finally:
            with contextlib.suppress(Exception):  # a broken connection must not fail the job
                db.conn.close()

    def _poll(self, db: Database, channel: str) -> tuple[Saved, float | None]:
        clock = time.monotonic()
        saved = poll(db, self.client, self.spec, channel=channel, archive=hooks.current_settings().archive)
        elapsed_ms = int((time.monotonic() - clock) * 1000)
        line = describe(self.spec, channel, saved, elapsed_ms)
        log.log(logging.INFO if saved.outcome in SUCCESS_OUTCOMES else logging.WARNING, line)
        hooks.run_after_poll(db, self.spec, saved)
        failed = saved.outcome not in SUCCESS_OUTCOMES and saved.row is not None
        return saved, saved.row.retry_after_s if failed else None

    def _log_switch(self, was: str, now: str) -> None:
        if now == self.state.primary:
            log.warning("%s: back on its main channel %s (was on %s)", self.spec.name, now, was)
        else:
            log.warning("%s: %s failing, now polling fallback channel %s", self.spec.name, was, now)
