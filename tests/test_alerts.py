"""Alerts through Apprise to a local webhook: raised once per condition, cleared on recovery,
state kept in the database across restarts."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer
from rbc_markup import render_page, standard_items
from reliability.support import rows, start_daemon, wait_for, write_config
from werkzeug import Response

from ticker.core.base import Rate, RatesDocument
from ticker.core.settings import AlertSettings
from ticker.db.alerts import claim_due, log_alert, rate_pair
from ticker.db.rate_rule import rates_agree
from ticker.db.schema import connect, open_db
from ticker.db.writes import FetchRow, register_source, save_rates
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.schedules import hooks, runner
from ticker.schedules.alerts import MAX_ATTEMPTS, Alerter
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)
PAGE = render_page(standard_items(10))


class Rig:
    """The RBC page and the webhook receiver on one local server; polls with a fixed clock."""

    def __init__(self, httpserver, db_path) -> None:
        self.server = httpserver
        self.db_path = db_path
        self.db = open_db(db_path)
        self.spec = SourceSpec(name="rbc", kind="rbc", url=httpserver.url_for("/"), every_s=120)
        self.hook = f"json://127.0.0.1:{httpserver.port}/hook"
        self.now = T0
        self.client = make_client()
        self.hook_status = 200  # what the webhook answers
        for name, kind, channel in (("rbc", "rbc", "page"), ("cbr", "cbr", None)):
            register_source(
                self.db, name, kind, None, None, [], "2024-11-25T15:00:00Z", ticker_channel=channel
            )

    def settings(self, **changes) -> AlertSettings:
        return AlertSettings(urls=(self.hook,), **changes)

    def poll(self, alerter: Alerter, body: str = PAGE, status: int = 200, minutes: float = 2):
        self.server.clear_all_handlers()
        self.server.expect_request("/hook", method="POST").respond_with_data("ok", status=self.hook_status)
        self.server.expect_request("/").respond_with_data(body, status=status, content_type="text/html")
        self.now += timedelta(minutes=minutes)
        saved = poll(self.db, self.client, self.spec, now=lambda: self.now)
        alerter.after_poll(self.db, self.spec, saved)
        return saved

    def received(self) -> list[dict]:
        return [json.loads(request.get_data()) for request, _ in self.server.log if request.path == "/hook"]


@pytest.fixture
def rig(httpserver, tmp_path):
    made = Rig(httpserver, tmp_path / "alerts.db")
    yield made
    made.client.close()


def test_failing_alerts_once_and_clears_on_recovery_across_restarts(rig):
    alerter = Alerter(now=lambda: rig.now, settings=rig.settings(fail_after=2))
    outcomes = [rig.poll(alerter).outcome, rig.poll(alerter, status=500).outcome]
    assert outcomes == ["ok", "http_error"] and rig.received() == []
    rig.poll(alerter, status=500)
    rig.poll(alerter, status=503)
    sent = rig.received()
    assert len(sent) == 1 and sent[0]["type"] == "failure"
    assert sent[0]["title"] == "ticker: rbc/page failing"
    assert "failed 2 times in a row since 2024-11-25 19:04:00 MSK" in sent[0]["message"]

    restarted = Alerter(
        now=lambda: rig.now, settings=rig.settings(fail_after=2)
    )  # state is in the database, not the object
    rig.poll(restarted, status=500)
    assert len(rig.received()) == 1
    rig.poll(restarted)
    sent = rig.received()
    assert len(sent) == 2 and sent[1]["type"] == "success" and "rbc/page works again" in sent[1]["message"]
    rig.poll(restarted, status=500)
    rig.poll(restarted, status=500)
    assert [m["type"] for m in rig.received()] == ["failure", "success", "failure"]
    log = rig.db.execute("SELECT condition, event, delivered FROM alerts ORDER BY id").fetchall()
    assert log == [
        ("failing:rbc/page", "raised", 1),
        ("failing:rbc/page", "cleared", 1),
        ("failing:rbc/page", "raised", 1),
    ]
    state = rig.db.execute("SELECT raised_at, cleared_at FROM alert_state").fetchall()
    assert state == [("2024-11-25T16:16:00Z", None)]


def test_blocked_for_longer_than_threshold(rig):
    alerter = Alerter(
        now=lambda: rig.now, settings=rig.settings(fail_after=3, blocked_for_s=600, on_recovery=False)
    )
    rig.poll(alerter)
    for _ in range(5):  # blocked from 16:04 to 16:12: eight minutes
        rig.poll(alerter, status=403)
    assert rig.received() == []  # blocked polls do not count as "failing"
    rig.poll(alerter, status=403)  # 16:14: ten minutes
    rig.poll(alerter, status=403)
    sent = rig.received()
    assert len(sent) == 1 and sent[0]["title"] == "ticker: rbc/page blocked"
    assert "blocked since 2024-11-25 19:04:00 MSK (10 min)" in sent[0]["message"]
    rig.poll(alerter)
    assert len(rig.received()) == 1  # on_recovery off: cleared quietly
    assert rig.db.execute("SELECT cleared_at FROM alert_state").fetchone()[0] == "2024-11-25T16:18:00Z"


def test_pulled_headline_and_rate_mismatch(rig):
    alerter = Alerter(now=lambda: rig.now, settings=rig.settings(on_pulled=True, on_rate_mismatch=True))
    items = standard_items(10)
    rig.poll(alerter, render_page(items))
    rig.poll(alerter, render_page(items[:3] + items[4:]))  # item 3 removed, those below still shown
    sent = rig.received()
    assert len(sent) == 1 and sent[0]["title"] == "ticker: headline pulled"
    assert f"«{items[3].title}»" in sent[0]["message"] and f"ticker cite {items[3].id}" in sent[0]["message"]
    rig.poll(alerter, render_page(items[:3] + items[4:]))
    rig.poll(alerter, render_page(items))  # shown again: cleared without a message
    assert len(rig.received()) == 1
    assert rig.db.execute("SELECT cleared_at IS NOT NULL FROM alert_state").fetchone()[0] == 1

    def official(value: str, at: str):
        row = FetchRow(source="cbr", channel="xml_daily", url="http://cbr.test/", started_at=at, outcome="ok")
        saved = save_rates(rig.db, row, RatesDocument("2024-11-26", (Rate("EUR", "2024-11-26", value),)))
        alerter.after_poll(rig.db, SourceSpec(name="cbr", kind="cbr"), saved)

    official("108.9016", "2024-11-25T16:20:00Z")  # RBC shows 108.87
    official("108.9016", "2024-11-25T16:21:00Z")
    sent = rig.received()
    assert len(sent) == 2 and "EUR for 2024-11-26: RBC shows 108.87" in sent[1]["message"]
    official("108.8716", "2024-11-25T16:22:00Z")  # a corrected official value: they agree again
    sent = rig.received()
    assert len(sent) == 3 and sent[2]["type"] == "success" and "agree again" in sent[2]["message"]


def test_undeliverable_alert_is_logged_not_raised(rig):
    alerter = Alerter(AlertSettings(urls=("json://127.0.0.1:9/nothing-listens",), fail_after=1))
    saved = rig.poll(alerter, status=500)
    assert saved.outcome == "http_error"
    delivered, error = rig.db.execute("SELECT delivered, error FROM alerts").fetchone()
    assert delivered == 0 and error
    assert rig.db.execute("SELECT cleared_at FROM alert_state").fetchone() == (None,)


def test_no_urls_means_no_work(rig):
    alerter = Alerter(AlertSettings(fail_after=1))
    rig.poll(alerter, status=500)
    assert rig.db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


# One rule for "the shown rate agrees with the official one": some rounding of the official
# value to the decimals shown (at least two) gives the shown one.
RATE_CASES = [
    ("108.87", "108.8716", True),
    ("79.6", "79.6012", True),  # a trailing zero dropped: 79.60
    ("79.6", "79.5951", True),
    ("79.6", "79.6050", True),  # a tie
    ("79.6", "79.6051", False),  # 79.61 whichever way
    ("90.35", "90.3451", True),
    ("90.34", "90.3451", False),  # the view said mismatch and the alert said agree
    ("90.34", "90.3449", True),
    ("108.88", "108.8716", False),
    ("108.8", "108.87", False),  # 108.87 shown with one decimal would be 108.87, not 108.80
    ("103.7900", "103.79", True),  # four decimals shown
    ("103.791", "103.7905", True),
    ("100", "100.0000", True),
    ("99.99", "99.995", True),  # a tie: half down gives it
    ("100", "99.995", True),  # half up
    ("108.86", "108.8650", True),
    ("108.87", "108.8650", True),
    ("103.79", "103.7631", False),
    ("99.98", "99.995", False),
]


def test_view_and_alert_share_one_rule_for_rates(tmp_path):
    db = open_db(tmp_path / "rates.db")
    register_source(db, "rbc", "rbc", None, None, [], "2024-11-25T15:00:00Z", ticker_channel="page")
    register_source(db, "cbr", "cbr", None, None, [], "2024-11-25T15:00:00Z")
    for number, (shown, official, _) in enumerate(RATE_CASES):
        day = f"2024-01-{number + 1:02d}"
        for source, value in (("rbc", shown), ("cbr", official)):
            db.execute(
                "INSERT INTO rates (source, currency, rate_date, value, first_seen, last_seen, channel) "
                "VALUES (?, 'EUR', ?, ?, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 'x')",
                [source, day, value],
            )
    view = dict(db.execute("SELECT rate_date, mismatch FROM rate_comparison").fetchall())
    for number, (shown, official, same) in enumerate(RATE_CASES):
        day = f"2024-01-{number + 1:02d}"
        assert view[day] == (0 if same else 1), (shown, official)
        assert rates_agree(db, shown, official) is same, (shown, official)
        assert rate_pair(db, "EUR", day).mismatch is not same, (shown, official)


def _alert_rows(rig) -> list[tuple]:
    return rig.db.execute(
        "SELECT condition, delivered, attempts, next_attempt_at FROM alerts ORDER BY id"
    ).fetchall()


def test_a_failed_delivery_is_retried_with_a_growing_wait_then_sent(rig):
    alerter = Alerter(rig.settings(fail_after=1), now=lambda: rig.now, retry_base_s=60)
    rig.hook_status = 500
    rig.poll(alerter, status=500)  # 16:02: raised; the webhook fails
    assert len(rig.received()) == 1
    assert _alert_rows(rig) == [("failing:rbc/page", 0, 1, "2024-11-25T16:03:00Z")]
    rig.poll(alerter, status=500, minutes=0.5)  # 16:02:30: not due yet
    assert len(rig.received()) == 1
    rig.poll(alerter, status=500, minutes=0.5)  # 16:03: due, fails again: the wait doubles
    assert len(rig.received()) == 2
    assert _alert_rows(rig) == [("failing:rbc/page", 0, 2, "2024-11-25T16:05:00Z")]
    rig.hook_status = 200
    rig.poll(alerter, status=500)  # 16:05: due; delivered
    assert len(rig.received()) == 3
    assert _alert_rows(rig) == [("failing:rbc/page", 1, 3, None)]
    rig.poll(alerter, status=500)
    assert len(rig.received()) == 3  # once delivered, never again


def test_delivery_gives_up_after_max_attempts(rig, caplog):
    alerter = Alerter(rig.settings(fail_after=1), now=lambda: rig.now, retry_base_s=1)
    rig.hook_status = 500
    for _ in range(MAX_ATTEMPTS + 3):
        rig.poll(alerter, status=500, minutes=60)
    assert len(rig.received()) == MAX_ATTEMPTS
    assert _alert_rows(rig) == [("failing:rbc/page", 0, MAX_ATTEMPTS, None)]
    assert f"not delivered after {MAX_ATTEMPTS} attempts, given up" in caplog.text


def test_an_alert_queued_before_a_crash_is_sent_by_the_next_process(rig):
    """What a kill -9 between the transaction and the send leaves: the next start sends it."""
    alerter = Alerter(rig.settings(fail_after=1), now=lambda: rig.now)
    alerter.deliver_due = lambda db: 0  # the process "dies" before delivering
    rig.poll(alerter, status=500)
    assert rig.received() == [] and _alert_rows(rig) == [
        ("failing:rbc/page", None, 0, "2024-11-25T16:02:00Z")
    ]
    rig.db.execute(
        "UPDATE alerts SET attempts = 1, next_attempt_at = '2024-11-25T17:00:00Z'"
    )  # claimed, cut short
    restarted = Alerter(rig.settings(fail_after=1), now=lambda: rig.now)
    rig.poll(restarted, status=500)
    assert len(rig.received()) == 1
    assert _alert_rows(rig) == [("failing:rbc/page", 1, 2, None)]


def test_kill_9_during_a_slow_delivery_the_next_start_delivers_it(tmp_path):
    """A real daemon killed while Apprise waits on the webhook: the alert is sent after restart,
    once, and the condition is not raised a second time."""

    arrived, release = threading.Event(), threading.Event()
    hooks: list[dict] = []

    def hook(request):
        hooks.append(json.loads(request.get_data()))
        if len(hooks) == 1:
            arrived.set()
            release.wait(30)  # the first delivery hangs until the daemon is dead
        return Response("ok")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/rates").respond_with_data("down", status=500)
    server.expect_request("/hook", method="POST").respond_with_handler(hook)
    server.start()
    try:
        db = tmp_path / "ticker.db"
        config = write_config(
            tmp_path,
            {"rates": {"kind": "cbr", "url": server.url_for("/rates"), "every": 0.5}},
            db=db,
            extra=f'\n[alerts]\nurls = ["json://127.0.0.1:{server.port}/hook"]\nfail_after = 1\n',
        )
        log = tmp_path / "daemon.log"
        daemon = start_daemon(config, log)
        try:
            assert arrived.wait(30), log.read_text()
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        release.set()
        assert rows(db, "SELECT condition, delivered, attempts FROM alerts") == [
            ("failing:rates/xml_daily", None, 1)
        ]
        again = start_daemon(config, log)
        try:
            assert wait_for(lambda: len(hooks) >= 2, timeout=30), log.read_text()
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(timeout=30)
        assert rows(db, "SELECT condition, event, delivered, attempts FROM alerts") == [
            ("failing:rates/xml_daily", "raised", 1, 2)
        ]
        assert [hook["title"] for hook in hooks] == ["ticker: rates/xml_daily failing"] * 2
        assert "delivery(ies) interrupted by the last stop, retrying" in log.read_text()
    finally:
        release.set()
        server.clear()
        server.stop()


# ---- issue 19: one answer dropping hundreds of items; a database that cannot record


def test_a_mass_pull_is_one_alert_and_never_holds_the_failing_alert_back(rig):
    """Before: one alert per pulled item, queued ahead of everything, 20 sent per poll: the
    `failing` alert of the next polls went out 98 polls late (1,995 pulled)."""
    alerter = Alerter(now=lambda: rig.now, settings=rig.settings(on_pulled=True, fail_after=1))
    items = standard_items(400)
    rig.poll(alerter, render_page(items))
    rig.poll(alerter, render_page(items[:3] + items[-2:]))  # 395 removed, items below still shown
    sent = rig.received()
    assert [m["title"] for m in sent] == ["ticker: headlines pulled"]
    message = sent[0]["message"]
    assert message.startswith("395 headlines pulled from rbc/page") and "and 392 more" in message
    assert all(f"«{item.title}»" in message for item in items[3:6])
    logged = rig.db.execute(
        "SELECT count(*), count(next_attempt_at) FROM alerts WHERE condition LIKE 'pulled:%'"
    ).fetchone()
    assert logged == (395, 0)  # each pulled item logged (and its condition raised), none queued
    rig.poll(alerter, status=500)
    assert [m["title"] for m in rig.received()][1:] == ["ticker: rbc/page failing"]  # at once


def test_kinds_take_turns_in_the_delivery_queue(tmp_path):
    db = open_db(tmp_path / "q.db")
    now = "2024-11-25T16:00:00Z"
    for n in range(50):
        log_alert(db, f"pulled:{n}", "rbc", "raised", now, 1, "pulled", due_at=now)
    failing = log_alert(db, "failing:rbc/page", "rbc", "raised", now, 2, "failing", due_at=now)
    claimed = claim_due(db, now, "2024-11-25T16:05:00Z", limit=5)
    assert failing in [due.id for due in claimed] and len(claimed) == 5


def test_a_database_that_cannot_record_polls_is_alerted_directly_once(rig, monkeypatch):
    """A full disk (injected: the runner's connection may not grow the file): every run fails
    before anything is recorded, so no `failing` alert could be queued. Before: no alert at all."""
    alerter = Alerter(now=lambda: rig.now, settings=rig.settings(fail_after=1))
    rig.poll(alerter)
    monkeypatch.setattr(hooks, "AFTER_POLL", [alerter.after_poll])
    monkeypatch.setattr(hooks, "RUN_FAILED", [alerter.run_failed])
    full = {"on": True}

    def connect_to_a_full_disk(path):
        db = connect(path)
        if full["on"]:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
        return db

    monkeypatch.setattr(runner, "connect", connect_to_a_full_disk)
    rig.server.clear_all_handlers()
    rig.server.expect_request("/hook", method="POST").respond_with_data("ok")
    rig.server.expect_request("/").respond_with_data(
        render_page(standard_items(300, start=50)), content_type="text/html"
    )
    job = runner.SourceRunner(rig.spec, rig.db_path, rig.client)
    for _ in range(4):
        assert job.run().succeeded is False
    sent = rig.received()
    assert [m["title"] for m in sent] == ["ticker: polls are not being recorded"]
    assert "database or disk is full" in sent[0]["message"]
    full["on"] = False
    assert job.run().succeeded is True
    assert [m["title"] for m in rig.received()][1:] == ["ticker: the database records again"]
    logged = rig.db.execute(
        "SELECT event, delivered FROM alerts WHERE condition = 'database:unwritable'"
    ).fetchall()
    assert logged == [("raised", 1), ("cleared", 1)]
