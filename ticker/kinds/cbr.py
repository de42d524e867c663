"""The Bank of Russia: its official daily rates (XML_daily.asp), the authoritative cross-check."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit, urlunsplit

from ticker.base import RatesDocument, TickerPage
from ticker.kinds import Channel, Kind, ParseContext
from ticker.scraper.cbr_xml import DAILY_URL, DYNAMIC_URL


def day_address(url: str, day: date) -> str:
    """Add the Bank of Russia's `date_req=DD/MM/YYYY` to an XML_daily address (replacing one
    already in it, so that the day asked for is the day requested)."""
    parts = urlsplit(url)
    kept = [piece for piece in parts.query.split("&") if piece and piece.split("=", 1)[0] != "date_req"]
    query = "&".join([*kept, f"date_req={day.strftime('%d/%m/%Y')}"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def parse_range(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    """A range document answers one currency, which only the backfill that asked knows."""
    from ticker.base import ParseError

    raise ParseError("XML_dynamic is read by `ticker backfill-rates`, not polled")


def parse_daily(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper import cbr_xml

    return cbr_xml.parse_daily(body)


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
        ),
    ),
)
