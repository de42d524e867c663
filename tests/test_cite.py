"""Citations: every title version, sightings in Moscow and UTC, fetches, body hashes, commands."""

from __future__ import annotations

import hashlib
import json
import shlex
from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import Item, item_id, render_page, standard_items

from ticker.core.base import Rate, RatesDocument
from ticker.core.settings import ArchiveSettings
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, register_source, save_rates
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)
HID = item_id(777)
OLD_TITLE = "Путин провел совещание"
NEW_TITLE = "Путин провел совещание по экономике"


@pytest.fixture
def recorded(httpserver, tmp_path):
    db_path = tmp_path / "cite.db"
    db = open_db(db_path)
    spec = SourceSpec(name="rbc", kind="rbc", url=httpserver.url_for("/"))
    # as `ticker fetch` and the daemon do: which source shows rates on a ticker, which is official
    register_source(db, "rbc", "rbc", spec.url, 120, ["page"], "2024-11-25T15:00:00Z", ticker_channel="page")
    register_source(db, "cbr", "cbr", "http://cbr.test/daily", 3600, ["xml_daily"], "2024-11-25T15:00:00Z")
    pages = [
        render_page([Item(id=HID, title=OLD_TITLE), *standard_items(6)]),
        render_page([Item(id=HID, title=NEW_TITLE), *standard_items(6)]),
        render_page(
            [Item(id=HID, title=NEW_TITLE), *standard_items(6)],
            updated=datetime(2024, 11, 25, 16, 9, tzinfo=UTC),
        ),
    ]
    with make_client() as client:
        for n, page in enumerate(pages):
            httpserver.clear_all_handlers()
            httpserver.expect_request("/").respond_with_data(page, content_type="text/html; charset=utf-8")
            at = T0 + timedelta(minutes=2 * n)
            poll(db, client, spec, now=lambda at=at: at, archive=ArchiveSettings(keep="changed"))
    row = FetchRow(
        source="cbr",
        channel="xml_daily",
        url="http://cbr.test/daily",
        started_at="2024-11-25T13:00:00Z",
        outcome="ok",
    )
    save_rates(
        db,
        row,
        RatesDocument(
            "2024-11-26", (Rate("EUR", "2024-11-26", "108.8716", nominal=1, raw_value="108,8716"),)
        ),
    )
    return db_path, [hashlib.sha256(page.encode()).hexdigest() for page in pages]


def test_headline_citation_matches_stored_rows(recorded, cli):
    db_path, shas = recorded
    result = cli("cite", HID, "--db", db_path, "--json")
    assert result.exit_code == 0
    cited = json.loads(result.output)
    db = open_db(db_path)
    titles = db.execute(
        "SELECT title, first_seen, last_seen, first_fetch_id, last_fetch_id FROM headline_titles "
        "WHERE headline_id = ? ORDER BY first_seen",
        [HID],
    ).fetchall()
    assert [(t["title"], t["first_seen"], t["last_seen"], t["first_fetch"]["fetch_id"], t["last_fetch"]["fetch_id"])
            for t in cited["titles"]] == [tuple(t) for t in titles]  # fmt: skip
    assert titles[0][0] == OLD_TITLE and titles[1][:3] == (
        NEW_TITLE,
        "2024-11-25T16:02:00Z",
        "2024-11-25T16:04:00Z",
    )
    first = cited["titles"][0]
    assert first["first_seen"] == "2024-11-25T16:00:00Z"
    assert first["first_fetch"]["body_sha256"] == shas[0] and first["first_fetch"]["body_archived"]
    assert cited["url"] == f"https://www.rbc.ru/rbcfreenews/{HID}"
    # The third body changed nothing and was not kept; the evidence points at kept ones.
    last = cited["titles"][1]["last_fetch"]
    assert last["fetch_id"] == 3 and last["body_sha256"] == shas[2] and not last["body_archived"]
    assert cited["titles"][1]["archived_fetches_showing_it"] == [2]
    assert cited["sightings"][0]["exit_fetch_id"] is None


def test_commands_it_prints_re_extract_the_title(recorded, cli):
    db_path, shas = recorded
    text = cli("cite", HID, "--db", db_path).output
    assert f"Title 1: {OLD_TITLE}" in text and f"Title 2: {NEW_TITLE}" in text
    assert "first seen 2024-11-25 19:00:00 MSK (2024-11-25T16:00:00Z)" in text
    assert f"body sha256 {shas[2]} (not archived)" in text
    show = next(line.split("$ ", 1)[1] for line in text.splitlines() if "ticker archive show" in line)
    args = shlex.split(show.split(">")[0])[1:]
    body = cli(*args).stdout_bytes
    assert hashlib.sha256(body).hexdigest() == shas[0] and OLD_TITLE.encode() in body
    again = next(line.split("$ ", 1)[1] for line in text.splitlines() if "reparse --fetch 2" in line)
    extracted = cli(*shlex.split(again.split("|")[0])[1:]).output
    assert f"{HID}\t2024-11-25T15:54:00Z\t{NEW_TITLE}" in extracted


def test_rate_citation(recorded, cli):
    db_path, _ = recorded
    db = open_db(db_path)
    rate_id, value, first_fetch, last_fetch = db.execute(
        "SELECT id, value, first_fetch_id, last_fetch_id FROM rates WHERE source = 'rbc' AND currency = 'EUR'"
    ).fetchone()
    cited = json.loads(cli("cite", f"rate:{rate_id}", "--db", db_path, "--json").output)
    assert (cited["value"], cited["rate_date"], cited["change"]) == (value, "2024-11-26", "+1.45")
    assert (
        (cited["first_fetch"]["fetch_id"], cited["last_fetch"]["fetch_id"])
        == (first_fetch, last_fetch)
        == (1, 3)
    )
    assert cited["archived_fetches_showing_it"] == [1, 2]
    assert cited["rate_id"] == rate_id and cited["short_id"] == f"rate:{rate_id}"
    official = cited["compared_with"][0]
    assert (official["value"], official["official"], official["mismatch"]) == ("108.8716", True, False)
    text = cli("cite", f"rate:{rate_id}", "--db", db_path).output
    assert "EUR 108.87 for 2024-11-26" in text and "Bank of Russia (cbr) for that day: 108.8716" in text
    assert "rbc's 108.87 agrees with it" in text


@pytest.mark.parametrize(
    ("ident", "message"),
    [("nope", "no headline with id 'nope'"), ("rate:x", "bad rate id"), ("rate:99", "no rate with id 99")],
)
def test_unknown_ids_are_one_line_errors(recorded, cli, ident, message):
    db_path, _ = recorded
    result = cli("cite", ident, "--db", db_path)
    assert (
        result.exit_code == 1
        and result.output.startswith(f"Error: {message}")
        and result.output.count("\n") == 1
    )


@pytest.mark.parametrize("ident", ["rate:9223372036854775808", "rate:" + "9" * 5000, "rate:²"])
def test_a_rate_id_sqlite_cannot_hold_is_one_error_line(cli, tmp_path, ident):
    """Was: `OverflowError: Python int too large to convert to SQLite INTEGER`."""
    db_path = tmp_path / "ticker.db"
    open_db(db_path)
    result = cli("cite", ident, "--db", db_path)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: ") and len(line) < 200
