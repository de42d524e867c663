"""Hostile and odd content: each is stored faithfully (text as text) or rejected with a recorded
parse_error / warning; nothing crashes. The parsers get property-based tests: any bytes in,
records or a ParseError out, never another exception."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rbc_markup import Item, Widget, item_id, render_page, standard_items

from reliability import faultserver as fs
from reliability.support import rows
from ticker.core.base import ParseError, RatesDocument, TickerPage
from ticker.db.history import MAX_ITEMS
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import builtin_source
from ticker.scraper import cbr_xml, http, rbc_page
from ticker.scraper.decoding import decode_html
from ticker.scraper.ru_dates import nearest_date

pytestmark = pytest.mark.reliability

FETCHED_AT = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def store(fault_server, tmp_path):
    """Serve a page and poll it once into a fresh database; returns (db path, Saved).

    The loopback fault server binds 127.0.0.1 explicitly: pytest-httpserver's `localhost` URL may
    reach another process listening on ::1 at the same port number."""
    db_path = tmp_path / "ticker.db"

    def run(page: str | bytes, path: str = "/"):
        body = page.encode() if isinstance(page, str) else page
        url = fault_server.route(path, fs.static(body))
        db = open_db(db_path)
        with http.make_client() as client:
            saved = poll(db, client, builtin_source("rbc"), url=url)
        db.conn.close()
        return db_path, saved

    return run


def test_ten_thousand_items_keep_the_first_under_the_item_cap_and_say_so(store):
    """Issue 19: one answer's work is bounded (it held the write lock for minutes): the first
    MAX_ITEMS items are kept, the fetch row says the cap bit. (Before: all 10,000 were stored.)"""
    items = standard_items(10_000)
    db, saved = store(render_page(items))
    assert saved.outcome == "ok" and saved.items_found == saved.items_new == MAX_ITEMS
    assert f"kept the first {MAX_ITEMS} of 10000 items" in saved.row.warning
    assert rows(db, "SELECT warning LIKE '%item cap%' FROM fetches") == [(1,)]
    assert rows(db, "SELECT count(*) FROM headlines") == [(MAX_ITEMS,)]
    assert rows(db, "SELECT count(*) FROM sightings WHERE exit_fetch_id IS NULL") == [(MAX_ITEMS,)]
    assert rows(db, "SELECT item_count, json_array_length(items) FROM snapshots") == [(MAX_ITEMS, MAX_ITEMS)]


HOSTILE_TITLES = {
    "script": "<script>alert('x')</script> & <b>bold</b>",
    "controls": "bell\x07 escape\x1b[31m red\x1b[0m del\x7f soh\x01",
    "bidi": "\u202eevil\u202c \u200fright-to-left\u200e mark",
    "huge": "Длинный заголовок " * 5_600,  # ~100 KB of text
    "sql": "'; DROP TABLE headlines; --",
}


def test_hostile_titles_are_stored_as_text(store):
    items = standard_items(len(HOSTILE_TITLES) + 3)
    for item, title in zip(items, HOSTILE_TITLES.values(), strict=False):
        item.title = title
    db, saved = store(render_page(items))
    assert saved.outcome == "ok" and saved.items_found == len(items)
    stored = dict(rows(db, "SELECT id, title FROM headlines"))
    for item, title in zip(items, HOSTILE_TITLES.values(), strict=False):
        assert stored[item.id] == " ".join(title.split())  # white space folded, nothing else touched
    assert len(stored[items[3].id]) > 100_000
    assert rows(db, "SELECT count(*) FROM headline_titles") == [(len(items),)]


def test_duplicate_ids_in_one_page_keep_the_first(store):
    items = standard_items(8)
    items[5].id = items[1].id
    items[5].title = "Двойник"
    db, saved = store(render_page(items))
    assert saved.items_found == 7
    assert rows(db, "SELECT title FROM headlines WHERE id = ?", (items[1].id,)) == [(items[1].title,)]
    assert "appears twice" in rows(db, "SELECT warning FROM fetches")[0][0]
    assert rows(db, "SELECT count(*) FROM sightings") == [(7,)]


def test_item_without_id_is_skipped_and_item_without_time_kept(store):
    items = standard_items(8)
    page = render_page(items)
    page = page.replace(f'id="id_newsfeed_{items[2].id}"', 'id="something_else"', 1)
    page = page.replace(f'\'{{"documentType": "short_news", "documentId": "{items[2].id}"', '\'{"x": "', 1)
    no_time = items[4]
    page = re.sub(rf'(id="id_newsfeed_{no_time.id}") data-modif="\d+"', r"\1", page)
    page, replaced = re.subn(
        rf"({re.escape(no_time.title)}</span>.*?date-text\">\s*Политика),&nbsp;\d\d:\d\d",
        r"\1",
        page,
        flags=re.S,
    )
    assert replaced == 1
    db, saved = store(page)
    assert saved.outcome == "ok" and saved.items_found == 7
    assert "no item id" in rows(db, "SELECT warning FROM fetches")[0][0]
    assert rows(db, "SELECT count(*) FROM headlines WHERE id = ?", (items[2].id,)) == [(0,)]
    assert rows(db, "SELECT title, published_at FROM headlines WHERE id = ?", (no_time.id,)) == [
        (no_time.title, None)
    ]


@pytest.mark.parametrize("value", ["—", "108,87,1", "1e9", "", "NaN", "-5", "108.87.1", "１０８,８７"])
def test_malformed_rate_is_skipped_with_a_warning(value, store):
    widgets = [Widget("EUR", "26 ноября", value, "+1,45"), Widget("USD", "26 ноября", "103,79", "+1,21")]
    db, saved = store(render_page(standard_items(8), widgets=widgets))
    assert saved.outcome == "ok"
    assert rows(db, "SELECT currency, value FROM rates") == [("USD", "103.79")]
    assert "rate widget skipped" in rows(db, "SELECT warning FROM fetches")[0][0]


def test_non_ascii_digits_in_data_modif_do_not_break_the_page(store):
    """Regression: "²".isdigit() is True but int("²") raises; the whole poll used to fail."""
    items = standard_items(8)
    page = re.sub(r'data-modif="\d+"', 'data-modif="²²²²²²²²²²"', render_page(items), count=1)
    db, saved = store(page)
    assert saved.outcome == "ok" and saved.items_found == 8
    # The shown "HH:MM" stands in for the unusable timestamp.
    assert rows(db, "SELECT published_at FROM headlines WHERE id = ?", (items[0].id,)) == [
        ("2024-11-25T15:54:00Z",)
    ]


def test_cbr_value_in_fullwidth_digits_is_refused():
    """Regression: `\\d` accepted "１０３,７９" and stored non-ASCII digits as a rate."""
    body = CBR.replace(b"103,7908", "１０３,７９".encode("cp1251", "xmlcharrefreplace"))
    with pytest.raises(ParseError, match="bad Value"):
        cbr_xml.parse_daily(body)


def test_impossible_rate_date_is_skipped_with_a_warning(store):
    widgets = [Widget("EUR", "31 февраля", "108,87", "+1,45"), Widget("USD", "26 ноября", "103,79", None)]
    db, _ = store(render_page(standard_items(8), widgets=widgets))
    assert rows(db, "SELECT currency, rate_date FROM rates") == [("USD", "2024-11-26")]
    assert "no such day" in rows(db, "SELECT warning FROM fetches")[0][0]


def test_rate_for_1_january_published_on_31_december_is_next_year(store):
    published = datetime(2024, 12, 31, 12, 30, tzinfo=UTC)
    widgets = [
        Widget("EUR", "1 января", "106,10", "-0,20", published=published),
        Widget("USD", "31 декабря", "101,68", None, published=published),
    ]
    page = render_page(standard_items(8, newest=published), widgets=widgets, updated=published)
    db, _ = store(page)
    assert rows(db, "SELECT currency, rate_date FROM rates ORDER BY currency") == [
        ("EUR", "2025-01-01"),
        ("USD", "2024-12-31"),
    ]


# Property-based: the parsers' contract is "records or ParseError", whatever comes in. ---------

PAGE = render_page(standard_items(6)).encode()


def _parse_page(body: bytes) -> TickerPage | None:
    try:
        return rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT)
    except ParseError:
        return None


@FUZZ
@given(st.binary(max_size=4096))
def test_page_parser_takes_any_bytes(body):
    result = _parse_page(body)
    assert result is None or isinstance(result, TickerPage)


@FUZZ
@given(st.integers(0, len(PAGE)), st.integers(0, 400), st.binary(max_size=64))
def test_page_parser_takes_a_damaged_page(at, cut, junk):
    """A real-shaped page with a slice replaced by junk (a corrupted or hostile answer)."""
    result = _parse_page(PAGE[:at] + junk + PAGE[at + cut :])
    if result is not None:
        assert all(h.title and re.fullmatch(r"[0-9a-f]{24}", h.id) for h in result.headlines)
        assert len({h.id for h in result.headlines}) == len(result.headlines)


ODD_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from("<>&\"'—,.:;()+-−0123456789 \u00a0"),
    max_size=60,
)


@FUZZ
@given(title=ODD_TEXT, rubric=ODD_TEXT, rate=ODD_TEXT, change=ODD_TEXT, day=ODD_TEXT)
def test_page_parser_takes_any_field_text(title, rubric, rate, change, day):
    items = standard_items(3)
    items[1].title, items[1].rubric = title, rubric
    page = render_page(
        items, widgets=[Widget("EUR", day, rate, change), Widget("USD", "26 ноября", "1,5", None)]
    )
    result = _parse_page(page.encode("utf-8", "surrogatepass"))
    assert result is not None and 2 <= len(result.headlines) <= 3
    for rate_record in result.rates:
        assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", rate_record.value)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rate_record.rate_date)


def _cbr(body: bytes, parse) -> RatesDocument | None:
    try:
        return parse(body)
    except ParseError:
        return None


CBR = (
    '<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="26.11.2024" name="Foreign Currency Market">'
    '<Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal>'
    "<Name>Доллар США</Name><Value>103,7908</Value></Valute>"
    '<Valute ID="R01239"><NumCode>978</NumCode><CharCode>EUR</CharCode><Nominal>1</Nominal>'
    "<Name>Евро</Name><Value>108,8743</Value></Valute></ValCurs>"
).encode("cp1251")


@FUZZ
@given(st.binary(max_size=2048))
def test_cbr_parsers_take_any_bytes(body):
    for parse in (cbr_xml.parse_daily, lambda b: cbr_xml.parse_dynamic(b, "USD")):
        result = _cbr(body, parse)
        assert result is None or isinstance(result, RatesDocument)


@FUZZ
@given(st.integers(0, len(CBR)), st.integers(0, 40), st.binary(max_size=32))
def test_cbr_daily_takes_a_damaged_document(at, cut, junk):
    result = _cbr(CBR[:at] + junk + CBR[at + cut :], cbr_xml.parse_daily)
    if result is not None:
        assert {r.currency for r in result.rates} == {"EUR", "USD"}
        assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", r.value) for r in result.rates)


def test_cbr_entity_bomb_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;'
        b'&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><ValCurs Date="26.11.2024">&c;</ValCurs>'
    )
    with pytest.raises(ParseError, match="unsafe XML"):
        cbr_xml.parse_daily(bomb)


@FUZZ
@given(
    st.binary(max_size=2048), st.sampled_from([None, "utf-8", "windows-1251", "koi8-r", "bogus", "utf-16"])
)
def test_decoding_takes_any_bytes(body, label):
    text, warnings = decode_html(body, label)
    assert isinstance(text, str) and all(isinstance(w, str) for w in warnings)


@FUZZ
@given(st.text(max_size=200))
def test_rubric_and_time_split_takes_any_text(text):
    _, _, shown_time = rbc_page.split_rubric_and_time(text)
    if shown_time is not None:
        assert re.fullmatch(r"\d{1,2}:\d{2}", shown_time)


@FUZZ
@given(st.integers(-5, 40), st.integers(1, 12), st.dates())
def test_nearest_date_is_a_date_or_value_error(day, month, around):
    try:
        found = nearest_date(day, month, around)
    except ValueError:
        return
    leap_day = (day, month) == (29, 2)  # 29 February around 1 March 2001 is 2000's: 367 days off
    assert (found.day, found.month) == (day, month) and abs((found - around).days) <= 366 + leap_day


def test_item_ids_survive_any_position():
    """Sanity for the fuzzers' oracle: ids of the builder are what the parser keys on."""
    page = _parse_page(render_page([Item(id=item_id(7), title="x")]).encode())
    assert page is not None and page.headlines[0].id == item_id(7)
