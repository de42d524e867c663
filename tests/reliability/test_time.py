"""Time faults: an odd host time zone changes no stored instant; rate dates cross the year turn;
a host clock that steps backwards does not reorder history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import Item, Widget, item_id, render_page

from reliability import faultserver as fs
from reliability.support import consistency_problems, rotating_page, rows, run_ticker
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper import http

pytestmark = pytest.mark.reliability

STORED_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def _new_year_page() -> bytes:
    """A page updated at 00:05 Moscow on 1 January 2025, still showing items of 31 December."""
    updated = datetime(2024, 12, 31, 21, 5, tzinfo=UTC)  # 00:05 MSK on 1 January
    items = [
        Item(
            id=item_id(1),
            title="Первая новость года",
            published=datetime(2024, 12, 31, 21, 1, tzinfo=UTC),
            modif=False,
        ),
        Item(
            id=item_id(2),
            title="Последняя новость года",
            published=datetime(2024, 12, 31, 20, 58, tzinfo=UTC),
            modif=False,
        ),
        Item(
            id=item_id(3),
            title="Новость вчерашнего дня",
            published=datetime(2024, 12, 31, 9, 0, tzinfo=UTC),
            modif=False,
            show_date=True,
        ),
        Item(id=item_id(4), title="С отметкой времени", published=datetime(2024, 12, 31, 18, 0, tzinfo=UTC)),
        Item(
            id=item_id(5),
            title="Ещё одна",
            published=datetime(2024, 12, 31, 17, 0, tzinfo=UTC),
            modif=False,
            show_date=True,
        ),
    ]
    widgets = [
        Widget("EUR", "1 января", "106,10", "-0,20", published=datetime(2024, 12, 31, 9, 0, tzinfo=UTC)),
        Widget("USD", "31 декабря", "101,68", "+0,10", published=updated),
    ]
    return render_page(items, widgets=widgets, updated=updated).encode()


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Pacific/Kiritimati", "Asia/Kathmandu"])
def test_host_time_zone_changes_no_stored_instant(zone, fault_server, tmp_path):
    url = fault_server.route("/", fs.static(_new_year_page()))
    stored = {}
    for tz in ("UTC", zone):
        db = tmp_path / f"{tz.replace('/', '_')}.db"
        result = run_ticker("fetch", "rbc", "--url", url, "--db", db, env={"TZ": tz})
        assert result.returncode == 0, result.stderr
        stored[tz] = (
            rows(db, "SELECT id, published_at, first_seen FROM headlines ORDER BY id"),
            rows(db, "SELECT currency, rate_date, value, published_at FROM rates ORDER BY currency"),
            rows(db, "SELECT started_at FROM fetches"),
        )
    (utc_items, utc_rates, utc_started), (odd_items, odd_rates, odd_started) = stored["UTC"], stored[zone]
    assert (
        [r[:2] for r in odd_items]
        == [r[:2] for r in utc_items]
        == [
            (item_id(1), "2024-12-31T21:01:00Z"),
            (item_id(2), "2024-12-31T20:58:00Z"),
            (item_id(3), "2024-12-31T09:00:00Z"),
            (item_id(4), "2024-12-31T18:00:00Z"),
            (item_id(5), "2024-12-31T17:00:00Z"),
        ]
    )
    assert odd_rates == utc_rates
    assert [(c, d) for c, d, _, _ in odd_rates] == [("EUR", "2025-01-01"), ("USD", "2024-12-31")]
    # started_at is the real instant in UTC in both runs (a minute apart at most), never local time.
    first, second = (
        datetime.fromisoformat(s[0][0].replace("Z", "+00:00")) for s in (utc_started, odd_started)
    )
    assert abs((second - first).total_seconds()) < 60
    assert abs((datetime.now(UTC) - second).total_seconds()) < 60


@pytest.mark.parametrize(
    ("shown", "published", "expected"),
    [
        ("1 января", datetime(2024, 12, 31, 9, 0, tzinfo=UTC), "2025-01-01"),
        ("31 декабря", datetime(2025, 1, 1, 6, 0, tzinfo=UTC), "2024-12-31"),
        ("29 февраля", datetime(2024, 2, 28, 12, 0, tzinfo=UTC), "2024-02-29"),
        ("1 марта", datetime(2025, 2, 28, 12, 0, tzinfo=UTC), "2025-03-01"),
    ],
)
def test_rate_dates_across_the_year_turn(shown, published, expected, fault_server, tmp_path):
    widgets = [
        Widget("EUR", shown, "100,00", None, published=published),
        Widget("USD", shown, "90,00", None, published=published),
    ]
    items = [Item(id=item_id(n), title=f"Новость {n}", published=published) for n in range(6)]
    url = fault_server.route("/", fs.static(render_page(items, widgets=widgets, updated=published).encode()))
    db = open_db(tmp_path / "t.db")
    with http.make_client() as client:
        poll(db, client, SourceSpec("rbc", "rbc"), url=url)
    assert db.execute("SELECT DISTINCT rate_date FROM rates").fetchall() == [(expected,)]


def test_clock_stepping_backwards_does_not_reorder_history(fault_server, tmp_path):
    """Polls whose clock jumps back an hour, then on, then back a day: ids keep their order,
    last_seen never decreases, every sighting stays consistent."""
    url = fault_server.route("/", fs.dynamic(rotating_page))
    start = datetime(2024, 11, 25, 12, 0, tzinfo=UTC)
    offsets = [0, 1, 2, -60, -59, 3, 4, -1440, 5, 6, -1439, 7, 8, 9, 10]  # minutes from start
    db = open_db(tmp_path / "t.db")
    spec = SourceSpec("rbc", "rbc", every_s=60)
    seen_before: dict[str, str] = {}
    ids = []
    with http.make_client() as client:
        for minutes in offsets:
            moment = start + timedelta(minutes=minutes)
            saved = poll(db, client, spec, url=url, now=lambda m=moment: m)
            assert saved.outcome == "ok"
            ids.append(saved.fetch_id)
            for headline_id, last_seen in db.execute("SELECT id, last_seen FROM headlines").fetchall():
                assert last_seen >= seen_before.get(headline_id, ""), headline_id
                seen_before[headline_id] = last_seen
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [
        r[0] for r in db.execute("SELECT id FROM fetches ORDER BY started_at, id")
    ] != ids  # the clock did jump
    bad = db.execute(
        "SELECT id, first_seen, last_seen, exited_at FROM sightings "
        "WHERE first_seen > last_seen OR exited_at < last_seen OR exit_fetch_id <= last_fetch_id "
        "OR last_fetch_id < first_fetch_id"
    ).fetchall()
    assert bad == []
    bad_titles = db.execute("SELECT id FROM headline_titles WHERE first_seen > last_seen").fetchall()
    assert bad_titles == []
    assert consistency_problems(tmp_path / "t.db") == []
