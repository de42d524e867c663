"""Keeping stories current: the daemon's stories job (a pass every few seconds over every poll
since the last), the readers of stories (`catch_up`: what one-off fetches, backfills and imports
recorded), and `ticker stories rebuild` / `reparse --in-place`. Each re-runs the grouping pass
(ticker.stories.group) over the stored history from an instant on, so the online result is the
rebuild's.

`update_stories(db)` groups whatever fetches arrived since the last call (`story_state` keeps the
last fetch id grouped), re-running the pass from the earliest headline first seen or reworded
since: a new poll costs its new headlines times the stories open in the window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlite_utils import Database

from ticker.core.base import from_iso, one_line, to_iso, utc_now
from ticker.db import stories as store
from ticker.db.schema import connect, database_shape, write_transaction
from ticker.stories.group import DEFAULT_MATCHER, WINDOW_S, Matcher, Story, group
from ticker.stories.vectors import warm
from ticker.stories.window import WINDOW

log = logging.getLogger("ticker.stories")

REBUILD_CHUNK = timedelta(days=1)  # a rebuild commits a day of headlines at a time
PASS_CHUNK = 500  # headlines grouped per write transaction by a pass that has more
EMBED_BATCH = 64  # new titles embedded, and their vectors stored, at a time (outside the pass)


@dataclass
class Regrouped:
    """What one pass wrote: from when, how many headlines it placed."""

    start: str | None
    members: int = 0


def _window_from(start: str) -> str:
    return to_iso(from_iso(start) - timedelta(seconds=WINDOW_S))


def _warm(db: Database, items: list, prior: list[Story], model: Matcher) -> None:
    """Every title the pass compares fingerprinted in one batch, vectors read or stored once."""
    warm(db, [i.title for i in items] + [m.item.title for s in prior for m in s.members], model)


def regroup(db: Database, start: str, end: str | None = None, model: Matcher = DEFAULT_MATCHER) -> int:
    """Re-run the pass over headlines first seen in [start, end) on top of the stories before
    `start`, read from the database (call inside a write transaction). Returns the members written."""
    prior = store.prior_stories(db, start, _window_from(start))
    items = store.items(db, start, end)
    _warm(db, items, prior, model)
    placed = group(items, prior, model)
    written = store.save_groups(db, start, end, placed)
    store.new_generation(db)
    return written


def _regroup_online(db: Database, start: str, model: Matcher) -> tuple[int, Callable[[], None]]:
    """`regroup(db, start)` through the in-memory window when it is current; returns the members
    written and what to do to the window once the transaction has committed."""
    path, now_generation = store.database_file(db), store.generation(db)
    items = store.items(db, start)
    fresh = not WINDOW.usable(path, now_generation, start)
    prior = store.prior_stories(db, start, _window_from(start)) if fresh else WINDOW.prior(start, items)
    _warm(db, items, prior, model)
    placed = group(items, prior, model)
    written = store.save_groups(db, start, None, placed)
    generation = store.new_generation(db)
    known = {story.key for story in prior}
    passed = prior + [story for story in placed if story.key not in known]

    def commit() -> None:
        if fresh:
            WINDOW.load(path, _window_from(start), [])
        WINDOW.apply(start, passed, generation)

    return written, commit


def update_stories(
    db: Database, model: Matcher = DEFAULT_MATCHER, stopping: Callable[[], bool] = lambda: False
) -> Regrouped:
    """Group what was recorded since the last call. Idempotent.

    A chunk of PASS_CHUNK headlines at a time: its new titles' vectors made first, outside any
    write transaction (~35 ms a title), then the chunk grouped in one; so a burst (a thousand
    feeds' first polls, an import of years) delays the stories, never the polls' writes, and a
    pass holds one chunk in memory. When `stopping()`
    turns true the pass ends between two batches, the watermark unmoved (the next pass resumes)."""
    with WINDOW.lock:
        try:
            # Read before the pass; each write below decides against the state inside its own
            # transaction, and the watermark moves only to the fetches read here.
            through = store.watermark(db)
            earliest, last = store.fetches_after(db, through)
            start = store.changed_from(db, earliest) if earliest is not None else None
            result = Regrouped(start)
            while start is not None:  # a chunk at a time: its titles embedded, then grouped
                end = store.chunk_end(db, start, PASS_CHUNK)
                chunk = store.items(db, start, end)
                for offset in range(0, len(chunk), EMBED_BATCH):
                    if stopping():
                        return result
                    _warm(db, chunk[offset : offset + EMBED_BATCH], [], model)
                if end is None:
                    break  # the last chunk is grouped with the watermark, below
                if stopping():
                    return result
                with write_transaction(db):
                    result.members += regroup(db, start, end, model)
                start = end
            commit = None
            with write_transaction(db):
                if start is not None:
                    written, commit = _regroup_online(db, start, model)
                    result.members += written
                store.set_watermark(db, last, to_iso(utc_now()))
            if commit is not None:
                commit()
        except BaseException:
            WINDOW.clear()
            raise
    return result


def catch_up(path: str | Path) -> str | None:
    """Group what was recorded since the last grouping, for the commands and pages that show
    stories: a one-off `ticker fetch` only records (loading the matcher would triple its run
    time), the daemon groups as it polls. None when the stories are current (or the file is no
    current ticker database: the reader says so); otherwise one line saying why they could not
    be brought up to date: they are shown as of the last grouping."""
    if not Path(path).is_file():
        return None
    try:
        probe = connect(path, read_only=True)
        try:
            behind = database_shape(probe) == "current" and store.grouping_behind(probe)
        finally:
            probe.conn.close()
        if not behind:
            return None
        db = connect(path)
        try:
            update_stories(db)
        finally:
            db.conn.close()
    except Exception as error:
        log.debug("stories catch-up failed", exc_info=True)
        return (
            f"stories not brought up to date ({one_line(f'{type(error).__name__}: {error}')}): "
            "shown as of the last grouping"
        )
    return None


def rebuild_stories(
    db: Database, model: Matcher = DEFAULT_MATCHER, advance: Callable[[str], None] | None = None
) -> Regrouped:
    """Re-derive every story from the stored history, a day per transaction (a running daemon's
    polls wait at most one day's pass), then whatever arrived meanwhile. A story keeps its id
    while its first member stays."""
    with write_transaction(db):
        last = store.last_fetch_id(db)
        first, newest = store.headline_span(db)
    result = Regrouped(first)
    with write_transaction(db):  # stories of headlines no longer in the history (none if first is None)
        store.save_groups(db, "", first, [])
        if first is None:
            store.set_watermark(db, last, to_iso(utc_now()))
    if first is None:
        return result
    start = from_iso(first)
    while True:
        end = start + REBUILD_CHUNK
        final = to_iso(end) > newest
        with write_transaction(db):
            result.members += regroup(db, to_iso(start), None if final else to_iso(end), model)
            if final:
                store.set_watermark(db, last, to_iso(utc_now()))
        if advance is not None:
            advance(to_iso(start))
        if final:
            break
        start = end
    result.members += update_stories(db, model=model).members
    return result
