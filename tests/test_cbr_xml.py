"""Bank of Russia XML_daily: the pure parser on windows-1251 bytes, then `ticker fetch cbr`
against a local server and a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticker.core.base import BlockedPage, ParseError
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import builtin_source
from ticker.kinds.cbr import day_address as with_date_param
from ticker.scraper.cbr_xml import parse_daily, parse_dynamic, per_unit
from ticker.scraper.http import make_client

XML_CT = "application/xml; charset=windows-1251"
PATH = "/scripts/XML_daily.asp"


def daily(date_attr: str, valutes: list[tuple[str, str, int, str]], name="Foreign Currency Market") -> bytes:
    rows = "".join(
        f'<Valute ID="{vid}"><NumCode>000</NumCode><CharCode>{code}</CharCode><Nominal>{nominal}</Nominal>'
        f"<Name>Валюта {code}</Name><Value>{value}</Value></Valute>"
        for vid, code, nominal, value in valutes
    )
    text = f'<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="{date_attr}" name="{name}">{rows}</ValCurs>'
    return text.encode("cp1251")


# --- parser ------------------------------------------------------------------------------


def test_fixture_is_windows_1251_and_parses(fixture_bytes):
    body = fixture_bytes("cbr_daily_2024-11-26.xml")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # really windows-1251 bytes
    document = parse_daily(body)
    assert document.rate_date == "2024-11-26"
    rates = {r.currency: r for r in document.rates}
    assert list(rates) == ["EUR", "USD"]  # only the asked currencies
    assert (rates["USD"].value, rates["USD"].nominal, rates["USD"].raw_value) == ("103.7908", 1, "103.7908")
    assert rates["EUR"].value == "108.8698"
    assert all(r.rate_date == "2024-11-26" for r in document.rates)


def test_nominal_gives_the_per_unit_value_exactly():
    body = daily("26.11.2024", [("R01235", "USD", 10, "1037,9080"), ("R01239", "EUR", 100, "10887,5")])
    rates = {r.currency: r for r in parse_daily(body).rates}
    assert (rates["USD"].value, rates["USD"].nominal, rates["USD"].raw_value) == ("103.7908", 10, "1037.9080")
    assert rates["EUR"].value == "108.875"
    assert per_unit("20,7865", 100) == "0.207865"
    assert per_unit("90,3400", 1) == "90.3400"  # as published, digits kept


def test_other_currencies_can_be_asked(fixture_bytes):
    document = parse_daily(fixture_bytes("cbr_daily_2024-11-26.xml"), currencies=("CNY", "UAH"))
    assert [(r.currency, r.value) for r in document.rates] == [("CNY", "14.2814"), ("UAH", "2.50196")]


def test_currency_found_by_the_banks_id_when_charcode_is_missing():
    body = daily("26.11.2024", [("R01235", "", 1, "103,79"), ("R01239", "EUR", 1, "108,87")])
    assert [(r.currency, r.value) for r in parse_daily(body).rates] == [("EUR", "108.87"), ("USD", "103.79")]


@pytest.mark.parametrize(("written", "day"), [("26/09/2013", "2013-09-26"), ("26.09.2013", "2013-09-26")])
def test_document_date_with_slashes_as_in_2013_or_dots(written, day):
    body = daily(written, [("R01235", "USD", 1, "32,0613"), ("R01239", "EUR", 1, "43,3025")])
    document = parse_daily(body)
    assert document.rate_date == day
    assert {r.rate_date for r in document.rates} == {day}


@pytest.mark.parametrize("written", ["26/09.2013", "26-09-2013", "2013/09/26", "26/9/2013", "31/02/2013"])
def test_other_date_shapes_are_parse_errors(written):
    with pytest.raises(ParseError, match="bad date"):
        parse_daily(daily(written, [("R01235", "USD", 1, "1"), ("R01239", "EUR", 1, "1")]))


def test_dynamic_record_dates_with_slashes():
    body = (
        '<?xml version="1.0" encoding="windows-1251"?><ValCurs ID="R01235" DateRange1="26/09/2013" '
        'DateRange2="27/09/2013" name="Foreign Currency Market Dynamic">'
        '<Record Date="26/09/2013" Id="R01235"><Nominal>1</Nominal><Value>32,0613</Value></Record>'
        "</ValCurs>"
    ).encode("cp1251")
    assert [(r.rate_date, r.value) for r in parse_dynamic(body, "USD").rates] == [("2013-09-26", "32.0613")]


def test_windows_1251_label_on_utf8_bytes_is_read_as_utf8():
    """A re-saved answer: the prolog still says windows-1251, the bytes are UTF-8."""
    text = daily("26.11.2024", [("R01235", "USD", 1, "103,79"), ("R01239", "EUR", 1, "108,87")]).decode(
        "cp1251"
    )
    body = text.replace("<Name>Валюта EUR</Name>", "<Name>Евро ИЙ</Name>").encode("utf-8")
    assert b'encoding="windows-1251"' in body
    document = parse_daily(body)
    assert [(r.currency, r.value) for r in document.rates] == [("EUR", "108.87"), ("USD", "103.79")]
    assert document.warnings == ("body labelled cp1251 is valid utf-8: decoded as utf-8",)


def test_missing_currency_is_a_parse_error_not_an_empty_document():
    with pytest.raises(ParseError, match="no EUR"):
        parse_daily(daily("26.11.2024", [("R01235", "USD", 1, "103,79")]))


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty"),
        (b"<ValCurs Date='26.11.2024'>", "not a ValCurs"),
        (b"<?xml version='1.0'?><Error>no data</Error>", "root element"),
        (daily("31.02.2024", [("R01235", "USD", 1, "1"), ("R01239", "EUR", 1, "1")]), "bad date"),
        (daily("26.11.2024", [("R01235", "USD", 1, "1.5"), ("R01239", "EUR", 1, "1")]), "bad Value"),
        (daily("26.11.2024", [("R01235", "USD", 0, "1,5"), ("R01239", "EUR", 1, "1")]), "bad Nominal"),
        (
            b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]><ValCurs Date="26.11.2024">&a;</ValCurs>',
            "unsafe",
        ),
    ],
)
def test_bad_documents_are_parse_errors(body, match):
    with pytest.raises(ParseError, match=match):
        parse_daily(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>DDOS-GUARD</title></head><body></body></html>",
        b"<!DOCTYPE html><html><head><title>DDoS-Guard</title></head><body><br></body></html>",
    ],
)
def test_html_instead_of_xml_is_blocked(body, fixture_bytes):
    with pytest.raises(BlockedPage):
        parse_daily(body)
    with pytest.raises(BlockedPage):
        parse_daily(fixture_bytes("ddos_guard_200.html"))  # starts with <!DOCTYPE html>


# --- through poll and the CLI --------------------------------------------------------------


def serve(httpserver, body: bytes, *, status=200, content_type=XML_CT, query_string=None):
    httpserver.clear()
    httpserver.expect_request(PATH, query_string=query_string).respond_with_data(
        body, status=status, content_type=content_type
    )
    return httpserver.url_for(PATH)


def rates_rows(db):
    return db.execute(
        "SELECT source, currency, rate_date, value, nominal, raw_value, first_seen, last_seen, first_fetch_id, "
        "last_fetch_id, channel FROM rates ORDER BY id"
    ).fetchall()


@pytest.fixture
def client():
    with make_client(read_timeout_s=5) as c:
        yield c


def test_poll_stores_eur_and_usd_with_the_answers_date(tmp_path, httpserver, client, fixture_bytes):
    db = open_db(tmp_path / "t.db")
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-26.xml"))
    at = datetime(2024, 11, 25, 13, 0, tzinfo=UTC)
    saved = poll(db, client, builtin_source("cbr"), url=url, now=lambda: at)
    assert (saved.outcome, saved.rates_found, saved.rates_new) == ("ok", 2, 2)
    assert rates_rows(db) == [
        ("cbr", "EUR", "2024-11-26", "108.8698", 1, "108.8698", "2024-11-25T13:00:00Z", "2024-11-25T13:00:00Z", 1, 1,
         "xml_daily"),
        ("cbr", "USD", "2024-11-26", "103.7908", 1, "103.7908", "2024-11-25T13:00:00Z", "2024-11-25T13:00:00Z", 1, 1,
         "xml_daily"),
    ]  # fmt: skip
    fetch = db.execute(
        "SELECT source, channel, outcome, status, content_type, rates_found, rates_new FROM fetches"
    ).fetchall()
    assert fetch == [("cbr", "xml_daily", "ok", 200, XML_CT, 2, 2)]


def test_next_days_rates_are_new_rows_and_old_ones_untouched(tmp_path, httpserver, client, fixture_bytes):
    db = open_db(tmp_path / "t.db")
    spec = builtin_source("cbr")
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-26.xml"))
    poll(db, client, spec, url=url, now=lambda: datetime(2024, 11, 25, 13, 0, tzinfo=UTC))
    before = rates_rows(db)
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-27.xml"))
    saved = poll(db, client, spec, url=url, now=lambda: datetime(2024, 11, 26, 13, 0, tzinfo=UTC))
    assert (saved.outcome, saved.rates_new) == ("ok", 2)
    after = rates_rows(db)
    assert after[:2] == before
    assert [(r[1], r[2], r[3]) for r in after[2:]] == [
        ("EUR", "2024-11-27", "110.0000"),
        ("USD", "2024-11-27", "105.1271"),
    ]


def test_identical_answer_is_unchanged_and_only_moves_last_seen(tmp_path, httpserver, client, fixture_bytes):
    db = open_db(tmp_path / "t.db")
    spec = builtin_source("cbr")
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-26.xml"))
    poll(db, client, spec, url=url, now=lambda: datetime(2024, 11, 25, 13, 0, tzinfo=UTC))
    saved = poll(db, client, spec, url=url, now=lambda: datetime(2024, 11, 25, 14, 0, tzinfo=UTC))
    assert saved.outcome == "unchanged"
    assert db.execute("SELECT count(*), min(last_seen), max(last_fetch_id) FROM rates").fetchone() == (
        2,
        "2024-11-25T14:00:00Z",
        2,
    )
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 1


def test_ddos_guard_page_with_status_200_is_blocked_and_stores_nothing(
    tmp_path, httpserver, client, fixture_bytes
):
    db = open_db(tmp_path / "t.db")
    url = serve(httpserver, fixture_bytes("ddos_guard_200.html"), content_type="text/html; charset=utf-8")
    saved = poll(db, client, builtin_source("cbr"), url=url)
    assert saved.outcome == "blocked"
    row = db.execute("SELECT outcome, status, error, bytes, body_sha256 IS NOT NULL FROM fetches").fetchone()
    assert row[0:2] == ("blocked", 200)
    assert "bot challenge page (DDoS-Guard)" in row[2]
    assert row[3] == len(fixture_bytes("ddos_guard_200.html")) and row[4] == 1
    assert rates_rows(db) == []
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0


def test_cli_date_adds_date_req_and_stores_the_answers_date(tmp_path, httpserver, fixture_bytes, cli):
    """A Sunday request (1 Dec) gets Saturday's document (30 Nov): that date is stored."""
    db_path = tmp_path / "t.db"
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-30.xml"), query_string="date_req=01/12/2024")
    result = cli("fetch", "cbr", "--url", url, "--date", "2024-12-01", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "cbr/xml_daily: ok" in result.output
    db = open_db(db_path)
    assert {(r[1], r[2], r[3]) for r in rates_rows(db)} == {
        ("EUR", "2024-11-30", "112.7000"),
        ("USD", "2024-11-30", "106.6497"),
    }
    assert db.execute("SELECT url FROM fetches").fetchone()[0] == f"{url}?date_req=01/12/2024"
    assert db.execute("SELECT name, kind FROM sources").fetchall() == [("cbr", "cbr")]


def test_cli_date_with_a_url_that_has_a_query(tmp_path, httpserver, fixture_bytes, cli):
    url = serve(httpserver, fixture_bytes("cbr_daily_2024-11-26.xml"), query_string="x=1&date_req=26/11/2024")
    result = cli("fetch", "cbr", "--url", f"{url}?x=1", "--date", "2024-11-26", "--db", tmp_path / "t.db")
    assert result.exit_code == 0, result.output


def test_cli_cbr_blocked_exits_non_zero_with_one_error_line(tmp_path, httpserver, fixture_bytes, cli):
    url = serve(httpserver, fixture_bytes("ddos_guard_200.html"), content_type="text/html")
    result = cli("fetch", "cbr", "--url", url, "--db", tmp_path / "t.db")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "cbr/xml_daily: blocked" in errors[0] and "fetch 1" in errors[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www.cbr.ru/scripts/XML_daily.asp",  # real address, text only
            "https://www.cbr.ru/scripts/XML_daily.asp?date_req=01/12/2024",  # real address, text only
        ),
        ("http://m/x.asp?a=1", "http://m/x.asp?a=1&date_req=01/12/2024"),
        ("http://m/x.asp?date_req=01/01/2020&a=1", "http://m/x.asp?a=1&date_req=01/12/2024"),
    ],
)
def test_with_date_param(url, expected):
    assert with_date_param(url, datetime(2024, 12, 1).date()) == expected
