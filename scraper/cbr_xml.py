"""Bank of Russia rates: `XML_daily.asp` (one day, all currencies) and `XML_dynamic.asp`
(one currency over a range). Pure functions over the raw bytes: the XML prolog names the
encoding (windows-1251), so the bytes go to the parser undecoded."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ticker.core.base import BlockedPage, ParseError, Rate, RatesDocument
from ticker.scraper.decoding import xml_as_utf8

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

DAILY_URL = "https://www.cbr.ru/scripts/XML_daily.asp"
DYNAMIC_URL = "https://www.cbr.ru/scripts/XML_dynamic.asp"
CURRENCY_IDS = {"USD": "R01235", "EUR": "R01239"}
DEFAULT_CURRENCIES = ("EUR", "USD")
_NUMBER = re.compile(r"^[0-9]{1,12}(?:,[0-9]{1,12})?$")
_CHALLENGE = re.compile(rb"ddos-guard|<html", re.I)
_VALCURS_ID = re.compile(rb"<ValCurs\b[^>]*\bID\s*=\s*[\"']([^\"']+)[\"']")
_DAY = re.compile(r"^(\d{2})([./])(\d{2})\2(\d{4})$")


def request_date(day: date) -> str:
    """`date_req` / `date_req1` form: DD/MM/YYYY."""
    return day.strftime("%d/%m/%Y")


def _document_root(body: bytes) -> tuple[Element, list[str]]:
    # Imported here: `ticker fetch rbc` never needs an XML parser.
    from xml.etree.ElementTree import ParseError as XMLSyntaxError

    from defusedxml import DefusedXmlException

    from ticker.scraper.safe_xml import safe_fromstring

    if not body.strip():
        raise ParseError("empty answer instead of a ValCurs document")
    try:
        # The prolog's windows-1251, unless the bytes are plainly UTF-8 (a re-saved answer).
        utf8, warnings = xml_as_utf8(body)
        root = safe_fromstring(utf8)
    except (ParseError, DefusedXmlException, XMLSyntaxError, ValueError, LookupError) as error:
        # A challenge page starts with <!DOCTYPE html>, which the DTD guard refuses first.
        if _CHALLENGE.search(body[:4096]):
            raise BlockedPage("HTML page (bot challenge?) instead of a ValCurs document") from None
        if isinstance(error, DefusedXmlException):
            raise ParseError(f"unsafe XML refused: {type(error).__name__}") from None
        raise ParseError(f"not a ValCurs XML document: {error}") from None
    if root.tag.lower() == "html":
        raise BlockedPage("HTML page (bot challenge?) instead of a ValCurs document")
    if root.tag != "ValCurs":
        raise ParseError(f"root element is <{root.tag}>, not <ValCurs>")
    return root, warnings


def _day(text: str | None, what: str) -> str:
    """`26.09.2013`, or `26/09/2013` as the bank wrote it in 2013, as `2013-09-26`."""
    match = _DAY.match((text or "").strip())
    try:
        if not match:
            raise ValueError
        return date(int(match.group(4)), int(match.group(3)), int(match.group(1))).isoformat()
    except ValueError:
        raise ParseError(f"{what}: bad date {text!r}") from None


def per_unit(raw_value: str, nominal: int) -> str:
    """The exact per-unit rate, decimal point, no float on the way: ("93,2801", 1) -> "93.2801"."""
    value = Decimal(raw_value.replace(",", ".")) / Decimal(nominal)
    return format(value.normalize(), "f") if nominal != 1 else raw_value.replace(",", ".")


def _rate(element: Element, currency: str, rate_date: str) -> Rate:
    raw = (element.findtext("Value") or "").strip()
    nominal_text = (element.findtext("Nominal") or "").strip()
    if not _NUMBER.match(raw):
        raise ValueError(f"{currency} on {rate_date}: bad Value {raw!r}")
    if not nominal_text.isdigit() or int(nominal_text) == 0:
        raise ValueError(f"{currency} on {rate_date}: bad Nominal {nominal_text!r}")
    nominal = int(nominal_text)
    try:
        value = per_unit(raw, nominal)
    except InvalidOperation:
        raise ValueError(f"{currency} on {rate_date}: bad Value {raw!r}") from None
    return Rate(
        currency=currency,
        rate_date=rate_date,
        value=value,
        nominal=nominal,
        raw_value=raw.replace(",", "."),
    )


def parse_daily(body: bytes, currencies: tuple[str, ...] = DEFAULT_CURRENCIES) -> RatesDocument:
    """`XML_daily.asp`: the day the rates are in force (`ValCurs/@Date`) and the asked currencies.

    A document that lacks one of the currencies is a ParseError: "no rates" is never stored as
    if the bank had published none.
    """
    root, warnings = _document_root(body)
    rate_date = _day(root.get("Date"), "ValCurs/@Date")
    by_code = {(v.findtext("CharCode") or "").strip(): v for v in root.iter("Valute")}
    by_id = {(v.get("ID") or "").strip(): v for v in root.iter("Valute")}
    rates: list[Rate] = []
    for currency in currencies:
        element = by_code.get(currency)
        if element is None and currency in CURRENCY_IDS:
            element = by_id.get(CURRENCY_IDS[currency])  # the bank's own id when CharCode is absent
        if element is None:
            raise ParseError(f"no {currency} in the document for {rate_date}")
        try:
            rates.append(_rate(element, currency, rate_date))
        except ValueError as error:
            raise ParseError(str(error)) from None
    return RatesDocument(rate_date=rate_date, rates=tuple(rates), warnings=tuple(warnings))


def parse_dynamic(body: bytes, currency: str) -> RatesDocument:
    """`XML_dynamic.asp`: one rate per day a new rate took effect (none on weekend gaps)."""
    root, warnings = _document_root(body)
    rates: list[Rate] = []
    for record in root.iter("Record"):
        try:
            rates.append(_rate(record, currency, _day(record.get("Date"), "Record/@Date")))
        except (ValueError, ParseError) as error:
            warnings.append(str(error))
    return RatesDocument(rate_date=None, rates=tuple(rates), warnings=tuple(warnings))


def parse_dynamic_for(body: bytes, currency: str) -> RatesDocument:
    """`parse_dynamic` of an answer asked for `currency`: ParseError when the document is
    another currency's (it must never be stored under this one)."""
    match = _VALCURS_ID.search(body[:4096])
    expected = CURRENCY_IDS[currency]
    if match and match.group(1).decode("ascii", "replace") != expected:
        found = match.group(1).decode("ascii", "replace")
        raise ParseError(f"asked for {currency} ({expected}), the document is for {found}")
    return parse_dynamic(body, currency)
