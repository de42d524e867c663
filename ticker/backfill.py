"""Filling gaps: headlines published while ticker was not looking (daemon down, page blocked) and
Bank of Russia rates over a date range.

Headlines: page back through RBC's feed JSON (`lastDate` = the last item's `publish_date_t`),
newest first, until a page reaches what a live poll already saw (an item, or the newest
publication time it stored), `--since`, an empty page, or the page cap. When the feed JSON does
not answer at all, the RSS feed (one page, ~30 items) is used instead. Every request is a
`fetches` row; what is new is stored by `ticker.db.backfill` as evidence of publication.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
from sqlite_utils import Database

from ticker.base import BlockedPage, Headline, ParseError, from_iso, to_iso, utc_now
from ticker.db.backfill import live_seen_ids, live_watermark, save_backfill_page, save_rate_range
from ticker.db.writes import FetchRow, save_failure
from ticker.poll import one_line
from ticker.scraper import cbr_xml, http, rbc_feed_json, rbc_rss
from ticker.scraper.rbc_feed_json import BadFeedAddress, feed_page_url
from ticker.sources import RBC_FEED_JSON_URL, RBC_RSS_URL

DEFAULT_MAX_PAGES = 20
DEFAULT_LIMIT = 20
DEFAULT_PAUSE_S = 1.0
RATE_WINDOW_DAYS = 366  # one XML_dynamic request covers at most this many days
_VALCURS_ID = re.compile(rb"<ValCurs\b[^>]*\bID\s*=\s*[\"']([^\"']+)[\"']")


class BadBackfillInput(ValueError):
    """An address or range the backfill cannot work with (reported as one `Error:` line)."""


@dataclass(slots=True)
class Report:
    """What a backfill did: for the summary line and the exit status."""

    channel: str | None = None  # the channel whose items were stored: feed_json / rss
    requests: int = 0
    items_found: int = 0
    items_new: int = 0
    rates_found: int = 0
    rates_new: int = 0
    stop: str = ""
    failures: list[str] = field(default_factory=list)  # "fetch 12 (feed_json): blocked: HTTP 401 ..."
    notes: list[str] = field(default_factory=list)  # things the user should know (incomplete reach)
    failed_stop: bool = False  # the walk ended on a failure: history may still have a hole


@dataclass(slots=True)
class _Requester:
    db: Database
    client: httpx.Client
    source: str
    now: Callable[[], datetime]
    report: Report

    def get(self, channel: str, url: str) -> tuple[FetchRow, http.Answer | None]:
        """GET once; a failure is recorded at once and gives (row, None)."""
        row = FetchRow(
            source=self.source, channel=channel, url=url, started_at=to_iso(self.now()), outcome="ok"
        )
        clock = time.monotonic()
        self.report.requests += 1
        try:
            answer = http.get(self.client, url)
        except http.FetchFailed as failure:
            row.duration_ms = int((time.monotonic() - clock) * 1000)
            row.outcome, row.status = failure.outcome, failure.status
            row.retry_after_s = failure.retry_after_s
            row.error = one_line(failure.message)
            if failure.body is not None:
                row.bytes, row.content_type = len(failure.body), failure.content_type
            self.fail(row)
            return row, None
        row.duration_ms = int((time.monotonic() - clock) * 1000)
        row.status, row.bytes, row.content_type = answer.status, len(answer.body), answer.content_type
        # No etag / body hash on purpose: live polls of the same channel use the last successful
        # fetch's for conditional requests and "unchanged", and a backfill's body is not theirs.
        return row, answer

    def fail(self, row: FetchRow, error: Exception | None = None) -> None:
        if error is not None:
            row.outcome = "blocked" if isinstance(error, BlockedPage) else "parse_error"
            row.error = one_line(str(error) if isinstance(error, ParseError) else f"parser failed: {error!r}")
        saved = save_failure(self.db, row)
        self.report.failures.append(f"fetch {saved.fetch_id} ({row.channel}): {row.outcome}: {row.error}")


def _store(
    requester: _Requester, row: FetchRow, headlines: list[Headline], warnings: tuple[str, ...]
) -> None:
    if warnings:
        row.warning = one_line("; ".join(warnings))
    saved = save_backfill_page(requester.db, row, headlines)
    requester.report.items_found += saved.items_found
    requester.report.items_new += saved.items_new


def _in_range(headline: Headline, since_iso: str | None) -> bool:
    return since_iso is None or headline.published_at is None or headline.published_at >= since_iso


def _page_feed(
    requester: _Requester,
    template: str,
    *,
    since_iso: str | None,
    boundary: str | None,
    max_pages: int,
    limit: int,
    pause_s: float,
    sleep: Callable[[float], None],
) -> bool:
    """Walk the feed JSON back in time. Returns False when its first page did not answer."""
    report = requester.report
    last_date = int(requester.now().timestamp())
    for page_number in range(1, max_pages + 1):
        if page_number > 1 and pause_s > 0:
            sleep(pause_s)
        row, answer = requester.get("feed_json", feed_page_url(template, last_date, limit))
        if answer is None:
            report.failed_stop = page_number > 1
            report.stop = f"feed JSON page {page_number} failed"
            return page_number > 1
        try:
            chunk = rbc_feed_json.parse_feed_chunk(
                answer.body, fetched_at=from_iso(row.started_at), base_url=answer.url
            )
        except Exception as error:  # recorded, never a crash
            requester.fail(row, error)
            report.failed_stop = page_number > 1
            report.stop = f"feed JSON page {page_number} failed"
            return page_number > 1
        report.channel = "feed_json"
        headlines = list(chunk.page.headlines)
        reached_known = since_iso is None and bool(live_seen_ids(requester.db, [h.id for h in headlines]))
        _store(requester, row, [h for h in headlines if _in_range(h, since_iso)], chunk.page.warnings)
        oldest = min((h.published_at for h in headlines if h.published_at), default=None)
        if chunk.raw_count == 0:
            report.stop = "an empty page (nothing older)"
        elif reached_known:
            report.stop = "reached an item already seen"
        elif since_iso is not None and oldest is not None and oldest < since_iso:
            report.stop = "reached --since"
        elif since_iso is None and boundary is not None and oldest is not None and oldest <= boundary:
            report.stop = f"reached the newest publication time already seen ({boundary})"
        elif chunk.next_last_date is None:
            report.stop = "the page gave no publish_date_t to page on"
        elif chunk.next_last_date >= last_date:
            report.stop = "the feed did not move back in time"
        else:
            last_date = chunk.next_last_date
            continue
        return True
    report.stop = f"the cap of {max_pages} page(s)"
    target = since_iso or boundary
    report.notes.append(
        f"stopped at the page cap before reaching {target}: run again with more --max-pages"
        if target
        else "stopped at the page cap: older items may exist (use --since or more --max-pages)"
    )
    return True


def _read_rss(requester: _Requester, url: str, *, since_iso: str | None, boundary: str | None) -> None:
    report = requester.report
    row, answer = requester.get("rss", url)
    if answer is None:
        report.failed_stop, report.stop = True, "the RSS feed failed"
        return
    try:
        page = rbc_rss.parse_rbc_rss(answer.body, base_url=answer.url, min_items=0)
    except Exception as error:  # recorded, never a crash
        requester.fail(row, error)
        report.failed_stop, report.stop = True, "the RSS feed failed"
        return
    report.channel = "rss"
    headlines = list(page.headlines)
    _store(requester, row, [h for h in headlines if _in_range(h, since_iso)], page.warnings)
    report.stop = "the RSS feed has a single page"
    oldest = min((h.published_at for h in headlines if h.published_at), default=None)
    target = since_iso or boundary
    if target and (oldest is None or oldest > target):
        report.notes.append(
            f"the RSS feed reaches back only to {oldest or 'an unknown time'}: items published "
            f"between {target} and then may be missing"
        )


def backfill_headlines(
    db: Database,
    client: httpx.Client,
    source: str = "rbc",
    *,
    since: datetime | None = None,
    channel: str | None = None,
    feed_url: str = RBC_FEED_JSON_URL,
    rss_url: str = RBC_RSS_URL,
    max_pages: int = DEFAULT_MAX_PAGES,
    limit: int = DEFAULT_LIMIT,
    pause_s: float = DEFAULT_PAUSE_S,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Record headlines that were published while ticker was not looking.

    `channel` None: the feed JSON, or the RSS feed when the feed JSON's first page fails;
    'feed_json' or 'rss': that channel only.
    """
    if channel not in (None, "feed_json", "rss"):
        raise BadBackfillInput(f"backfill channel must be feed_json or rss, not {channel!r}")
    if channel != "rss":
        try:
            feed_page_url(feed_url, 0, limit)  # a bad address is refused before any request
        except BadFeedAddress as error:
            raise BadBackfillInput(str(error)) from None
    report = Report()
    requester = _Requester(db, client, source, now, report)
    since_iso = to_iso(since) if since is not None else None
    boundary = None if since is not None else live_watermark(db, source)
    if channel != "rss":
        answered = _page_feed(
            requester, feed_url, since_iso=since_iso, boundary=boundary, max_pages=max_pages,
            limit=limit, pause_s=pause_s, sleep=sleep,
        )  # fmt: skip
        if answered or channel == "feed_json":
            return report
        report.notes.append("the feed JSON did not answer: read the RSS feed instead")
    _read_rss(requester, rss_url, since_iso=since_iso, boundary=boundary)
    return report


def dynamic_url(base: str, currency: str, start: date, end: date) -> str:
    """An `XML_dynamic.asp` address for one currency over [start, end]."""
    separator = "&" if "?" in base else "?"
    return (
        f"{base}{separator}date_req1={cbr_xml.request_date(start)}&date_req2={cbr_xml.request_date(end)}"
        f"&VAL_NM_RQ={cbr_xml.CURRENCY_IDS[currency]}"
    )


def rate_windows(start: date, end: date, days: int = RATE_WINDOW_DAYS) -> list[tuple[date, date]]:
    """[start, end] cut into consecutive windows of at most `days` days."""
    windows = []
    while start <= end:
        stop = min(end, start + timedelta(days=days - 1))
        windows.append((start, stop))
        start = stop + timedelta(days=1)
    return windows


def check_rate_request(start: date, end: date, currencies: tuple[str, ...]) -> None:
    """Refuse a reversed range or a currency the Bank of Russia backfill does not know."""
    if start > end:
        raise BadBackfillInput(f"--from {start} is after --to {end}")
    for currency in currencies:
        if currency not in cbr_xml.CURRENCY_IDS:
            known = ", ".join(cbr_xml.CURRENCY_IDS)
            raise BadBackfillInput(f"unknown currency {currency!r} (known: {known})")


def backfill_rates(
    db: Database,
    client: httpx.Client,
    *,
    start: date,
    end: date,
    currencies: tuple[str, ...] = cbr_xml.DEFAULT_CURRENCIES,
    url: str = cbr_xml.DYNAMIC_URL,
    source: str = "cbr",
    pause_s: float = DEFAULT_PAUSE_S,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Fill `rates` for `source` from `XML_dynamic.asp`, one request per currency and window."""
    check_rate_request(start, end, currencies)
    report = Report(channel="xml_dynamic")
    requester = _Requester(db, client, source, now, report)
    first = True
    for currency in currencies:
        for window_start, window_end in rate_windows(start, end):
            if not first and pause_s > 0:
                sleep(pause_s)
            first = False
            row, answer = requester.get("xml_dynamic", dynamic_url(url, currency, window_start, window_end))
            if answer is None:
                continue
            try:
                document = cbr_xml.parse_dynamic(answer.body, currency)
                _check_currency(answer.body, currency)
            except Exception as error:  # recorded, never a crash
                requester.fail(row, error)
                continue
            if document.warnings:
                row.warning = one_line("; ".join(document.warnings))
            saved = save_rate_range(db, row, document)
            report.rates_found += saved.rates_found
            report.rates_new += saved.rates_new
    report.failed_stop = bool(report.failures)
    report.stop = "the whole range was asked for"
    return report


def _check_currency(body: bytes, currency: str) -> None:
    """An answer for another currency than asked must never be stored under this one."""
    match = _VALCURS_ID.search(body[:4096])
    expected = cbr_xml.CURRENCY_IDS[currency]
    if match and match.group(1).decode("ascii", "replace") != expected:
        raise ParseError(
            f"asked for {currency} ({expected}), the document is for {match.group(1).decode('ascii', 'replace')}"
        )
