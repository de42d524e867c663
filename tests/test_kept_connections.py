"""The daemon's kept connections (schedules/connections.py) and the one deadline thread of the
HTTP layer (scraper/http.py): what they keep, and what they must never do."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ticker.db.schema import open_db
from ticker.db.writes import register_source
from ticker.schedules.connections import HeldConnections
from ticker.scraper import http


def _pool(db_path: Path) -> HeldConnections:
    db = open_db(db_path)
    pool = HeldConnections(db_path)
    pool.open()  # while `db` is open, as the daemon does
    db.conn.close()
    return pool


def _write(pool: HeldConnections, rows: int) -> None:
    with pool.connection() as db:
        for n in range(rows):
            register_source(db, f"s{n}", "cbr", None, 60.0, ["xml_daily"], "2026-12-07T10:00:00Z")


def _sources(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM sources").fetchone()[0]
    finally:
        conn.close()


def test_a_connection_is_kept_between_runs_and_a_clean_close_checkpoints_the_log(db_path):
    pool = _pool(db_path)
    with pool.connection() as first:
        pass
    with pool.connection() as second:
        assert second is first  # kept, not opened again
    _write(pool, 30)
    wal = Path(f"{db_path}-wal")
    assert wal.exists() and wal.stat().st_size > 0  # no run's close checkpointed it
    assert pool.changed() is None
    pool.close()
    assert not wal.exists()  # the last close checkpointed and removed it, as a clean stop always did
    assert _sources(db_path) == 30


@pytest.mark.parametrize("how", ["emptied", "log", "replaced"])
def test_changed_files_are_seen_and_nothing_is_written_into_them(db_path, how):
    pool = _pool(db_path)
    _write(pool, 200)  # pages in the log that a checkpoint would copy into the file
    if how == "emptied":  # `: > ticker.db`, its -wal and -shm removed
        with open(db_path, "r+b") as file:
            file.truncate(0)
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink()
    elif how == "log":
        Path(f"{db_path}-wal").unlink()
    else:  # `mv backup.db ticker.db` with the old -wal and -shm removed, and a writer on the new file
        fresh = db_path.with_name("fresh.db")
        sqlite3.connect(fresh).close()
        os.replace(fresh, db_path)
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink()
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE t (x)")
        other.execute("INSERT INTO t VALUES (1)")
    assert pool.changed() == how
    pool.close()
    if how == "emptied":
        assert db_path.stat().st_size == 0  # without the anchor: the last close wrote the log back into it
    elif how == "replaced":
        # the new file and its log are left alone
        assert Path(f"{db_path}-wal").stat().st_size > 0
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
        other.close()


def test_one_thread_keeps_every_request_deadline(httpserver):
    httpserver.expect_request("/").respond_with_data(b"ok")
    client = http.make_client()
    before = set(threading.enumerate())
    for _ in range(20):
        assert http.get(client, httpserver.url_for("/")).body == b"ok"
    started = set(threading.enumerate()) - before
    assert len(started) <= 1 and all(t.name == "ticker-http-deadlines" for t in started)
    client.close()


def test_a_deadline_fires_once_and_a_cancelled_one_never():
    fired: list[str] = []
    keeper = http._Deadlines()
    late = keeper.add(time.monotonic() + 0.3, lambda: fired.append("late"))
    keeper.add(
        time.monotonic() + 0.05, lambda: fired.append("soon")
    )  # earlier than the first: wakes the keeper
    keeper.cancel(late)
    time.sleep(0.6)
    assert fired == ["soon"]
