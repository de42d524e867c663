"""Putting one source's channel history in time order, from the snapshots its fetches stored.

Live writers move history forward one poll at a time. Imported captures arrive in any order and
are usually older than the live polls, so after an import the history of the source's channel is
re-derived from every successful fetch's snapshot in `started_at` order (id breaks ties), in one
transaction:

- `sightings` of the channel: rebuilt, exits classified by `classify_exit` (the live writer's
  rule); across a failed live poll, a gap longer than `gap_limit_s` or a change of edition the reason
  is `unknown`;
- the headlines, title versions and rates the channel showed: first/last seen and the fetches
  behind them, the latest title, `title_changes` (walking every channel that showed them, so a
  rewording seen through RSS between two page polls is one change, as live).

`outage_runs` and `fetch_hours` count live polls only (the writers skip captures), so they need
nothing here.

Row ids of headlines, titles and rates are kept (snapshots point at them). On a history the live
writers built in time order this changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlite_utils import Database

from ticker.base import SUCCESS_OUTCOMES, SUCCESS_SQL, from_iso
from ticker.db.schema import write_transaction
from ticker.db.writes import classify_exit


@dataclass(slots=True)
class Rederived:
    """What a re-derivation rebuilt (for the import summary)."""

    fetches: int = 0
    sightings: int = 0
    title_changes: int = 0
    headlines: int = 0
    rates: int = 0


@dataclass(slots=True)
class _Run:
    headline_id: str
    first_fetch_id: int
    first_seen: str
    first_position: int
    last_fetch_id: int
    last_seen: str
    last_position: int
    exit_fetch_id: int | None = None
    exited_at: str | None = None
    exit_reason: str | None = None


@dataclass(slots=True)
class _Extent:
    """First and last appearance of a headline, title or rate: (started_at, fetch id) pairs."""

    first: tuple[str, int]
    last: tuple[str, int]
    first_channel: str = ""
    first_source: str = ""

    def see(self, at: str, fetch_id: int) -> None:
        if (at, fetch_id) < self.first:
            self.first = (at, fetch_id)
        if (at, fetch_id) >= self.last:
            self.last = (at, fetch_id)


@dataclass(slots=True)
class _Walk:
    runs: list[_Run] = field(default_factory=list)
    shown_ids: set[str] = field(default_factory=set)
    shown_rates: set[int] = field(default_factory=set)
    fetches: int = 0


class _Snapshots:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[int, tuple[list[list], list[int]]] = {}

    def get(self, snapshot_id: int) -> tuple[list[list], list[int]]:
        found = self._cache.get(snapshot_id)
        if found is None:
            row = self.db.execute("SELECT items, rates FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
            found = (json.loads(row[0]), json.loads(row[1])) if row else ([], [])
            self._cache[snapshot_id] = found
        return found


def _walk_channel(
    db: Database, snapshots: _Snapshots, source: str, channel: str, gap_limit_s: float, ordered: bool
) -> _Walk:
    walk = _Walk()
    open_runs: dict[str, _Run] = {}
    previous: tuple[str, str | None] | None = None  # (started_at, edition) of the last success
    failed_since = False
    for fetch_id, at, outcome, snapshot_id, edition, origin in db.execute(
        "SELECT id, started_at, outcome, snapshot_id, edition, origin FROM fetches "
        "WHERE source = ? AND channel = ? ORDER BY started_at, id",
        [source, channel],
    ).fetchall():
        if outcome not in SUCCESS_OUTCOMES:
            # As the live writer: only a failed live poll blinds the comparison of two lists (a
            # capture that failed, a failed backfill request, says nothing about our polls).
            failed_since = failed_since or origin is None
            continue
        if snapshot_id is None:  # a backfill request: evidence of publication, not of presence
            continue
        walk.fetches += 1
        items, rate_ids = snapshots.get(snapshot_id)
        walk.shown_rates.update(rate_ids)
        current = {headline_id: position for position, (headline_id, _) in enumerate(items, start=1)}
        walk.shown_ids.update(current)
        positions = {run.headline_id: run.last_position for run in open_runs.values()}  # as last shown
        for headline_id, position in current.items():
            run = open_runs.get(headline_id)
            if run is None:
                run = _Run(headline_id, fetch_id, at, position, fetch_id, at, position)
                open_runs[headline_id] = run
                walk.runs.append(run)
            else:
                run.last_fetch_id, run.last_seen, run.last_position = (
                    fetch_id,
                    max(run.last_seen, at),
                    position,
                )
        gone = [run for headline_id, run in open_runs.items() if headline_id not in current]
        if gone:
            blind = (
                previous is None
                or failed_since
                or previous[1] != edition
                or (from_iso(at) - from_iso(previous[0])).total_seconds() > gap_limit_s
            )
            ids = set(current)
            for run in gone:
                reason = classify_exit(positions[run.headline_id], positions, ids, blind_gap=blind)
                run.exit_fetch_id, run.exited_at = fetch_id, max(at, run.last_seen)
                run.exit_reason = reason if ordered else None
                del open_runs[run.headline_id]
        previous, failed_since = (at, edition), False
    return walk


def _write_sightings(db: Database, source: str, channel: str, runs: list[_Run]) -> None:
    db.execute("DELETE FROM sightings WHERE source = ? AND channel = ?", [source, channel])
    db.conn.executemany(
        "INSERT INTO sightings (headline_id, source, channel, first_fetch_id, last_fetch_id, first_seen, "
        "last_seen, first_position, last_position, exit_fetch_id, exited_at, exit_reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.headline_id, source, channel, r.first_fetch_id, r.last_fetch_id, r.first_seen, r.last_seen,
             r.first_position, r.last_position, r.exit_fetch_id, r.exited_at, r.exit_reason)
            for r in sorted(runs, key=lambda r: (r.first_seen, r.first_fetch_id))
        ],
    )  # fmt: skip


def _rederive_titles(db: Database, snapshots: _Snapshots, headline_ids: set[str]) -> tuple[int, int]:
    """Title versions, title changes and headline extents of these headlines, from every fetch
    (any source or channel) that showed them, in time order. Returns (headlines, changes)."""
    if not headline_ids:
        return 0, 0
    title_extents: dict[int, _Extent] = {}
    latest_title: dict[str, tuple[tuple[str, int], int]] = {}
    changes: list[tuple[str, int, str, int, int]] = []
    # A backfill request (no snapshot) that is an end of a title version stays one: the item
    # enters the walk there, as the live writer met it (and a second re-derivation keeps it).
    appearances: list[tuple[str, int, str, int]] = []  # (at, fetch id, headline id, title id)
    for headline_id, at, fetch_id, title_id in db.execute(
        "SELECT t.headline_id, f.started_at, f.id, t.id FROM headline_titles t JOIN fetches f "
        "ON f.id IN (t.first_fetch_id, t.last_fetch_id) WHERE f.snapshot_id IS NULL"
    ).fetchall():
        if headline_id in headline_ids:
            appearances.append((at, fetch_id, headline_id, title_id))
    for fetch_id, at, snapshot_id in db.execute(
        f"SELECT id, started_at, snapshot_id FROM fetches WHERE outcome IN {SUCCESS_SQL} "
        "AND snapshot_id IS NOT NULL"
    ).fetchall():
        for headline_id, title_id in snapshots.get(snapshot_id)[0]:
            if headline_id in headline_ids:
                appearances.append((at, fetch_id, headline_id, title_id))
    appearances.sort()
    for at, fetch_id, headline_id, title_id in appearances:
        extent = title_extents.get(title_id)
        if extent is None:
            title_extents[title_id] = _Extent((at, fetch_id), (at, fetch_id))
        else:
            extent.see(at, fetch_id)
        before = latest_title.get(headline_id)
        if before is not None and before[1] != title_id:
            changes.append((headline_id, fetch_id, at, before[1], title_id))
        latest_title[headline_id] = ((at, fetch_id), title_id)
    for title_id, extent in title_extents.items():
        db.execute(
            "UPDATE headline_titles SET first_seen = ?, first_fetch_id = ?, last_seen = ?, last_fetch_id = ? "
            "WHERE id = ?",
            [*extent.first, *extent.last, title_id],
        )
    marks = ", ".join("?" for _ in headline_ids)
    db.execute(f"DELETE FROM title_changes WHERE headline_id IN ({marks})", sorted(headline_ids))
    db.conn.executemany(
        "INSERT INTO title_changes (headline_id, fetch_id, changed_at, old_title_id, new_title_id) "
        "VALUES (?, ?, ?, ?, ?)",
        changes,
    )
    for headline_id, (_, title_id) in latest_title.items():
        db.execute(
            "UPDATE headlines SET title = (SELECT title FROM headline_titles WHERE id = ?) WHERE id = ?",
            [title_id, headline_id],
        )
    # First and last sighting, any channel (backfill included, as the live writers count it).
    for headline_id in headline_ids:
        first = db.execute(
            "SELECT source, channel, first_seen, first_fetch_id FROM sightings WHERE headline_id = ? "
            "ORDER BY first_seen, first_fetch_id LIMIT 1",
            [headline_id],
        ).fetchone()
        last = db.execute(
            "SELECT last_seen, last_fetch_id FROM sightings WHERE headline_id = ? "
            "ORDER BY last_seen DESC, last_fetch_id DESC LIMIT 1",
            [headline_id],
        ).fetchone()
        if first is None or last is None:
            continue
        db.execute(
            "UPDATE headlines SET source = ?, first_channel = ?, first_seen = ?, first_fetch_id = ?, "
            "last_seen = ?, last_fetch_id = ? WHERE id = ?",
            [*first, *last, headline_id],
        )
    return len(headline_ids), len(changes)


def _rederive_rates(db: Database, snapshots: _Snapshots, source: str, rate_ids: set[int]) -> int:
    """First/last seen of these rates from every fetch of the source that showed them, in time
    order; a rate-range backfill's own first/last (no snapshot) still counts."""
    if not rate_ids:
        return 0
    extents: dict[int, _Extent] = {}
    for fetch_id, at, channel, snapshot_id in db.execute(
        f"SELECT id, started_at, channel, snapshot_id FROM fetches WHERE source = ? AND outcome IN {SUCCESS_SQL} "
        "AND snapshot_id IS NOT NULL ORDER BY started_at, id",
        [source],
    ).fetchall():
        for rate_id in snapshots.get(snapshot_id)[1]:
            if rate_id not in rate_ids:
                continue
            extent = extents.get(rate_id)
            if extent is None:
                extents[rate_id] = _Extent((at, fetch_id), (at, fetch_id), first_channel=channel)
            else:
                extent.see(at, fetch_id)
    for rate_id, extent in extents.items():
        for at, fetch_id, channel in db.execute(
            "SELECT f.started_at, f.id, f.channel FROM rates r JOIN fetches f "
            "ON f.id IN (r.first_fetch_id, r.last_fetch_id) WHERE r.id = ? AND f.snapshot_id IS NULL",
            [rate_id],
        ).fetchall():
            if (at, fetch_id) < extent.first:
                extent.first_channel = channel
            extent.see(at, fetch_id)
        db.execute(
            "UPDATE rates SET first_seen = ?, first_fetch_id = ?, last_seen = ?, last_fetch_id = ?, "
            "channel = ? WHERE id = ?",
            [*extent.first, *extent.last, extent.first_channel, rate_id],
        )
    return len(extents)


def rederive_source(
    db: Database, source: str, channel: str, *, gap_limit_s: float, ordered: bool
) -> Rederived:
    """Re-derive a source's channel history from its fetches' snapshots in time order (see the
    module docstring). `ordered`: the channel is an ordered live list (exits get a reason)."""
    with write_transaction(db):
        return rederive_in_transaction(db, source, channel, gap_limit_s=gap_limit_s, ordered=ordered)


def rederive_in_transaction(
    db: Database, source: str, channel: str, *, gap_limit_s: float, ordered: bool
) -> Rederived:
    """`rederive_source` inside the caller's open transaction (a live writer that found its
    fetch older than the channel's latest merges it in time order this way)."""
    snapshots = _Snapshots(db)
    walk = _walk_channel(db, snapshots, source, channel, gap_limit_s, ordered)
    _write_sightings(db, source, channel, walk.runs)
    headlines, changes = _rederive_titles(db, snapshots, walk.shown_ids)
    rates = _rederive_rates(db, snapshots, source, walk.shown_rates)
    return Rederived(walk.fetches, len(walk.runs), changes, headlines, rates)
