"""Resource faults: a full disk (RLIMIT_FSIZE: writes past the limit fail with EFBIG, which SQLite
reports as a full disk) and a read-only database (`chattr +i`: we run as root, and chmod does
not stop root). Each gives a clear error and no corruption; the daemon keeps running and
retries, and writes again once the fault clears."""

from __future__ import annotations

import re
import resource
import shutil
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from rbc_markup import render_page, standard_items

from reliability import faultserver as fs
from reliability.support import (
    consistency_problems,
    fetch_count,
    history,
    rotating_page,
    rows,
    run_ticker,
    start_daemon,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.reliability


def _fsize_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))  # soft: liftable later

    return apply


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


@contextmanager
def immutable(path: Path):
    """`chattr +i`: not even root may write the file (skips where the filesystem lacks it)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr not available")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("filesystem does not support chattr +i")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def seeded(fault_server, tmp_path):
    db = tmp_path / "ticker.db"
    url = fault_server.route("/", fs.static(render_page(standard_items(14)).encode()))
    assert run_ticker("fetch", "rbc", "--url", url, "--db", db).returncode == 0
    return db


def test_full_disk_fetch_fails_cleanly(fault_server, seeded):
    big = fault_server.route("/big", fs.static(render_page(standard_items(3000, start=100)).encode()))
    before = history(seeded)
    result = run_ticker(
        "fetch", "rbc", "--url", big, "--db", seeded, preexec_fn=_fsize_limit(_db_bytes(seeded) + 8192)
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "disk is full" in result.stderr or "disk I/O error" in result.stderr
    assert history(seeded) == before
    assert consistency_problems(seeded) == []
    assert run_ticker("fetch", "rbc", "--url", big, "--db", seeded).returncode == 0  # space again


def test_read_only_database_fetch_fails_cleanly(fault_server, seeded):
    url = fault_server.route("/next", fs.static(render_page(standard_items(14, start=5)).encode()))
    before = history(seeded)
    with immutable(seeded):
        result = run_ticker("fetch", "rbc", "--url", url, "--db", seeded)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == f"Error: cannot use database {seeded}: attempt to write a readonly database"
    )
    assert history(seeded) == before
    assert consistency_problems(seeded) == []


def test_daemon_survives_a_full_disk_and_carries_on(fault_server, seeded, tmp_path):
    url = fault_server.route("/rot", fs.dynamic(lambda n: rotating_page(n, count=200)))
    config = write_config(tmp_path, {"rbc": {"kind": "rbc", "url": url, "every": 0.2}}, db=seeded)
    log = tmp_path / "daemon.log"
    limit = _db_bytes(seeded) + 64 * 1024
    daemon = start_daemon(config, log, preexec_fn=_fsize_limit(limit))
    try:
        # SQLite says "database or disk is full" or, when the WAL cannot grow, "disk I/O error".
        assert wait_for(lambda: len(re.findall("disk is full|disk I/O error", log.read_text())) >= 3), (
            log.read_text()
        )
        assert daemon.poll() is None  # still running, retrying
        written = fetch_count(seeded)
        resource.prlimit(daemon.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert wait_for(lambda: fetch_count(seeded) >= written + 3), log.read_text()[-3000:]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text
    assert all(len(line) < 1000 for line in text.splitlines())
    assert consistency_problems(seeded) == []
    assert rows(seeded, "SELECT count(*) FROM fetches WHERE outcome = 'ok'")[0][0] >= 4


def test_daemon_survives_a_read_only_database_and_carries_on(fault_server, seeded, tmp_path):
    url = fault_server.route("/rot", fs.dynamic(rotating_page))
    config = write_config(tmp_path, {"rbc": {"kind": "rbc", "url": url, "every": 0.2}}, db=seeded)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        assert wait_for(lambda: fetch_count(seeded) >= 3)
        # The daemon keeps its connections open (schedules/connections.py): the file and its
        # write-ahead log, where every commit goes first, are both made unwritable.
        wal = Path(f"{seeded}-wal")
        with immutable(seeded), immutable(wal):
            failed = ("readonly database", "disk I/O error")
            assert wait_for(lambda: sum(map(log.read_text().count, failed)) >= 3), log.read_text()[-3000:]
            assert daemon.poll() is None
            stuck = fetch_count(seeded)
        assert wait_for(lambda: fetch_count(seeded) >= stuck + 3), log.read_text()[-3000:]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert "Traceback" not in log.read_text()
    assert consistency_problems(seeded) == []


def test_daemon_refuses_to_start_on_a_read_only_database(seeded, tmp_path):
    config = write_config(
        tmp_path, {"rbc": {"kind": "rbc", "url": "http://127.0.0.1:9/", "every": 1}}, db=seeded
    )
    with immutable(seeded):
        result = run_ticker("run", "--config", config, timeout=60)
    assert result.returncode == 1
    assert "Error: cannot use database" in result.stderr and "readonly" in result.stderr
    assert "Traceback" not in result.stderr
