"""RBC (rbc.ru): the main page's "Лента новостей" with the rate widgets, its RSS and its
"more news" feed JSON."""

from __future__ import annotations

from datetime import datetime

from ticker.core.base import RatesDocument, TickerPage
from ticker.kinds import Channel, Kind, Pager, ParseContext
from ticker.scraper.rbc_page import DEFAULT_URL as PAGE_URL

RSS_URL = "https://rssexport.rbc.ru/rbcnews/news/30/full.rss"
FEED_JSON_URL = (
    "https://www.rbc.ru/v10/ajax/get-news-feed/project/rbcnews.uploaded/lastDate/{last_date}/limit/{limit}"
)
FEED_LIVE_LIMIT = 20  # items a live feed-JSON poll asks for


def parse_page(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper import rbc_page
    from ticker.scraper.decoding import charset_from_content_type

    return rbc_page.parse_rbc_page(
        body,
        fetched_at=context.fetched_at,
        base_url=context.url,
        charset=charset_from_content_type(context.content_type),
        min_items=context.min_items,
    )


def parse_rss(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper import rbc_rss  # parsers other than the page's load when first used

    return rbc_rss.parse_rbc_rss(
        body, base_url=context.url, min_items=context.min_items, content_type=context.content_type
    )


def parse_feed_json(body: bytes, context: ParseContext) -> TickerPage | RatesDocument:
    from ticker.scraper import rbc_feed_json

    # A live poll: an empty answer is a parse error, never "every item left".
    return rbc_feed_json.parse_feed_json(
        body, fetched_at=context.fetched_at, base_url=context.url, min_items=context.min_items
    )


def feed_json_address(template: str, started: datetime) -> str:
    """The newest feed-JSON page as of `started`."""
    from ticker.scraper import rbc_feed_json

    if "{last_date}" not in template:
        return template
    return rbc_feed_json.feed_page_url(template, int(started.timestamp()), FEED_LIVE_LIMIT)


def feed_json_page_url(template: str, last_date: int, limit: int) -> str:
    """The feed-JSON page older than `last_date` (ValueError for a template it cannot fill)."""
    from ticker.scraper import rbc_feed_json

    return rbc_feed_json.feed_page_url(template, last_date, limit)


def read_feed_json_page(body: bytes, fetched_at: datetime, base_url: str):
    """One feed-JSON page of a backfill: its headlines and where the next, older one starts."""
    from ticker.scraper import rbc_feed_json

    return rbc_feed_json.parse_feed_chunk(body, fetched_at=fetched_at, base_url=base_url)


KIND = Kind(
    name="rbc",
    description="RBC's main page ticker and rate widgets, its RSS and its feed JSON",
    every_s=120.0,
    channels=(
        Channel("page", parse_page, url=PAGE_URL, min_items=5, ordered=True, rates=True),
        Channel("rss", parse_rss, url=RSS_URL, backfill="single"),
        Channel(
            "feed_json",
            parse_feed_json,
            url=FEED_JSON_URL,
            backfill="paged",
            address=feed_json_address,
            pager=Pager(page_url=feed_json_page_url, read_page=read_feed_json_page),
        ),
    ),
)
