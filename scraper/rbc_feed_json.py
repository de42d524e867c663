"""RBC's feed JSON (`/v10/ajax/get-news-feed/project/<nick>/lastDate/<unix>/limit/<n>`): what the
ticker's "more" button loads, used to page back in time.

The answer is `{"items": [{"html": "<a class=\"news-feed__item ...\">...</a>", "publish_date_t":
<unix>}, ...]}`, newest first; each `html` is the ticker's own item markup. Pure: bytes in,
records out. `{"items": []}` is a valid answer (nothing older).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import datetime

from ticker.core.base import (
    OUT_OF_TIME_BOUNDS,
    BlockedPage,
    HeadlineList,
    ParseError,
    TickerPage,
    from_unix,
    to_iso,
    unix_in_time_bounds,
    without_odd_time,
)
from ticker.scraper.challenge import looks_like_challenge
from ticker.scraper.rbc_page import DEFAULT_URL, parse_item_markup

_LAST_DATE = re.compile(r"/lastDate/\d+")
_LIMIT = re.compile(r"/limit/\d+")


class BadFeedAddress(ValueError):
    """A feed JSON address with no place for `lastDate` (or another unusable backfill input)."""


def feed_page_url(template: str, last_date: int, limit: int) -> str:
    """The address of one feed page: `{last_date}`/`{limit}` filled in, or the `/lastDate/<n>` and
    `/limit/<n>` path segments of a concrete address replaced. A live poll asks for the newest
    page with `last_date` = now."""
    if "{last_date}" in template:
        return template.replace("{last_date}", str(last_date)).replace("{limit}", str(limit))
    if _LAST_DATE.search(template):
        url = _LAST_DATE.sub(f"/lastDate/{last_date}", template, count=1)
        return _LIMIT.sub(f"/limit/{limit}", url, count=1)
    raise BadFeedAddress(
        f"feed JSON address {template!r} has neither {{last_date}} nor a /lastDate/<unix> segment"
    )


@dataclass(frozen=True, slots=True)
class FeedChunk:
    """One page of the feed: its headlines and where the next (older) page starts."""

    page: TickerPage
    raw_count: int  # items in the answer, usable or not
    next_last_date: int | None  # the last item's publish_date_t: `lastDate` of the next page


def _publish_date(entry: dict) -> tuple[int | None, str | None]:
    """(Unix time, why it is not used): ASCII digits or a number, within the years ticker's times
    may take; anything else ("²", 9999, "") is a missing time for that item, never a failed page."""
    value = entry.get("publish_date_t")
    if value is None:
        return None, None
    stamp: int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        stamp = int(value) if abs(value) < 1e15 else None
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        stamp = int(value.strip()) if len(value.strip()) <= 15 else None
    if stamp is None:
        return None, f"publish_date_t {str(value)[:40]!r} is not a Unix time: ignored"
    if not unix_in_time_bounds(stamp):
        return None, f"publish_date_t {stamp} is {OUT_OF_TIME_BOUNDS}: ignored"
    return stamp, None


def _load(body: bytes) -> list:
    if not body.strip():
        raise ParseError("empty answer instead of feed JSON")
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        if looks_like_challenge(body[:20000].decode("latin-1")):
            raise BlockedPage("bot challenge page instead of feed JSON") from None
        raise ParseError("not feed JSON: the body does not parse as JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise ParseError('not feed JSON: no "items" list')
    return document["items"]


def parse_feed_chunk(
    body: bytes, *, fetched_at: datetime, base_url: str = DEFAULT_URL, min_items: int = 0
) -> FeedChunk:
    """Parse one feed page. Items without markup or id are skipped with a warning.

    Raises BlockedPage for a challenge page and ParseError for anything but feed JSON, or for
    fewer than `min_items` usable headlines.
    """
    entries = _load(body)
    found = HeadlineList("feed item")
    warnings = found.warnings
    last_date: int | None = None
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            warnings.append(f"feed item {index} is not an object: skipped")
            continue
        stamp, stamp_warning = _publish_date(entry)
        if stamp_warning:
            warnings.append(f"feed item {index}: {stamp_warning}")
        if stamp is not None:
            last_date = stamp
        markup = entry.get("html")
        if not isinstance(markup, str) or not markup.strip():
            warnings.append(f"feed item {index} has no html: skipped")
            continue
        reference = from_unix(stamp) if stamp is not None else fetched_at
        headline, item_warnings = parse_item_markup(
            markup, reference=reference, base_url=base_url, position=found.next_position
        )
        if headline is not None and stamp is not None and "data-modif" not in markup:
            # The markup's shown "HH:MM" is coarser than the feed's own timestamp.
            headline = dataclasses.replace(headline, published_at=to_iso(from_unix(stamp)))
        if headline is not None:
            headline, time_warning = without_odd_time(headline)
            if time_warning:
                item_warnings = [*item_warnings, time_warning]
        found.add(headline, item_warnings)
    headlines = found.headlines
    if len(headlines) < min_items:
        raise ParseError(
            f"feed JSON has {len(headlines)} usable item(s), fewer than the {min_items} expected"
        )
    return FeedChunk(
        page=TickerPage(headlines=tuple(headlines), warnings=tuple(warnings)),
        raw_count=len(entries),
        next_last_date=last_date,
    )


def parse_feed_json(
    body: bytes, *, fetched_at: datetime, base_url: str = DEFAULT_URL, min_items: int = 1
) -> TickerPage:
    """One feed page as a TickerPage (a live poll: by default an empty answer is a ParseError,
    so that it never reads as "every item left")."""
    return parse_feed_chunk(body, fetched_at=fetched_at, base_url=base_url, min_items=min_items).page
