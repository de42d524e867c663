"""A news list on any page ("лента"), described by CSS selectors in the configuration:

[sources.lenta_page]
kind = "html"
url = "https://lenta.ru/"
[sources.lenta_page.select]
item = "a.card-mini"
title = ".card-mini__title"
link = "@href"
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ticker.core.base import RatesDocument, TickerPage
from ticker.kinds import BadSourceConfig, Channel, Kind, ParseContext, scoped_ids


@lru_cache(maxsize=64)
def _selectors(items: tuple[tuple[str, str], ...]):
    from ticker.scraper.html_list import Selectors

    return Selectors.from_config(dict(items), "select")


def check_select(value: Any, where: str) -> dict[str, str]:
    """The `select` table, checked by the parser's own rules; kept as plain text (JSON)."""
    from ticker.scraper.html_list import Selectors

    try:
        Selectors.from_config(value, where)
    except ValueError as error:
        raise BadSourceConfig(str(error)) from None
    return {key: str(spec).strip() for key, spec in value.items()}


def check_source(options: dict, where: str) -> None:
    if "select" not in options:
        raise BadSourceConfig(f"{where}.select: required (item, title, link selectors)")


def parse(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.core.base import ParseError
    from ticker.scraper.html_list import parse_html_list

    select = context.options.get("select")
    if not select:
        raise ParseError("no selectors configured for this html source")
    page = parse_html_list(
        body,
        selectors=_selectors(tuple(sorted(select.items()))),
        base_url=context.url,
        content_type=context.content_type,
        fetched_at=context.fetched_at,
        min_items=context.min_items,
    )
    return scoped_ids(page, context.source)


KIND = Kind(
    name="html",
    description="a news list on any page, described by CSS selectors ([sources.NAME.select])",
    every_s=120.0,
    channels=(Channel("page", parse, url=None, min_items=5, ordered=True, backfill="single"),),
    options={"select": check_select},
    check=check_source,
)
