"""Crash safety: `ticker run` killed with SIGKILL at random moments while it writes (every 0.2 s,
a page that changes on every request). After every kill the database is whole and the next
start carries on.

After every kill, snapshots and sightings agree (tests/helpers_history.py).

TICKER_CRASH_CYCLES sets the number of kills (default 8, to keep the default suite short); the
`slow` variant runs 50 and the soak 500 (TICKER_CRASH_SOAK_CYCLES).
"""

from __future__ import annotations

import os
import random
import signal
import time
from functools import partial

import pytest
from helpers_history import assert_snapshots_match_sightings

from reliability import faultserver as fs
from reliability.support import (
    consistency_problems,
    fetch_count,
    rotating_page,
    rows,
    start_daemon,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.reliability

ITEMS_PER_PAGE = 150  # enough rows per fetch that a kill often lands inside a transaction


def _kill_cycles(cycles: int, fault_server, tmp_path) -> dict:
    url = fault_server.route("/", fs.dynamic(partial(rotating_page, count=ITEMS_PER_PAGE)))
    db = tmp_path / "ticker.db"
    config = write_config(tmp_path, {"rbc": {"kind": "rbc", "url": url, "every": 0.2}}, db=db)
    log = tmp_path / "daemon.log"
    rng = random.Random(int(os.environ.get("TICKER_CRASH_SEED", "20241125")))
    counts = []
    for cycle in range(cycles):
        before = fetch_count(db)
        daemon = start_daemon(config, log)
        try:
            # Wait for this start's first write, then kill at a random moment of its work.
            assert wait_for(lambda b=before: fetch_count(db) > b, timeout=30), log.read_text()[-2000:]
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        assert daemon.returncode == -signal.SIGKILL
        problems = consistency_problems(db)
        assert problems == [], f"after kill {cycle + 1}: {problems[:5]}"
        assert_snapshots_match_sightings(db)
        after = fetch_count(db)
        assert after > before  # the start carried on from where the last one died
        counts.append(after)
    return {"kills": cycles, "fetches": counts[-1], "log": log.read_text()}


def _check_final_state(db) -> None:
    # Nothing lost: every fetch id is there once, ok fetches hold the items the page had.
    ids = [r[0] for r in rows(db, "SELECT id FROM fetches ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))
    outcomes = dict(rows(db, "SELECT outcome, count(*) FROM fetches GROUP BY outcome"))
    assert set(outcomes) <= {"ok", "unchanged"}, outcomes
    assert rows(db, "SELECT DISTINCT items_found FROM fetches") == [(ITEMS_PER_PAGE,)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_kill_9_at_random_moments_loses_nothing(fault_server, tmp_path):
    cycles = int(os.environ.get("TICKER_CRASH_CYCLES", "8"))
    report = _kill_cycles(cycles, fault_server, tmp_path)
    assert "Traceback" not in report["log"]
    _check_final_state(tmp_path / "ticker.db")
    print(f"\nreliability: {report['kills']} kill -9s, {report['fetches']} fetches written, 0 rows lost")


@pytest.mark.slow
def test_kill_9_fifty_times(fault_server, tmp_path):
    report = _kill_cycles(50, fault_server, tmp_path)
    assert "Traceback" not in report["log"]
    _check_final_state(tmp_path / "ticker.db")
    print(f"\nreliability: {report['kills']} kill -9s, {report['fetches']} fetches written, 0 rows lost")


@pytest.mark.slow
def test_kill_9_soak(fault_server, tmp_path):
    report = _kill_cycles(int(os.environ.get("TICKER_CRASH_SOAK_CYCLES", "500")), fault_server, tmp_path)
    assert "Traceback" not in report["log"]
    _check_final_state(tmp_path / "ticker.db")
