"""The records parsers return: plain, immutable, independent of the database."""

from __future__ import annotations

from dataclasses import dataclass, field


class ParseError(Exception):
    """The body is not what the source should answer (no ticker, truncated, not a rates document)."""


class BlockedPage(ParseError):
    """The body is a bot challenge or block page instead of the content."""


@dataclass(frozen=True, slots=True)
class Headline:
    """One item of a headline ticker, as one page showed it."""

    id: str  # the site's item id (RBC: 24 hex digits)
    url: str  # canonical: tracking parameters removed
    title: str
    rubric: str | None
    kind: str | None  # news / article / partner, or the site's own word; None when not said
    published_at: str | None  # UTC ISO 8601
    position: int  # 1-based, on-page order
    project: str | None = None  # the site's project nick (rbcnews, crypto, trends, ...)
    paid: bool = False  # behind the subscription shield


@dataclass(frozen=True, slots=True)
class Rate:
    """A currency rate as a source showed it; value and change are exact decimal text."""

    currency: str  # ISO code: EUR, USD
    rate_date: str  # YYYY-MM-DD the rate is valid for
    value: str  # per unit, decimal point, digits as published: "108.87", "79.6"
    change: str | None = None  # signed: "+1.45", "-0.56"; None when the source gives none
    published_at: str | None = None  # when the source published it (UTC ISO), if it says
    nominal: int | None = None  # units the raw value was quoted for (Bank of Russia)
    raw_value: str | None = None  # the value for `nominal` units, as published


@dataclass(frozen=True, slots=True)
class TickerPage:
    """What one RBC page (or feed page) held: headlines in order, rate widgets, page facts."""

    headlines: tuple[Headline, ...]
    rates: tuple[Rate, ...] = ()
    edition: str | None = None  # which edition the page was served as (geo-targeting)
    updated_at: str | None = None  # the page's own newsfeed.timeLastUpdate (UTC ISO)
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RatesDocument:
    """A Bank of Russia answer: the day it is in force for and its rates."""

    rate_date: str | None  # YYYY-MM-DD (daily); None for a range document
    rates: tuple[Rate, ...]
    warnings: tuple[str, ...] = field(default=())


class HeadlineList:
    """Headlines in the order a parser finds them: the first copy of an id is kept (later ones
    are warned about), and positions count kept items only."""

    def __init__(self, what: str) -> None:
        self.what = what  # how warnings name an item: "item", "RSS item", "feed item"
        self.headlines: list[Headline] = []
        self.warnings: list[str] = []
        self._seen: set[str] = set()

    @property
    def next_position(self) -> int:
        return len(self.headlines) + 1

    def add(self, headline: Headline | None, warnings: list[str]) -> None:
        self.warnings.extend(warnings)
        if headline is None:
            return
        if headline.id in self._seen:
            self.warnings.append(f"{self.what} {headline.id} appears twice: later copy skipped")
            return
        self._seen.add(headline.id)
        self.headlines.append(headline)
