"""The daemon: one APScheduler job per source, the database lock, and a clean stop on SIGTERM/SIGINT.

Each source has its own phase in its interval (from a hash of its name: the same on every
restart), so a thousand sources every minute arrive spread over the minute, never in a burst.
It is polled soon after start (spread over at most START_RATE_PER_S runs a second), then at its
phase every `every` seconds; a failing source waits longer (backoff, Retry-After) without
touching the others' pace.
"""

from __future__ import annotations

import hashlib
import logging
import math
import signal
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from types import FrameType

import httpx
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ticker import __version__
from ticker.core.base import redact_url, to_iso, utc_now
from ticker.db.archive import prune
from ticker.db.schema import connect, database_shape, open_db
from ticker.db.writes import register_source
from ticker.jobs.sources import SourceSpec
from ticker.schedules import hooks
from ticker.schedules.config import DaemonConfig
from ticker.schedules.connections import HeldConnections
from ticker.schedules.grouping import StoryGrouping
from ticker.schedules.lock import DaemonLock
from ticker.schedules.runner import RunResult, SourceRunner
from ticker.scraper.http import make_client

log = logging.getLogger("ticker.daemon")

MAX_WORKERS = 32  # runs in flight at most: a slow source holds one, never the others' turns
MISFIRE_GRACE_S = 60  # a run delayed longer than this (a suspended host) is skipped, not queued
START_RATE_PER_S = 50.0  # the start runs of many sources are spread to at most this many a second
GRACE_S = 5.0  # how long a stop waits for in-flight fetches before abandoning them
LATE_WARNING_S = 5.0
PRUNE_EVERY_S = 3600.0
CLOCK_STEP_S = 2.0  # the wall clock going back more than the monotonic clock by this is a step


def phase_fraction(name: str) -> float:
    """Where in its interval a source's runs fall, 0 <= f < 1: from its name alone (sha256), so
    it is the same on every restart and differs between sources."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") / 2**64


class PhaseTrigger(BaseTrigger):
    """Fires at the instants t (UTC) with (t - phase_s) a whole multiple of `every_s` since the
    Unix epoch, the first at least half an interval after the previous run: a start run or a
    backed-off one falls back into the source's phase without a double poll."""

    __slots__ = ("every_s", "phase_s")

    def __init__(self, every_s: float, phase_s: float) -> None:
        self.every_s = every_s
        self.phase_s = phase_s % every_s

    def slot_at_or_after(self, moment: datetime) -> datetime:
        """The first instant of the phase at or after `moment`."""
        steps = math.ceil((moment.timestamp() - self.phase_s) / self.every_s)
        return datetime.fromtimestamp(self.phase_s + steps * self.every_s, UTC)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is None:
            return self.slot_at_or_after(now)
        return self.slot_at_or_after(previous_fire_time + timedelta(seconds=self.every_s / 2))

    def __str__(self) -> str:
        return f"phase[every {self.every_s:g} s at +{self.phase_s:.3f} s]"


def clock_went_back(wall_before: float, mono_before: float, wall_now: float, mono_now: float) -> float:
    """Seconds the host's wall clock was set back between two readings (0 when it was not): the
    monotonic clock moved on more than the wall clock did, by more than CLOCK_STEP_S."""
    back = (mono_now - mono_before) - (wall_now - wall_before)
    return back if back > CLOCK_STEP_S else 0.0


def reschedule_from(scheduler: BaseScheduler, now: datetime) -> int:
    """After the wall clock was set back: every source's next run moved to its first phase slot
    from `now` (APScheduler would otherwise wait for the wall clock to reach the old time again,
    polling nothing meanwhile), any other job to `now`. Returns the jobs moved."""
    moved = 0
    for job in scheduler.get_jobs():
        if job.next_run_time is None:
            continue
        slot = job.trigger.slot_at_or_after(now) if isinstance(job.trigger, PhaseTrigger) else now
        if job.next_run_time > slot:
            job.modify(next_run_time=slot)
            moved += 1
    return moved


def phase_for(name: str, every_s: float) -> float:
    """Seconds into each interval (counted from the Unix epoch) at which a source's runs fall."""
    return phase_fraction(name) * every_s


def trigger_for(name: str, every_s: float) -> PhaseTrigger:
    """A source's trigger: every `every_s` at its own phase in the interval."""
    return PhaseTrigger(every_s, phase_for(name, every_s))


def start_delay(name: str, every_s: float, sources: int) -> float:
    """Seconds from the daemon's start to a source's first run: its phase, compressed into the
    shortest window that keeps the start under START_RATE_PER_S runs a second (so one or a few
    sources start at once, a thousand spread out, never later than one interval)."""
    window = min(every_s, sources / START_RATE_PER_S)
    return phase_fraction(name) * window


class Daemon:
    """Runs the configured sources until `request_stop()` (or SIGTERM/SIGINT in the main thread)."""

    def __init__(self, config: DaemonConfig, *, grace_s: float = GRACE_S, client_factory=make_client) -> None:
        self.config = config
        self.grace_s = grace_s
        self.client_factory = client_factory
        self.start_delays: deque[float] = deque(maxlen=1000)  # seconds late, of the latest runs
        self._stop = False
        self._signals = 0
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._grouping: StoryGrouping | None = None  # the story grouping's process (schedules/grouping.py)
        self._runners: list[SourceRunner] = []
        self._transport: httpx.HTTPTransport | None = None
        self._lock: DaemonLock | None = None
        self._connections: HeldConnections | None = None
        self.failure: str | None = None  # why the daemon stopped itself (it must exit non-zero)

    # -- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the daemon to stop (safe from a signal handler: it only sets a flag)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(self) -> bool:
        """Lock the database, run until asked to stop; True when every fetch finished cleanly.

        Raises AlreadyRunning when another daemon holds the database. When the database file is
        deleted or replaced under it, it stops by itself and says why in `failure`.
        """
        lock = self._lock = DaemonLock(self.config.db).acquire()
        previous_handlers = self._install_signal_handlers()
        try:
            try:
                self._prepare()
                if not self._stop:
                    self._start_scheduler()
                    wall, mono = time.time(), time.monotonic()
                    while not self._stop:
                        time.sleep(0.1)
                        wall_now, mono_now = time.time(), time.monotonic()
                        back = clock_went_back(wall, mono, wall_now, mono_now)
                        if back:
                            moved = reschedule_from(self._scheduler, datetime.now(UTC))
                            log.warning("the host clock was set back %s: %d job(s) rescheduled from the "
                                        "new time", _seconds(round(back)), moved)  # fmt: skip
                        wall, mono = wall_now, mono_now
            except BaseException:
                self._stop = True
                self._shutdown()
                lock.release()
                raise
            clean = self._shutdown()
        finally:
            self._restore_signal_handlers(previous_handlers)
        if clean:  # else a fetch is still writing: the lock goes with the process
            lock.release()
        return clean

    def _prepare(self) -> None:
        db = open_db(self.config.db)
        try:
            now = to_iso(utc_now())
            for spec in self.config.sources:
                register_source(
                    db, spec.name, spec.kind, spec.url_for(spec.main_channel), spec.every_s,
                    list(spec.channels), now, ticker_channel=spec.ticker_channel,
            options=spec.recorded_options(),
                )  # fmt: skip
            # Opened while `db` is: the -wal and -shm it notes stay the database's until the stop.
            self._connections = HeldConnections(self.config.db)
            self._connections.open()
        finally:
            db.conn.close()
        hooks.configure(self.config.settings)
        loaded = hooks.install_features(self.config.settings)
        # One connection pool (and TLS context, ~1 MB each) for all; a client (cookies) per source.
        self._transport = httpx.HTTPTransport()
        self._runners = [
            SourceRunner(
                spec,
                self.config.db,
                self.client_factory(transport=self._transport),
                stopping=lambda: self._stop,
                max_backoff_s=self.config.max_backoff_for(spec.name),
                connections=self._connections,
            )
            for spec in self.config.sources
        ]
        log.info(
            "ticker %s daemon: %d source(s) into %s%s",
            __version__,
            len(self._runners),
            self.config.db,
            f" (features: {', '.join(loaded)})" if loaded else "",
        )

    def _start_scheduler(self) -> None:
        # Each source its own worker (up to a cap), so a slow source never delays another.
        workers = max(1, min(len(self._runners), MAX_WORKERS)) + bool(self.config.settings.archive.keep_days)
        scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
        )
        scheduler.add_listener(self._on_executed, EVENT_JOB_EXECUTED)
        now = datetime.now(UTC)
        for runner in self._runners:
            spec = runner.spec
            trigger = trigger_for(spec.name, runner.state.every_s)
            delay = start_delay(spec.name, runner.state.every_s, len(self._runners))
            scheduler.add_job(
                self._job,
                trigger=trigger,
                args=[runner],
                id=spec.name,
                name=spec.name,
                next_run_time=now + timedelta(seconds=delay),  # the start run
            )
            addresses = ", ".join(
                f"{channel} {redact_url(spec.url_for(channel))}" for channel in spec.channels
            )
            log.info("%s: %s every %s (at most %s between requests) via %s", spec.name, spec.kind,
                     _seconds(runner.state.every_s), _seconds(runner.state.max_backoff_s), addresses)  # fmt: skip
        if self.config.settings.archive.keep_days:
            scheduler.add_job(
                self._prune_archive,
                trigger=IntervalTrigger(seconds=PRUNE_EVERY_S, timezone=UTC, jitter=60),
                id="archive-prune",
                next_run_time=now + timedelta(seconds=60),
            )
        self._scheduler = scheduler
        scheduler.start()
        self._grouping = StoryGrouping(self.config.db, self.config.settings.alerts)
        self._grouping.start()

    def _prune_archive(self) -> None:
        """`[archive] keep_days`: drop stored bodies past their age, hourly."""

        if self._stop or self._database_gone():
            return
        try:
            db = connect(self.config.db)
            try:
                pruned = prune(db, self.config.settings.archive)
            finally:
                db.conn.close()
            if pruned.by_age or pruned.by_mode:
                log.info("archive: pruned %d bodies by age, %d by keep mode", pruned.by_age, pruned.by_mode)
        except Exception as error:
            log.error("archive: prune failed, retrying in an hour: %s: %s", type(error).__name__, error)

    def _shutdown(self) -> bool:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._grouping is not None:
            self._grouping.stop()
        deadline = time.monotonic() + self.grace_s
        while self._in_flight and time.monotonic() < deadline and self._signals < 2:
            time.sleep(0.05)
        if self._in_flight:
            log.warning("stopping: abandoning %d fetch(es) in flight (nothing half-written)", self._in_flight)
            return False
        for runner in self._runners:
            runner.client.close()  # each closes the shared pool: closing twice is harmless
        if self._connections is not None:
            self._connections.close()
        if self._scheduler is not None:
            log.info("stopped")
        return True

    # -- signals ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        self._stop = True

    def _install_signal_handlers(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    # -- jobs ------------------------------------------------------------------------------

    def _database_gone(self) -> bool:
        """True (once logged, the daemon stopping) when the database path no longer names the
        file this daemon locked and opened, or the files its kept connections hold were changed
        under them (schedules/connections.py): every later write would go elsewhere or fail."""
        changed = self._connections.changed() if self._connections is not None else None
        if changed == "replaced" or (self._lock is not None and not self._lock.still_at_path()):
            return self._fail(f"the database {self.config.db} was deleted or replaced while the daemon ran")
        if changed == "emptied":
            return self._fail(f"the database {self.config.db} no longer holds ticker's tables (empty now)")
        if changed == "log":
            return self._fail(
                f"the database {self.config.db}'s write-ahead log (-wal, -shm) was deleted or replaced "
                "while the daemon ran"
            )
        return False

    def _database_emptied(self) -> bool:
        """After a failed run: True (the daemon stopping) when the file no longer holds ticker's
        tables (emptied or overwritten in place): every later run would fail the same way."""

        try:
            db = connect(self.config.db, read_only=True)
            try:
                shape = database_shape(db)
            finally:
                db.conn.close()
        except Exception:  # unreadable for now (locked, I/O): the runs say why, and go on
            return False
        if shape == "current":
            return False
        return self._fail(f"the database {self.config.db} no longer holds ticker's tables ({shape} now)")

    def _fail(self, what: str) -> bool:
        if self.failure is None:
            self.failure = f"{what}: stopping with exit status 1 so that the supervisor restarts it on the file now there"
            log.error(self.failure)
        self._stop = True
        return True

    def _job(self, runner: SourceRunner) -> datetime | None:
        if self._stop or self._database_gone():
            return None
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            result = runner.run()
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
        if not result.succeeded and (self._database_gone() or self._database_emptied()):
            return result.started_at
        self._reschedule(runner.spec, result)
        return result.started_at

    def _reschedule(self, spec: SourceSpec, result: RunResult) -> None:
        """Push the source's next run back when backoff or Retry-After asks for more than the interval."""
        scheduler = self._scheduler
        if scheduler is None or self._stop or result.delay_s <= (spec.every_s or 0):
            return
        try:
            job = scheduler.get_job(spec.name)
            earliest = datetime.now(UTC) + timedelta(seconds=result.delay_s)
            if job is not None and isinstance(job.trigger, PhaseTrigger):
                earliest = job.trigger.slot_at_or_after(earliest)  # and back in its phase
            if job is not None and (job.next_run_time is None or job.next_run_time < earliest):
                job.modify(next_run_time=earliest)
                log.info("%s: next request not before %s (waiting %s)", spec.name, to_iso(earliest),
                         _seconds(result.delay_s))  # fmt: skip
        except Exception:
            log.exception("%s: could not reschedule", spec.name)

    def _on_executed(self, event: JobExecutionEvent) -> None:
        started = event.retval
        if not isinstance(started, datetime):
            return
        late = (started - event.scheduled_run_time).total_seconds()
        self.start_delays.append(late)
        if late > LATE_WARNING_S:
            log.warning("%s: started %.1f s late (the daemon is overloaded?)", event.job_id, late)


def _seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"
