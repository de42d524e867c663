"""The daemon's story grouping, in a process of its own at the lowest CPU priority.

A poll only records. Every STORIES_EVERY_S this process groups every poll recorded since its
last pass (ticker/stories/update.py: the new titles embedded first, then at most PASS_CHUNK
headlines per write transaction), then raises the story alerts of the fetches it grouped. In a
process of its own, niced, the grouping never holds the polls' interpreter lock nor takes the
cores they need: a burst of new headlines (a thousand feeds' first polls are ~20,000 titles to
embed, ~35 ms each) delays the stories, never a poll.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ticker.core.base import one_line
from ticker.core.settings import AlertSettings
from ticker.db.schema import connect
from ticker.db.stories import grouping_behind, watermark
from ticker.schedules.connections import files_at
from ticker.stories.update import update_stories

log = logging.getLogger("ticker.stories")

STORIES_EVERY_S = 10.0  # a poll's new headlines join their stories within about this
STOP_GRACE_S = 10.0  # a pass asked to stop ends between two batches; after this it is killed
NICENESS = 19  # the lowest priority: the polls always get the cores first


def group_pass(
    db: Database, after_grouping: Callable[[Database, int, int], Any] | None = None, stopping=lambda: False
) -> bool:
    """One pass: group what was recorded since the last one, then `after_grouping(db, after_id,
    upto_id)` with the fetch ids it grouped. False when there was nothing to group."""
    if not grouping_behind(db):
        return False
    before = watermark(db)
    update_stories(db, stopping=stopping)
    if after_grouping is not None:  # the fetches grouped (none when the pass was stopped)
        after_grouping(db, before, watermark(db))
    return True


def _alerts_hook(settings: AlertSettings | None) -> Callable[[Database, int, int], Any] | None:
    if settings is None or not settings.urls or not settings.stories:
        return None
    # Lazy: alerts load Apprise (~100 ms, hundreds of modules) only when they are configured.
    from ticker.schedules.alerts import Alerter

    return Alerter(settings).after_grouping


def _child(
    db_path: str, alerts: AlertSettings | None, stop: Connection, every_s: float, log_level: int
) -> None:
    """The process's loop (spawned: a fresh interpreter, nothing of the daemon's threads). It
    ends when the daemon says so or is gone (`stop`: a message or the pipe's end); a signal to
    the whole process group (Ctrl-C, `timeout`) is the daemon's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime  # UTC, as the daemon's own lines (never the host's zone)
    logging.basicConfig(level=log_level, handlers=[handler])
    hook = _alerts_hook(alerts)
    db = connect(db_path)  # kept: no checkpoint on a close after every pass
    files = files_at(db_path)
    try:
        while not stop.poll(every_s):
            if files_at(db_path) != files:  # the daemon stops too (schedules/daemon.py)
                log.error("stories: the database files changed under the daemon; grouping stopped")
                return
            try:
                group_pass(db, hook, stopping=stop.poll)
            except Exception as error:
                log.error("stories: grouping failed, retrying in %gs: %s", every_s,
                          one_line(f"{type(error).__name__}: {error}"))  # fmt: skip
    finally:
        db.conn.close()


class StoryGrouping:
    """The grouping process of one daemon: `start()`, then `stop()` on the daemon's way out."""

    def __init__(self, db_path: str | Path, alerts: AlertSettings | None, every_s: float = STORIES_EVERY_S):
        self.db_path, self.alerts, self.every_s = str(db_path), alerts, every_s
        self._context = multiprocessing.get_context("spawn")
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stop: Connection | None = None

    def start(self) -> None:
        listen, self._stop = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_child,
            args=(self.db_path, self.alerts, listen, self.every_s, logging.getLogger().level),
            name="ticker-stories",
            daemon=True,
        )
        self._process.start()
        listen.close()  # the child's end: when the daemon's closes, the child sees the pipe end

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Ask the pass to end between two batches (nothing half-written: each batch is a
        transaction, and the next daemon resumes from the watermark); kill it after `grace_s`.
        Never waits on the child beyond that, whatever became of it (a signal to the group)."""
        if self._process is None or self._stop is None:
            return
        with contextlib.suppress(OSError):  # the child is gone already
            self._stop.send(None)
        self._stop.close()
        self._process.join(grace_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = self._stop = None
