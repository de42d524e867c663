"""`ticker import wayback`: a local CDX server and replay server shaped like web.archive.org."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_ticker
from helpers_import import RBC, Wayback, history, stamp
from rbc_markup import Item, item_id, render_page, standard_items

from ticker.db.schema import open_db
from ticker.jobs.importing import ImportStopped, Politeness, import_wayback
from ticker.jobs.sources import builtin_source
from ticker.scraper import wayback as wb
from ticker.scraper.http import make_client

T = datetime(2022, 2, 24, 3, 0, 5, tzinfo=UTC)


def rbc_page(start: int, *, retitle: str | None = None) -> str:
    items = standard_items(14, start=start, newest=T)
    if retitle:
        items[0].title = retitle
    return render_page(items)


@pytest.fixture
def archive(httpserver):
    return Wayback(httpserver)


def run_import(cli, archive, db_path, *extra):
    return cli(
        "import", "wayback", "rbc", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--throttle-pause", "0", "--db", db_path, "--json", *extra,
    )  # fmt: skip


def summary_of(result) -> dict:
    return json.loads(result.stdout)[0]


def fetches(db):
    return db.execute(
        "SELECT started_at, outcome, status, origin, origin_ref, url FROM fetches ORDER BY started_at"
    ).fetchall()


def test_collapse_keeps_one_capture_per_slot():
    rows = [wb.Capture(stamp(T + timedelta(minutes=m)), RBC) for m in (0, 20, 50, 61, 62, 130)]
    assert [c.timestamp[8:12] for c in wb.collapse(rows, 3600)] == ["0300", "0401", "0510"]
    assert len(wb.collapse(rows, 0)) == 6
    assert [c.timestamp[8:12] for c in wb.collapse(rows, 1800)] == ["0300", "0350", "0401", "0510"]


def test_cdx_parsing_empty_resume_key_and_bad_rows():
    assert wb.parse_cdx(b"[]") == ([], None)
    assert wb.parse_cdx(b"") == ([], None)
    body = json.dumps([
        ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
        ["ru,rbc)/", "20220224030005", RBC, "text/html", "200", "X", "10"],
        ["ru,rbc)/", "20220224030005", RBC, "text/html", "200", "X", "10"],  # the same line again
        ["ru,rbc)/", "20220200000000", RBC, "text/html", "200", "X", "10"],  # day 00: not an instant
        [], ["ru%2Crbc%29%2F+20220224030006"],
    ]).encode()  # fmt: skip
    captures, key = wb.parse_cdx(body)
    assert [c.timestamp for c in captures] == ["20220224030005"]
    assert key == "ru%2Crbc%29%2F+20220224030006"
    with pytest.raises(wb.CdxError):
        wb.parse_cdx(b"<html>rate limited</html>")


def test_query_and_memento_addresses():
    query = wb.cdx_query_url(wb.DEFAULT_CDX_URL, RBC, start=T, end=T + timedelta(days=1))
    assert "output=json" in query and "filter=statuscode%3A200" in query
    assert "from=20220224030005" in query and "to=20220225030005" in query
    assert wb.memento_url(wb.DEFAULT_REPLAY_URL, "20220224030005", RBC) == (
        "https://web.archive.org/web/20220224030005id_/https://www.rbc.ru/"
    )


def test_import_collapses_by_every_stores_captures_and_resumes(cli, archive, db_path):
    for minutes, start in ((0, 0), (20, 1), (50, 2), (65, 3)):
        archive.add(T + timedelta(minutes=minutes), rbc_page(start))
    result = run_import(cli, archive, db_path, "--from", "2022-02-24", "--to", "2022-02-24")
    summary = summary_of(result)
    assert (summary["found"], summary["kept"], summary["fetched"], summary["outcomes"]) == (
        4, 2, 2, {"ok": 2}
    )  # fmt: skip
    assert summary["items_new"] == 14 + 3  # the second capture 65 minutes later: 3 newer items
    assert archive.memento_requests == [stamp(T), stamp(T + timedelta(minutes=65))]
    db = open_db(db_path)
    stored = fetches(db)
    assert [(r[0], r[1], r[2], r[3]) for r in stored] == [
        ("2022-02-24T03:00:05Z", "ok", 200, "wayback"),
        ("2022-02-24T04:05:05Z", "ok", 200, "wayback"),
    ]
    assert stored[0][4] == stored[0][5] == f"{archive.replay_url}{stamp(T)}id_/{RBC}"
    assert archive.cdx_requests[0]["from"] == "20220223210000"  # Moscow midnight, in UTC
    assert archive.cdx_requests[0]["filter"] == "statuscode:200"
    # bodies are always kept
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 2
    before = history(db)

    archive.memento_requests.clear()
    again = summary_of(run_import(cli, archive, db_path, "--every", "0"))
    # the two stored are skipped without a request; the two collapsed away before are new now
    assert (again["skipped"], again["fetched"]) == (2, 2)
    assert sorted(archive.memento_requests) == [stamp(T + timedelta(minutes=m)) for m in (20, 50)]
    archive.memento_requests.clear()
    third = summary_of(run_import(cli, archive, db_path, "--every", "0"))
    assert (third["skipped"], third["fetched"], archive.memento_requests) == (4, 0, [])
    assert len(history(open_db(db_path))["snapshots"]) == 4 and before["headlines"]


def test_429_without_retry_after_pauses_then_succeeds(archive, db_path):
    archive.add(T, archive.plain(429, "<h1>429 Too Many Requests</h1>"), rbc_page(0))
    slept: list[float] = []
    politeness = Politeness(0.5, 7.0, sleep=slept.append, clock=lambda: 0.0)
    db = open_db(db_path)
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=3600,
            cdx_url=archive.cdx_url, replay_url=archive.replay_url, politeness=politeness,
        )  # fmt: skip
    assert (summary.throttled, summary.fetched, summary.outcomes) == (1, 1, {"ok": 1})
    assert 7.0 in slept  # the throttle pause, although the 429 said nothing about when to return
    assert all(s >= 0.5 for s in slept)  # and the least gap between requests
    # the Wayback Machine's own 429 is not a fetch of the site
    assert [r[1] for r in fetches(db)] == ["ok"]


def test_a_lasting_429_stops_with_a_clear_message(archive, db_path):
    archive.add(T, archive.plain(429, "<h1>429</h1>"))
    slept: list[float] = []
    politeness = Politeness(0, 60.0, max_failures=3, sleep=slept.append)
    db = open_db(db_path)
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=archive.cdx_url, replay_url=archive.replay_url, politeness=politeness,
        )  # fmt: skip
    assert summary.stopped.startswith("stopped after 3 failures in a row")
    assert slept == [60.0, 120.0]  # backing off: doubled, never shorter than the throttle pause
    assert fetches(db) == []
    with pytest.raises(ImportStopped):
        Politeness(max_failures=1).failed("x")


def test_redirect_to_nearest_capture_followed_only_nearby(cli, archive, db_path):
    near = T + timedelta(seconds=40)
    archive.add(T, archive.redirect_to(near))
    archive.answers[stamp(near)] = [rbc_page(0)]
    far_asked = T + timedelta(hours=3)
    archive.add(far_asked, archive.redirect_to(far_asked + timedelta(days=23)))
    summary = summary_of(run_import(cli, archive, db_path))
    assert (summary["fetched"], summary["not_captures"]) == (1, {"redirect_far": 1})
    db = open_db(db_path)
    [(started, outcome, _, origin, origin_ref, _)] = fetches(db)
    # stored at the instant of the capture it reached, citing that memento
    assert (started, outcome, origin) == ("2022-02-24T03:00:45Z", "ok", "wayback")
    assert origin_ref.endswith(f"/web/{stamp(near)}id_/{RBC}")


def test_blocked_and_unreadable_captures_are_recorded_with_their_bodies(cli, archive, db_path, fixture_bytes):
    qrator = fixture_bytes("qrator_401.html")
    archive.add(T, archive.memento(T, qrator, status=401))
    later = T + timedelta(hours=1)
    archive.add(later, archive.memento(later, fixture_bytes("ddos_guard_200.html")))
    old = T + timedelta(hours=2)
    archive.add(old, archive.memento(old, "<html><body><div class='b-news'>2009</div></body></html>"))
    summary = summary_of(run_import(cli, archive, db_path))
    assert summary["outcomes"] == {"blocked": 2, "parse_error": 1}
    db = open_db(db_path)
    rows = db.execute(
        "SELECT f.outcome, f.error, b.sha256 IS NOT NULL FROM fetches f "
        "LEFT JOIN bodies b ON b.sha256 = f.body_sha256 ORDER BY f.started_at"
    ).fetchall()
    assert [(r[0], r[2]) for r in rows] == [("blocked", 1), ("blocked", 1), ("parse_error", 1)]
    assert "no headline ticker" in rows[2][1]
    # never an empty ticker: nothing was seen
    assert db.execute("SELECT count(*) FROM headlines").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0


def test_old_markup_without_data_attributes_is_read(cli, archive, db_path):
    items = [Item(id=item_id(n), title=f"Старая разметка {n}", modif=False) for n in range(8)]
    archive.add(T, render_page(items))
    summary = summary_of(run_import(cli, archive, db_path))
    assert summary["outcomes"] == {"ok": 1} and summary["items_new"] == 8


def test_what_is_not_a_capture_is_never_a_fetch(cli, archive, db_path):
    excluded = archive.plain(200, "<p>Sorry. This URL has been excluded from the Wayback Machine.</p>")
    archive.add(T, excluded)
    archive.add(T + timedelta(hours=1))  # nothing to answer: 404 "has not archived that URL"
    moved = T + timedelta(hours=2)
    # the site's own 301, archived: recorded as the site's answer
    archive.add(moved, archive.memento(moved, "", status=301, headers={"Location": "/web/x/https://rbc.ru/"}))
    too_many = T + timedelta(hours=3)
    archive.add(too_many, archive.memento(too_many, "<h1>429</h1>", status=429))  # an archived 429
    summary = summary_of(run_import(cli, archive, db_path))
    assert summary["not_captures"] == {"excluded": 1, "not_archived": 1}
    db = open_db(db_path)
    assert [(r[1], r[2]) for r in fetches(db)] == [("http_error", 301), ("http_error", 429)]


def test_imported_item_is_cited_with_its_memento_and_shown_by_at(cli, archive, db_path):
    archive.add(T, rbc_page(0))
    run_import(cli, archive, db_path)
    cited = cli("cite", item_id(0), "--db", db_path)
    assert cited.exit_code == 0, cited.output
    memento = f"{archive.replay_url}{stamp(T)}id_/{RBC}"
    assert f"Wayback Machine capture of 2022-02-24T03:00:05Z: {memento}" in cited.output
    as_json = json.loads(cli("cite", item_id(0), "--db", db_path, "--json").stdout)
    capture = as_json["titles"][0]["first_fetch"]["capture"]
    assert capture == {"from": "wayback", "memento": memento, "captured_at": capture["captured_at"]}
    assert capture["captured_at"] == "2022-02-24T03:00:05Z"
    assert as_json["titles"][0]["archived_fetches_showing_it"] == [1]
    shown = cli("at", "2022-02-24 06:30", "--db", db_path)
    assert shown.exit_code == 0, shown.output
    assert "Заголовок новости номер 0" in shown.output


def test_progress_goes_to_stderr_and_json_stays_clean_through_a_pipe(archive, db_path):
    for hour in range(3):
        archive.add(T + timedelta(hours=hour), rbc_page(hour))
    result = run_ticker(
        "import", "wayback", "rbc", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--db", db_path, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["fetched"] == 3
    assert "importing captures: 3/3" in result.stderr
    assert "\x1b[" not in result.stderr  # not a terminal: plain lines, no control sequences


# Loopback addresses nothing listens on: were a check to let a bad value through, no site is reached.
NOWHERE = ("--cdx-url", "http://127.0.0.1:9/cdx", "--replay-url", "http://127.0.0.1:9/web/")


def test_bad_input_is_one_error_line(cli, db_path):
    runner_result = cli("import", "wayback", "rbc", "--every", "soon", *NOWHERE, "--db", db_path)
    assert runner_result.exit_code == 1
    assert runner_result.output.startswith("Error: bad --every")
    bad_url = cli("import", "wayback", "rbc", "--cdx-url", "ftp://x", "--db", db_path)
    assert bad_url.output.strip().splitlines() == [
        "Error: --cdx-url = 'ftp://x': must be an http:// or https:// address"
    ]
    assert not db_path.exists()


@pytest.mark.parametrize(
    "option, value",
    [("--cdx-url", "http://127.0.0.1:99999/"), ("--cdx-url", "http://[::1"), ("--replay-url", "http://[::1")],
)
def test_bad_addresses_are_one_error_line_before_any_request(db_path, option, value):
    """Was: a port out of range retried for 75 s; an unclosed IPv6 bracket was a traceback."""
    result = run_ticker(
        "import", "wayback", "rbc", option, value, "--pause", "0", "--db", db_path, timeout=20
    )
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {option} = {value!r}: ")
    assert result.stdout == "" and not db_path.exists()


def test_a_refused_cdx_server_stops_at_once_says_it_once_and_creates_no_database(db_path):
    """Nothing listens at --cdx-url (a local mistake): was 75 s of retries (5+10+20+40 s), the
    reason printed twice and a new empty database left behind."""
    import socket
    import time

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.monotonic()
    result = run_ticker(
        "import", "wayback", "rbc", "--cdx-url", f"http://127.0.0.1:{port}/cdx", "--replay-url",
        f"http://127.0.0.1:{port}/web/", "--db", db_path, timeout=30,
    )  # fmt: skip
    assert time.monotonic() - began < 15
    assert result.returncode == 1
    assert result.stderr.count("connection refused") == 1, result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: CDX query failed: could not connect to 127.0.0.1:{port}: connection refused")
    )
    assert not db_path.exists()


def _cdx_page(*timestamps: str, key: str | None) -> str:
    rows = [["timestamp", "original", "statuscode", "mimetype", "digest"]]
    rows += [[ts, RBC, "200", "text/html", "D" + ts] for ts in timestamps]
    return json.dumps(rows + ([[], [key]] if key else []))


def test_a_cdx_server_repeating_its_resumption_key_stops(httpserver, db_path):
    """Was: 67,409 CDX requests in 150 s, never ending (the same key each time)."""
    asked: list[dict] = []

    def answer(request):
        from werkzeug import Response

        asked.append(dict(request.args))
        if len(asked) > 50:  # only so that the code before the fix ends
            return Response("[]", content_type="application/json")
        return Response(_cdx_page(stamp(T), key="ru,rbc)/ 20220224030006"), content_type="application/json")

    httpserver.expect_request("/cdx/search/cdx").respond_with_handler(answer)
    db = open_db(db_path)
    with make_client() as client:
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=httpserver.url_for("/cdx/search/cdx"), replay_url=httpserver.url_for("/web/"),
            politeness=Politeness(0, 0),
        )  # fmt: skip
    assert len(asked) == 2 and asked[1]["resumeKey"] == "ru,rbc)/ 20220224030006"
    assert summary.stopped.startswith("CDX query stopped: the server gave the resumption key")
    assert summary.fetched == 0


def test_cdx_paging_is_capped(httpserver, db_path, monkeypatch):
    asked: list[int] = []

    def answer(request):
        from werkzeug import Response

        asked.append(1)
        key = None if len(asked) > 50 else f"ru,rbc)/ {len(asked)}"  # a new key each page
        return Response(
            _cdx_page(stamp(T + timedelta(minutes=len(asked))), key=key), content_type="application/json"
        )

    httpserver.expect_request("/cdx/search/cdx").respond_with_handler(answer)
    monkeypatch.setattr(wb, "MAX_CDX_PAGES", 3)
    db = open_db(db_path)
    with make_client() as client:
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=httpserver.url_for("/cdx/search/cdx"), replay_url=httpserver.url_for("/web/"),
            politeness=Politeness(0, 0),
        )  # fmt: skip
    assert len(asked) == 3
    assert summary.stopped == (
        "CDX query stopped: more than 3 pages of 5000 captures; ask for a shorter range (--from, --to)"
    )
    assert wb.MAX_CDX_PAGES == 3 and summary.fetched == 0


def test_captures_dated_outside_the_time_bounds_are_skipped_and_said(cli, archive, db_path):
    """Was: a CDX row of 9999-12-31T23:59:59Z was stored, and `status`, `cite` and `serve` failed
    on it for good (OverflowError showing it in Moscow time)."""
    archive.add(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), rbc_page(0))
    archive.add(datetime(1970, 1, 1, tzinfo=UTC), rbc_page(0))
    archive.add(T, rbc_page(0))
    lying = T + timedelta(hours=1)  # a memento whose Memento-Datetime is out of bounds
    archive.add(lying, archive.memento(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), rbc_page(1)))
    result = run_import(cli, archive, db_path)
    summary = summary_of(result)
    assert (summary["found"], summary["fetched"], summary["not_captures"]) == (4, 1, {"out_of_range": 3})
    assert stamp(datetime(1970, 1, 1, tzinfo=UTC)) not in archive.memento_requests  # never asked for
    assert any("dated 9999-12-31T23:59:59Z, outside the years 1990..2100" in w for w in summary["warnings"])
    db = open_db(db_path)
    assert [r[0] for r in fetches(db)] == ["2022-02-24T03:00:05Z"]
    text = cli(
        "import", "wayback", "rbc", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--db", db_path,
    ).output  # fmt: skip
    assert "warning: skipped CDX row 99991231235959 https://www.rbc.ru/: dated 9999-12-31T23:59:59Z" in text
    assert "3 out of range" in text
    assert cli("cite", item_id(0), "--db", db_path).exit_code == 0
    assert cli("status", "--db", db_path).exit_code == 0


def test_a_capture_stored_meanwhile_by_another_import_is_stored_once(archive, db_path):
    """Three imports of the same captures at once stored each one three times: the "already
    imported" check was made before the request, outside the write transaction."""
    archive.add(T, rbc_page(0))
    archive.add(T + timedelta(hours=1), rbc_page(1))
    spec = builtin_source("rbc")
    options = dict(start=None, end=None, every_s=0, cdx_url=archive.cdx_url, replay_url=archive.replay_url)

    class Racing(Politeness):
        def before_request(self) -> None:
            super().before_request()
            if self.requests == 2:  # this import has listed the captures: another one stores them all
                with make_client() as other_client:
                    other_client.follow_redirects = False
                    other = import_wayback(
                        open_db(db_path), other_client, spec, politeness=Politeness(0, 0), **options
                    )
                assert other.fetched == 2

    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(open_db(db_path), client, spec, politeness=Racing(0, 0), **options)
    assert (summary.fetched, summary.skipped) == (0, 2)
    # the memento in flight when the other import stored it was asked for again; the next was not
    assert sorted(archive.memento_requests) == [stamp(T), stamp(T), stamp(T + timedelta(hours=1))]
    stored = (
        open_db(db_path)
        .execute("SELECT origin_ref, count(*) FROM fetches GROUP BY origin_ref ORDER BY 1")
        .fetchall()
    )
    assert [n for _, n in stored] == [1, 1]


def test_changes_does_not_say_not_seen_live_of_an_item_a_live_poll_showed(cli, archive, httpserver, db_path):
    """An item first seen in a capture and then on the live page was labelled
    "imported (wayback): not seen live"."""
    earlier = T - timedelta(hours=2)
    archive.add(earlier, rbc_page(0))  # items 0..13
    run_import(cli, archive, db_path)
    httpserver.expect_request(f"/live/{stamp(T)}").respond_with_data(
        rbc_page(3), content_type="text/html; charset=utf-8"
    )  # items 3..16: 3..13 seen live too
    with make_client() as client:
        _live_poll(open_db(db_path), client, httpserver, T)
    since, until = (earlier - timedelta(minutes=1)).isoformat(), (T + timedelta(minutes=1)).isoformat()
    events = json.loads(cli("changes", "--since", since, "--until", until, "--json", "--db", db_path).stdout)
    new = {e["headline_id"]: e for e in events if e["event"] == "new"}
    assert (new[item_id(0)]["origin"], new[item_id(0)]["seen_live"]) == ("wayback", 0)
    assert (new[item_id(5)]["origin"], new[item_id(5)]["seen_live"]) == ("wayback", 1)
    assert new[item_id(16)]["origin"] is None
    text = cli("changes", "--since", since, "--until", until, "--db", db_path).output

    def line_of(number: int) -> str:
        return next(line for line in text.splitlines() if re.search(rf"номер {number}(?!\d)", line))

    assert "imported (wayback): not seen live" in line_of(0)
    assert "imported (wayback): later also seen live" in line_of(5)


def test_bank_of_russia_daily_xml_and_rbc_rss_captures(cli, archive, db_path, fixture_bytes):
    daily = "https://www.cbr.ru/scripts/XML_daily.asp"
    xml = {"Content-Type": "application/xml; charset=windows-1251"}
    archive.add(T, archive.memento(T, fixture_bytes("cbr_daily_2024-11-26.xml"), headers=xml), original=daily)
    result = cli(
        "import", "wayback", "cbr", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--db", db_path, "--json",
    )  # fmt: skip
    assert summary_of(result)["outcomes"] == {"ok": 1}
    assert archive.cdx_requests[-1]["url"] == daily
    db = open_db(db_path)
    rates = db.execute(
        "SELECT currency, rate_date, value, first_seen FROM rates ORDER BY currency"
    ).fetchall()
    assert ("USD", "2024-11-26", "103.7908", "2022-02-24T03:00:05Z") in rates

    rss = "https://rssexport.rbc.ru/rbcnews/news/30/full.rss"
    later = T + timedelta(hours=1)
    feed = archive.memento(
        later, fixture_bytes("rss_rbc_https.xml"), headers={"Content-Type": "application/rss+xml"}
    )
    archive.add(later, feed, original=rss)
    result = run_import(cli, archive, db_path, "--channel", "rss", "--from", "2022-02-24T06:30")
    assert summary_of(result)["outcomes"] == {"ok": 1}
    assert archive.cdx_requests[-1]["url"] == rss
    channels = db.execute("SELECT DISTINCT channel FROM sightings").fetchall()
    assert channels == [("rss",)]
    bad = run_import(cli, archive, db_path, "--channel", "telegram")
    assert bad.exit_code == 1 and "rbc has no channel 'telegram'" in bad.output


def _live_poll(db, client, httpserver, at: datetime):
    from ticker.jobs.poll import poll

    return poll(
        db, client, builtin_source("rbc"), url=httpserver.url_for(f"/live/{stamp(at)}"), now=lambda: at
    )


@pytest.mark.parametrize("order", ["live-then-import", "import-then-live"])
def test_history_is_the_same_whatever_the_order_of_arrival(cli, archive, httpserver, tmp_path, order):
    """Live polls through the real poll path and captures through the real import, in both
    orders, against a reference where every page was a live poll in time order."""
    from helpers_import import presence

    pages = {  # minutes after T -> page
        -180: rbc_page(0, retitle="Первая версия заголовка"),  # captures, before ticker ran
        -120: rbc_page(1),
        0: rbc_page(4),  # live polls, two minutes apart
        2: rbc_page(5),
    }
    for minutes, body in pages.items():
        httpserver.expect_request(f"/live/{stamp(T + timedelta(minutes=minutes))}").respond_with_data(
            body, content_type="text/html; charset=utf-8"
        )
    captures = [m for m in pages if m < 0]
    for minutes in captures:
        archive.add(T + timedelta(minutes=minutes), pages[minutes])

    def live(db_file):
        db = open_db(db_file)
        with make_client() as client:
            for minutes in (m for m in pages if m >= 0):
                _live_poll(db, client, httpserver, T + timedelta(minutes=minutes))

    reference = tmp_path / "reference.db"
    ref_db = open_db(reference)
    with make_client() as client:
        for minutes in sorted(pages):
            _live_poll(ref_db, client, httpserver, T + timedelta(minutes=minutes))

    target = tmp_path / "target.db"
    if order == "live-then-import":
        live(target)
        run_import(cli, archive, target)
    else:
        run_import(cli, archive, target)
        live(target)
    got, want = presence(open_db(target)), presence(open_db(reference))
    for table in ("headlines", "headline_titles", "title_changes", "sightings", "rates"):
        assert got[table] == want[table], table
    first_seen = (
        open_db(target).execute("SELECT first_seen FROM headlines WHERE id = ?", [item_id(1)]).fetchone()
    )
    assert first_seen == ("2022-02-24T00:00:05Z",)


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(archive, db_path):
    for hour in range(3):
        archive.add(T + timedelta(hours=hour), rbc_page(hour))

    class Interrupting(Politeness):
        def before_request(self) -> None:
            super().before_request()
            if self.requests == 3:  # the CDX query, the first memento, then Ctrl-C
                raise KeyboardInterrupt

    db = open_db(db_path)
    spec = builtin_source("rbc")
    with make_client() as client:
        client.follow_redirects = False
        options = dict(
            start=None, end=None, every_s=0, cdx_url=archive.cdx_url, replay_url=archive.replay_url
        )
        summary = import_wayback(db, client, spec, politeness=Interrupting(0, 0), **options)
        assert (summary.interrupted, summary.fetched) == (True, 1)
        assert "run the same command again to resume" in "\n".join(summary.lines())
        # what was stored is history already: re-derived, not half-written
        assert db.execute("SELECT count(*) FROM sightings").fetchone()[0] == 14
        archive.memento_requests.clear()
        resumed = import_wayback(db, client, spec, politeness=Politeness(0, 0), **options)
    assert (resumed.interrupted, resumed.skipped, resumed.fetched) == (False, 1, 2)
    assert archive.memento_requests == [stamp(T + timedelta(hours=h)) for h in (1, 2)]


def test_a_blocked_site_at_the_cdx_api_is_one_error_line(cli, httpserver, db_path):
    httpserver.expect_request("/cdx/search/cdx").respond_with_data(
        "org.archive.wayback.exception.AdministrativeAccessControlException: Blocked Site Error",
        status=403,
        headers={
            "X-Archive-Wayback-Runtime-Error": "AdministrativeAccessControlException: Blocked Site Error"
        },
    )
    result = cli(
        "import", "wayback", "rbc", "--cdx-url", httpserver.url_for("/cdx/search/cdx"), "--pause", "0",
        "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: CDX query failed: HTTP 403") and "Blocked Site Error" in last
    assert open_db(db_path).execute("SELECT count(*) FROM fetches").fetchone()[0] == 0


@pytest.mark.parametrize(
    "option, value", [("--pause", "1e300"), ("--throttle-pause", "inf"), ("--from", "1990-01-01")]
)
def test_numbers_and_dates_are_checked_at_the_edge(cli, db_path, option, value):
    result = cli("import", "wayback", "rbc", option, value, *NOWHERE, "--db", db_path)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: bad {option}") and len(result.output.strip().splitlines()) == 1


def test_a_429_from_the_cdx_api_pauses_then_the_query_goes_on(archive, httpserver, db_path):
    from werkzeug import Response

    archive.add(T, rbc_page(0))
    answers = [Response("<h1>429 Too Many Requests</h1>", status=429, content_type="text/html")]
    real = archive._cdx
    httpserver.clear_all_handlers()
    httpserver.expect_request("/cdx/search/cdx").respond_with_handler(
        lambda request: answers.pop() if answers else real(request)
    )
    httpserver.expect_request(re.compile(r"^/web/")).respond_with_handler(archive._replay)
    slept: list[float] = []
    db = open_db(db_path)
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=archive.cdx_url, replay_url=archive.replay_url,
            politeness=Politeness(0, 30.0, sleep=slept.append),
        )  # fmt: skip
    assert (summary.throttled, summary.fetched, slept) == (1, 1, [30.0])


def test_cdx_5xx_is_retried_then_a_lasting_one_stops(httpserver, db_path):
    httpserver.expect_request("/cdx/search/cdx").respond_with_data(
        "<h1>504 Gateway Time-out</h1>", status=504
    )
    slept: list[float] = []
    db = open_db(db_path)
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            db, client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=httpserver.url_for("/cdx/search/cdx"), replay_url=httpserver.url_for("/web/"),
            politeness=Politeness(0, 60, max_failures=3, sleep=slept.append),
        )  # fmt: skip
    assert summary.stopped == "stopped after 3 failures in a row; last: CDX query: HTTP 504 GATEWAY TIMEOUT"
    assert slept == [5.0, 10.0]
    assert len(httpserver.log) == 3


def test_a_cdx_answer_listing_nothing_creates_no_database(cli, archive, db_path):
    result = run_import(cli, archive, db_path, "--from", "2022-02-24", "--to", "2022-02-24")
    assert result.exit_code == 0 and summary_of(result)["found"] == 0
    assert not db_path.exists()


def test_a_refused_replay_server_stops_at_the_first_memento(archive, db_path):
    """Was: 5 tries with pauses of 5+10+20+40 s before stopping."""
    import socket

    archive.add(T, rbc_page(0))
    archive.add(T + timedelta(hours=1), rbc_page(1))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slept: list[float] = []
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            open_db(db_path), client, builtin_source("rbc"), start=None, end=None, every_s=0,
            cdx_url=archive.cdx_url, replay_url=f"http://127.0.0.1:{port}/web/",
            politeness=Politeness(0, 60, sleep=slept.append),
        )  # fmt: skip
    assert summary.stopped.startswith(f"memento http://127.0.0.1:{port}/web/{stamp(T)}id_/{RBC}: could not")
    assert "connection refused" in summary.stopped and summary.stopped.endswith("check --replay-url")
    assert (summary.failed, summary.fetched, slept) == (1, 0, [])
