"""`ticker status` on a long history: `source_health` reads the writers' summaries
(address_state, outage_runs, fetch_hours); the reference is what it did before, counting the
fetch log (failures since the last success, attempts in the last 24 h). Both must agree.

    python benchmarks/status_summaries.py            # 300,000 fetches (a year of 2-minute polls)
    python benchmarks/status_summaries.py --fetches 50000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ticker.core.base import SUCCESS_SQL, to_iso
from ticker.db.schema import connect, open_db
from ticker.db.writes import rebuild_fetch_hours, rebuild_outage_runs, register_source
from ticker.schedules.health import source_health

T0 = datetime(2023, 1, 1, tzinfo=UTC)


def build(path: Path, count: int) -> datetime:
    """One source polled every 2 minutes: 2% network errors, blocked for its last 39 polls."""
    db = open_db(path)
    register_source(
        db, "rbc", "rbc", "https://www.rbc.ru/", 120.0, ["page"], to_iso(T0), ticker_channel="page"
    )
    rng = random.Random(1)
    rows = []
    for number in range(count):
        outcome = "unchanged" if rng.random() > 0.02 else "network_error"
        if number > count - 40:
            outcome = "blocked"
        rows.append(
            ("rbc", "page", "https://www.rbc.ru/", to_iso(T0 + timedelta(seconds=120 * number)), outcome)
        )
    db.conn.execute("BEGIN")
    db.conn.executemany(
        "INSERT INTO fetches (source, channel, url, started_at, outcome) VALUES (?, ?, ?, ?, ?)", rows
    )
    last_ok, at = db.execute(
        f"SELECT max(id), max(started_at) FROM fetches WHERE outcome IN {SUCCESS_SQL}"
    ).fetchone()
    db.execute(
        "INSERT INTO address_state (source, channel, address_sha256, address, fetch_id, started_at) "
        "VALUES ('rbc', 'page', 'x', 'https://www.rbc.ru/', ?, ?)",
        [last_ok, at],
    )  # what the write path keeps for the latest success
    rebuild_outage_runs(db)
    rebuild_fetch_hours(db)
    db.conn.execute("COMMIT")
    db.conn.close()
    return T0 + timedelta(seconds=120 * count)


def by_fetch_log(db, now: datetime) -> tuple[int, int]:
    """The former `source_health` queries (before issue 12), for one source on its channel."""
    db.execute("SELECT DISTINCT source FROM fetches").fetchall()  # sources with fetches
    scope = ["rbc", "page"]
    live = " AND channel IN (?)"
    success = db.execute(
        f"SELECT id, started_at, channel, outcome FROM fetches WHERE source = ?{live} "
        f"AND outcome IN {SUCCESS_SQL} ORDER BY id DESC LIMIT 1",
        scope,
    ).fetchone()
    db.execute(
        f"SELECT id, started_at, channel, outcome, error FROM fetches WHERE source = ?{live} "
        f"AND outcome NOT IN {SUCCESS_SQL} ORDER BY id DESC LIMIT 1",
        scope,
    ).fetchone()
    failures = db.execute(
        f"SELECT count(*) FROM fetches WHERE source = ?{live} AND id > ?", [*scope, success[0]]
    ).fetchone()[0]
    day = sum(
        count
        for _, count in db.execute(
            f"SELECT outcome, count(*) FROM fetches WHERE source = ?{live} AND started_at >= ? GROUP BY outcome",
            [*scope, to_iso(now - timedelta(hours=24))],
        ).fetchall()
    )
    other = db.execute(
        f"SELECT max(id) FROM fetches WHERE source = ?{live} AND outcome IN {SUCCESS_SQL} AND channel != ?",
        [*scope, success[2]],
    ).fetchone()[0]
    db.execute(
        f"SELECT min(started_at) FROM fetches WHERE source = ? AND outcome IN {SUCCESS_SQL} AND channel = ? AND id > ?",
        ["rbc", success[2], other or 0],
    ).fetchone()
    return failures, day


def timed(function, rounds: int = 5) -> tuple[float, object]:
    function()
    start = time.perf_counter()
    for _ in range(rounds):
        result = function()
    return (time.perf_counter() - start) / rounds * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=300_000)
    count = parser.parse_args().fetches
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.db"
        now = build(path, count)
        db = connect(path, read_only=True)
        old_ms, (failures, day) = timed(lambda: by_fetch_log(db, now))
        new_ms, health = timed(lambda: source_health(db, now=now)[0])
        db.conn.close()
    print(f"{count:,} fetches: fetch log {old_ms:.1f} ms (failures {failures}, 24 h {day}); "
          f"summaries {new_ms:.1f} ms (failures {health.consecutive_failures}, 24 h+ {health.fetches_24h})")  # fmt: skip
    assert health.consecutive_failures == failures


if __name__ == "__main__":
    main()
