"""The daemon: a real `python -m ticker run` subprocess against a local server, plus its parts
(one source's run with channel fallback, crash containment, hooks, backoff, the lock) in-process."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from conftest import run_ticker
from pytest_httpserver import HTTPServer
from rbc_markup import render_page, standard_items
from werkzeug import Request, Response

from ticker.core.settings import ArchiveSettings, Settings
from ticker.db.schema import open_db
from ticker.db.writes import register_source
from ticker.jobs.sources import SourceSpec
from ticker.schedules import hooks
from ticker.schedules.backoff import MAX_BACKOFF_S, SourceState, backoff_delay
from ticker.schedules.daemon import (
    START_RATE_PER_S,
    clock_went_back,
    phase_for,
    reschedule_from,
    start_delay,
    trigger_for,
)
from ticker.schedules.health import source_health
from ticker.schedules.lock import AlreadyRunning, DaemonLock, current_holder
from ticker.schedules.runner import SourceRunner
from ticker.scraper.http import make_client

HTML = "text/html; charset=utf-8"


def cbr_xml(usd: str = "103,7900", eur: str = "108,8700", day: str = "26.11.2024") -> bytes:
    """A Bank of Russia XML_daily answer: windows-1251, decimal commas, one Valute per currency."""
    valutes = "".join(
        f'<Valute ID="{vid}"><NumCode>{num}</NumCode><CharCode>{code}</CharCode><Nominal>1</Nominal>'
        f"<Name>{name}</Name><Value>{value}</Value></Valute>"
        for vid, num, code, name, value in (
            ("R01235", "840", "USD", "Доллар США", usd),
            ("R01239", "978", "EUR", "Евро", eur),
        )
    )
    text = (
        f'<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="{day}" name="Foreign Currency Market">'
    )
    return (text + valutes + "</ValCurs>").encode("cp1251")


def rss_body(count: int = 6) -> bytes:
    """A small RSS export in RBC's shape (`rbc_news:` fields)."""
    items = "".join(
        f"<item><title>RSS headline {n}</title><link>https://www.rbc.ru/rbcfreenews/{n:024x}</link>"  # real address, text only
        f"<rbc_news:news_id>{n:024x}</rbc_news:news_id>"
        f"<rbc_news:newsDate_timestamp>{1732550000 - 60 * n}</rbc_news:newsDate_timestamp></item>"
        for n in range(1, count + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:rbc_news="https://www.rbc.ru">'  # real address, text only
        f"<channel><title>RBC</title>{items}</channel></rss>"
    ).encode()


class Arrivals:
    """When each path was asked for (the server's clock), for the daemon's pace and politeness."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def serve(self, server: HTTPServer, path: str, respond: Callable[[Request, int], Response]) -> None:
        def handle(request: Request) -> Response:
            with self._lock:
                number = len(self.times[path])
                self.times[path].append(time.monotonic())
            return respond(request, number)

        server.expect_request(path).respond_with_handler(handle)

    def count(self, path: str) -> int:
        with self._lock:
            return len(self.times[path])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class Daemon:
    """`python -m ticker run --config FILE` as a real process, its stderr in a file."""

    def __init__(self, config: Path) -> None:
        self.log_path = config.with_suffix(".log")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ticker", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # its own process group, with its story grouping process
            )

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=20)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    started: list[Daemon] = []

    def start(config_text: str) -> Daemon:
        config = tmp_path / f"daemon{len(started)}.toml"
        config.write_text(config_text, encoding="utf-8")
        daemon = Daemon(config)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def source(name: str, kind: str, url: str, every: float | str) -> str:
    every_text = f'"{every}"' if isinstance(every, str) else str(every)
    return f'[sources.{name}]\nkind = "{kind}"\nurl = "{url}"\nevery = {every_text}\n'


def fetches(db_path: Path, source_name: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT channel, outcome, status, retry_after_s, items_found, rates_found FROM fetches "
            "WHERE source = ? ORDER BY id",
            [source_name],
        ).fetchall()


def fetch_total(db_path: Path) -> int:
    """Fetches recorded so far (0 while the file or its tables do not exist yet)."""
    # Closed at once: a connection of this process left open (the `with` of sqlite3 only commits)
    # would, as the last one to close, checkpoint its old log into a file emptied under it.
    try:
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            return conn.execute("SELECT count(*) FROM fetches").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def integrity(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def xml_response(body: bytes = b"", status: int = 200, headers: dict | None = None) -> Response:
    return Response(body or cbr_xml(), status=status, headers=headers, content_type="application/xml")


# -- the real daemon -------------------------------------------------------------------------


def test_daemon_fetches_at_start_then_on_schedule_refuses_a_second_and_stops_cleanly(
    httpserver, tmp_path, start_daemon, cli
):
    arrivals = Arrivals()
    page = render_page(standard_items(6)).encode()
    arrivals.serve(httpserver, "/news", lambda request, n: Response(page, content_type=HTML))

    def rates(request: Request, n: int) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return xml_response(headers={"ETag": '"v1"'})

    arrivals.serve(httpserver, "/rates", rates)
    db_path = tmp_path / "ticker.db"
    daemon = start_daemon(
        'db = "ticker.db"\n'
        + source("news", "rbc", httpserver.url_for("/news"), "1h")  # only the start fetch can come
        + source("rates", "cbr", httpserver.url_for("/rates"), 0.5)
    )
    wait_for(lambda: arrivals.count("/news") >= 1 and arrivals.count("/rates") >= 4, "start fetch and polls")

    second = run_ticker("run", "--config", daemon.log_path.with_suffix(".toml"), timeout=30)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [second.stderr.strip()]
    assert "already running" in second.stderr and f"pid {daemon.proc.pid}" in second.stderr
    running = cli("status", "--db", db_path)
    assert f"daemon: running (pid {daemon.proc.pid}" in running.output

    assert daemon.stop() == 0
    assert integrity(db_path) == "ok"
    assert fetches(db_path, "news") == [("page", "ok", 200, None, 6, 2)]
    rows = fetches(db_path, "rates")
    assert len(rows) == arrivals.count("/rates")  # every request recorded, nothing invented
    assert rows[0] == ("xml_daily", "ok", 200, None, None, 2)
    assert set(rows[1:]) == {("xml_daily", "unchanged", 304, None, None, 2)}  # rates only: no item count
    log = daemon.log
    assert "news/page: ok, 6 items (6 new, 0 retitled), 2 rates (2 new)" in log
    assert log.count("rates/xml_daily: unchanged, 2 rates (0 new)") == len(rows) - 1
    assert "stopped" in log
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT name, every_s FROM sources ORDER BY name").fetchall() == [
            ("news", 3600.0),
            ("rates", 0.5),
        ]
    assert "daemon: not running" in cli("status", "--db", db_path).output


def test_retry_after_delays_that_source_only(httpserver, tmp_path, start_daemon):
    arrivals = Arrivals()
    arrivals.serve(
        httpserver,
        "/polite",
        lambda request, n: xml_response(b"busy", 429, {"Retry-After": "3"}) if n == 0 else xml_response(),
    )
    arrivals.serve(httpserver, "/steady", lambda request, n: xml_response())
    daemon = start_daemon(
        'db = "ticker.db"\n'
        + source("polite", "cbr", httpserver.url_for("/polite"), 0.5)
        + source("steady", "cbr", httpserver.url_for("/steady"), 0.5)
    )
    wait_for(lambda: arrivals.count("/polite") >= 2, "the request after Retry-After")
    assert daemon.stop() == 0
    polite, steady = arrivals.times["/polite"], arrivals.times["/steady"]
    assert polite[1] - polite[0] >= 3.0
    assert len([t for t in steady if polite[0] < t < polite[1]]) >= 3  # the other source kept its pace
    rows = fetches(tmp_path / "ticker.db", "polite")
    assert rows[0][:4] == ("xml_daily", "http_error", 429, 3)
    assert rows[1][1] == "ok"


def test_backoff_after_repeated_errors_and_recovery(httpserver, tmp_path, start_daemon, cli):
    arrivals = Arrivals()
    arrivals.serve(
        httpserver, "/flaky", lambda request, n: xml_response(b"oops", 500) if n < 4 else xml_response()
    )
    daemon = start_daemon('db = "ticker.db"\n' + source("flaky", "cbr", httpserver.url_for("/flaky"), 0.25))
    wait_for(lambda: arrivals.count("/flaky") >= 8, "recovery after the errors")
    assert daemon.stop() == 0
    times = arrivals.times["/flaky"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # After 2, 3, 4 failures in a row: at least 2x, 4x, 8x the interval.
    assert gaps[1] >= 0.5 and gaps[2] >= 1.0 and gaps[3] >= 2.0
    # After the success: back to the normal interval, not the backed-off one.
    assert max(gaps[4:7]) < gaps[3]
    outcomes = [row[1] for row in fetches(tmp_path / "ticker.db", "flaky")]
    assert outcomes[:5] == ["http_error"] * 4 + ["ok"]
    assert set(outcomes[5:]) == {"unchanged"}
    assert "failures in a row: 0" in cli("status", "--db", tmp_path / "ticker.db").output
    assert "flaky: next request not before" in daemon.log


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_sigterm_finishes_a_short_fetch_and_abandons_a_stuck_one(threaded_server, tmp_path, start_daemon):
    arrived = {"/slow": threading.Event(), "/stuck": threading.Event()}
    release = threading.Event()

    def slow(request: Request) -> Response:
        arrived["/slow"].set()
        time.sleep(1.0)
        return xml_response()

    def stuck(request: Request) -> Response:
        arrived["/stuck"].set()
        release.wait(30)
        return xml_response()

    threaded_server.expect_request("/slow").respond_with_handler(slow)
    threaded_server.expect_request("/stuck").respond_with_handler(stuck)
    db_path = tmp_path / "ticker.db"
    try:
        daemon = start_daemon(
            'db = "ticker.db"\n'
            + source("slow", "cbr", threaded_server.url_for("/slow"), "1h")
            + source("stuck", "cbr", threaded_server.url_for("/stuck"), "1h")
        )
        wait_for(lambda: all(event.is_set() for event in arrived.values()), "both fetches in flight")
        assert daemon.stop() == 0
    finally:
        release.set()
    assert integrity(db_path) == "ok"
    assert fetches(db_path, "slow") == [("xml_daily", "ok", 200, None, None, 2)]  # finished, recorded
    assert fetches(db_path, "stuck") == []  # abandoned: nothing half-written, nothing invented
    assert "abandoning 1 fetch(es) in flight" in daemon.log
    with DaemonLock(db_path):  # the lock went with the process
        pass


def test_bad_config_one_line_and_exit_non_zero(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[sources.rbc]\nkind = "rbc"\nurl = "gopher://rbc.ru/"\n', encoding="utf-8")
    result = run_ticker("run", "--config", config, cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: {config}: sources.rbc.url = 'gopher://rbc.ru/': must be an http:// or https:// address"
    ]
    assert not (tmp_path / "ticker.db").exists()


# -- one source's run, in-process ------------------------------------------------------------


@pytest.fixture
def rss_channel(httpserver) -> None:
    """RBC's rss channel served locally (rbc_runner points the source's rss address at it)."""
    httpserver.expect_request("/rss").respond_with_data(rss_body(), content_type="application/rss+xml")


def rbc_runner(httpserver, db_path: Path, channels: tuple[str, ...] = ("page", "rss")) -> SourceRunner:
    spec = SourceSpec(
        "rbc", "rbc", url=httpserver.url_for("/page"), every_s=60.0, channels=channels,
        urls=(("rss", httpserver.url_for("/rss")),),
    )  # fmt: skip
    db = open_db(db_path)
    register_source(
        db, "rbc", "rbc", spec.url, 60.0, list(channels), "2024-11-25T15:00:00Z"
    )  # as the daemon does
    db.conn.close()
    return SourceRunner(spec, db_path, make_client())


def test_blocked_page_falls_back_to_rss_in_the_same_run_and_returns(httpserver, db_path, rss_channel):
    page = {"blocked": True}
    ok_page = render_page(standard_items(6)).encode()

    def serve_page(request: Request) -> Response:
        if page["blocked"]:
            return Response("<html><body>Access denied</body></html>", status=403, content_type=HTML)
        return Response(ok_page, content_type=HTML)

    httpserver.expect_request("/page").respond_with_handler(serve_page)
    runner = rbc_runner(httpserver, db_path)
    results = [runner.run() for _ in range(4)]
    assert all(result.succeeded for result in results)
    assert [result.polls for result in results] == [2, 1, 1, 2]  # the page is tried again every 3rd run
    db = open_db(db_path)
    health = {h.name: h for h in source_health(db)}["rbc"]
    first_rss = db.execute("SELECT min(started_at) FROM fetches WHERE channel = 'rss'").fetchone()[0]
    assert (health.channel, health.on_fallback, health.channel_since) == ("rss", True, first_rss)

    page["blocked"] = False
    results = [runner.run() for _ in range(3)]
    assert runner.state.active == "page"
    assert [(row[0], row[1]) for row in fetches(db_path, "rbc")] == [
        ("page", "blocked"), ("rss", "ok"),
        ("rss", "unchanged"),
        ("rss", "unchanged"),
        ("page", "blocked"), ("rss", "unchanged"),
        ("rss", "unchanged"),
        ("rss", "unchanged"),
        ("page", "ok"),
    ]  # fmt: skip
    assert {h.name: h for h in source_health(db)}["rbc"].on_fallback is False


def test_repeated_failures_fall_back_after_the_second(httpserver, db_path, rss_channel):
    httpserver.expect_request("/page").respond_with_data("down", status=500)
    runner = rbc_runner(httpserver, db_path)
    first, second = runner.run(), runner.run()
    assert (first.succeeded, second.succeeded) == (False, True)
    assert [(row[0], row[1]) for row in fetches(db_path, "rbc")] == [
        ("page", "http_error"),
        ("page", "http_error"),
        ("rss", "ok"),
    ]
    assert runner.state.consecutive_failures == 0


def test_a_crashing_job_is_contained_and_retries_next_time(httpserver, tmp_path, caplog):
    httpserver.expect_request("/cbr").respond_with_data(cbr_xml(), content_type="application/xml")
    db_path = tmp_path / "not-yet" / "ticker.db"  # sqlite3 cannot open it: the run fails inside
    spec = SourceSpec("cbr", "cbr", url=httpserver.url_for("/cbr"), every_s=10.0)
    runner = SourceRunner(spec, db_path, make_client())
    result = runner.run()
    assert (result.succeeded, result.polls) == (False, 0)
    assert "cbr: run failed, retrying at the next run: OperationalError: unable to open" in caplog.text

    db_path.parent.mkdir()
    sqlite3.connect(db_path).close()  # a database without ticker's tables: the poll itself fails
    result = runner.run()
    assert (result.succeeded, result.polls) == (False, 1)
    assert "OperationalError: no such table: " in caplog.text
    assert runner.state.consecutive_failures == 2

    open_db(db_path).conn.close()
    assert runner.run().succeeded
    assert fetches(db_path, "cbr") == [("xml_daily", "ok", 200, None, None, 2)]


def test_hooks_see_every_poll_and_a_failing_hook_changes_nothing(httpserver, db_path, monkeypatch, caplog):
    httpserver.expect_request("/cbr").respond_with_data(cbr_xml(), content_type="application/xml")
    seen = []

    def broken(db, spec, saved):
        raise RuntimeError("hook bug")

    def record(db, spec, saved):
        row = db.execute("SELECT outcome FROM fetches WHERE id = ?", [saved.fetch_id]).fetchone()
        seen.append((spec.name, saved.outcome, row[0], hooks.current_settings().archive.keep))

    monkeypatch.setattr(hooks, "AFTER_POLL", [broken, record])
    monkeypatch.setattr(hooks, "_settings", hooks.current_settings())
    hooks.configure(Settings(archive=ArchiveSettings(keep="none")))
    open_db(db_path).conn.close()
    spec = SourceSpec("cbr", "cbr", url=httpserver.url_for("/cbr"), every_s=10.0)
    runner = SourceRunner(spec, db_path, make_client())
    assert runner.run().succeeded and runner.run().succeeded
    assert seen == [("cbr", "ok", "ok", "none"), ("cbr", "unchanged", "unchanged", "none")]
    assert "after-poll hook broken failed" in caplog.text


# -- parts -------------------------------------------------------------------------------------


def test_backoff_doubles_caps_and_resets():
    assert [backoff_delay(120, n) for n in range(6)] == [120, 120, 240, 480, 960, 1800]
    assert backoff_delay(120, 40) == MAX_BACKOFF_S
    assert backoff_delay(3600, 5) == 3600  # never shorter than the interval
    state = SourceState(every_s=10, channels=("xml_daily",))
    for _ in range(3):
        state.start_run()
        state.record_poll("xml_daily", "http_error")
        state.finish_run(False)
    assert state.next_delay() == 40
    state.start_run()
    state.record_poll("xml_daily", "http_error", retry_after_s=300)
    state.finish_run(False)
    assert state.next_delay() == 300  # Retry-After wins when longer
    state.start_run()
    state.record_poll("xml_daily", "ok")
    state.finish_run(True)
    assert state.next_delay() == 10


def test_retry_after_stops_the_run_without_trying_other_channels():
    state = SourceState(every_s=60, channels=("page", "rss"))
    state.start_run()
    assert state.record_poll("page", "http_error", retry_after_s=30) is False
    assert state.record_poll("page", "blocked") is True


def test_each_source_keeps_its_own_phase_across_restarts_and_sources_spread():
    """Runs fall at the source's phase (from its name: the same after a restart), one interval
    apart; a thousand sources every minute spread over the minute instead of one burst."""
    every = 60.0
    trigger = trigger_for("rbc", every)
    assert (
        trigger_for("rbc", every).phase_s == trigger.phase_s == phase_for("rbc", every)
    )  # a restart: same phase
    start = datetime(2026, 12, 7, 14, 0, 7, tzinfo=UTC)
    fires = [trigger.get_next_fire_time(None, start)]
    for _ in range(5):
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1]))
    assert all(
        (later - earlier).total_seconds() == pytest.approx(every)
        for earlier, later in itertools.pairwise(fires)
    )
    assert all((f.timestamp() - trigger.phase_s) % every == pytest.approx(0, abs=1e-3) for f in fires)
    # after a start run off the phase, the next run is back on it, at least half an interval later
    after_start = trigger.get_next_fire_time(start, start)
    assert every / 2 <= (after_start - start).total_seconds() < 1.5 * every
    assert (after_start.timestamp() - trigger.phase_s) % every == pytest.approx(0, abs=1e-3)
    # a thousand sources: every 6-second slice of the minute holds about a tenth of them
    phases = [phase_for(f"s{i}", every) for i in range(1000)]
    per_slice = [sum(1 for p in phases if k * 6 <= p < (k + 1) * 6) for k in range(10)]
    assert max(per_slice) < 140 and min(per_slice) > 60
    # the start: one or two sources at once, a thousand spread at most START_RATE_PER_S a second
    assert start_delay("rbc", 3600.0, 2) <= 2 / START_RATE_PER_S
    delays = sorted(start_delay(f"s{i}", every, 1000) for i in range(1000))
    assert delays[-1] <= 1000 / START_RATE_PER_S
    assert max(sum(1 for d in delays if k <= d < k + 1) for k in range(20)) < 2 * START_RATE_PER_S


def test_lock_refuses_a_second_holder_and_reports_the_first(db_path):
    assert current_holder(db_path) is None
    with DaemonLock(db_path):
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            DaemonLock(db_path).acquire()
        holder = current_holder(db_path)
        assert holder is not None and holder.pid == os.getpid() and holder.started_at.endswith("Z")
    assert current_holder(db_path) is None


# -- issue 12: Retry-After bounded, the lock on the file itself, the database replaced --------


def test_retry_after_is_capped_by_max_backoff_and_the_cap_is_logged():
    state = SourceState(every_s=10, channels=("xml_daily",), max_backoff_s=60)
    state.start_run()
    state.record_poll("xml_daily", "http_error", retry_after_s=1_000_000_000)
    state.finish_run(False)
    assert state.next_delay() == 60
    assert state.retry_after_asked_s == 1_000_000_000
    for _ in range(10):  # the exponential backoff obeys the same cap
        state.start_run()
        state.record_poll("xml_daily", "http_error")
        state.finish_run(False)
    assert state.next_delay() == 60 and state.retry_after_asked_s is None
    assert backoff_delay(10, 30, 45) == 45


@pytest.mark.parametrize("asked", ["1000000000", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_waits_max_backoff_then_polls_again(httpserver, tmp_path, start_daemon, asked):
    arrivals = Arrivals()
    arrivals.serve(
        httpserver,
        "/polite",
        lambda request, n: xml_response(b"busy", 429, {"Retry-After": asked}) if n == 0 else xml_response(),
    )
    daemon = start_daemon(
        'db = "ticker.db"\nmax_backoff = 1\n' + source("polite", "cbr", httpserver.url_for("/polite"), 0.25)
    )
    wait_for(lambda: arrivals.count("/polite") >= 2, "the request after the capped Retry-After")
    assert daemon.stop() == 0
    rows = fetches(tmp_path / "ticker.db", "polite")
    assert rows[0][:3] == ("xml_daily", "http_error", 429) and rows[1][1] == "ok"
    # (The HTTP layer reads any wish above ten years as ten years.)
    assert re.search(
        r"polite: the server asked to wait \d{9,}s \(Retry-After\); waiting max_backoff = 1s instead",
        daemon.log,
    )
    assert (
        "polite: cbr every 0.25s (at most 1s between requests) via xml_daily http://127.0.0.1:" in daemon.log
    )


def test_flock_on_the_database_file_leaves_sqlite_locking_alone(db_path):
    """The daemon's flock is on the file SQLite locks with fcntl: writers in this process and in
    another one still work while it is held, and SQLite's own locks still exclude each other."""
    open_db(db_path).conn.close()
    with DaemonLock(db_path):
        db = open_db(db_path)
        register_source(db, "x", "cbr", None, 60.0, ["xml_daily"], "2024-11-25T15:00:00Z")
        db.conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock (fcntl), taken under our flock
        other = subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=0.2);"
             "c.execute(\"UPDATE sources SET every_s = 1\"); c.commit()", str(db_path)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert "database is locked" in other.stderr  # SQLite's lock still excludes the other writer
        db.conn.execute("COMMIT")
        other = subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=5);"
             "c.execute(\"UPDATE sources SET every_s = 2\"); c.commit()", str(db_path)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr  # and our flock does not stop it
        assert db.execute("SELECT every_s FROM sources").fetchone() == (2.0,)
        db.conn.close()


@pytest.mark.parametrize("how", ["symlink", "hard link", "relative path", "lock file deleted"])
def test_the_lock_holds_the_file_whatever_names_it(db_path, monkeypatch, how):
    open_db(db_path).conn.close()
    with DaemonLock(db_path) as first:
        if how == "symlink":
            other = db_path.with_name("alias.db")
            other.symlink_to(db_path)
        elif how == "hard link":
            other = db_path.with_name("hard.db")
            os.link(db_path, other)
        elif how == "relative path":
            monkeypatch.chdir(db_path.parent)
            other = Path(db_path.name)
        else:
            first.path.unlink()
            other = db_path
        with pytest.raises(AlreadyRunning, match="already running"):
            DaemonLock(other).acquire()
        assert current_holder(other) is not None
    assert current_holder(other) is None
    with DaemonLock(other):
        pass


def test_a_second_daemon_on_a_symlink_is_refused(httpserver, tmp_path, start_daemon):
    httpserver.expect_request("/rates").respond_with_handler(lambda request: xml_response())
    first = start_daemon('db = "ticker.db"\n' + source("rates", "cbr", httpserver.url_for("/rates"), 0.5))
    wait_for(lambda: fetch_total(tmp_path / "ticker.db") >= 1, "the first daemon's first fetch")
    (tmp_path / "alias.db").symlink_to(tmp_path / "ticker.db")
    (tmp_path / "ticker.db.lock").unlink()  # the info file: deleting it releases nothing
    config = tmp_path / "second.toml"
    config.write_text('db = "alias.db"\n' + source("rates", "cbr", httpserver.url_for("/rates"), 0.5))
    second = run_ticker("run", "--config", config, timeout=30)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [second.stderr.strip()]
    assert "already running" in second.stderr
    assert first.stop() == 0


@pytest.mark.parametrize("how", ["deleted", "replaced", "emptied in place"])
def test_database_deleted_or_replaced_under_the_daemon_exits_non_zero(
    httpserver, tmp_path, start_daemon, how
):
    httpserver.expect_request("/rates").respond_with_handler(lambda request: xml_response())
    db_path = tmp_path / "ticker.db"
    daemon = start_daemon('db = "ticker.db"\n' + source("rates", "cbr", httpserver.url_for("/rates"), 0.25))
    wait_for(lambda: fetch_total(db_path) >= 2, "two polls")
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    elif how == "emptied in place":  # the same file (inode), its tables gone: `: > ticker.db`
        with open(db_path, "r+b") as file:
            file.truncate(0)
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    else:
        fresh = tmp_path / "fresh.db"
        sqlite3.connect(fresh).close()
        os.replace(fresh, db_path)
        for suffix in ("-wal", "-shm"):  # the old file's, as a restore by `mv` must remove (deployment.md)
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    assert daemon.proc.wait(timeout=30) == 1  # by itself: no signal sent
    log = daemon.log
    if how == "emptied in place":  # seen by the run that failed on it
        assert "no longer holds ticker's tables (empty now): stopping with exit status 1" in log
        assert log.count("no longer holds ticker's tables") == 1
    else:
        assert "the database" in log and "was deleted or replaced while the daemon ran" in log
        assert log.count("deleted or replaced") == 1
        assert "no such table" not in log
    assert "Traceback" not in log
    # The supervisor's restart carries on, on the file now at that path.
    again = start_daemon('db = "ticker.db"\n' + source("rates", "cbr", httpserver.url_for("/rates"), 0.25))
    try:
        wait_for(lambda: fetch_total(db_path) >= 1, "the restarted daemon's first poll", timeout=60)
    except AssertionError:
        raise AssertionError(again.log) from None
    assert again.stop() == 0


def test_a_clock_set_back_is_seen_and_every_source_rescheduled_from_the_new_time():
    """A host clock set back ten minutes would leave APScheduler waiting for the old time again,
    polling nothing meanwhile (issue 19): the daemon sees the step (wall vs monotonic clock) and
    moves each source to its first phase slot from the new time."""
    assert clock_went_back(1000.0, 50.0, 400.1, 50.1) == pytest.approx(600.0)  # set back ten minutes
    assert clock_went_back(1000.0, 50.0, 1000.1, 50.1) == 0.0  # time going on
    assert clock_went_back(1000.0, 50.0, 1000.0, 51.0) == 0.0  # drift under a second: not a step
    assert clock_went_back(1000.0, 50.0, 1700.1, 50.1) == 0.0  # set forward: jobs fire, late
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)
    try:
        now = datetime.now(UTC)
        trigger = trigger_for("news", 60.0)
        scheduler.add_job(print, trigger=trigger, id="news", next_run_time=now + timedelta(minutes=11))
        scheduler.add_job(print, trigger=trigger_for("soon", 60.0), id="soon", next_run_time=now)
        assert reschedule_from(scheduler, now) == 1
        assert scheduler.get_job("news").next_run_time == trigger.slot_at_or_after(now)
        assert scheduler.get_job("news").next_run_time <= now + timedelta(seconds=60)
        assert scheduler.get_job("soon").next_run_time == now  # not due later: left alone
    finally:
        scheduler.shutdown(wait=False)


def test_a_signal_to_the_whole_process_group_stops_the_daemon_and_its_grouping(
    httpserver, tmp_path, start_daemon
):
    """Ctrl-C in a terminal, or `timeout`, signals the daemon's whole process group: the story
    grouping process dies at once, and the daemon still stops (it once waited forever to wake
    the dead process's wait)."""
    httpserver.expect_request("/feed").respond_with_data(rss_body(), content_type="application/rss+xml")
    daemon = start_daemon('db = "ticker.db"\n' + source("feed", "rss", httpserver.url_for("/feed"), 60))
    wait_for(lambda: "feed/" in daemon.log, "the first poll")
    time.sleep(1.0)  # the grouping process is up and waiting for its next pass
    os.killpg(daemon.proc.pid, signal.SIGINT)
    assert daemon.proc.wait(timeout=30) == 0
    assert "stopped" in daemon.log
