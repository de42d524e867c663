"""A kind declares how a backfill reads it (ticker/kinds/*.py): RBC's feed JSON is walked back by
its Pager, the Bank of Russia's XML_dynamic is asked for dates by its RangeReader."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ticker.core.base import ParseError
from ticker.kinds import get_kind, kinds
from ticker.scraper.rbc_feed_json import parse_feed_chunk

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)


def test_every_paged_or_range_channel_declares_how_it_is_read():
    for kind in kinds().values():
        for channel in kind.channels:
            assert (channel.backfill == "paged") == (channel.pager is not None), channel.name
            assert (channel.backfill == "range") == (channel.ranges is not None), channel.name


def test_rbc_feed_json_pager():
    pager = get_kind("rbc").channel("feed_json").pager
    template = get_kind("rbc").channel("feed_json").url
    assert pager.page_url(template, 1732550000, 20).endswith("/lastDate/1732550000/limit/20")
    with pytest.raises(ValueError):
        pager.page_url("http://127.0.0.1:1/feed.json", 1, 20)
    body = (FIXTURES / "feed_page1.json").read_bytes()
    chunk = pager.read_page(body, T0, "https://www.rbc.ru/")
    assert chunk == parse_feed_chunk(body, fetched_at=T0, base_url="https://www.rbc.ru/")
    assert chunk.page.headlines and chunk.next_last_date is not None


def test_cbr_range_reader():
    ranges = get_kind("cbr").channel("xml_dynamic").ranges
    assert set(ranges.default) <= set(ranges.currencies) == {"USD", "EUR"}
    address = ranges.address(
        "https://www.cbr.ru/scripts/XML_dynamic.asp", "EUR", date(2024, 1, 9), date(2024, 1, 16)
    )
    assert address.endswith("?date_req1=09/01/2024&date_req2=16/01/2024&VAL_NM_RQ=R01239")
    body = (FIXTURES / "cbr_dynamic_eur_2024-01-09_16.cp1251.xml").read_bytes()
    assert {rate.currency for rate in ranges.read(body, "EUR").rates} == {"EUR"}
    with pytest.raises(ParseError, match=r"asked for USD \(R01235\), the document is for R01239"):
        ranges.read(body, "USD")
