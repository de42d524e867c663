"""Concurrency: the daemon writing every 0.2 s while Datasette (`ticker serve`) and the query CLI
read the same file: zero "database is locked" on either side. Two daemons on one database: the
second is refused.

Afterwards snapshots and sightings agree (tests/helpers_history.py).

TICKER_CONCURRENCY_SECONDS sets how long readers and writer overlap (default 8, to keep the
default suite short); the `slow` variants run 60 s and 600 s (TICKER_CONCURRENCY_SOAK_SECONDS).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest
from helpers_history import assert_snapshots_match_sightings

from reliability import faultserver as fs
from reliability.support import (
    consistency_problems,
    fetch_count,
    rotating_page,
    rows,
    run_ticker,
    start_daemon,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.reliability

DATASETTE_PATHS = [
    "/ticker/fetches.json?_sort_desc=id&_size=50",
    "/ticker/headlines.json?_sort_desc=last_seen&_size=100",
    "/ticker.json?sql=select+count(*)+as+n,+max(last_seen)+from+headlines",
    "/ticker.json?sql=select+s.id,+count(*)+from+snapshots+s,+json_each(s.items)+group+by+s.id+order+by+s.id+desc+limit+20",
    "/ticker/sightings?exit_reason__notblank=1",
    "/ticker/ticker_at?at=",
]
CLI_QUERIES = [("at", "0s"), ("changes", "--since", "1h"), ("rates",)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_datasette(base: str, until: float, seen: Counter, problems: list[str]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < until:
            for path in DATASETTE_PATHS:
                response = client.get(path)
                seen["datasette"] += 1
                if response.status_code != 200 or "locked" in response.text:
                    problems.append(f"datasette {path}: {response.status_code} {response.text[:200]}")


def _read_cli(db, until: float, seen: Counter, problems: list[str]) -> None:
    while time.monotonic() < until:
        for query in CLI_QUERIES:
            result = run_ticker(*query, "--db", db)
            seen["cli"] += 1
            if result.returncode != 0 or "locked" in result.stderr:
                problems.append(f"ticker {' '.join(query)}: {result.returncode} {result.stderr[:200]}")


def _overlap(seconds: float, fault_server, tmp_path) -> None:
    url = fault_server.route("/", fs.dynamic(lambda n: rotating_page(n, count=100)))
    db = tmp_path / "ticker.db"
    config = write_config(tmp_path, {"rbc": {"kind": "rbc", "url": url, "every": 0.2}}, db=db)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    port = _free_port()
    serve_log = tmp_path / "serve.log"
    try:
        assert wait_for(lambda: fetch_count(db) >= 2), log.read_text()
        with open(serve_log, "wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "ticker", "serve", "--db", str(db), "--port", str(port)],
                stdout=sink,
                stderr=sink,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_for(lambda: _answers(base), timeout=30), serve_log.read_text()
            # A second daemon on the same database is refused while the first one runs.
            second = run_ticker("run", "--config", config, timeout=30)
            assert second.returncode == 1
            assert second.stderr.strip().splitlines() == [second.stderr.strip()]
            assert "already running" in second.stderr
            before = fetch_count(db)
            seen: Counter = Counter()
            problems: list[str] = []
            until = time.monotonic() + seconds
            readers = [
                threading.Thread(target=_read_datasette, args=(base, until, seen, problems)),
                threading.Thread(target=_read_cli, args=(db, until, seen, problems)),
            ]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    written = fetch_count(db) - before
    daemon_log = log.read_text()
    assert problems == []
    assert "locked" not in daemon_log and "Traceback" not in daemon_log
    assert "locked" not in serve_log.read_text()
    assert seen["datasette"] > 0 and seen["cli"] > 0
    assert written >= 2  # the writer wrote throughout (no timing claim beyond "more than once")
    assert dict(rows(db, "SELECT outcome, count(*) FROM fetches GROUP BY outcome")).keys() <= {
        "ok",
        "unchanged",
    }
    assert consistency_problems(db) == []
    assert_snapshots_match_sightings(db)
    print(
        f"\nreliability: {written} fetches written during {seconds:g} s; {seen['datasette']} Datasette and "
        f"{seen['cli']} CLI reads; 0 'database is locked'"
    )


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/ticker.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_daemon_writes_while_datasette_and_cli_read(fault_server, tmp_path):
    _overlap(float(os.environ.get("TICKER_CONCURRENCY_SECONDS", "8")), fault_server, tmp_path)


@pytest.mark.slow
def test_daemon_writes_while_datasette_and_cli_read_a_minute(fault_server, tmp_path):
    _overlap(60.0, fault_server, tmp_path)


@pytest.mark.slow
def test_concurrency_soak(fault_server, tmp_path):
    _overlap(float(os.environ.get("TICKER_CONCURRENCY_SOAK_SECONDS", "600")), fault_server, tmp_path)
