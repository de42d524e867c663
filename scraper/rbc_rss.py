"""RBC's RSS export (`rssexport.rbc.ru/.../full.rss`): the same headlines as the ticker, no rates.

Pure: bytes in, a TickerPage out. The XML goes through defusedxml with DTDs, entities and
external references forbidden. RBC's own fields live in an `rbc_news:` namespace whose URI has
changed (http -> https), so they are matched by local name, and only as direct children of an
`<item>`: `rbc_news:related_links` nests `<link url=...>` elements that are not the item's link.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError

from defusedxml import DefusedXmlException

from ticker.core.base import BlockedPage, Headline, HeadlineList, ParseError, TickerPage, from_unix, to_iso
from ticker.scraper.challenge import looks_like_challenge
from ticker.scraper.decoding import charset_from_content_type, xml_as_utf8
from ticker.scraper.items import clean_text
from ticker.scraper.links import safe_link
from ticker.scraper.rbc_page import _KIND_BY_DOCUMENT_TYPE, DEFAULT_URL
from ticker.scraper.ru_dates import feed_instant
from ticker.scraper.safe_xml import safe_fromstring

_ITEM_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# The older feed (2017, 2019 captures) has no rbc_news: fields; its <guid> is the bare 24-hex id.
# Today's guid ends with it: `rssexport.rbc.ru:politics:<24 hex>`.
_GUID_ID = re.compile(r"(?:^|:)([0-9a-f]{24})$")
_UNIX = re.compile(r"^\d{9,11}$")


def local_name(element: Element) -> str:
    """`{https://www.rbc.ru}news_id` -> `news_id`."""
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _child_text(item: Element, name: str, *, namespaced: bool | None = None) -> str:
    """Text of the first direct child with this local name ('' when none).

    `namespaced=False` takes only an un-namespaced child (RSS's own `<link>`), `True` only a
    namespaced one (`rbc_news:`), None either.
    """
    for child in item:
        if local_name(child) != name:
            continue
        has_namespace = isinstance(child.tag, str) and child.tag.startswith("{")
        if namespaced is not None and has_namespace != namespaced:
            continue
        return clean_text("".join(child.itertext()))
    return ""


def _document_root(body: bytes, content_type: str | None) -> tuple[Element, list[str]]:
    if not body.strip():
        raise ParseError("empty answer instead of an RSS document")
    warnings: list[str] = []
    try:
        utf8, warnings = xml_as_utf8(body, charset_from_content_type(content_type))
        root = safe_fromstring(utf8)
    except (ParseError, DefusedXmlException, XMLSyntaxError, ValueError, LookupError) as error:
        if looks_like_challenge(body[:20000].decode("latin-1")):
            raise BlockedPage("bot challenge page instead of the RSS feed") from None
        if isinstance(error, DefusedXmlException):
            raise ParseError(f"unsafe XML refused: {type(error).__name__}") from None
        raise ParseError(f"not an RSS document: {error}") from None
    if local_name(root).lower() == "html":
        raise BlockedPage("HTML page instead of the RSS feed")
    if local_name(root) != "rss":
        raise ParseError(f"root element is <{local_name(root)}>, not <rss>")
    return root, warnings


def _published(item: Element) -> tuple[str | None, str | None]:
    """(UTC ISO instant, warning): newsDate_timestamp first, then pubDate (+0300)."""
    stamp = _child_text(item, "newsDate_timestamp", namespaced=True)
    if _UNIX.match(stamp):
        return to_iso(from_unix(int(stamp))), None
    raw = _child_text(item, "pubDate", namespaced=False)
    if not raw:
        return None, None
    try:
        return to_iso(feed_instant(raw)), None
    except (ValueError, OverflowError):
        return None, f"bad pubDate {raw[:60]!r}"


def parse_item(item: Element, position: int, base_url: str) -> tuple[Headline | None, list[str]]:
    """One `<item>` into a Headline (None, with the reason, when it has no usable id or title)."""
    news_id = _child_text(item, "news_id", namespaced=True)
    if not news_id:
        guid = _GUID_ID.search(_child_text(item, "guid", namespaced=False).lower())
        if guid is None:
            return None, [f"RSS item at position {position} has no rbc_news:news_id nor an id guid: skipped"]
        news_id = guid.group(1)
    if not _ITEM_ID.match(news_id):
        return None, [f"RSS item at position {position} has a malformed news_id {news_id[:40]!r}: skipped"]
    news_id = news_id.lower()
    title = _child_text(item, "title", namespaced=False)
    if not title:
        return None, [f"RSS item {news_id} has no title: skipped"]
    warnings: list[str] = []
    published_at, warning = _published(item)
    if warning:
        warnings.append(f"RSS item {news_id}: {warning}")
    link = _child_text(item, "link", namespaced=False) or _child_text(item, "pdalink", namespaced=False)
    url, link_warning = safe_link(link, base_url)
    if link_warning:
        warnings.append(f"RSS item {news_id}: {link_warning}")
    kind_word = _child_text(item, "type", namespaced=True)
    return (
        Headline(
            id=news_id,
            url=url,
            title=title,
            rubric=_child_text(item, "category", namespaced=False) or None,
            kind=_KIND_BY_DOCUMENT_TYPE.get(kind_word),
            published_at=published_at,
            position=position,
        ),
        warnings,
    )


def parse_rbc_rss(
    body: bytes, *, base_url: str = DEFAULT_URL, min_items: int = 1, content_type: str | None = None
) -> TickerPage:
    """Parse the RSS feed into headlines in feed order, today's form (`rbc_news:` fields) or the
    older one (no `rbc_news:`, the id in `<guid>`, no category).

    Raises BlockedPage for a challenge page, ParseError for anything that is not an RSS document
    (unsafe XML included) or that holds fewer than `min_items` usable items.
    """
    root, decode_warnings = _document_root(body, content_type)
    channel = next((child for child in root if local_name(child) == "channel"), None)
    if channel is None:
        raise ParseError("RSS document without a <channel>")
    found = HeadlineList("RSS item")
    found.warnings.extend(decode_warnings)
    for item in (child for child in channel if local_name(child) == "item"):
        found.add(*parse_item(item, found.next_position, base_url))
    if len(found.headlines) < min_items:
        raise ParseError(
            f"RSS feed has {len(found.headlines)} usable item(s), fewer than the {min_items} expected"
        )
    return TickerPage(
        headlines=tuple(found.headlines), updated_at=_build_date(channel), warnings=tuple(found.warnings)
    )


def _build_date(channel: Element) -> str | None:
    """The feed's `lastBuildDate` as UTC ISO, when it has a readable one."""
    raw = _child_text(channel, "lastBuildDate", namespaced=False)
    try:
        return to_iso(feed_instant(raw)) if raw else None
    except (ValueError, OverflowError):
        return None
