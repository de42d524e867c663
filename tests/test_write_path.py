"""The write path decides against the state inside its transaction (issue 12): conditional state
belongs to the exact address, two writers cannot make the snapshots and sightings disagree,
foreign and newer databases are refused untouched, secrets never reach the database, and
backfills stop early and say nothing of the live source's health."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers_history import assert_snapshots_match_sightings
from rbc_markup import render_page, standard_items
from werkzeug import Request, Response

from ticker.core.politeness import MAX_CONSECUTIVE_FAILURES
from ticker.db.schema import connect, open_db
from ticker.db.writes import Attempt, save_attempt
from ticker.jobs import poll as poll_module
from ticker.jobs.poll import poll
from ticker.jobs.sources import builtin_source
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=windows-1251"


def page(start: int) -> bytes:
    return render_page(standard_items(14, start=start, newest=T0)).encode()


class ConditionalServer:
    """Serves a body per path with an ETag and Last-Modified, and answers 304 to a request
    whose validator matches *any* body it served (as a cache in front of mirrors might)."""

    def __init__(self, httpserver, bodies: dict[str, tuple[bytes, str]], *, one_etag: bool = True):
        self.bodies = bodies
        self.one_etag = one_etag
        self.requests: list[dict] = []
        httpserver.expect_request("").respond_with_handler(self.handle)
        self.url = httpserver.url_for

    def handle(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        body, content_type = self.bodies[request.path]
        # One validator for every address (the trap of issue 12), or one per body (a good server).
        etag = '"same-everywhere"' if self.one_etag else f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type=content_type, headers={"ETag": etag})


@pytest.fixture
def client():
    with make_client(read_timeout_s=5) as http_client:
        yield http_client


def test_conditional_state_belongs_to_the_exact_address(httpserver, fixture_bytes, db_path, client):
    server = ConditionalServer(
        httpserver,
        {
            "/26.xml": (fixture_bytes("cbr_daily_2024-11-26.xml"), XML),
            "/27.xml": (fixture_bytes("cbr_daily_2024-11-27.xml"), XML),
        },
    )
    db = open_db(db_path)
    cbr = builtin_source("cbr")
    first = poll(db, client, cbr, url=server.url("/26.xml"), now=lambda: T0)
    second = poll(db, client, cbr, url=server.url("/27.xml"), now=lambda: T0 + timedelta(hours=1))
    again = poll(db, client, cbr, url=server.url("/27.xml"), now=lambda: T0 + timedelta(hours=2))
    assert (first.outcome, second.outcome, again.outcome) == ("ok", "ok", "unchanged")
    assert "If-None-Match" not in server.requests[1]  # a new address gets no validators
    assert server.requests[2].get("If-None-Match") == '"same-everywhere"'
    days = [row[0] for row in db.execute("SELECT DISTINCT rate_date FROM rates ORDER BY 1").fetchall()]
    assert len(days) == 2  # the 27th's rates are stored


def test_a_mirror_serving_a_challenge_is_blocked_not_unchanged(httpserver, fixture_bytes, db_path, client):
    server = ConditionalServer(
        httpserver, {"/": (page(0), HTML), "/mirror/": (fixture_bytes("ddos_guard_200.html"), HTML)}
    )
    db = open_db(db_path)
    rbc = builtin_source("rbc")
    assert poll(db, client, rbc, url=server.url("/"), now=lambda: T0).outcome == "ok"
    mirror = poll(db, client, rbc, url=server.url("/mirror/"), now=lambda: T0 + timedelta(minutes=2))
    assert mirror.outcome == "blocked" and mirror.items_found == 0
    assert mirror.row is not None and "challenge" in (mirror.row.error or "")
    assert_snapshots_match_sightings(db_path)


def test_the_same_body_after_another_writer_is_parsed_again(httpserver, db_path, client, monkeypatch):
    """Fetch A reads the state (body X) and waits; fetch B stores Y meanwhile; A's answer is X
    again (a 304 to X's validators). A saw X's list again: it is `unchanged` with X's snapshot,
    never extending Y's runs: it started before B, so it is merged into the history where it
    belongs in time, and the channel still ends on Y. (Before issue 19 the writer refused the
    304 and asked again without validators: the log now says what A saw, whoever wrote between.)"""
    bodies = {"/": (page(0), HTML)}
    ConditionalServer(httpserver, bodies, one_etag=False)
    url = httpserver.url_for("/")
    rbc = builtin_source("rbc")
    db = open_db(db_path)
    assert poll(db, client, rbc, url=url, now=lambda: T0).outcome == "ok"  # X

    real_request = poll_module.request
    other = open_db(db_path)

    def request_while_another_writer_saves(*args, **kwargs):
        attempt = real_request(*args, **kwargs)  # A's answer: X (read with X's validators)
        bodies["/"] = (page(3), HTML)  # B, another process, polls and stores Y
        monkeypatch.setattr(poll_module, "request", real_request)
        assert poll(other, client, rbc, url=url, now=lambda: T0 + timedelta(minutes=3)).outcome == "ok"
        bodies["/"] = (page(0), HTML)
        return attempt

    monkeypatch.setattr(poll_module, "request", request_while_another_writer_saves)
    # A's request carried X's ETag: the server answers 304 (it holds X again).
    saved = poll(db, client, rbc, url=url, now=lambda: T0 + timedelta(minutes=2))
    assert saved.outcome == "unchanged" and saved.items_new == 0
    assert_snapshots_match_sightings(db_path)
    open_ids = {row[0] for row in db.execute("SELECT headline_id FROM sightings WHERE exit_fetch_id IS NULL")}
    y_ids = {headline_id for headline_id, _ in _snapshot_items(db, 2)}
    assert open_ids == y_ids  # the channel ends on B's list
    gone = db.execute("SELECT count(*), min(exit_fetch_id) FROM sightings WHERE exit_reason IS NOT NULL")
    assert gone.fetchone() == (3, 2)  # X's last three items left at B, not at A
    shown_at_a = {headline_id for headline_id, _ in _snapshot_items(db, 3)}
    assert shown_at_a == {headline_id for headline_id, _ in _snapshot_items(db, 1)}


def _snapshot_items(db, fetch_id: int) -> list:
    import json

    found = db.execute(
        "SELECT s.items FROM fetches f JOIN snapshots s ON s.id = f.snapshot_id WHERE f.id = ?", [fetch_id]
    ).fetchone()
    return json.loads(found[0])


def test_a_shortcut_from_another_address_sees_that_address_s_list(httpserver, db_path, client):
    """The channel's latest success is another address's: a 304 to X's validators, or X's body
    again, saw X's list (its snapshot), not the latest one. (Before issue 19 the writer refused
    both, NeedsRefetch / NeedsParse, and the poll asked again.)"""
    ConditionalServer(httpserver, {"/": (page(0), HTML)})
    url = httpserver.url_for("/")
    rbc = builtin_source("rbc")
    db = open_db(db_path)
    x = poll(db, client, rbc, url=url, now=lambda: T0)
    poll(db, client, rbc, url=httpserver.url_for("/") + "?mirror=1", now=lambda: T0 + timedelta(minutes=1))
    key = db.execute("SELECT address_sha256 FROM address_state WHERE fetch_id = ?", [x.fetch_id]).fetchone()[
        0
    ]
    for minutes, not_modified in ((2, True), (3, False)):
        row = x.row
        row.id, row.log_at, row.outcome = None, None, "ok"
        row.started_at = (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        stale = Attempt(row=row, address_key=key, not_modified=not_modified, based_on=x.fetch_id)
        saved = save_attempt(db, stale, ordered=True)
        assert saved.outcome == "unchanged" and saved.snapshot_id == x.snapshot_id
    assert_snapshots_match_sightings(db_path)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def newer_db(db_path) -> Path:
    db = open_db(db_path)
    db.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('ticker', '0099_future', 'x')"
    )
    db.conn.close()
    return db_path


@pytest.mark.parametrize(
    "args",
    [
        ("fetch", "rbc", "--url", "http://127.0.0.1:9/"),
        ("at", "2024-11-25 18:57"),
        ("changes", "--since", "1d"),
        ("status",),
        ("archive", "stats"),
        ("cite", "68385b7b9a7947c6045654e8"),
    ],
)
def test_a_newer_tickers_database_is_refused_untouched(cli, newer_db, args):
    before = file_digest(newer_db)
    result = cli(*args, "--db", newer_db)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "newer ticker" in lines[0], result.output
    assert file_digest(newer_db) == before
    views = connect(newer_db, read_only=True).execute("SELECT count(*) FROM sqlite_master").fetchone()
    assert views[0] > 0


@pytest.mark.parametrize(
    "args",
    [
        ("cite", "68385b7b9a7947c6045654e8"),
        ("archive", "stats"),
        ("reparse", "--into", "{tmp}/new.db"),
        ("at", "now"),
        ("status",),
        ("fetch", "rbc", "--url", "http://127.0.0.1:9/"),
    ],
)
def test_commands_leave_a_foreign_sqlite_file_as_it_was(cli, tmp_path, args):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.commit()
    conn.close()
    before = file_digest(other)
    result = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], "--db", other)
    assert result.exit_code != 0
    assert "not a ticker database" in result.output, result.output
    assert file_digest(other) == before
    tables = [row[0] for row in sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall()]
    assert tables == ["notes"]


def database_text(path: Path) -> bytes:
    """Every byte of the database and its WAL: a secret must be in none of them."""
    data = path.read_bytes()
    wal = Path(f"{path}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize(
    "command",
    [
        ["backfill-rates", "--from", "2024-01-09", "--to", "2024-01-10", "--pause", "0", "--url"],
        ["backfill", "rbc", "--pause", "0", "--max-pages", "1", "--url"],
        ["fetch", "cbr", "--url"],
    ],
)
@pytest.mark.parametrize("secret_in", ["query", "userinfo"])
def test_secrets_in_an_address_never_reach_the_database(httpserver, cli, db_path, command, secret_in):
    httpserver.expect_request("").respond_with_data("nope", status=500)
    base = httpserver.url_for("/feed/lastDate/{last_date}/limit/{limit}")
    if secret_in == "query":
        url = f"{base}?token=SECRET-TOKEN-1&api_key=SECRET-KEY-2"
    else:
        url = base.replace("http://", "http://reader:SECRET-PASSWORD-3@")
    result = cli(*command, url, "--db", db_path)
    assert result.exit_code != 0  # the server failed every request
    stored = database_text(db_path)
    assert b"SECRET" not in stored
    assert b"***" in stored  # the address is recorded, redacted
    assert "SECRET" not in result.output


def test_a_failed_backfill_stops_early_and_leaves_the_live_health_alone(cli, db_path):
    closed = "http://127.0.0.1:9/scripts/XML_dynamic.asp"  # port 9 (discard): nothing listens
    result = cli("backfill-rates", "--from", "2015-01-01", "--to", "2024-12-31", "--pause", "0",
                 "--url", closed, "--db", db_path)  # fmt: skip
    assert result.exit_code != 0
    assert f"{MAX_CONSECUTIVE_FAILURES} failed requests in a row" in result.output  # the one politeness
    db = open_db(db_path)
    assert db.execute("SELECT count(*) FROM fetches").fetchone()[0] == MAX_CONSECUTIVE_FAILURES  # of 20
    assert db.execute("SELECT count(*) FROM fetches WHERE origin = 'backfill'").fetchone()[0] == 5
    assert db.execute("SELECT count(*) FROM outage_runs").fetchone()[0] == 0
    assert db.execute("SELECT coalesce(sum(attempts), 0) FROM fetch_hours").fetchone()[0] == 0


def test_a_live_poll_after_a_backfill_is_judged_on_its_own(httpserver, fixture_bytes, cli, db_path, client):
    """A backfill that read RBC's RSS records the body it got, but never as the live channel's
    "same body as before": the live poll of the same address right after is parsed and leaves a
    snapshot (an `unchanged` would point at none)."""
    httpserver.expect_request("/rss").respond_with_data(
        fixture_bytes("rss_rbc_https.xml"), content_type="application/rss+xml"
    )
    url = httpserver.url_for("/rss")
    backfilled = cli("backfill", "rbc", "--channel", "rss", "--url", url, "--pause", "0", "--db", db_path)
    assert backfilled.exit_code == 0, backfilled.output
    db = open_db(db_path)
    assert db.execute("SELECT origin, body_sha256 IS NOT NULL FROM fetches").fetchall() == [("backfill", 1)]
    assert db.execute("SELECT count(*) FROM address_state").fetchone() == (0,)
    live = poll(db, client, builtin_source("rbc"), channel="rss", url=url, now=lambda: T0)
    assert live.outcome == "ok" and live.snapshot_id is not None and live.items_found > 0
    assert_snapshots_match_sightings(db_path)


def test_unchanged_polls_keep_sightings_and_snapshots_in_step(httpserver, db_path, client):
    ConditionalServer(httpserver, {"/": (page(0), HTML)})
    url = httpserver.url_for("/")
    rbc = builtin_source("rbc")
    db = open_db(db_path)
    outcomes = [poll(db, client, rbc, url=url, now=lambda m=m: T0 + timedelta(minutes=2 * m)).outcome
                for m in range(3)]  # fmt: skip
    assert outcomes == ["ok", "unchanged", "unchanged"]
    assert_snapshots_match_sightings(db_path)


def test_a_one_off_fetch_leaves_the_configured_source_as_recorded(httpserver, cli, tmp_path):
    httpserver.expect_request("/").respond_with_data(page(0), content_type=HTML)
    config = tmp_path / "t.toml"
    config.write_text(
        f'db = "t.db"\n[sources.rbc]\nkind = "rbc"\nurl = "{httpserver.url_for("/")}"\nevery = "10m"\n'
    )
    assert cli("fetch", "rbc", "--config", config).exit_code == 0
    result = cli("fetch", "rbc", "--url", "http://127.0.0.1:9/", "--db", tmp_path / "t.db")
    assert result.exit_code == 1  # nothing listens there: recorded as a failure
    row = open_db(tmp_path / "t.db").execute("SELECT every_s, url FROM sources WHERE name = 'rbc'").fetchone()
    assert row == (600.0, httpserver.url_for("/"))


CLOSED = "http://127.0.0.1:9/"  # nothing listens: were a check to let a value through, no site is reached
CLOSED_FEED = "http://127.0.0.1:9/feed/lastDate/{last_date}/limit/{limit}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fetch", "rbc", "--url", "http://[::1"), "--url"),
        (("fetch", "rbc", "--url", "http://127.0.0.1:99999/"), "bad port"),
        (("fetch", "cbr", "--date", "0001-01-01", "--url", CLOSED), "outside the years"),
        (("backfill", "rbc", "--pause", "inf", "--url", CLOSED_FEED), "--pause"),
        (("backfill", "rbc", "--pause", "nan", "--url", CLOSED_FEED), "--pause"),
        (("backfill", "rbc", "--max-pages", "1e309", "--url", CLOSED_FEED), "--max-pages"),
        (("backfill-rates", "--from", "2024-01-01", "--pause", "1e20", "--url", CLOSED), "--pause"),
        (("backfill-rates", "--from", "2024-01-01", "--url", "http://[::1"), "--url"),
        (("backfill-rates", "--from", "9999-01-01", "--url", CLOSED), "outside the years"),
    ],
)
def test_bad_numbers_days_and_addresses_are_one_error_line_before_any_request(cli, db_path, args, message):
    result = cli(*args, "--db", db_path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
    assert not db_path.exists()  # refused before the database is opened or any request is made
