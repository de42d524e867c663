"""Plug-in points of the daemon: callbacks run after every poll, and the settings they act on.

A feature (alerts, body archive) registers a callback `hook(db, spec, saved)`:

    from ticker.schedules import hooks
    hooks.AFTER_POLL.append(my_hook)

`db` is the job's open connection (valid only during the call), `spec` the SourceSpec polled,
`saved` the ticker.db.writes.Saved of that poll (`saved.fetch_id` leads to the `fetches` row).
`current_settings()` gives the daemon's Settings ([archive], [alerts]). A hook that raises is
logged and skipped; it never stops the poll's job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlite_utils import Database

from ticker.core.records import Saved
from ticker.core.settings import Settings
from ticker.jobs.sources import SourceSpec

PollHook = Callable[[Database, SourceSpec, Saved], None]
FailureHook = Callable[[SourceSpec, BaseException], None]

AFTER_POLL: list[PollHook] = []
# Called when a run could not record its poll (the database cannot be written: a full disk):
# no `fetches` row exists for an after-poll hook to see.
RUN_FAILED: list[FailureHook] = []

log = logging.getLogger("ticker.daemon")
_settings = Settings()


def current_settings() -> Settings:
    """The running daemon's settings (the defaults outside a daemon)."""
    return _settings


def configure(settings: Settings) -> None:
    global _settings
    _settings = settings


def install_features(settings: Settings) -> list[str]:
    """Register the hooks of the features the settings turn on; returns their names.

    A feature that cannot be set up is logged and left out: polling goes on without it.
    """
    installed = []
    if settings.alerts.urls:
        try:
            # Lazy: alerts load Apprise (~100 ms, hundreds of modules) only when URLs are configured.
            from ticker.schedules.alerts import Alerter

            alerter = Alerter(settings.alerts)
            AFTER_POLL.append(alerter.after_poll)
            RUN_FAILED.append(alerter.run_failed)
            installed.append("alerts")
        except Exception:
            log.exception("alerts could not be set up; polling goes on without them")
    return installed


def run_after_poll(db: Database, spec: SourceSpec, saved: Saved) -> None:
    """Call every hook; a failing hook is logged, never raised."""
    for hook in list(AFTER_POLL):
        try:
            hook(db, spec, saved)
        except Exception:
            log.exception("%s: after-poll hook %s failed", spec.name, getattr(hook, "__name__", hook))


def run_failed(spec: SourceSpec, error: BaseException) -> None:
    """Call every failure hook; a failing hook is logged, never raised."""
    for hook in list(RUN_FAILED):
        try:
            hook(spec, error)
        except Exception:
            log.exception("%s: run-failed hook %s failed", spec.name, getattr(hook, "__name__", hook))
