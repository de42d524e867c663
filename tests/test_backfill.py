"""Gap backfill: paging back through the feed JSON (or RSS) to what a live poll saw, and Bank of
Russia rates over a range. Evidence of publication, never of presence; never duplicated."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

import pytest
from rbc_markup import item_id, render_page, standard_items
from werkzeug import Response

from ticker.core.base import Rate, RatesDocument
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_rates

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=windows-1251"
FEED_PATH = re.compile(r"^/feed/lastDate/\d+/limit/\d+$")


def unix(hour: int, minute: int) -> int:
    return int(datetime(2024, 11, 25, hour, minute, tzinfo=UTC).timestamp())


# lastDate -> the page the feed answers with; any other lastDate ("now") gets the first page.
PAGES = {unix(17, 20): "feed_page2.json", unix(15, 49): "feed_page3.json", unix(15, 24): "feed_empty.json"}


@pytest.fixture
def feed(httpserver, fixture_bytes):
    """A feed JSON endpoint that pages like RBC's; returns its URL template."""

    def answer(request):
        last_date = int(request.path.split("/")[3])
        return Response(fixture_bytes(PAGES.get(last_date, "feed_page1.json")), content_type=JSON_TYPE)

    httpserver.expect_request(FEED_PATH).respond_with_handler(answer)
    return httpserver.url_for("/feed/lastDate/{last_date}/limit/{limit}")


def feed_requests(httpserver) -> list[int]:
    return [
        int(request.path.split("/")[3]) for request, _ in httpserver.log if request.path.startswith("/feed/")
    ]


def rows(db_path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


def serve_page(httpserver, items) -> str:
    httpserver.expect_request("/").respond_with_data(
        render_page(items), content_type="text/html; charset=utf-8"
    )
    return httpserver.url_for("/")


def test_backfill_stops_at_the_last_seen_item_and_never_duplicates(httpserver, feed, cli, db_path):
    page_url = serve_page(httpserver, standard_items(14))
    assert cli("fetch", "rbc", "--url", page_url, "--db", db_path).exit_code == 0

    result = cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "8 new" in result.output and "reached an item already seen" in result.output
    assert feed_requests(httpserver)[1:] == [unix(17, 20)]  # page 3 never asked for

    new_ids = {item_id(n) for n in range(100, 108)}
    backfilled = rows(
        db_path,
        "SELECT h.id, h.first_channel, h.published_at, h.first_seen, s.first_seen, s.last_seen, f.started_at, "
        "s.first_position, s.exit_fetch_id, f.channel FROM headlines h JOIN sightings s ON s.headline_id = h.id "
        "JOIN fetches f ON f.id = s.first_fetch_id WHERE s.channel = 'backfill'",
    )
    assert {row[0] for row in backfilled} == new_ids
    for (
        _,
        first_channel,
        published,
        h_seen,
        s_first,
        s_last,
        fetched,
        position,
        exit_id,
        channel,
    ) in backfilled:
        assert first_channel == "backfill" and channel == "feed_json"
        assert h_seen == s_first == s_last == fetched  # seen at the backfill, not on the page
        assert position is None and exit_id is None
        assert published.startswith("2024-11-25T1")
    published = dict(rows(db_path, "SELECT id, published_at FROM headlines"))
    assert published[item_id(100)] == "2024-11-25T18:00:00Z"
    assert published[item_id(106)] == "2024-11-25T17:00:30Z"
    # Items the page showed get no backfill sighting.
    assert rows(db_path, "SELECT count(*) FROM sightings WHERE headline_id = ?", [item_id(0)]) == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM headline_titles") == [(22,)]

    before = rows(db_path, "SELECT count(*) FROM headlines"), rows(db_path, "SELECT count(*) FROM sightings")
    again = cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path)
    assert again.exit_code == 0, again.output
    assert "(0 new)" in again.output
    after = rows(db_path, "SELECT count(*) FROM headlines"), rows(db_path, "SELECT count(*) FROM sightings")
    assert before == after == ([(22,)], [(22,)])
    fetches = rows(db_path, "SELECT channel, outcome, items_new FROM fetches ORDER BY id")
    assert fetches == [("page", "ok", 14), *[("feed_json", "ok", n) for n in (5, 3, 0, 0)]]


def test_live_polls_never_touch_backfill_sightings(httpserver, feed, cli, db_path):
    page_url = serve_page(httpserver, standard_items(14))
    assert cli("fetch", "rbc", "--url", page_url, "--db", db_path).exit_code == 0
    assert cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path).exit_code == 0
    backfill_before = rows(db_path, "SELECT * FROM sightings WHERE channel = 'backfill' ORDER BY id")

    # The page comes back showing two backfilled items on top: new page runs, page exits as usual.
    httpserver.clear_all_handlers()
    items = standard_items(14)
    moved = [*standard_items(2, start=100), *items[:12]]
    page_url = serve_page(httpserver, moved)
    assert cli("fetch", "rbc", "--url", page_url, "--db", db_path).exit_code == 0
    assert rows(db_path, "SELECT * FROM sightings WHERE channel = 'backfill' ORDER BY id") == backfill_before
    page_runs = rows(
        db_path, "SELECT headline_id, exit_fetch_id IS NULL FROM sightings WHERE channel = 'page'"
    )
    assert sum(1 for _, is_open in page_runs if is_open) == 14
    assert sum(1 for _, is_open in page_runs if not is_open) == 2
    assert {hid for hid, _ in page_runs} >= {item_id(100), item_id(101)}


def test_stops_at_the_newest_time_seen_when_seen_items_were_pulled(httpserver, feed, cli, db_path):
    # The page showed items the feed no longer has (pulled); the newest was published at 17:15.
    gone = standard_items(5, start=300, newest=datetime(2024, 11, 25, 17, 15, tzinfo=UTC))
    assert cli("fetch", "rbc", "--url", serve_page(httpserver, gone), "--db", db_path).exit_code == 0
    result = cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "newest publication time already seen (2024-11-25T17:15:00Z)" in result.output
    assert len(feed_requests(httpserver)) == 2


def test_a_failed_page_leaves_a_hole_the_next_run_fills(httpserver, fixture_bytes, cli, db_path):
    failing = {"on": True}

    def answer(request):
        last_date = int(request.path.split("/")[3])
        if last_date == unix(17, 20) and failing["on"]:
            return Response("busy", status=503)
        return Response(fixture_bytes(PAGES.get(last_date, "feed_page1.json")), content_type=JSON_TYPE)

    httpserver.expect_request(FEED_PATH).respond_with_handler(answer)
    template = httpserver.url_for("/feed/lastDate/{last_date}/limit/{limit}")
    first = cli("backfill", "rbc", "--url", template, "--pause", "0", "--db", db_path)
    assert first.exit_code == 1
    assert "http_error" in first.output and first.output.strip().splitlines()[-1].startswith("Error: ")
    assert rows(db_path, "SELECT count(*) FROM headlines") == [(5,)]
    failing["on"] = False
    second = cli("backfill", "rbc", "--url", template, "--pause", "0", "--db", db_path)
    assert second.exit_code == 0, second.output
    assert rows(db_path, "SELECT count(*), count(DISTINCT headline_id) FROM sightings") == [(15, 15)]


def test_empty_database_pages_back_to_an_empty_page(httpserver, feed, cli, db_path):
    result = cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "empty page" in result.output
    assert feed_requests(httpserver)[1:] == [unix(17, 20), unix(15, 49), unix(15, 24)]
    assert rows(db_path, "SELECT count(*) FROM headlines WHERE first_channel = 'backfill'") == [(15,)]
    assert cli("backfill", "rbc", "--url", feed, "--pause", "0", "--db", db_path).exit_code == 0
    assert rows(db_path, "SELECT count(*), count(DISTINCT headline_id) FROM sightings") == [(15, 15)]


def test_since_stops_and_leaves_older_items_out(httpserver, feed, cli, db_path):
    result = cli(
        "backfill", "rbc", "--since", "2024-11-25T20:45", "--url", feed, "--pause", "0", "--db", db_path
    )
    assert result.exit_code == 0, result.output
    assert "--since" in result.output
    assert len(feed_requests(httpserver)) == 1
    stored = rows(db_path, "SELECT id FROM headlines ORDER BY published_at DESC")
    assert stored == [(item_id(100),), (item_id(101),)]  # 18:00 and 17:50 UTC; 17:40 is before 20:45 MSK


def test_page_cap_is_said(httpserver, feed, cli, db_path):
    result = cli("backfill", "rbc", "--max-pages", "1", "--url", feed, "--pause", "0", "--db", db_path)
    assert result.exit_code == 0
    assert "page cap" in result.output
    assert rows(db_path, "SELECT count(*) FROM headlines") == [(5,)]


def test_rss_answers_when_the_feed_json_is_blocked(httpserver, fixture_bytes, cli, db_path):
    httpserver.expect_request(FEED_PATH).respond_with_data(
        '<script src="/__qrator/qauth.js"></script>', status=401, content_type="text/html"
    )
    httpserver.expect_request("/full.rss").respond_with_data(
        fixture_bytes("rss_rbc_https.xml"), content_type="application/rss+xml"
    )
    result = cli(
        "backfill", "rbc", "--url", httpserver.url_for("/feed/lastDate/{last_date}/limit/{limit}"),
        "--rss-url", httpserver.url_for("/full.rss"), "--pause", "0", "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "via rss" in result.output and "blocked" in result.output
    assert rows(db_path, "SELECT channel, outcome FROM fetches ORDER BY id") == [
        ("feed_json", "blocked"),
        ("rss", "ok"),
    ]
    assert rows(db_path, "SELECT DISTINCT channel FROM sightings") == [("backfill",)]
    assert rows(db_path, "SELECT count(*) FROM headlines WHERE first_channel = 'backfill'") == [(3,)]


def test_nothing_answers(httpserver, cli, db_path):
    httpserver.expect_request(FEED_PATH).respond_with_data("busy", status=503)
    httpserver.expect_request("/full.rss").respond_with_data("busy", status=503)
    result = cli(
        "backfill", "rbc", "--url", httpserver.url_for("/feed/lastDate/{last_date}/limit/{limit}"),
        "--rss-url", httpserver.url_for("/full.rss"), "--pause", "0", "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert rows(db_path, "SELECT channel, outcome FROM fetches ORDER BY id") == [
        ("feed_json", "http_error"),
        ("rss", "http_error"),
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "yesterday-ish"],
        ["--url", "http://127.0.0.1:9/feed.json"],
        ["--channel", "page"],
        ["--max-pages", "many"],
    ],
)
def test_bad_backfill_input_is_one_line(cli, db_path, args):
    nowhere = (
        [] if "--url" in args else ["--url", "http://127.0.0.1:9/feed/lastDate/{last_date}/limit/{limit}"]
    )
    result = cli("backfill", "rbc", *args, *nowhere, "--pause", "0", "--db", db_path)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")
    if db_path.exists():
        assert rows(db_path, "SELECT count(*) FROM fetches") == [(0,)]


@pytest.fixture
def cbr(httpserver, fixture_bytes):
    """XML_dynamic answering EUR / USD by VAL_NM_RQ; returns its address."""
    documents = {
        "R01239": "cbr_dynamic_eur_2024-01-09_16.cp1251.xml",
        "R01235": "cbr_dynamic_usd_2024-01-09_16.cp1251.xml",
    }

    def answer(request):
        return Response(fixture_bytes(documents[request.args["VAL_NM_RQ"]]), content_type=XML_TYPE)

    httpserver.expect_request("/scripts/XML_dynamic.asp").respond_with_handler(answer)
    return httpserver.url_for("/scripts/XML_dynamic.asp")


def test_backfill_rates_fills_a_range_once(httpserver, cbr, cli, db_path):
    db = open_db(db_path)
    daily = FetchRow("cbr", "xml_daily", "x", "2024-01-11T13:00:00Z", "ok")
    known = Rate("EUR", "2024-01-12", "97.1565", nominal=1, raw_value="97.1565")
    save_rates(db, daily, RatesDocument("2024-01-12", (known,)))
    db.conn.close()

    args = ("backfill-rates", "--from", "2024-01-09", "--to", "2024-01-16", "--url", cbr, "--pause", "0")
    result = cli(*args, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "10 rates (9 new)" in result.output
    queries = [dict(request.args) for request, _ in httpserver.log]
    assert queries[0] == {"date_req1": "09/01/2024", "date_req2": "16/01/2024", "VAL_NM_RQ": "R01239"}
    assert queries[1]["VAL_NM_RQ"] == "R01235"

    eur = rows(
        db_path,
        "SELECT rate_date, value, nominal, raw_value FROM rates WHERE currency = 'EUR' ORDER BY rate_date",
    )
    assert eur == [
        ("2024-01-10", "98.0395", 10, "980.3950"),  # Nominal 10: per unit
        ("2024-01-11", "97.9958", 10, "979.9580"),
        ("2024-01-12", "97.1565", 1, "97.1565"),  # already stored by the daily document: one row
        ("2024-01-13", "96.5747", 1, "96.5747"),
        ("2024-01-16", "96.6312", 1, "96.6312"),  # weekend gap: no 14th, no 15th
    ]
    assert rows(db_path, "SELECT DISTINCT source FROM rates") == [("cbr",)]
    assert rows(db_path, "SELECT channel FROM rates WHERE rate_date = '2024-01-12' AND currency = 'EUR'") == [
        ("xml_daily",)
    ]

    again = cli(*args, "--db", db_path)
    assert again.exit_code == 0 and "(0 new)" in again.output
    assert rows(db_path, "SELECT count(*) FROM rates") == [(10,)]
    fetches = rows(
        db_path, "SELECT source, channel, outcome, rates_found, rates_new FROM fetches ORDER BY id"
    )
    assert fetches[1:] == [
        ("cbr", "xml_dynamic", "ok", 5, 4),
        ("cbr", "xml_dynamic", "ok", 5, 5),
        ("cbr", "xml_dynamic", "ok", 5, 0),
        ("cbr", "xml_dynamic", "ok", 5, 0),
    ]


def test_long_ranges_are_asked_in_windows(httpserver, cbr, cli, db_path):
    args = ("--from", "2023-01-01", "--to", "2024-01-16", "--currency", "eur", "--url", cbr, "--pause", "0")
    result = cli("backfill-rates", *args, "--db", db_path)
    assert result.exit_code == 0, result.output
    asked = [(r.args["date_req1"], r.args["date_req2"]) for r, _ in httpserver.log]
    assert asked == [("01/01/2023", "01/01/2024"), ("02/01/2024", "16/01/2024")]
    assert rows(db_path, "SELECT count(*) FROM rates") == [(5,)]


def test_weekend_range_and_foreign_document(httpserver, fixture_bytes, cli, db_path):
    documents = {  # the USD request gets a EUR document
        "R01239": "cbr_dynamic_eur_weekend_empty.cp1251.xml",
        "R01235": "cbr_dynamic_eur_2024-01-09_16.cp1251.xml",
    }
    httpserver.expect_request("/dyn").respond_with_handler(
        lambda request: Response(fixture_bytes(documents[request.args["VAL_NM_RQ"]]), content_type=XML_TYPE)
    )
    args = ("--from", "2024-01-14", "--to", "2024-01-15", "--url", httpserver.url_for("/dyn"), "--pause", "0")
    result = cli("backfill-rates", *args, "--db", db_path)
    assert result.exit_code == 1  # the USD request got a EUR document
    assert rows(db_path, "SELECT channel, outcome, rates_found FROM fetches ORDER BY id") == [
        ("xml_dynamic", "ok", 0),
        ("xml_dynamic", "parse_error", None),
    ]
    assert "asked for USD" in rows(db_path, "SELECT error FROM fetches WHERE outcome = 'parse_error'")[0][0]
    assert rows(db_path, "SELECT count(*) FROM rates") == [(0,)]


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "2024-13-01"],
        ["--from", "01.01.2024"],
        ["--from", "2024-02-01", "--to", "2024-01-01"],
        ["--from", "2024-01-01", "--currency", "GBP"],
    ],
)
def test_bad_rate_range_is_one_line(cli, db_path, args):
    result = cli("backfill-rates", *args, "--url", "http://127.0.0.1:9/x", "--db", db_path)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")
    assert not db_path.exists()
