"""What a source is: its kind (which parser), its channels and their default addresses."""

from __future__ import annotations

from dataclasses import dataclass

from ticker.scraper.cbr_xml import DAILY_URL
from ticker.scraper.rbc_page import DEFAULT_URL as RBC_PAGE_URL

RBC_RSS_URL = "https://rssexport.rbc.ru/rbcnews/news/30/full.rss"
RBC_FEED_JSON_URL = (
    "https://www.rbc.ru/v10/ajax/get-news-feed/project/rbcnews.uploaded/lastDate/{last_date}/limit/{limit}"
)

# kind -> channel -> default address; the first channel is the kind's main one.
KINDS: dict[str, dict[str, str]] = {
    "rbc": {"page": RBC_PAGE_URL, "rss": RBC_RSS_URL, "feed_json": RBC_FEED_JSON_URL},
    "cbr": {"xml_daily": DAILY_URL},
}
DEFAULT_EVERY_S = {"rbc": 120.0, "cbr": 3600.0}
MIN_ITEMS = {"page": 5}


class UnknownSource(ValueError):
    """A source name or kind ticker does not know."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One configured source: `name` is what `fetches.source` stores."""

    name: str
    kind: str
    url: str | None = None  # replaces the main channel's address
    every_s: float | None = None
    channels: tuple[str, ...] = ()
    urls: tuple[tuple[str, str], ...] = ()  # (channel, address) for other channels (mirrors, tests)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UnknownSource(f"unknown source kind {self.kind!r} (known: {', '.join(KINDS)})")
        if not self.channels:
            object.__setattr__(self, "channels", (next(iter(KINDS[self.kind])),))
        for channel in (*self.channels, *(channel for channel, _ in self.urls)):
            if channel not in KINDS[self.kind]:
                raise UnknownSource(
                    f"source {self.name!r}: kind {self.kind!r} has no channel {channel!r} "
                    f"(it has: {', '.join(KINDS[self.kind])})"
                )

    @property
    def main_channel(self) -> str:
        return next(iter(KINDS[self.kind]))

    def url_for(self, channel: str) -> str:
        """The address of a channel: the configured one (`url` for the main channel, `urls` for
        any), else the kind's default."""
        if self.url and channel == self.main_channel:
            return self.url
        return dict(self.urls).get(channel) or KINDS[self.kind][channel]

    @property
    def gap_limit_s(self) -> float:
        """Longer than this between two successful polls, an exit's reason cannot be known."""
        every = self.every_s or DEFAULT_EVERY_S[self.kind]
        return max(2.5 * every, every + 60.0)

    def min_items(self, channel: str) -> int:
        return MIN_ITEMS.get(channel, 1)


def builtin_source(name: str) -> SourceSpec:
    """The embedded defaults: `rbc` (RBC main page) and `cbr` (Bank of Russia daily XML)."""
    if name not in KINDS:
        raise UnknownSource(f"unknown source {name!r} (known: {', '.join(KINDS)})")
    return SourceSpec(name=name, kind=name, every_s=DEFAULT_EVERY_S[name])
