"""RBC's feed JSON channel: the ticker's own item markup, a cursor to page back, empty pages."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from ticker.core.base import BlockedPage, ParseError
from ticker.scraper.rbc_feed_json import BadFeedAddress, feed_page_url, parse_feed_chunk, parse_feed_json

FETCHED = datetime(2024, 11, 25, 18, 5, tzinfo=UTC)
JSON_TYPE = "application/json; charset=utf-8"


def unix(hour: int, minute: int) -> int:
    return int(datetime(2024, 11, 25, hour, minute, tzinfo=UTC).timestamp())


def test_first_page(fixture_bytes):
    chunk = parse_feed_chunk(fixture_bytes("feed_page1.json"), fetched_at=FETCHED)
    headlines = chunk.page.headlines
    assert [h.id[-2:] for h in headlines] == ["64", "65", "66", "67", "68"]
    assert [h.position for h in headlines] == [1, 2, 3, 4, 5]
    assert headlines[0].url == "https://www.rbc.ru/rbcfreenews/68385b7b9a79470000000064"
    assert headlines[0].title == "Новость после остановки номер 0"
    assert headlines[0].published_at == "2024-11-25T18:00:00Z"
    assert headlines[0].kind == "news" and headlines[0].rubric == "Политика"
    assert chunk.raw_count == 5
    assert chunk.next_last_date == unix(17, 20)
    assert chunk.page.rates == ()


def test_second_page_skips_an_ad_and_keeps_details(fixture_bytes):
    chunk = parse_feed_chunk(fixture_bytes("feed_page2.json"), fetched_at=FETCHED)
    by_id = {h.id[-2:]: h for h in chunk.page.headlines}
    assert list(by_id) == ["69", "6a", "6b", "00", "01"]
    assert chunk.raw_count == 6
    assert any("no <a> element" in warning for warning in chunk.page.warnings)
    assert by_id["69"].title == "Заголовок «в кавычках» & амперсанд"
    # Older markup has no data-modif: the feed's publish_date_t (to the second) is used.
    assert by_id["6a"].published_at == "2024-11-25T17:00:30Z"
    assert by_id["6b"].paid is True and by_id["6b"].kind == "article"
    assert chunk.next_last_date == unix(15, 49)


def test_empty_page_is_valid_for_paging_but_not_for_a_live_poll(fixture_bytes):
    chunk = parse_feed_chunk(fixture_bytes("feed_empty.json"), fetched_at=FETCHED)
    assert chunk.page.headlines == () and chunk.raw_count == 0 and chunk.next_last_date is None
    with pytest.raises(ParseError, match="fewer than the 1 expected"):
        parse_feed_json(fixture_bytes("feed_empty.json"), fetched_at=FETCHED)


def test_bodies_that_are_not_feed_json():
    with pytest.raises(BlockedPage):
        parse_feed_chunk(b'<html><script src="/__qrator/qauth.js"></script></html>', fetched_at=FETCHED)
    with pytest.raises(ParseError, match="does not parse"):
        parse_feed_chunk(b'{"items": [', fetched_at=FETCHED)
    with pytest.raises(ParseError, match='no "items" list'):
        parse_feed_chunk(b'{"data": []}', fetched_at=FETCHED)
    with pytest.raises(ParseError, match="empty answer"):
        parse_feed_chunk(b"  ", fetched_at=FETCHED)
    odd = parse_feed_chunk(b'{"items": [3, {"publish_date_t": 1732550000}]}', fetched_at=FETCHED)
    assert odd.page.headlines == () and len(odd.page.warnings) == 2
    assert odd.next_last_date == 1732550000


def test_feed_page_url():
    template = "https://www.rbc.ru/v10/ajax/get-news-feed/project/x/lastDate/{last_date}/limit/{limit}"  # real address, text only
    assert feed_page_url(template, 1732550000, 20).endswith("/lastDate/1732550000/limit/20")
    concrete = "http://127.0.0.1:1/v10/ajax/get-news-feed/project/x/lastDate/1/limit/5?_=1"
    assert feed_page_url(concrete, 1732550000, 20) == (
        "http://127.0.0.1:1/v10/ajax/get-news-feed/project/x/lastDate/1732550000/limit/20?_=1"
    )
    with pytest.raises(BadFeedAddress):
        feed_page_url("http://127.0.0.1:1/feed.json", 1, 20)


def test_live_feed_json_poll_and_an_empty_answer(httpserver, fixture_bytes, cli, db_path):
    httpserver.expect_request("/feed/1").respond_with_data(
        fixture_bytes("feed_page1.json"), content_type=JSON_TYPE
    )
    httpserver.expect_request("/feed/2").respond_with_data(
        fixture_bytes("feed_empty.json"), content_type=JSON_TYPE
    )
    ok = cli(
        "fetch", "rbc", "--channel", "feed_json", "--url", httpserver.url_for("/feed/1"), "--db", db_path
    )
    assert ok.exit_code == 0, ok.output
    empty = cli(
        "fetch", "rbc", "--channel", "feed_json", "--url", httpserver.url_for("/feed/2"), "--db", db_path
    )
    assert empty.exit_code != 0
    with sqlite3.connect(db_path) as conn:
        outcomes = conn.execute("SELECT channel, outcome FROM fetches ORDER BY id").fetchall()
        assert outcomes == [("feed_json", "ok"), ("feed_json", "parse_error")]
        # An empty answer is no evidence that anything left: every run stays open.
        runs = conn.execute("SELECT channel, exit_fetch_id FROM sightings").fetchall()
        assert runs == [("feed_json", None)] * 5


def test_unsafe_link_in_feed_markup_is_not_stored(fixture_bytes):
    body = fixture_bytes("feed_page1.json").replace(
        rb"https:\/\/www.rbc.ru\/rbcfreenews\/68385b7b9a79470000000064?from=newsfeed",
        rb"\nvbscript:msgbox(1)",
    )
    page = parse_feed_chunk(body, fetched_at=FETCHED).page
    assert page.headlines[0].id.endswith("64") and page.headlines[0].url is None
    assert any("not an http(s) address" in warning for warning in page.warnings)
