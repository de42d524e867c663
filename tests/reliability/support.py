"""Helpers of the fault-injection suite: RBC-shaped pages, `ticker` as a real subprocess with
short timeouts, and views of the history tables to compare and check for consistency."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rbc_markup import Item, item_id, render_page, standard_items

# Short network timeouts for subprocesses (scraper/http.py reads them at call time).
FAST_TIMEOUTS = {
    "TICKER_CONNECT_TIMEOUT": "1",
    "TICKER_READ_TIMEOUT": "1",
    "TICKER_TOTAL_TIMEOUT": "3",
}
HISTORY_TABLES = ("headlines", "headline_titles", "title_changes", "sightings", "rates", "snapshots")


def page_bytes(count: int = 14, *, start: int = 0, encoding: str = "utf-8", **kwargs) -> bytes:
    """A whole RBC-shaped main page with `count` items, encoded."""
    return render_page(standard_items(count, start=start), **kwargs).encode(encoding)


def rotating_page(number: int, count: int = 20) -> bytes:
    """The page as it stands at request `number`: one new item on top per request, some
    retitled, so every poll writes headlines, titles, sightings and exits."""
    newest = datetime(2024, 11, 25, 12, 0, tzinfo=UTC) + timedelta(minutes=number)
    items = [
        Item(
            id=item_id(100_000 + number - n),
            title=f"Новость {number - n}" + (" (обновлено)" if (number - n) % 3 == 0 and n > 2 else ""),
            published=newest - timedelta(minutes=n),
        )
        for n in range(count)
    ]
    return render_page(items, updated=newest).encode()


def ticker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **FAST_TIMEOUTS, **(extra or {})}


def run_ticker(*args: object, env: dict[str, str] | None = None, timeout: float = 60, **kwargs):
    """`python -m ticker ARGS` as a real subprocess with the short timeouts."""
    return subprocess.run(
        [sys.executable, "-m", "ticker", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ticker_env(env),
        **kwargs,
    )


def rows(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read with a separate plain connection (what another process would see)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def history(db_path: Path) -> dict[str, list[tuple]]:
    """Everything a failed fetch must leave alone, table by table."""
    return {table: rows(db_path, f"SELECT * FROM {table} ORDER BY rowid") for table in HISTORY_TABLES}


def last_fetch(db_path: Path) -> dict:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM fetches ORDER BY id DESC LIMIT 1").fetchone())
    finally:
        conn.close()


def consistency_problems(db_path: Path) -> list[str]:
    """Every way a fetch can be left half-written; empty when the history is whole."""
    checks = {
        "integrity_check": "SELECT 'integrity: ' || integrity_check FROM pragma_integrity_check "
        "WHERE integrity_check != 'ok'",
        "ok fetch without its snapshot": "SELECT 'fetch ' || f.id FROM fetches f "
        "LEFT JOIN snapshots s ON s.id = f.snapshot_id "
        "WHERE f.outcome IN ('ok', 'unchanged') AND f.channel = 'page' AND s.id IS NULL",
        "items_found differs from the snapshot": "SELECT 'fetch ' || f.id FROM fetches f "
        "JOIN snapshots s ON s.id = f.snapshot_id WHERE f.items_found != s.item_count",
        "snapshot item without its headline": "SELECT 'snapshot ' || s.id || ' item ' || j.value ->> 0 "
        "FROM snapshots s, json_each(s.items) j LEFT JOIN headlines h ON h.id = j.value ->> 0 "
        "WHERE h.id IS NULL",
        "snapshot item without its title": "SELECT 'snapshot ' || s.id || ' title ' || (j.value ->> 1) "
        "FROM snapshots s, json_each(s.items) j LEFT JOIN headline_titles t ON t.id = j.value ->> 1 "
        "WHERE t.id IS NULL OR t.headline_id != j.value ->> 0",
        "sighting pointing at a missing fetch": "SELECT 'sighting ' || g.id FROM sightings g "
        "LEFT JOIN fetches a ON a.id = g.first_fetch_id LEFT JOIN fetches b ON b.id = g.last_fetch_id "
        "WHERE a.id IS NULL OR b.id IS NULL",
        "headline pointing at a missing fetch": "SELECT 'headline ' || h.id FROM headlines h "
        "LEFT JOIN fetches f ON f.id = h.last_fetch_id WHERE f.id IS NULL",
        "headline without a title row": "SELECT 'headline ' || h.id FROM headlines h "
        "LEFT JOIN headline_titles t ON t.headline_id = h.id AND t.title = h.title WHERE t.id IS NULL",
        "two open sightings of one headline": "SELECT 'headline ' || headline_id FROM sightings "
        "WHERE exit_fetch_id IS NULL GROUP BY headline_id, source, channel HAVING count(*) > 1",
    }
    problems = []
    for what, sql in checks.items():
        problems += [f"{what}: {found[0]}" for found in rows(db_path, sql)]
    return problems


def write_config(folder: Path, sources: dict[str, dict], *, db: Path | None = None, extra: str = "") -> Path:
    """A daemon TOML config: `sources` maps a name to its keys (kind, url, every, channels)."""
    lines = [f'db = "{db or folder / "ticker.db"}"', ""]
    for name, keys in sources.items():
        lines.append(f"[sources.{name}]")
        lines += [
            f"{key} = {value!r}" if isinstance(value, str) else f"{key} = {value}"
            for key, value in keys.items()
        ]
        lines.append("")
    path = folder / "ticker.toml"
    path.write_text("\n".join(lines).replace("'", '"') + extra, encoding="utf-8")
    return path


def start_daemon(config: Path, log: Path, *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """`ticker run --config CONFIG` in the background, its log (stderr) into `log`."""
    with open(log, "ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "ticker", "run", "--config", str(config), *kwargs.pop("args", [])],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=ticker_env(env),
            **kwargs,
        )


def fetch_count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        return rows(db_path, "SELECT count(*) FROM fetches")[0][0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def wait_for(condition, timeout: float = 30.0, step: float = 0.02) -> bool:
    """Poll `condition()` until true or `timeout` passes (a wait, never a timed assertion)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False
