"""Any news feed, RSS (0.9x, 1.0, 2.0) or Atom: its items in feed order, as headlines.

Pure: bytes in, a TickerPage out. feedparser reads the feed (well kept; it knows every RSS and
Atom dialect, their dates and their quirks). Before it sees the bytes:

- an empty body is a ParseError, a bot challenge a BlockedPage, an HTML page a ParseError;
- the bytes are decoded by one rule (`decoding.xml_as_utf8`: the prolog, then the HTTP charset;
  a windows-1251 label on UTF-8 bytes is read as UTF-8) and handed over as UTF-8;
- any DOCTYPE or ENTITY declaration is refused. feedparser strips a DOCTYPE but keeps the
  entity declarations it considers safe and gives them to expat, whose own defences depend on the
  libexpat version; it has also opened files named in a DOCTYPE (kurtmckee/feedparser#107). A
  news feed needs neither, so billion laughs, quadratic blowup and external entities never reach it;
- the bytes must be well-formed XML (checked with defusedxml first): a truncated or damaged feed
  is refused, never read by feedparser's lenient fallback;
- the bytes go in as a stream: given bytes or a str, feedparser may take them for an address or a
  file name and open it.

A plain RSS 2.0 feed (every field ticker reads written the one obvious way) is read from the
well-formedness check's tree instead (`feed_plain`), with the same result in a quarter of the time.

Feed order is the list order, never sorted: feeds are not always newest-first.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import feedparser
from defusedxml import DefusedXmlException
from feedparser.exceptions import ThingsNobodyCaresAboutButMe

from ticker.core.base import (
    OUT_OF_TIME_BOUNDS,
    BlockedPage,
    Headline,
    HeadlineList,
    ParseError,
    TickerPage,
    to_iso,
)
from ticker.scraper import feed_plain
from ticker.scraper.challenge import looks_like_challenge
from ticker.scraper.decoding import charset_from_content_type, xml_as_utf8
from ticker.scraper.items import clean_text, item_cache, item_link, new_headline
from ticker.scraper.links import safe_link
from ticker.scraper.ru_dates import feed_instant
from ticker.scraper.safe_xml import safe_fromstring

_FIRST_ELEMENT = re.compile(rb"<[A-Za-z]")
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.I | re.S
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A tag (a name, then white space, "/" or ">"), a comment or a declaration; "1 < 2 > 0" and
# "a<b, c>d" are text.
_TAG = re.compile(r"<(?:/?[A-Za-z][A-Za-z0-9:-]*(?:[\s/][^<>]*)?|!--.*?--|[!?][A-Za-z][^<>]*)>", re.S)
_BREAK = re.compile(r"<(?:br|p|div|li)\b[^<>]*>", re.I)  # a line break between words is a space
_MAX_ID = 512  # characters: longer "ids" are not ids
_UTF8_XML = {"content-type": "application/xml; charset=utf-8"}


def _refuse_declarations(body: bytes) -> None:
    """ParseError for a DOCTYPE or ENTITY declaration before the root element."""
    start = _FIRST_ELEMENT.search(body)
    prolog = body[: start.start()] if start else body
    declaration = _DECLARATION.search(prolog)
    if declaration:
        raise ParseError(
            f"unsafe XML refused: a feed with a {declaration.group(1).decode().upper()} declaration"
        )


def _check_well_formed(utf8: bytes) -> Element:
    """The document's root, or ParseError unless the bytes are well-formed XML (DTDs and
    entities forbidden): a truncated or damaged feed is refused with the XML parser's own words,
    and feedparser's lenient fallback, which guesses at broken markup, is never used."""
    try:
        return safe_fromstring(utf8)
    except DefusedXmlException as error:
        raise ParseError(f"unsafe XML refused: {type(error).__name__}") from None
    except (XMLSyntaxError, ValueError, LookupError) as error:
        raise ParseError(f"not a well-formed feed: {error}") from None


def _feed(body: bytes, content_type: str | None) -> tuple[Mapping[str, Any], list[str]]:
    if not body.strip():
        raise ParseError("empty answer instead of a feed")
    head = body[:20000].decode("latin-1")
    if looks_like_challenge(head):
        raise BlockedPage("bot challenge page instead of the feed")
    utf8, warnings = xml_as_utf8(body, charset_from_content_type(content_type))
    if _HTML_START.match(utf8[:4096]):
        raise ParseError("HTML page instead of a feed")
    _refuse_declarations(utf8)
    plain = feed_plain.read(_check_well_formed(utf8))
    if plain is not None:  # nothing in it that feedparser alone reads the right way
        return plain, warnings
    try:
        result = feedparser.parse(
            io.BytesIO(utf8), response_headers=_UTF8_XML, resolve_relative_uris=False, sanitize_html=False
        )
    except Exception as error:  # feedparser's lenient fallback has crashed on damaged input
        raise ParseError(f"not a well-formed feed: the feed reader failed ({type(error).__name__})") from None
    problem = result.get("bozo_exception")
    if result.get("bozo") and not isinstance(problem, ThingsNobodyCaresAboutButMe):
        raise ParseError(f"not a well-formed feed: {str(problem)[:200] or type(problem).__name__}")
    if not result.get("version"):
        raise ParseError("not an RSS or Atom feed")
    return result, warnings


@item_cache
def clean_title(raw: str | None) -> str:
    """A feed title as text: tags stripped, HTML entities decoded, white space folded."""
    if not raw:
        return ""
    # A regular expression, not an HTML parser: linear in the title's length, so a title of
    # 100,000 nested tags costs what its bytes cost (a tree builder would take minutes).
    if "<" in raw or "&" in raw:
        raw = html.unescape(_TAG.sub("", _BREAK.sub(" ", raw)))
    return clean_text(raw)


@item_cache
def _item_id(raw: str | None) -> tuple[str | None, str | None]:
    """(id, why not): the guid/id as written, white space folded; URL-shaped ones lose tracking."""
    text = clean_text(raw or "")
    if not text:
        return None, None
    if _CONTROL.search(text) or len(text) > _MAX_ID:
        return None, f"unusable guid {text[:40]!r}"
    if text.lower().startswith(("http://", "https://")):
        url, _ = safe_link(text, text)
        return url or text, None
    return text, None


@item_cache
def _instant(raw: str | None) -> tuple[str | None, str | None]:
    if not raw:
        return None, None
    try:
        return to_iso(feed_instant(raw)), None
    except (ValueError, OverflowError) as error:
        if OUT_OF_TIME_BOUNDS in str(error):
            return None, f"{error}: kept without a time"
        return None, f"unreadable date {raw[:60]!r}"


def _rubric(entry: Mapping[str, Any]) -> str | None:
    for tag in entry.get("tags") or ():
        term = clean_title(tag.get("term") or tag.get("label"))
        if term:
            return term
    return None


def parse_entry(entry: Mapping[str, Any], position: int, base_url: str) -> tuple[Headline | None, list[str]]:
    """One feed item into a Headline (None, with the reason, when it has no id or no title)."""
    warnings: list[str] = []
    url, link_warning = item_link(entry.get("link"), base_url)
    item_id, id_warning = _item_id(entry.get("id"))
    if item_id is None:
        item_id = url
    if item_id is None:
        reasons = "; ".join(w for w in (id_warning, link_warning) if w) or "no guid and no link"
        return None, [f"item at position {position} has no id ({reasons}): skipped"]
    if link_warning:
        warnings.append(f"item {item_id}: {link_warning}")
    title = clean_title(entry.get("title"))
    if not title:
        return None, [*warnings, f"item {item_id} has no title: skipped"]
    published_at, date_warning = _instant(entry.get("published") or entry.get("updated"))
    if date_warning:
        warnings.append(f"item {item_id}: {date_warning}")
    return new_headline(item_id, url, title, _rubric(entry), None, published_at, position), warnings


def parse_feed(
    body: bytes, *, base_url: str, content_type: str | None, fetched_at: datetime, min_items: int = 1
) -> TickerPage:
    """Parse an RSS or Atom feed into its headlines, in feed order.

    Items without an id (guid/id, else the link) or a title are skipped with a warning. Raises
    BlockedPage for a challenge page, ParseError for anything that is not a well-formed feed
    (an HTML page, a truncated document, unsafe XML) or that has fewer than `min_items` usable
    items: such an answer is never an empty ticker. `fetched_at` is not needed by feeds (their
    dates are absolute); it is taken so that every parser has the same call.
    """
    result, warnings = _feed(body, content_type)
    found = HeadlineList("item")
    found.warnings.extend(warnings)
    for entry in result["entries"]:
        found.add(*parse_entry(entry, found.next_position, base_url))
    if len(found.headlines) < max(min_items, 0):
        raise ParseError(
            f"feed has {len(found.headlines)} usable item(s), fewer than the {min_items} expected"
        )
    feed = result.get("feed") or {}
    updated_at, _ = _instant(feed.get("updated") or feed.get("published"))
    return TickerPage(headlines=tuple(found.headlines), updated_at=updated_at, warnings=tuple(found.warnings))
