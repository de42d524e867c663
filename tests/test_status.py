"""`ticker status`: per-source health from the database alone, in Moscow time, read-only."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from ticker.core.base import to_iso, to_moscow_text, utc_now
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, register_source, save_failure
from ticker.schedules.lock import DaemonLock

NOW = utc_now()


def at(minutes_ago: float) -> str:
    return to_iso(NOW - timedelta(minutes=minutes_ago))


def record(db, source: str, channel: str, minutes_ago: float, outcome: str, error: str | None = None) -> str:
    started = at(minutes_ago)
    save_failure(
        db, FetchRow(source, channel, f"https://example.test/{channel}", started, outcome, error=error)
    )
    return started


def build(db_path: Path) -> dict[str, str]:
    """rbc: page fine two days ago, then blocked, running on rss; cbr: two network errors in a row."""
    db = open_db(db_path)
    register_source(db, "rbc", "rbc", "https://www.rbc.ru/", 120.0, ["page", "rss"], at(3000))
    register_source(db, "cbr", "cbr", "https://www.cbr.ru/", 3600.0, ["xml_daily"], at(3000))
    times = {
        "page_ok": record(db, "rbc", "page", 2 * 24 * 60, "ok"),
        "blocked1": record(db, "rbc", "page", 60, "blocked", "HTTP 403: access refused (bot protection?)"),
        "rss1": record(db, "rbc", "rss", 59, "ok"),
        "blocked2": record(db, "rbc", "page", 30, "blocked", "HTTP 403: bot challenge page"),
        "rss2": record(db, "rbc", "rss", 29, "unchanged"),
        "cbr_ok": record(db, "cbr", "xml_daily", 120, "ok"),
        "cbr_err1": record(db, "cbr", "xml_daily", 60, "network_error", "could not connect: refused"),
        "cbr_err2": record(db, "cbr", "xml_daily", 1, "network_error", "timeout: read timeout"),
    }
    db.conn.close()
    return times


def block(output: str, name: str) -> str:
    """The lines of one source's section."""
    sections = output.split("\n\n")
    return next(section for section in sections if section.startswith(f"{name} ("))


def test_status_per_source(cli, db_path):
    times = build(db_path)
    result = cli("status", "--db", db_path)
    assert result.exit_code == 0
    assert result.output.startswith("daemon: not running\n")
    rbc = block(result.output, "rbc")
    assert rbc.splitlines()[0] == "rbc (rbc, every 120s, channels page > rss)"
    assert f"channel:          rss (fallback) since {to_moscow_text(times['rss1'])}" in rbc
    assert f"last success:     {to_moscow_text(times['rss2'])} on rss (unchanged)" in rbc
    assert (
        f"last failure:     {to_moscow_text(times['blocked2'])} on page (blocked): HTTP 403: bot challenge page"
        in rbc
    )
    assert "failures in a row: 0" in rbc
    assert "last 24 h:        4 fetches (blocked 2, ok 1, unchanged 1)" in rbc  # the 2-day-old one is out
    assert "MSK" in rbc and "Z " not in rbc

    cbr = block(result.output, "cbr")
    assert "channel:          xml_daily\n" in cbr + "\n"
    assert f"last success:     {to_moscow_text(times['cbr_ok'])} on xml_daily (ok)" in cbr
    assert "(network_error): timeout: read timeout" in cbr
    assert "failures in a row: 2" in cbr
    assert "last 24 h:        3 fetches (network_error 2, ok 1)" in cbr


def test_back_on_the_main_channel_is_not_a_fallback(cli, db_path):
    build(db_path)
    db = open_db(db_path)
    record(db, "rbc", "page", 0, "ok")
    db.conn.close()
    rbc = block(cli("status", "--db", db_path).output, "rbc")
    assert "channel:          page\n" in rbc + "\n"
    assert "fallback" not in rbc


def test_status_shows_a_running_daemon(cli, db_path):
    build(db_path)
    with DaemonLock(db_path):
        output = cli("status", "--db", db_path).output
    first = output.splitlines()[0]
    assert first.startswith(f"daemon: running (pid {os.getpid()}, since ")
    assert first.endswith(f"MSK; lock {db_path}.lock)")
    assert cli("status", "--db", db_path).output.startswith("daemon: not running")


def test_status_never_writes(cli, db_path):
    build(db_path)
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    assert cli("status", "--db", db_path).exit_code == 0
    # (A reader of a WAL database may create the empty -wal/-shm index files: SQLite's, not ours.)
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before
    assert not Path(f"{db_path}.lock").exists()
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_status_without_a_database(cli, tmp_path):
    missing = tmp_path / "none.db"
    result = cli("status", "--db", missing)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no database at {missing} (run `ticker run` or `ticker fetch` first)"
    ]
    assert not missing.exists()


def test_status_of_a_database_that_is_not_tickers(cli, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    result = cli("status", "--db", other)
    assert result.exit_code == 1
    assert "is not a ticker database" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_backfill_requests_are_not_polls(db_path):
    """A backfill's feed_json / xml_dynamic requests neither make a source look like it runs on a
    fallback channel nor count as failed polls."""
    from ticker.schedules.health import source_health

    db = open_db(db_path)
    register_source(db, "rbc", "rbc", "https://www.rbc.ru/", 120.0, ["page"], at(100))
    register_source(db, "cbr", "cbr", "https://www.cbr.ru/", 3600.0, ["xml_daily"], at(100))
    record(db, "rbc", "page", 10, "ok")
    record(db, "rbc", "feed_json", 5, "ok")
    record(db, "rbc", "feed_json", 4, "network_error", "could not connect: refused")
    record(db, "cbr", "xml_daily", 10, "ok")
    record(db, "cbr", "xml_dynamic", 3, "http_error", "HTTP 500")
    health = {h.name: h for h in source_health(db, now=NOW)}
    assert health["rbc"].channel == "page" and not health["rbc"].on_fallback
    assert health["rbc"].consecutive_failures == 0
    assert health["rbc"].last_failure is None
    assert health["cbr"].channel == "xml_daily" and health["cbr"].consecutive_failures == 0


def test_status_json_is_data_on_stdout(db_path):
    import json

    from click.testing import CliRunner

    from ticker.cli import main

    times = build(db_path)
    result = CliRunner().invoke(main, ["status", "--db", str(db_path), "--json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["daemon"] == {"running": False, "pid": None, "started_at": None}
    by_name = {source["source"]: source for source in document["sources"]}
    rbc, cbr = by_name["rbc"], by_name["cbr"]
    assert rbc["kind"] == "rbc" and rbc["every_s"] == 120.0 and rbc["channels"] == ["page", "rss"]
    assert (rbc["channel"], rbc["on_fallback"], rbc["channel_since"]) == ("rss", True, times["rss1"])
    assert rbc["last_success_at"] == times["rss2"] and rbc["last_success_outcome"] == "unchanged"
    assert rbc["last_failure_at"] == times["blocked2"] and rbc["last_failure_outcome"] == "blocked"
    assert rbc["failures_in_a_row"] == 0
    assert cbr["failures_in_a_row"] == 2 and cbr["last_failure_error"] == "timeout: read timeout"
    assert [o["channel"] for o in cbr["ongoing_outages"]] == ["xml_daily"]
    assert cbr["outcomes_24h"] == {"network_error": 2, "ok": 1}
    assert rbc["url"] == "https://www.rbc.ru/"


def test_status_reads_the_writers_summaries(httpserver, db_path, cli):
    """Last success from address_state, failures from outage_runs, the last 24 h from fetch_hours:
    the counts stay right with the fetch log thinned out under them (status never counts it)."""
    from ticker.jobs.poll import poll
    from ticker.jobs.sources import SourceSpec
    from ticker.scraper.http import make_client

    spec = SourceSpec("cbr", "cbr", url=httpserver.url_for("/cbr"), every_s=3600.0)
    db = open_db(db_path)
    register_source(db, "cbr", "cbr", spec.url, 3600.0, ["xml_daily"], at(100))
    valutes = "".join(
        f'<Valute ID="{vid}"><NumCode>{num}</NumCode><CharCode>{code}</CharCode><Nominal>1</Nominal>'
        f"<Name>{code}</Name><Value>{value}</Value></Valute>"
        for vid, num, code, value in (
            ("R01235", "840", "USD", "103,7900"),
            ("R01239", "978", "EUR", "108,8700"),
        )
    )
    xml = (
        '<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="26.11.2024" name="Foreign Currency Market">'
        + valutes
        + "</ValCurs>"
    ).encode("cp1251")
    with make_client() as client:
        httpserver.expect_request("/cbr").respond_with_data(xml, content_type="application/xml")
        ok = poll(db, client, spec)
        assert ok.outcome == "ok"
        httpserver.clear_all_handlers()
        httpserver.expect_request("/cbr").respond_with_data("down", status=500)
        failed = [poll(db, client, spec) for _ in range(5)]
    assert {saved.outcome for saved in failed} == {"http_error"}
    db.execute("DELETE FROM fetches WHERE id > ? AND id < ?", [failed[0].fetch_id, failed[-1].fetch_id])
    db.conn.close()
    cbr = block(cli("status", "--db", db_path).output, "cbr")
    assert "failures in a row: 5" in cbr
    assert "last 24 h:        6 fetches (http_error 5, ok 1)" in cbr
    assert "on xml_daily (ok)" in cbr and "on xml_daily (http_error): HTTP 500" in cbr
    assert "failing:          xml_daily since" in cbr and "5 failures (http_error)" in cbr


def test_status_of_an_older_database_is_one_line_and_changes_nothing(cli, db_path):
    build(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0009_alert_delivery'")
    conn.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    result = cli("status", "--db", db_path)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {db_path} was written by an older ticker: `ticker run` or `ticker fetch` brings it up to "
        "date (status reads the summaries it adds); nothing was changed"
    ]
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("command", ["run", "status", "sources"])
def test_help_has_an_example(cli, command):
    output = cli(command, "--help").output
    assert "Examples:" in output and f"ticker {command}" in output


def test_imported_captures_are_not_polls(cli, db_path):
    """A Wayback capture of the page, imported today (a higher fetch id than every poll), and a
    failed backfill request are not the source's last success, channel or failures."""
    times = build(db_path)
    db = open_db(db_path)
    save_failure(db, FetchRow("rbc", "page", "https://web.archive.org/x", at(3500), "ok", origin="wayback"))
    save_failure(
        db, FetchRow("cbr", "xml_daily", "https://x.test/", at(0), "network_error", origin="backfill")
    )
    db.conn.close()
    output = cli("status", "--db", db_path).output
    rbc, cbr = block(output, "rbc"), block(output, "cbr")
    assert f"last success:     {to_moscow_text(times['rss2'])} on rss (unchanged)" in rbc
    assert f"channel:          rss (fallback) since {to_moscow_text(times['rss1'])}" in rbc
    assert "failures in a row: 2" in cbr and "timeout: read timeout" in cbr
