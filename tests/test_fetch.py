"""`ticker fetch`: outcomes of one poll (through poll() and the CLI), bad input, host time zones."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import run_ticker
from rbc_markup import Item, item_id, render_page, standard_items
from werkzeug import Response

from ticker.core.base import MOSCOW
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec, builtin_source
from ticker.scraper.http import make_client

HTML = "text/html; charset=utf-8"
T0 = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)

CLOSED = "http://127.0.0.1:9/"  # nothing listens: a check that let a value through reaches no site


def serve(httpserver, body: bytes | str, *, status=200, content_type=HTML, path="/"):
    httpserver.clear()
    data = body.encode("utf-8") if isinstance(body, str) else body
    httpserver.expect_request(path).respond_with_data(data, status=status, content_type=content_type)
    return httpserver.url_for(path)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


def fetch_rows(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT outcome, status, error FROM fetches ORDER BY id").fetchall()
    finally:
        conn.close()


# --- outcomes through poll() -------------------------------------------------------------


def test_qrator_401_is_blocked(tmp_path, httpserver, fixture_bytes):
    db = open_db(tmp_path / "t.db")
    url = serve(httpserver, fixture_bytes("qrator_401.html"), status=401)
    with make_client() as client:
        saved = poll(db, client, builtin_source("rbc"), url=url, now=lambda: T0)
    assert saved.outcome == "blocked"
    row = db.execute(
        "SELECT outcome, status, error, bytes, content_type, items_found FROM fetches"
    ).fetchone()
    assert row[:2] == ("blocked", 401)
    assert "challenge" in row[2]
    assert row[3] == len(fixture_bytes("qrator_401.html")) and row[4] == HTML and row[5] is None


def test_server_error_is_http_error_with_retry_after(tmp_path, httpserver):
    db = open_db(tmp_path / "t.db")
    httpserver.expect_request("/").respond_with_data("busy", status=503, headers={"Retry-After": "120"})
    with make_client() as client:
        saved = poll(db, client, builtin_source("rbc"), url=httpserver.url_for("/"), now=lambda: T0)
    assert saved.outcome == "http_error"
    row = db.execute("SELECT status, error, retry_after_s FROM fetches").fetchone()
    assert row == (503, "HTTP 503 SERVICE UNAVAILABLE (Retry-After 120s)", 120)


def test_read_timeout_is_network_error(tmp_path, httpserver):
    db = open_db(tmp_path / "t.db")

    def slow(request):
        time.sleep(0.5)
        return Response(render_page(standard_items(14)), content_type=HTML)

    httpserver.expect_request("/").respond_with_handler(slow)
    with make_client(read_timeout_s=0.2) as client:
        saved = poll(db, client, builtin_source("rbc"), url=httpserver.url_for("/"), now=lambda: T0)
    assert saved.outcome == "network_error"
    row = db.execute("SELECT status, error, duration_ms FROM fetches").fetchone()
    assert row[0] is None and "timeout" in row[1] and row[2] >= 0
    assert db.execute("SELECT count(*) FROM headlines").fetchone()[0] == 0


def test_connection_refused_is_network_error(tmp_path):
    db = open_db(tmp_path / "t.db")
    with make_client(connect_timeout_s=2) as client:
        saved = poll(db, client, builtin_source("cbr"), url="http://127.0.0.1:9/", now=lambda: T0)
    assert saved.outcome == "network_error"
    assert "could not connect" in db.execute("SELECT error FROM fetches").fetchone()[0]


def test_custom_source_name_is_what_fetches_records(tmp_path, httpserver):
    db = open_db(tmp_path / "t.db")
    spec = SourceSpec(name="rbc-mirror", kind="rbc", url=serve(httpserver, render_page(standard_items(6))))
    with make_client() as client:
        saved = poll(db, client, spec, now=lambda: T0)
    assert saved.outcome == "ok"
    assert db.execute("SELECT source, channel FROM fetches").fetchone() == ("rbc-mirror", "page")
    assert db.execute("SELECT DISTINCT source FROM sightings").fetchall() == [("rbc-mirror",)]
    assert db.execute("SELECT DISTINCT source FROM rates").fetchall() == [("rbc-mirror",)]


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_fetch_rbc_ok_then_unchanged(tmp_path, httpserver, fixture_bytes, cli):
    db_path = tmp_path / "t.db"
    url = serve(httpserver, fixture_bytes("rbc_full_page.html"))
    result = cli("fetch", "rbc", "--url", url, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "rbc/page: ok: 14 items (14 new, 0 retitled), 2 rates (2 new)" in result.output
    result = cli("fetch", "rbc", "--url", url, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "rbc/page: unchanged: 14 items" in result.output
    assert [row[0] for row in fetch_rows(db_path)] == ["ok", "unchanged"]


@pytest.mark.parametrize(
    ("body", "status", "outcome"),
    [
        ("qrator_401.html", 401, "blocked"),
        ("boom", 500, "http_error"),
        ("rbc_no_ticker.html", 200, "parse_error"),
        ("truncated", 200, "parse_error"),
    ],
)
def test_cli_failed_fetch_is_recorded_and_exits_non_zero(
    tmp_path, httpserver, fixture_bytes, cli, body, status, outcome
):
    db_path = tmp_path / "t.db"
    full = fixture_bytes("rbc_full_page.html")
    payload = {"boom": b"Internal Server Error", "truncated": full[:-3000]}.get(body) or fixture_bytes(body)
    url = serve(httpserver, payload, status=status)
    result = cli("fetch", "rbc", "--url", url, "--db", db_path)
    assert result.exit_code == 1
    (line,) = error_lines(result.output)
    assert line.startswith(f"Error: rbc/page: {outcome}: ") and line.endswith("(recorded as fetch 1)")
    assert "Traceback" not in result.output
    assert [(row[0], row[1]) for row in fetch_rows(db_path)] == [(outcome, status)]
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM headlines").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
    conn.close()


BAD_INPUTS = {
    "unknown source": (["fetch", "nosuch"], "unknown source 'nosuch'"),
    "bad --date": (["fetch", "cbr", "--date", "2024-13-01", "--url", CLOSED], "bad --date '2024-13-01'"),
    "not a date": (["fetch", "cbr", "--date", "yesterday", "--url", CLOSED], "bad --date 'yesterday'"),
    "--date for rbc": (
        ["fetch", "rbc", "--date", "2024-11-26", "--url", CLOSED],
        "--date: rbc/page has no documents by day",
    ),
    "unknown channel": (["fetch", "cbr", "--channel", "rss", "--url", CLOSED], "cbr has no channel 'rss'"),
    "url without scheme": (
        ["fetch", "rbc", "--url", "www.rbc.ru"],
        "--url = 'www.rbc.ru': must be an http:// or https:// address",
    ),
    "url of another scheme": (
        ["fetch", "cbr", "--url", "ftp://cbr.ru/x"],
        "--url = 'ftp://cbr.ru/x': must be an http:// or https:// address",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_cli_bad_input_is_one_error_line(tmp_path, cli, case):
    args, message = BAD_INPUTS[case]
    db_path = tmp_path / "t.db"
    if "--url" not in args:
        args = [*args, "--url", "http://127.0.0.1:9/"]
    result = cli(*args, "--db", db_path)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.output
    assert not db_path.exists()  # nothing was recorded for input that never made a request


@pytest.mark.parametrize("where", ["missing dir", "a directory", "not sqlite"])
def test_cli_unusable_database_is_one_error_line(tmp_path, cli, where):
    target = {
        "missing dir": tmp_path / "no" / "such" / "t.db",
        "a directory": tmp_path,
        "not sqlite": tmp_path / "x.db",
    }[where]
    if where == "not sqlite":
        target.write_bytes(b"this is not a database, just some text " * 200)
    result = cli("fetch", "cbr", "--url", "http://127.0.0.1:9/", "--db", target)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == error_lines(result.output)
    (line,) = error_lines(result.output)
    assert "database" in line and str(target) in line


def test_bad_input_as_a_real_process(tmp_path):
    for args, message in [
        (["fetch", "nosuch"], "Error: unknown source"),
        (["fetch", "cbr", "--date", "26.11.2024", "--url", CLOSED], "Error: bad --date"),
        (
            ["fetch", "cbr", "--db", str(tmp_path / "no" / "t.db"), "--url", "http://127.0.0.1:9/"],
            "Error: cannot use database",
        ),
    ]:
        done = run_ticker(*args, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database was created for bad input


# --- the host's time zone never changes a stored time -------------------------------------


def _tz_page() -> str:
    """Times only as shown text (no data-modif, no page update stamp): the parser must place
    them in Moscow, whatever the host's zone."""
    items = [
        Item(
            item_id(1), "Полночь в Москве", published=datetime(2024, 11, 25, 21, 0, tzinfo=UTC), modif=False
        ),
        Item(
            item_id(2),
            "Вчера",
            published=datetime(2024, 11, 24, 20, 58, tzinfo=UTC),
            modif=False,
            show_date=True,
        ),
        Item(item_id(3), "С data-modif", published=datetime(2024, 11, 24, 12, 1, tzinfo=UTC)),
        *standard_items(4, start=10),
    ]
    text = render_page(items)
    text = text.replace("RA.config.set('newsfeed.timeLastUpdate'", "RA.config.set('newsfeed.other'")
    return text.replace('data-modif="1732545840" ', "")  # the widgets' stamp: read "25 ноября, 17:44"


def _latest_year(november_day: int, today) -> int:
    """The year of the latest `november_day` November not after `today` (plus a day of slack)."""
    return today.year if date(today.year, 11, november_day) <= today + timedelta(days=1) else today.year - 1


# At any instant one of these hosts has a calendar day other than Moscow's (Honolulu UTC-10
# covers 21:00-10:00 UTC, Kiritimati UTC+14 covers 10:00-21:00 UTC).
@pytest.mark.parametrize("zones", [("America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Honolulu")])
def test_host_time_zone_never_changes_stored_times(tmp_path, httpserver, zones):
    url = serve(httpserver, _tz_page())
    stored = []
    days = {datetime.now(MOSCOW).date()}
    for zone in zones:
        db_path = tmp_path / f"{zone.replace('/', '_')}.db"
        done = run_ticker("fetch", "rbc", "--url", url, "--db", db_path, env={"TZ": zone}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        conn = sqlite3.connect(db_path)
        stored.append(
            (
                conn.execute("SELECT id, published_at FROM headlines ORDER BY id").fetchall(),
                conn.execute(
                    "SELECT currency, rate_date, published_at FROM rates ORDER BY currency"
                ).fetchall(),
            )
        )
        conn.close()
    days.add(datetime.now(MOSCOW).date())  # both, should the runs straddle Moscow midnight
    assert stored[0] == stored[1] == stored[2]
    headlines, rates = dict(stored[0][0]), stored[0][1]
    # "00:00" with no date: midnight of the fetch's Moscow day
    assert headlines[item_id(1)] in {f"{d - timedelta(days=1)}T21:00:00Z" for d in days}
    # a shown day without a year: the latest such day up to the fetch (Moscow)
    assert headlines[item_id(2)] in {
        f"{_latest_year(24, d)}-11-24T20:58:00Z" for d in days
    }  # "24 ноя, 23:58"
    assert headlines[item_id(3)] == "2024-11-24T12:01:00Z"  # data-modif
    (year,) = {int(rates[0][2][:4])} & {_latest_year(25, d) for d in days}
    assert rates == [
        ("EUR", f"{year}-11-26", f"{year}-11-25T14:44:00Z"),  # "25 ноября, 17:44" Moscow
        ("USD", f"{year}-11-26", f"{year}-11-25T14:44:00Z"),
    ]


def test_fetch_instant_is_stored_in_utc_whatever_the_zone_of_now(tmp_path, httpserver):
    db = open_db(tmp_path / "t.db")
    url = serve(httpserver, render_page(standard_items(6)))
    moscow_now = datetime(2024, 11, 26, 10, 0, tzinfo=MOSCOW)
    with make_client() as client:
        poll(db, client, builtin_source("rbc"), url=url, now=lambda: moscow_now)
    assert db.execute("SELECT started_at FROM fetches").fetchone()[0] == "2024-11-26T07:00:00Z"
    assert db.execute("SELECT DISTINCT first_seen FROM headlines").fetchall() == [("2024-11-26T07:00:00Z",)]


def test_the_console_script_exits_promptly_with_everything_written(httpserver, tmp_path):
    """`ticker fetch` as a process (ticker.cli.run: os._exit once the command closed its
    database): its status and message as before, the poll stored, no write-ahead log left."""
    httpserver.expect_request("/page").respond_with_data(
        render_page(standard_items(6)), content_type="text/html"
    )
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    db_path = tmp_path / "t.db"
    done = run_ticker("fetch", "rbc", "--url", httpserver.url_for("/page"), "--db", db_path)
    assert (
        done.returncode == 0
        and done.stderr.strip() == "rbc/page: ok: 6 items (6 new, 0 retitled), 2 rates (2 new)"
    )
    assert not (tmp_path / "t.db-wal").exists()
    failed = run_ticker("fetch", "rbc", "--url", httpserver.url_for("/gone"), "--db", db_path)
    assert failed.returncode == 1 and failed.stderr.startswith("Error: rbc/page: http_error")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT outcome FROM fetches ORDER BY id").fetchall() == [
            ("ok",),
            ("http_error",),
        ]
