"""RBC's RSS channel: safe parsing, both namespace URIs, the item's own link, one headline per id."""

from __future__ import annotations

import sqlite3

import pytest
from rbc_markup import render_page, standard_items

from ticker.core.base import BlockedPage, ParseError
from ticker.scraper.rbc_rss import parse_rbc_rss

RSS_TYPE = "application/rss+xml; charset=utf-8"


def test_https_namespace_feed(fixture_bytes):
    page = parse_rbc_rss(fixture_bytes("rss_rbc_https.xml"))
    assert [h.id for h in page.headlines] == [
        "68385b7b9a79470000000032",
        "68385b7b9a79470000000000",
        "68385b7b9a79470000000033",
    ]
    assert [h.position for h in page.headlines] == [1, 2, 3]
    first, second, third = page.headlines
    # CDATA with padding and markup-significant characters comes through as plain text.
    assert first.title == "Сенатор оценил «новую» сделку & её последствия"
    # The item's own <link>, tracking parameters removed; not the related link placed before it.
    assert first.url == "https://www.rbc.ru/politics/25/11/2024/68385b7b9a79470000000032"
    assert first.rubric == "Политика"
    assert first.kind == "article"
    assert first.published_at == "2024-11-25T16:05:00Z"  # newsDate_timestamp
    assert second.url == "https://www.rbc.ru/rbcfreenews/68385b7b9a79470000000000"
    assert second.kind == "news"
    assert third.kind is None  # 'video' does not map to news/article/partner
    assert third.published_at == "2024-11-25T15:30:00Z"  # pubDate 18:30 +0300
    assert page.rates == ()
    assert page.updated_at == "2024-11-25T16:06:00Z"
    assert any("no rbc_news:news_id" in warning for warning in page.warnings)


def test_http_namespace_feed(fixture_bytes):
    page = parse_rbc_rss(fixture_bytes("rss_rbc_http.xml"))
    assert [h.id for h in page.headlines] == ["68385b7b9a79470000000001", "68385b7b9a79470000000034"]
    assert page.headlines[0].published_at == "2024-11-25T15:49:00Z"
    assert page.headlines[1].title == "Новость без CDATA & с амперсандом"
    assert page.headlines[1].published_at == "2024-11-25T15:45:00Z"
    assert page.headlines[1].rubric == "Экономика"


def test_older_feed_without_rbc_news_fields_reads_the_id_from_guid(fixture_bytes):
    """The 2017/2019 form: no rbc_news: namespace, <guid> is the bare 24-hex id, no category."""
    page = parse_rbc_rss(fixture_bytes("rss_rbc_2017_plain.xml"))
    assert [h.id for h in page.headlines] == [
        "5a1806a09a79474f2f7c3ed1",
        "5a1802ff9a7947460e8b8cf7",  # upper-case hex: the same id as the ticker's
        "5a17f8f19a79473b1ef0c4a2",
    ]
    first, second, third = page.headlines
    assert first.url == "http://www.rbc.ru/economics/24/11/2017/5a1806a09a79474f2f7c3ed1"
    assert first.published_at == "2017-11-24T11:33:20Z"
    assert first.rubric is None and first.kind is None
    assert second.title == "Сборная России сыграет в Сочи"
    assert third.url is None and third.published_at == "2017-11-24T10:45:00Z"  # no weekday, GMT
    assert [w for w in page.warnings if "skipped" in w] == [
        "RSS item at position 4 has no rbc_news:news_id nor an id guid: skipped"
    ]


def test_unsafe_rss_link_keeps_the_item_without_an_address(fixture_bytes):
    body = fixture_bytes("rss_rbc_2017_plain.xml").replace(
        b"http://sport.rbc.ru/news/5a1802ff9a7947460e8b8cf7", b" javascript:alert(document.cookie)"
    )
    page = parse_rbc_rss(body)
    assert page.headlines[1].id == "5a1802ff9a7947460e8b8cf7" and page.headlines[1].url is None
    assert any("5a1802ff9a7947460e8b8cf7" in w and "not an http(s) address" in w for w in page.warnings)


def test_windows_1251_label_on_utf8_bytes_reads_the_titles_right(fixture_bytes):
    body = fixture_bytes("rss_rbc_https.xml").replace(b'encoding="utf-8"', b'encoding="windows-1251"')
    page = parse_rbc_rss(body, content_type="application/rss+xml; charset=windows-1251")
    assert page.headlines[0].title == "Сенатор оценил «новую» сделку & её последствия"
    assert "body labelled cp1251 is valid utf-8: decoded as utf-8" in page.warnings


def test_real_windows_1251_feed_is_decoded_by_its_prolog(fixture_bytes):
    text = (
        fixture_bytes("rss_rbc_https.xml")
        .decode("utf-8")
        .replace('encoding="utf-8"', 'encoding="windows-1251"')
    )
    page = parse_rbc_rss(text.encode("cp1251"), content_type="application/rss+xml; charset=utf-8")
    assert page.headlines[0].title == "Сенатор оценил «новую» сделку & её последствия"


@pytest.mark.parametrize("name", ["rss_billion_laughs.xml", "rss_external_entity.xml"])
def test_malicious_xml_is_refused(fixture_bytes, name):
    with pytest.raises(ParseError, match="unsafe XML refused"):
        parse_rbc_rss(fixture_bytes(name))


def test_external_dtd_is_refused():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">'
        b'<rss version="2.0"><channel></channel></rss>'
    )
    with pytest.raises(ParseError, match="unsafe XML refused"):
        parse_rbc_rss(body)


def test_challenge_and_non_rss_bodies():
    with pytest.raises(BlockedPage):
        parse_rbc_rss(b'<html><head><script src="/__qrator/qauth.js"></script></head></html>')
    with pytest.raises(ParseError, match="not <rss>"):
        parse_rbc_rss(b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>')
    with pytest.raises(ParseError, match="not an RSS document"):
        parse_rbc_rss(b"<rss><channel><item></rss>")
    with pytest.raises(ParseError, match="fewer than the 1 expected"):
        parse_rbc_rss(b'<rss version="2.0"><channel><title>x</title></channel></rss>')
    assert parse_rbc_rss(b'<rss version="2.0"><channel/></rss>', min_items=0).headlines == ()


def test_fetch_rss_channel_stores_rss_headlines(httpserver, fixture_bytes, cli, db_path):
    httpserver.expect_request("/full.rss").respond_with_data(
        fixture_bytes("rss_rbc_https.xml"), content_type=RSS_TYPE
    )
    result = cli(
        "fetch", "rbc", "--channel", "rss", "--url", httpserver.url_for("/full.rss"), "--db", db_path
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db_path) as conn:
        fetch = conn.execute(
            "SELECT channel, outcome, items_found, items_new, warning FROM fetches"
        ).fetchone()
        assert fetch[:4] == ("rss", "ok", 3, 3)
        assert "no rbc_news:news_id" in fetch[4]
        assert conn.execute("SELECT DISTINCT first_channel FROM headlines").fetchall() == [("rss",)]
        runs = conn.execute(
            "SELECT channel, first_position FROM sightings ORDER BY first_position"
        ).fetchall()
        assert runs == [("rss", 1), ("rss", 2), ("rss", 3)]
        assert conn.execute("SELECT count(*) FROM rates").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["rss_billion_laughs.xml", "rss_external_entity.xml"])
def test_fetch_of_malicious_rss_is_a_parse_error(httpserver, fixture_bytes, cli, db_path, name):
    httpserver.expect_request("/evil.rss").respond_with_data(fixture_bytes(name), content_type=RSS_TYPE)
    result = cli(
        "fetch", "rbc", "--channel", "rss", "--url", httpserver.url_for("/evil.rss"), "--db", db_path
    )
    assert result.exit_code != 0
    with sqlite3.connect(db_path) as conn:
        outcome, error = conn.execute("SELECT outcome, error FROM fetches").fetchone()
        assert outcome == "parse_error" and "unsafe XML refused" in error
        assert conn.execute("SELECT count(*) FROM headlines").fetchone()[0] == 0
        dump = "\n".join(conn.iterdump())
    assert "root:" not in dump and "lollol" not in dump


def test_rss_item_and_page_item_with_one_id_are_one_headline(httpserver, fixture_bytes, cli, db_path):
    httpserver.expect_request("/").respond_with_data(
        render_page(standard_items(14)), content_type="text/html; charset=utf-8"
    )
    httpserver.expect_request("/full.rss").respond_with_data(
        fixture_bytes("rss_rbc_https.xml"), content_type=RSS_TYPE
    )
    assert cli("fetch", "rbc", "--url", httpserver.url_for("/"), "--db", db_path).exit_code == 0
    result = cli(
        "fetch", "rbc", "--channel", "rss", "--url", httpserver.url_for("/full.rss"), "--db", db_path
    )
    assert result.exit_code == 0, result.output
    shared = "68385b7b9a79470000000000"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM headlines").fetchone()[0] == 16  # 14 + 2 RSS-only
        assert conn.execute("SELECT first_channel FROM headlines WHERE id = ?", [shared]).fetchone() == (
            "page",
        )
        channels = conn.execute(
            "SELECT channel FROM sightings WHERE headline_id = ? ORDER BY channel", [shared]
        ).fetchall()
        assert channels == [("page",), ("rss",)]
        assert conn.execute("SELECT count(*) FROM title_changes").fetchone()[0] == 0
        # The RSS poll leaves the page's presence runs open.
        open_page = conn.execute(
            "SELECT count(*) FROM sightings WHERE channel = 'page' AND exit_fetch_id IS NULL"
        ).fetchone()[0]
        assert open_page == 14
