"""RBC's headline ticker ("Новости" / "Лента новостей") and its Bank of Russia rate widgets.

Pure functions: bytes (or markup) in, records out. The markup is described in the project's
docs (docs/sources.md); the essentials: items are `a.news-feed__item` inside
`.js-news-feed-list`, keyed by `id="id_newsfeed_<24 hex>"`; the two rate widgets are
`a#id_newsfeed_currencycbeur` / `...cbusd` just before that list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ticker.core.base import (
    MOSCOW,
    BlockedPage,
    Headline,
    HeadlineList,
    ParseError,
    Rate,
    TickerPage,
    from_unix,
    to_iso,
    unix_to_iso,
)
from ticker.scraper.challenge import block_page, blocked_message
from ticker.scraper.decoding import (
    Garbled,
    has_replacement,
    parse_markup,
)
from ticker.scraper.items import clean_text, item_cache, item_link, new_headline, node_text
from ticker.scraper.ru_dates import (
    DAY_MONTH,
    month_number,
    moscow_time_iso,
    nearest_date,
    past_date,
    shown_moscow_time,
)

DEFAULT_URL = "https://www.rbc.ru/"

_ITEM_ID = re.compile(r"^id_newsfeed_([0-9a-f]{24})$")
_HEX_ID = re.compile(r"^[0-9a-f]{24}$")
_TIME_LAST_UPDATE = re.compile(r"newsfeed\.timeLastUpdate['\"]\s*,\s*(\d{9,11})")
_CLOSING_HTML = re.compile(r"</html\s*>", re.I)
_CLOSING_HTML_BYTES = re.compile(rb"</html\s*>", re.I)
_ITEM_PARTS = ".news-feed__item__title, .news-feed__item__date-text, .pro-shield"
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")
_KIND_BY_DOCUMENT_TYPE = {"short_news": "news", "article": "article", "anons": "partner"}

_RATE_DATE = re.compile(r"на\s+" + DAY_MONTH.pattern)
_RATE_VALUE = re.compile(r"ЦБ\s*:\s*([^\s(]+)")
_RATE_CHANGE = re.compile(r"\(\s*([+\-\u2212\u2013]?)\s*([^\s)]*)\s*\)")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"^[0-9]{1,9}(?:[.,][0-9]{1,8})?$")  # ASCII digits: "１０８" is not stored


def parse_decimal(text: str) -> str:
    """An exact decimal as published, with a point: "108,87" -> "108.87". ValueError otherwise."""
    token = text.strip().replace("\u00a0", "").replace(" ", "")
    if not _DECIMAL.match(token):
        raise ValueError(f"not a decimal number: {text!r}")
    return token.replace(",", ".")


@item_cache
def split_rubric_and_time(text: str) -> tuple[str | None, str | None, str | None]:
    """ "Политика, 16:16" -> ("Политика", None, "16:16"); "Инвестиции, 28 мая, 20:19" ->
    ("Инвестиции", "28 мая", "20:19"). The time is None when the text does not end with one."""
    parts = [part.strip() for part in clean_text(text).split(",")]
    parts = [part for part in parts if part]
    shown_time = shown_date = None
    if parts and _HH_MM.match(parts[-1]):
        shown_time = parts.pop()
        if parts and DAY_MONTH.fullmatch(parts[-1]) and month_number(DAY_MONTH.fullmatch(parts[-1]).group(2)):
            shown_date = parts.pop()
    rubric = ", ".join(parts) or None
    return rubric, shown_date, shown_time


def shown_instant(shown_date: str | None, shown_time: str, reference: datetime) -> datetime:
    """The instant a "28 мая, 20:19" / "16:16" label stands for, Moscow time on the page."""
    hour, minute, day = _shown_day(shown_date, shown_time, reference)
    return shown_moscow_time(hour, minute, reference, day)


def shown_iso(shown_date: str | None, shown_time: str, reference: datetime) -> str:
    """`to_iso(shown_instant(...))`, each Moscow wall time's UTC form memoised."""
    hour, minute, day = _shown_day(shown_date, shown_time, reference)
    return moscow_time_iso(hour, minute, reference, day)


def _shown_day(shown_date: str | None, shown_time: str, reference: datetime) -> tuple[int, int, date | None]:
    hour, minute = (int(piece) for piece in shown_time.split(":"))
    day = None
    if shown_date:
        match = DAY_MONTH.fullmatch(shown_date)
        assert match is not None
        month = month_number(match.group(2))
        if month is None:
            raise ValueError(f"unknown month in {shown_date!r}")
        if match.group(3):
            day = datetime(int(match.group(3)), month, int(match.group(1))).date()
        else:
            day = past_date(int(match.group(1)), month, reference.astimezone(MOSCOW).date())
    return hour, minute, day


def _modif_seconds(node: LexborNode) -> int | None:
    return _seconds(node.attrs.get("data-modif"))


def _seconds(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if raw.isascii() and raw.isdigit() and 9 <= len(raw) <= 11:
        return int(raw)
    return None


@item_cache
def document_info(raw: str | None) -> tuple[str | None, str | None, str | None]:
    """(document id, kind, project nick) from a `data-rm-data-element` value, when there is one."""
    if not raw:
        return None, None, None
    try:
        info = json.loads(raw)
    except ValueError:
        return None, None, None
    if not isinstance(info, dict):
        return None, None, None
    document_type = info.get("documentType")
    kind = (
        _KIND_BY_DOCUMENT_TYPE.get(document_type, document_type) if isinstance(document_type, str) else None
    )
    project = info.get("projectNick") if isinstance(info.get("projectNick"), str) else None
    document_id = info.get("documentId") if isinstance(info.get("documentId"), str) else None
    return document_id, kind, project


def item_id(node: LexborNode) -> str | None:
    """The 24-hex id of a ticker item, from its `id` attribute or, failing that, its data."""
    attributes = node.attributes
    return _item_id(attributes.get("id"), document_info(attributes.get("data-rm-data-element"))[0])


def _item_id(id_attribute: str | None, document_id: str | None) -> str | None:
    match = _ITEM_ID.match((id_attribute or "").strip())
    if match:
        return match.group(1)
    if document_id and _HEX_ID.match(document_id):
        return document_id
    return None


@item_cache
def _attribute_fields(
    id_attribute: str | None, element: str | None, modif: str | None, href: str | None, base_url: str
) -> tuple[str | None, str | None, str | None, str | None, str | None, str | None]:
    """What an item's attributes say, read once per distinct item (a kept worker sees the same
    items poll after poll): (id, kind, project, published_at from `data-modif`, url, link warning)."""
    document_id, kind, project = document_info(element)
    seconds = _seconds(modif)
    url, link_warning = item_link(href, base_url)
    return (
        _item_id(id_attribute, document_id),
        kind,
        project,
        unix_to_iso(seconds) if seconds is not None else None,
        url,
        link_warning,
    )


def parse_item(
    node: LexborNode, position: int, reference: datetime, base_url: str
) -> tuple[Headline | None, list[str]]:
    """One `a.news-feed__item` into a Headline (or None, with the reason as a warning)."""
    return _parse_item(node, node.attributes, position, reference, base_url)


def _parse_item(
    node: LexborNode, attributes: dict, position: int, reference: datetime, base_url: str
) -> tuple[Headline | None, list[str]]:
    get = attributes.get  # one dict: cheaper than a lookup through Lexbor per attribute
    headline_id, kind, project, published_at, url, link_warning = _attribute_fields(
        get("id"), get("data-rm-data-element"), get("data-modif"), get("href"), base_url
    )
    if headline_id is None:
        return None, [f"item at position {position} has no item id: skipped"]
    title_node = date_node = None
    paid = False
    for part in node.css(_ITEM_PARTS):  # one pass over the item instead of three queries
        classes = part.attributes.get("class") or ""
        if "pro-shield" in classes and "pro-shield" in classes.split():
            paid = True
        elif title_node is None and "news-feed__item__title" in classes:
            title_node = part
        elif date_node is None and "news-feed__item__date-text" in classes:
            date_node = part
    title = node_text(title_node)
    if not title:
        return None, [f"item {headline_id} has no title: skipped"]
    rubric, shown_date, shown_time = split_rubric_and_time(node_text(date_node))
    warnings: list[str] = []
    if published_at is None and shown_time:
        try:
            published_at = shown_iso(shown_date, shown_time, reference)
        except ValueError as error:
            warnings.append(f"item {headline_id}: {error}")
    if link_warning:
        warnings.append(f"item {headline_id}: {link_warning}")
    return new_headline(
        headline_id, url, title, rubric, kind, published_at, position, project, paid
    ), warnings


def parse_items(
    nodes: list[LexborNode], reference: datetime, base_url: str
) -> tuple[list[Headline], list[str]]:
    """Ticker items in order; ads, rate widgets and duplicates are left out (with warnings)."""
    found = HeadlineList("item")
    for node in nodes:
        attributes = node.attributes
        if (attributes.get("id") or "").startswith("id_newsfeed_currency"):
            continue
        found.add(*_parse_item(node, attributes, found.next_position, reference, base_url))
    return found.headlines, found.warnings


def parse_rate_widget(node: LexborNode, currency: str, reference: datetime) -> Rate:
    """One "Курс евро на 29 мая — EUR ЦБ: 90,34 (-0,56)" widget. ValueError when malformed."""
    title_node = node.css_first(".news-feed__item__title") or node
    text = node_text(title_node)
    seconds = _modif_seconds(node)
    if seconds is not None:  # the usual case: read once per distinct widget (a kept worker)
        return _rate_at(currency, text, seconds, _change_classes(node))
    _, shown_date, shown_time = split_rubric_and_time(
        node_text(node.css_first(".news-feed__item__date-text"))
    )
    published = shown_instant(shown_date, shown_time, reference) if shown_time else None
    return _rate(currency, text, published or reference, lambda: _change_classes(node))


def _change_classes(node: LexborNode) -> str:
    change_node = node.css_first(".news-feed__item__change")
    return (change_node.attrs.get("class") or "") if change_node else ""


@item_cache
def _rate_at(currency: str, text: str, seconds: int, classes: str) -> Rate:
    return _rate(currency, text, from_unix(seconds), lambda: classes)


def _rate(currency: str, text: str, published: datetime, change_classes: Callable[[], str]) -> Rate:
    """A widget's text read into a Rate; `change_classes` gives the change element's class when
    the text's change has no sign."""
    date_match = _RATE_DATE.search(text)
    if not date_match:
        raise ValueError(f"{currency} widget: no 'на <day> <month>' in {text!r}")
    month = month_number(date_match.group(2))
    if month is None:
        raise ValueError(f"{currency} widget: unknown month in {date_match.group(0)!r}")
    day = int(date_match.group(1))
    if date_match.group(3):
        rate_day = datetime(int(date_match.group(3)), month, day).date()
    else:
        rate_day = nearest_date(day, month, published.astimezone(MOSCOW).date())

    value_match = _RATE_VALUE.search(text)
    if not value_match:
        raise ValueError(f"{currency} widget: no 'ЦБ: <value>' in {text!r}")
    value = parse_decimal(value_match.group(1))

    change = None
    change_match = _RATE_CHANGE.search(text[value_match.end() :])
    if change_match and change_match.group(2):
        magnitude = parse_decimal(change_match.group(2))
        sign = change_match.group(1)
        if sign in ("-", "\u2212", "\u2013"):
            change = "-" + magnitude
        elif sign == "+":
            change = "+" + magnitude
        elif float(magnitude) == 0:
            change = magnitude
        else:
            classes = change_classes()
            if "fall" in classes:
                change = "-" + magnitude
            elif "rise" in classes or "grow" in classes or "up" in classes:
                change = "+" + magnitude
            else:
                raise ValueError(f"{currency} widget: change {change_match.group(0)!r} has no sign")
    return Rate(
        currency=currency,
        rate_date=rate_day.isoformat(),
        value=value,
        change=change,
        published_at=to_iso(published),
    )


def parse_rate_widgets(root: LexborNode, reference: datetime) -> tuple[list[Rate], list[str]]:
    rates: list[Rate] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for node in root.css('a[id^="id_newsfeed_currencycb"]'):
        currency = (node.attrs.get("id") or "")[len("id_newsfeed_currencycb") :].upper()
        if not _CURRENCY.fullmatch(currency) or currency in seen:
            continue
        seen.add(currency)
        try:
            rates.append(parse_rate_widget(node, currency, reference))
        except (ValueError, AssertionError) as error:
            warnings.append(f"{currency} rate widget skipped: {error}")
    return rates, warnings


def _edition(scope: LexborNode) -> str | None:
    active = scope.css_first(".news-feed__toggle .js-news-feed-region.active")
    if active is not None:
        return active.attrs.get("data-load-nick") or active.attrs.get("data-group")
    return None


def _time_last_update(banner: LexborNode | None, tree: LexborHTMLParser) -> int | None:
    """The page's `newsfeed.timeLastUpdate`: from the script inside the ticker's banner, else
    from any script on the page."""
    for scope in (banner, tree.root):
        for script in scope.css("script") if scope is not None else ():
            match = _TIME_LAST_UPDATE.search(script.text(deep=True) or "")
            if match:
                return int(match.group(1))
    return None


def _parse_tree(
    tree: LexborHTMLParser,
    *,
    head: bytes | str,
    tail: bytes | str,
    fetched_at: datetime,
    base_url: str,
    min_items: int,
    warnings: list[str],
    strict_utf8: bool,
) -> TickerPage:
    feed_list = tree.css_first(".js-news-feed-list")
    if feed_list is None:
        vendor = block_page(head)
        if vendor is not None:
            raise BlockedPage(blocked_message(vendor))
        raise ParseError("no headline ticker (.js-news-feed-list) on the page")
    if not (_CLOSING_HTML if isinstance(tail, str) else _CLOSING_HTML_BYTES).search(tail):
        raise ParseError("page truncated: it does not end with </html>")

    banner = feed_list.parent
    updated = _time_last_update(banner, tree)  # Unix seconds
    reference = from_unix(updated) if updated is not None else fetched_at

    headlines, item_warnings = parse_items(feed_list.css("a.news-feed__item"), reference, base_url)
    rates, rate_warnings = parse_rate_widgets(banner, reference) if banner is not None else ([], [])
    if not rates and not rate_warnings:
        rates, rate_warnings = parse_rate_widgets(tree.body or tree.root, reference)
    if strict_utf8 and has_replacement(headlines, item_warnings, rate_warnings):
        raise Garbled
    warnings.extend(item_warnings)
    if len(headlines) < max(min_items, 1):
        raise ParseError(
            f"ticker has {len(headlines)} headline(s), fewer than the {max(min_items, 1)} expected"
        )
    warnings.extend(rate_warnings)
    if not rates:
        warnings.append("no rate widgets on the page")
    return TickerPage(
        headlines=tuple(headlines),
        rates=tuple(rates),
        edition=(_edition(banner) if banner is not None else None) or _edition(tree.root),
        updated_at=unix_to_iso(updated) if updated is not None else None,
        warnings=tuple(warnings),
    )


def parse_rbc_page(
    body: bytes | str,
    *,
    fetched_at: datetime,
    base_url: str = DEFAULT_URL,
    charset: str | None = None,
    min_items: int = 1,
) -> TickerPage:
    """Parse an RBC page that carries the headline ticker.

    Raises BlockedPage for a bot challenge, ParseError for a page without the ticker, a page cut
    short, or a ticker with fewer than `min_items` headlines: such a page is never a snapshot.
    A body labelled UTF-8 (or not labelled) goes to Lexbor as bytes, undecoded; should the
    ticker's text come out garbled, the body is decoded by its labels instead.
    """
    options = {"fetched_at": fetched_at, "base_url": base_url, "min_items": min_items}
    if isinstance(body, str):
        return _parse_tree(
            LexborHTMLParser(body),
            head=body[:20000],
            tail=body[-4096:],
            warnings=[],
            strict_utf8=False,
            **options,
        )
    return parse_markup(body, charset, _parse_tree, **options)


def parse_item_markup(
    markup: str, *, reference: datetime, base_url: str = DEFAULT_URL, position: int = 1
) -> tuple[Headline | None, list[str]]:
    """One item's `<a class="news-feed__item">` markup (the feed JSON's `html`) into a Headline."""
    tree = LexborHTMLParser(markup)
    node = tree.css_first("a.news-feed__item") or tree.css_first("a")
    if node is None:
        return None, [f"feed item at position {position} has no <a> element: skipped"]
    return parse_item(node, position, reference, base_url)
