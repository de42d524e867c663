"""Alerts through Apprise to a local webhook: raised once per condition, cleared on recovery,
state kept in the database across restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import render_page, standard_items

from ticker.base import Rate, RatesDocument
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_rates
from ticker.poll import poll
from ticker.schedules.alerts import Alerter, agrees
from ticker.scraper.http import make_client
from ticker.settings import AlertSettings
from ticker.sources import SourceSpec

T0 = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)
PAGE = render_page(standard_items(10))


class Rig:
    """The RBC page and the webhook receiver on one local server; polls with a fixed clock."""

    def __init__(self, httpserver, db_path) -> None:
        self.server = httpserver
        self.db = open_db(db_path)
        self.spec = SourceSpec(name="rbc", kind="rbc", url=httpserver.url_for("/"), every_s=120)
        self.hook = f"json://127.0.0.1:{httpserver.port}/hook"
        self.now = T0
        self.client = make_client()

    def settings(self, **changes) -> AlertSettings:
        return AlertSettings(urls=(self.hook,), **changes)

    def poll(self, alerter: Alerter, body: str = PAGE, status: int = 200):
        self.server.clear_all_handlers()
        self.server.expect_request("/hook", method="POST").respond_with_data("ok")
        self.server.expect_request("/").respond_with_data(body, status=status, content_type="text/html")
        self.now += timedelta(minutes=2)
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
    alerter = Alerter(rig.settings(fail_after=2))
    outcomes = [rig.poll(alerter).outcome, rig.poll(alerter, status=500).outcome]
    assert outcomes == ["ok", "http_error"] and rig.received() == []
    rig.poll(alerter, status=500)
    rig.poll(alerter, status=503)
    sent = rig.received()
    assert len(sent) == 1 and sent[0]["type"] == "failure"
    assert sent[0]["title"] == "ticker: rbc/page failing"
    assert "failed 2 times in a row since 2024-11-25 19:04:00 MSK" in sent[0]["message"]

    restarted = Alerter(rig.settings(fail_after=2))  # state is in the database, not the object
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
    alerter = Alerter(rig.settings(fail_after=3, blocked_for_s=600, on_recovery=False))
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
    alerter = Alerter(rig.settings(on_pulled=True, on_rate_mismatch=True))
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


@pytest.mark.parametrize(
    ("shown", "official", "same"),
    [
        ("108.87", "108.8716", True),
        ("79.6", "79.6012", True),
        ("90.35", "90.3451", True),
        ("90.34", "90.3451", True),
        ("108.88", "108.8716", False),
    ],
)
def test_rounding_rule_for_rates(shown, official, same):
    assert agrees(shown, official) is same
