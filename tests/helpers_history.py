"""Consistency checks of a stored history, shared by the write-path, crash and concurrency tests."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ticker.db.schema import connect


def snapshot_sighting_mismatches(db_path: str | Path) -> list[str]:
    """For every successful fetch with a snapshot, the items of its snapshot must be exactly the
    items whose sightings (of its source and channel) cover it. A sighting covers the successful
    fetches of its channel from its first to its last fetch, in history order (start time, then
    id: imported captures are merged by time). Returns one line per disagreement."""
    db = connect(db_path, read_only=True)
    try:
        fetches = db.execute(
            "SELECT f.id, f.source, f.channel, s.items FROM fetches f JOIN snapshots s ON s.id = f.snapshot_id "
            "WHERE f.outcome IN ('ok', 'unchanged') ORDER BY f.log_at, f.id"
        ).fetchall()
        sightings = db.execute(
            "SELECT headline_id, source, channel, first_fetch_id, last_fetch_id, exit_fetch_id FROM sightings"
        ).fetchall()
    finally:
        db.conn.close()
    order: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    shown: dict[int, set[str]] = {}
    for fetch_id, source, channel, items in fetches:
        positions = order[(source, channel)]
        positions[fetch_id] = len(positions)
        shown[fetch_id] = {headline_id for headline_id, _ in json.loads(items)}
    covered: dict[int, set[str]] = defaultdict(set)
    by_position = {key: sorted(positions, key=positions.get) for key, positions in order.items()}
    problems = []
    for headline_id, source, channel, first_id, last_id, exit_id in sightings:
        positions = order.get((source, channel))
        if not positions or first_id not in positions or last_id not in positions:
            continue  # a backfill sighting, or a channel without snapshots
        for fetch_id in by_position[(source, channel)][positions[first_id] : positions[last_id] + 1]:
            covered[fetch_id].add(headline_id)
        if exit_id in positions and positions[exit_id] > positions[last_id] + 1:
            # Successes between its last fetch and its exit: it was missing from them, unrecorded.
            between = by_position[(source, channel)][positions[last_id] + 1 : positions[exit_id]]
            problems.append(
                f"{headline_id}: successes {between} between its last fetch and its exit {exit_id}"
            )
    for fetch_id, items in shown.items():
        if items != covered[fetch_id]:
            missing, extra = sorted(items - covered[fetch_id]), sorted(covered[fetch_id] - items)
            problems.append(
                f"fetch {fetch_id}: shown but not covered {missing}, covered but not shown {extra}"
            )
    return problems


def assert_snapshots_match_sightings(db_path: str | Path) -> None:
    problems = snapshot_sighting_mismatches(db_path)
    assert not problems, "\n".join(problems[:20])
