"""The Bank of Russia: its official daily rates (XML_daily.asp), the authoritative cross-check."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit, urlunsplit

from ticker.core.base import RatesDocument, TickerPage
from ticker.kinds import Channel, Kind, ParseContext, RangeReader
from ticker.scraper.cbr_xml import CURRENCY_IDS, DAILY_URL, DEFAULT_CURRENCIES, DYNAMIC_URL


def day_address(url: str, day: date) -> str:
    """Add the Bank of Russia's `date_req=DD/MM/YYYY` to an XML_daily address (replacing one
    already in it, so that the day asked for is the day requested)."""
    parts = urlsplit(url)
    kept = [piece for piece in parts.query.split("&") if piece and piece.split("=", 1)[0] != "date_req"]
    query = "&".join([*kept, f"date_req={day.strftime('%d/%m/%Y')}"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def parse_range(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    """A range document answers one currency, which only the backfill that asked knows."""
    from ticker.core.base import ParseError

    raise ParseError("XML_dynamic is read by `ticker backfill-rates`, not polled")


def parse_daily(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper import cbr_xml

    return cbr_xml.parse_daily(body)


def range_address(base: str, currency: str, start: date, end: date) -> str:
    """An XML_dynamic address: one currency's rates from `start` to `end`."""
    from ticker.scraper import cbr_xml

    separator = "&" if "?" in base else "?"
    return (
        f"{base}{separator}date_req1={cbr_xml.request_date(start)}&date_req2={cbr_xml.request_date(end)}"
        f"&VAL_NM_RQ={CURRENCY_IDS[currency]}"
    )


def read_range(body: bytes, currency: str) -> RatesDocument:
    """An XML_dynamic answer for `currency` (ParseError when it is another currency's)."""
    from ticker.scraper import cbr_xml

    return cbr_xml.parse_dynamic_for(body, currency)


KIND = Kind(
    name="cbr",
    description="the Bank of Russia's official daily EUR/USD rates",
    every_s=3600.0,
    channels=(
        Channel("xml_daily", parse_daily, url=DAILY_URL, rates=True, headlines=False, for_day=day_address),
        Channel(
            "xml_dynamic",
            parse_range,
            url=DYNAMIC_URL,
            rates=True,
            headlines=False,
            backfill="range",
            live=False,
            ranges=RangeReader(
                address=range_address,
                read=read_range,
                currencies=tuple(CURRENCY_IDS),
                default=DEFAULT_CURRENCIES,
            ),
        ),
    ),
)
