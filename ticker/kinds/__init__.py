"""The source kinds: one module per kind in this package, found by the registry below.

A kind module defines `KIND = Kind(...)`: its channels (the first is the main one), each with
its default address, its pure parser (`bytes -> records`), how it recognises a block page
(a bot challenge instead of the content), the least number of items a good answer has, whether it is an ordered live list (so exits can be classified), whether it
carries rates, and how a backfill may read it (a `Pager` walks a paged channel back in time, a
`RangeReader` asks a range channel for dates); the kind's default interval; and the extra
configuration keys it takes. Nothing outside `ticker.kinds` names a kind or a channel: the
writers, views, queries, status and backfill read these properties (or the `sources` table the
daemon and `ticker fetch` fill from them).

Adding a kind is one module here plus its test (docs/sources.md, "Adding a source kind").

Documented lazy load: a kind module imports its parsers (`ticker.scraper.*`) inside the functions
that use them, so that registering every kind (which `ticker fetch` and the daemon do) loads only
the parsers a poll actually runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ticker.core.base import BlockedPage, RatesDocument, TickerPage
from ticker.scraper.bounded import parse_limit, run_bounded
from ticker.scraper.challenge import block_page, blocked_message

Parsed = TickerPage | RatesDocument


class UnknownSource(ValueError):
    """A source name, kind or channel ticker does not know (one `Error:` line)."""


class BadSourceConfig(ValueError):
    """A kind-specific configuration value that cannot be used; the message names the key."""


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser may know besides the body: where and when it was fetched, and the source's
    own options (selectors of an `html` source, for instance)."""

    url: str  # the answer's final address (relative links resolve against it)
    content_type: str | None
    fetched_at: datetime  # aware UTC: the day of a shown "HH:MM" comes from it
    min_items: int
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # the configured source's name (scopes ids that are not addresses)


Parser = Callable[[bytes, ParseContext], Parsed]


@dataclass(frozen=True, slots=True)
class Pager:
    """How a `backfill="paged"` channel is walked back in time."""

    # (template, unix time, limit) -> the address of the page older than that time; ValueError
    # (naming what is wrong) for a template it cannot fill.
    page_url: Callable[[str, int, int], str]
    # (body, fetched_at, base_url) -> a page: `.page` (TickerPage), `.raw_count` (items in the
    # answer, usable or not), `.next_last_date` (unix time to page on, None: nothing older).
    read_page: Callable[[bytes, datetime, str], Any]


@dataclass(frozen=True, slots=True)
class RangeReader:
    """How a `backfill="range"` channel answers rates over dates, one currency at a time."""

    address: Callable[[str, str, date, date], str]  # (base address, currency, first, last day)
    read: Callable[[bytes, str], RatesDocument]  # (body, currency); ParseError for another currency
    currencies: tuple[str, ...]  # the currencies it can be asked for
    default: tuple[str, ...]  # the ones asked for when none is named


@dataclass(frozen=True, slots=True)
class Channel:
    """One way of reading a source."""

    name: str
    parse: Parser
    url: str | None = None  # default address; None: the configuration must give one
    min_items: int = 1
    ordered: bool = False  # an ordered live list: an item missing from it has left (exit reasons)
    rates: bool = False  # carries rates (RBC's widgets, the Bank of Russia's documents)
    headlines: bool = True  # carries headlines (False: rates only)
    backfill: str | None = None  # "paged": walked back in time; "single": one page; "range": dates
    live: bool = True  # polled by the daemon (False: read by a backfill only)
    address: Callable[[str, datetime], str] | None = None  # builds a templated address at fetch time
    for_day: Callable[[str, date], str] | None = None  # the address of one day's document (`--date`)
    # Whose block page a body is (None: not one); asked when the parser found no content.
    block_page: Callable[[bytes], str | None] = block_page
    pager: Pager | None = None  # with backfill="paged": how to walk it back
    ranges: RangeReader | None = None  # with backfill="range": how to ask for dates
    # The most items one fetch stores (the rest is cut, said in the fetch's warning): bounds the
    # work and the write lock of one answer (ticker.db.history).
    max_items: int = 2000


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of source: its channels (the first is the main one) and defaults."""

    name: str
    description: str
    channels: tuple[Channel, ...]
    every_s: float
    # Extra configuration keys: key -> validator(value, where) returning the option value.
    options: Mapping[str, Callable[[Any, str], Any]] = field(default_factory=dict)
    # Checks a source's options as a whole (required keys...); raises BadSourceConfig.
    check: Callable[[Mapping[str, Any], str], None] | None = None
    # The main channel's address from the options (a preset), when the config gives no `url`.
    url_from_options: Callable[[Mapping[str, Any]], str | None] | None = None

    @property
    def main(self) -> Channel:
        return self.channels[0]

    def channel(self, name: str) -> Channel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise UnknownSource(
            f"kind {self.name!r} has no channel {name!r} (it has: {', '.join(self.channel_names)})"
        )

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(channel.name for channel in self.channels)

    @property
    def ticker_channel(self) -> str | None:
        """The channel whose list is "the ticker" (`ticker at`), if the kind has one."""
        return next((c.name for c in self.channels if c.ordered and c.headlines), None)


def scoped_ids(page: TickerPage, source: str) -> TickerPage:
    """Item ids that are not web addresses (a feed's bare-number guid, a page's `data-id`) are
    only unique within their outlet: they are stored as `<source>:<id>`, so two outlets'
    item 12345 never merge into one headline. An address is an id everywhere."""
    if not any(_needs_scope(h.id) for h in page.headlines):
        return page
    headlines = tuple(replace(h, id=f"{source}:{h.id}") if _needs_scope(h.id) else h for h in page.headlines)
    return replace(page, headlines=headlines)


def _needs_scope(item_id: str) -> bool:
    return not item_id.lower().startswith(("http://", "https://"))


def parse_channel(channel: Channel, body: bytes, context: ParseContext) -> Parsed:
    """The channel's parser on `body`. When it finds no content (ParseError, BlockedPage, or a
    parser failing on it) and the body is a block page, BlockedPage naming whose, the same
    message for every kind."""
    try:
        return channel.parse(body, context)
    except Exception:
        vendor = channel.block_page(body)
        if vendor is None:
            raise  # a parser's own BlockedPage ("HTML instead of XML") stands as it is
        raise BlockedPage(blocked_message(vendor)) from None


def parse_bounded(
    channel: Channel, body: bytes, context: ParseContext, *, timeout_s: float | None = None
) -> Parsed:
    """`parse_channel` in a worker process under a hard time limit (ticker.scraper.bounded; by
    default `parse_limit` of the body's size): ParseTimeout, a ParseError, when it takes longer."""
    limit = timeout_s if timeout_s is not None else parse_limit(len(body))
    return run_bounded(parse_channel, channel, body, context, timeout_s=limit)


_registry: dict[str, Kind] | None = None


def kinds() -> dict[str, Kind]:
    """Every kind, by name: each module of this package that defines `KIND`."""
    global _registry
    if _registry is None:
        found: dict[str, Kind] = {}
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
            if isinstance(kind, Kind):
                found[kind.name] = kind
        _registry = dict(sorted(found.items(), key=lambda item: (item[0] not in ("rbc", "cbr"), item[0])))
    return _registry


def get_kind(name: str) -> Kind:
    """The kind called `name`; UnknownSource names the known ones."""
    known = kinds()
    if name not in known:
        raise UnknownSource(f"unknown source kind {name!r} (known: {', '.join(known)})")
    return known[name]
