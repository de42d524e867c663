"""A news list on any page, described by CSS selectors (`kind = "html"`).

Pure: bytes in, a TickerPage out. One element per headline (`item`), in on-page order; inside it
the title, the link and, optionally, the time, the id and the rubric. A selector is either CSS
(the text of the first match inside the item), `css@attr` (that match's attribute) or `@attr`
(the item's own attribute). Selectors are checked when the config is read (`Selectors.from_config`).

What is an error (ParseError, the fetch recorded as `parse_error`, history untouched): an empty
body, a page whose `item` matches nothing or fewer than `min_items` usable items, a page that
opens `<html>` but does not end with `</html>` (cut short). A bot challenge is a BlockedPage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from ticker.core.base import MOSCOW, BlockedPage, Headline, HeadlineList, ParseError, TickerPage, to_iso
from ticker.scraper.challenge import block_page, blocked_message
from ticker.scraper.decoding import (
    Garbled,
    charset_from_content_type,
    has_replacement,
    parse_markup,
)
from ticker.scraper.items import clean_text, item_cache, item_link, new_headline, node_text
from ticker.scraper.ru_dates import fixed_shown_iso, shown_iso_text

_ATTRIBUTE = re.compile(r"@([A-Za-z_:][-A-Za-z0-9_:.]*)\s*$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_URL_DAY = re.compile(r"/((?:19|20)\d{2})/(\d{2})/(\d{2})/|/((?:19|20)\d{2})(\d{2})(\d{2})/")
_HTML_OPEN = re.compile(r"<html[\s>]", re.I)
_HTML_CLOSE = re.compile(r"</html\s*>", re.I)
_HTML_OPEN_B = re.compile(rb"<html[\s>]", re.I)
_HTML_CLOSE_B = re.compile(rb"</html\s*>", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Selectors read page-wide: no pseudo-class, list, parenthesis or escape (Lexbor's `:is()` takes
# these forms as they are tested; it does not nest nor stand before a combinator).
_PAGE_WIDE = re.compile(r"[^:,()\\]+")
# From this many items on, a few queries over the page cost less than one per item and field
# (measured: Lenta.ru's 91 items 0.65x the per-item time; Interfax's 36 items 1.1x).
_PAGE_WIDE_ITEMS = 48
_REQUIRED = ("item", "title", "link")
_MAX_ID = 512


def split_selector(spec: str) -> tuple[str | None, str | None]:
    """`"time.date@datetime"` -> ("time.date", "datetime"); `"@href"` -> (None, "href");
    `".title"` -> (".title", None). An `@` inside brackets or quotes is part of the CSS."""
    match = _ATTRIBUTE.search(spec)
    if match is None or _inside_brackets_or_quotes(spec, match.start()):
        return spec.strip(), None
    css = spec[: match.start()].strip()
    return css or None, match.group(1).lower()


def _inside_brackets_or_quotes(text: str, index: int) -> bool:
    depth, quote = 0, None
    for char in text[:index]:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
    return depth > 0 or quote is not None


@dataclass(frozen=True, slots=True)
class Selectors:
    """Where a page's news list is: `item` (one element per headline, in order), and inside it
    `title`, `link`, optionally `time`, `id`, `rubric` (CSS, `css@attr` or `@attr`)."""

    item: str
    title: str
    link: str
    time: str | None = None
    id: str | None = None
    rubric: str | None = None

    @classmethod
    def from_config(cls, table: dict, where: str) -> Selectors:
        """Check a `[sources.X.select]` table. ValueError naming the key (`{where}.title: ...`)
        for an unknown key, a missing required one, or a selector Lexbor does not accept."""
        if not isinstance(table, dict):
            raise ValueError(f"{where}: must be a table of CSS selectors (item, title, link, ...)")
        known = [field.name for field in fields(cls)]
        for key in table:
            if key not in known:
                raise ValueError(f"{where}.{key}: unknown key (known: {', '.join(known)})")
        for key in _REQUIRED:
            if key not in table:
                raise ValueError(f"{where}.{key}: required")
        checked = {key: _check(key, value, f"{where}.{key}") for key, value in table.items()}
        return cls(**checked)


def _check(key: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: must be a CSS selector (text), not {value!r}")
    css, attribute = split_selector(value)
    if key == "item" and attribute is not None:
        raise ValueError(f"{where}: the item is an element: a CSS selector without @attribute")
    if css is None and attribute is None:
        raise ValueError(f"{where}: empty selector")
    if css is not None:
        try:
            LexborHTMLParser("").css_first(css)
        except SelectolaxError:
            raise ValueError(f"{where}: {css!r} is not a CSS selector Lexbor accepts") from None
    return value.strip()


_split = lru_cache(maxsize=256)(split_selector)


Field = tuple[str | None, str | None] | None  # a selector spec split: (css, attribute); None: not set


@lru_cache(maxsize=64)
def _plan(selectors: Selectors) -> tuple[Field, Field, Field, Field, Field]:
    """The link, id, title, time and rubric specs split once per selector set."""
    specs = (selectors.link, selectors.id, selectors.title, selectors.time, selectors.rubric)
    return tuple(_split(spec) if spec is not None else None for spec in specs)  # type: ignore[return-value]


Find = Callable[[str], LexborNode | None]  # an item's first element matching a CSS selector


def _raw(node: LexborNode, field: Field, find: Find) -> str | None:
    """What a spec reads inside one item: an attribute as written, or an element's text (folded
    by `clean_text`); None when no element matches."""
    if field is None:
        return None
    css, attribute = field
    target = find(css) if css is not None else node
    if target is None:
        return None
    if attribute is None:
        return node_text(target)
    return target.attrs.get(attribute)


def _folded(node: LexborNode, field: Field, find: Find) -> str:
    """The same folded by `clean_text` ("" when nothing matches)."""
    if field is not None and field[1] is None:
        return node_text(find(field[0]) if field[0] is not None else node)
    return clean_text(_raw(node, field, find) or "")


def _page_wide_firsts(
    tree: LexborHTMLParser, nodes: list[LexborNode], item: str, plan: tuple[Field, ...]
) -> dict[str, list[LexborNode | None]] | None:
    """Each item's first element matching each field's CSS, as `item.css_first(css)` finds it,
    by one query over the page per CSS instead of one per item. Lexbor matches a scoped selector
    against the whole tree, the item itself included: an item's first match is the first of the
    page's matches inside it (or it). None (read item by item) when items nest, an item matches a
    field's CSS, a field's CSS or the item's holds a pseudo-class or a list, or Lexbor refuses the
    combined form."""
    csss = dict.fromkeys(field[0] for field in plan if field is not None and field[0] is not None)
    if len(nodes) < _PAGE_WIDE_ITEMS or not all(_PAGE_WIDE.fullmatch(css) for css in (*csss, item)):
        return None
    try:
        number_of = {node.mem_id: number for number, node in enumerate(nodes)}
        firsts: dict[str, list[LexborNode | None]] = {}
        # The first query also asks for nested items: an item among its matches means items
        # nest (or an item matches the field's CSS itself): read item by item then.
        nested = f":is({item}):is({item} *), "
        for css in csss:
            first: list[LexborNode | None] = [None] * len(nodes)
            for match in tree.css(f"{nested}:is({css}):is({item}, {item} *)"):
                owner = match
                if owner.mem_id in number_of and nested:
                    return None
                while owner is not None and owner.mem_id not in number_of:
                    owner = owner.parent
                if owner is None:
                    return None
                number = number_of[owner.mem_id]
                if first[number] is None:
                    first[number] = match
            firsts[css] = first
            nested = ""
    except SelectolaxError:
        return None
    return firsts


def _path(url: str) -> str:
    """The path of an absolute address (as `urlsplit(url).path`, without parsing the rest)."""
    address = url.partition("#")[0].partition("?")[0]
    authority = address.find("//")
    if authority == -1:
        return address
    start = address.find("/", authority + 2)
    return address[start:] if start != -1 else ""


@item_cache
def _url_day(url: str | None) -> date | None:
    """The day in an article address (`/news/2022/01/30/slug/`, `/20150819/123.html`), if any."""
    if not url:
        return None
    match = _URL_DAY.search(_path(url))
    if match is None:
        return None
    year, month, day = (
        int(part) for part in (match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6))
    )
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _iso_time(text: str) -> tuple[str | None, str | None] | None:
    """(UTC ISO instant, warning) for an ISO 8601 time (Moscow when zoneless), None for another form."""
    if not _ISO.match(text):
        return None
    if len(text) == 10:
        return None, f"date {text!r} has no time of day"
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        return to_iso(moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)), None
    except (ValueError, OverflowError) as error:
        return None, _unreadable(text, error)


def _unreadable(text: str, error: Exception) -> str:
    return f"unreadable time {text[:40]!r} ({error})"


def _fixed_time(text: str, url: str | None) -> tuple[str | None, str | None] | None:
    """(UTC ISO instant, warning) for a time the fetch time does not change (none, an ISO 8601
    time, a shown time naming its date or on its address's day), None for one it does."""
    if not text:
        return None, None
    iso = _iso_time(text)
    if iso is not None:
        return iso
    try:
        instant = fixed_shown_iso(text, _url_day(url))
    except (ValueError, OverflowError) as error:
        return None, _unreadable(text, error)
    return (instant, None) if instant is not None else None


@item_cache
def _link_and_time(
    href: str | None, time_text: str, base_url: str
) -> tuple[str | None, str | None, tuple[str | None, str | None] | None]:
    """(address, link warning, `_fixed_time`) of an item: read once per distinct item."""
    url, link_warning = item_link(href, base_url)
    return url, link_warning, _fixed_time(time_text, url)


def _shown_time(text: str, fetched_at: datetime, url: str | None) -> tuple[str | None, str | None]:
    """(UTC ISO instant, warning) for a shown time the fetch time counts for."""
    try:
        return shown_iso_text(text, fetched_at, _url_day(url)), None
    except (ValueError, OverflowError) as error:
        return None, _unreadable(text, error)


def _item_id(raw: str | None) -> str | None:
    text = clean_text(raw or "")
    if not text or _CONTROL.search(text) or len(text) > _MAX_ID:
        return None
    return text


def parse_item(
    node: LexborNode, position: int, *, selectors: Selectors, base_url: str, fetched_at: datetime
) -> tuple[Headline | None, list[str]]:
    """One item element into a Headline (None, with the reason, when it has no id or title)."""
    return _parse_item(node, position, _plan(selectors), selectors, base_url, fetched_at, node.css_first)


def _parse_item(
    node: LexborNode,
    position: int,
    plan: tuple[Field, Field, Field, Field, Field],
    selectors: Selectors,
    base_url: str,
    fetched_at: datetime,
    find: Find,
) -> tuple[Headline | None, list[str]]:
    link, id_field, title_field, time_field, rubric_field = plan
    warnings: list[str] = []
    time_text = _folded(node, time_field, find) if time_field is not None else ""
    url, link_warning, published = _link_and_time(_raw(node, link, find), time_text, base_url)
    if id_field is not None:
        item_id = _item_id(_raw(node, id_field, find))
        if item_id is None:
            return None, [f"item at position {position} has no usable id ({selectors.id!r}): skipped"]
    elif url is not None:
        item_id = url
    else:
        reason = link_warning or f"no link ({selectors.link!r})"
        return None, [f"item at position {position} has no id: {reason}: skipped"]
    if link_warning:
        warnings.append(f"item {item_id}: {link_warning}")
    title = _folded(node, title_field, find)
    if not title:
        return None, [*warnings, f"item {item_id} has no title ({selectors.title!r}): skipped"]
    published_at, time_warning = published or _shown_time(time_text, fetched_at, url)
    if time_warning:
        warnings.append(f"item {item_id}: {time_warning}")
    rubric = (_folded(node, rubric_field, find) or None) if rubric_field is not None else None
    return new_headline(item_id, url, title, rubric, None, published_at, position), warnings


def _parse_list(
    tree: LexborHTMLParser,
    *,
    head: bytes | str,
    tail: bytes | str,
    selectors: Selectors,
    base_url: str,
    fetched_at: datetime,
    min_items: int,
    warnings: list[str],
    strict_utf8: bool,
) -> TickerPage:
    nodes = tree.css(selectors.item)
    if not nodes:
        vendor = block_page(head)
        if vendor is not None:
            raise BlockedPage(blocked_message(vendor))
        raise ParseError(f"no element on the page matches item selector {selectors.item!r}")
    opens, closes = (_HTML_OPEN, _HTML_CLOSE) if isinstance(head, str) else (_HTML_OPEN_B, _HTML_CLOSE_B)
    if opens.search(head) and not closes.search(tail):
        raise ParseError("page truncated: it does not end with </html>")
    found = HeadlineList("item")
    found.warnings.extend(warnings)
    plan = _plan(selectors)
    firsts = _page_wide_firsts(tree, nodes, selectors.item, plan)
    for number, node in enumerate(nodes):
        find = node.css_first if firsts is None else lambda css, n=number: firsts[css][n]
        found.add(*_parse_item(node, found.next_position, plan, selectors, base_url, fetched_at, find))
    if strict_utf8 and has_replacement(found.headlines, found.warnings):
        raise Garbled
    if len(found.headlines) < max(min_items, 1):
        raise ParseError(
            f"{len(nodes)} element(s) match {selectors.item!r} but {len(found.headlines)} usable item(s), "
            f"fewer than the {max(min_items, 1)} expected"
        )
    return TickerPage(headlines=tuple(found.headlines), warnings=tuple(found.warnings))


def parse_html_list(
    body: bytes,
    *,
    selectors: Selectors,
    base_url: str,
    content_type: str | None,
    fetched_at: datetime,
    min_items: int = 5,
) -> TickerPage:
    """Parse a page's news list into headlines in on-page order (a repeated id keeps its first
    place). The charset comes from the HTTP header, else `<meta>` (windows-1251 pages exist).
    A body labelled UTF-8 (or not labelled) goes to Lexbor as bytes, undecoded; should its text
    come out garbled, the body is decoded by its labels instead.

    Raises BlockedPage for a bot challenge, ParseError for an empty or cut-short page or one with
    fewer than `min_items` usable items: such a page is never a snapshot.
    """
    if not body or body.isspace():
        raise ParseError("empty answer instead of a page")
    charset = charset_from_content_type(content_type)
    options = {"selectors": selectors, "base_url": base_url, "fetched_at": fetched_at, "min_items": min_items}
    return parse_markup(body, charset, _parse_list, **options)
