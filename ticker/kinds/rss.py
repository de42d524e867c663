"""Any RSS 2.0 or Atom feed: the feed's order is its list order, so new, reworded, scrolled-off
and pulled items work as on RBC's page. `preset = "tass"` fills a major outlet's address."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ticker.core.base import RatesDocument, TickerPage
from ticker.kinds import BadSourceConfig, Channel, Kind, ParseContext, scoped_ids


def parse(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper.feed_rss import parse_feed

    page = parse_feed(
        body,
        base_url=context.url,
        content_type=context.content_type,
        fetched_at=context.fetched_at,
        min_items=context.min_items,
    )
    return scoped_ids(page, context.source)


def check_preset(value: Any, where: str) -> str:
    from ticker.scraper.presets import PRESETS

    if not isinstance(value, str) or value not in PRESETS:
        raise BadSourceConfig(f"{where} = {value!r}: unknown preset (known: {', '.join(PRESETS)})")
    return value


def preset_address(options: Mapping[str, Any]) -> str | None:
    from ticker.scraper.presets import PRESETS

    preset = options.get("preset")
    return PRESETS[preset][0] if preset in PRESETS else None


def check_source(options: Mapping[str, Any], where: str) -> None:
    """Nothing more to check: a source without `url` or `preset` is refused where its address
    is asked for (the config names the key)."""


KIND = Kind(
    name="rss",
    description="any RSS 2.0 or Atom feed (preset = tass, lenta, rg, vedomosti, interfax, kommersant, ria)",
    every_s=300.0,
    channels=(Channel("feed", parse, url=None, min_items=1, ordered=True, backfill="single"),),
    options={"preset": check_preset},
    check=check_source,
    url_from_options=preset_address,
)
