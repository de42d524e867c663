"""Filling gaps: headlines published while ticker was not looking (daemon down, page blocked) and
Bank of Russia rates over a date range.

Headlines: page back through RBC's feed JSON (`lastDate` = the last item's `publish_date_t`),
newest first, until a page reaches what a live poll already saw (an item, or the newest
publication time it stored), `--since`, an empty page, or the page cap. When the feed JSON does
not answer at all, the RSS feed (one page, ~30 items) is used instead. Every request is a
`fetches` row; what is new is stored by `ticker.db.backfill` as evidence of publication.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import httpx
from sqlite_utils import Database

from ticker.core.base import BlockedPage, Headline, ParseError, from_iso, one_line, to_iso, utc_now
from ticker.core.politeness import MAX_CONSECUTIVE_FAILURES
from ticker.core.records import FetchRow
from ticker.db.backfill import live_seen_ids, live_watermark, save_backfill_page, save_rate_range
from ticker.db.writes import save_failure
from ticker.jobs.fetching import parse_body, request
from ticker.jobs.sources import SourceSpec, builtin_source
from ticker.scraper import cbr_xml

DEFAULT_MAX_PAGES = 20
DEFAULT_LIMIT = 20
DEFAULT_PAUSE_S = 1.0
RATE_WINDOW_DAYS = 366  # one XML_dynamic request covers at most this many days
ORIGIN = "backfill"  # `fetches.origin` of every backfill request


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


class TooManyFailures(Exception):
    """Several requests in a row failed: the backfill stops rather than hammer the server."""


@dataclass(slots=True)
class _Requester:
    db: Database
    client: httpx.Client
    spec: SourceSpec
    now: Callable[[], datetime]
    report: Report
    failures_in_a_row: int = 0
    advance: Callable[[], None] = lambda: None  # a progress display's step, once per request

    def get(self, channel: str, url: str):
        """GET once through the one request path (marked as a backfill); a failure is recorded
        at once and gives (row, None). Raises TooManyFailures after several in a row."""
        self.report.requests += 1
        self.advance()
        attempt = request(self.client, self.spec, channel, url=url, origin=ORIGIN, parse=False, now=self.now)
        if attempt.row.outcome != "ok" or attempt.body is None:
            self.fail(attempt.row)
            return attempt.row, None
        return attempt.row, attempt

    def fail(self, row: FetchRow, error: Exception | None = None) -> None:
        if error is not None:
            row.outcome = "blocked" if isinstance(error, BlockedPage) else "parse_error"
            row.error = one_line(str(error) if isinstance(error, ParseError) else f"parser failed: {error!r}")
        saved = save_failure(self.db, row)
        self.report.failures.append(f"fetch {saved.fetch_id} ({row.channel}): {row.outcome}: {row.error}")
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            self.report.failed_stop = True
            self.report.stop = f"{self.failures_in_a_row} failed requests in a row (last: {row.error})"
            raise TooManyFailures(self.report.stop)

    def succeeded(self) -> None:
        self.failures_in_a_row = 0


def _store(
    requester: _Requester, row: FetchRow, headlines: list[Headline], warnings: tuple[str, ...]
) -> None:
    if warnings:
        row.warning = one_line("; ".join(warnings))
    saved = save_backfill_page(requester.db, row, headlines)
    requester.report.items_found += saved.items_found
    requester.report.items_new += saved.items_new
    requester.succeeded()


def _in_range(headline: Headline, since_iso: str | None) -> bool:
    return since_iso is None or headline.published_at is None or headline.published_at >= since_iso


def _page_feed(
    requester: _Requester,
    channel: str,
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
    pager = requester.spec.channel(channel).pager
    for page_number in range(1, max_pages + 1):
        if page_number > 1 and pause_s > 0:
            sleep(pause_s)
        row, answer = requester.get(channel, pager.page_url(template, last_date, limit))
        if answer is None:
            report.failed_stop = page_number > 1
            report.stop = f"feed JSON page {page_number} failed"
            return page_number > 1
        try:
            chunk = pager.read_page(answer.body, from_iso(row.started_at), answer.final_url or row.url)
        except Exception as error:  # recorded, never a crash
            requester.fail(row, error)
            report.failed_stop = page_number > 1
            report.stop = f"feed JSON page {page_number} failed"
            return page_number > 1
        report.channel = channel
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


def _read_single(
    requester: _Requester, channel: str, url: str, *, since_iso: str | None, boundary: str | None
) -> None:
    """One page of a channel that cannot be walked back (a feed, a list page)."""
    report = requester.report
    row, answer = requester.get(channel, url)
    if answer is None:
        report.failed_stop, report.stop = True, f"the {channel} channel failed"
        return
    spec = requester.spec
    parse_body(answer, spec, channel, fetched_at=from_iso(row.started_at))
    if answer.parsed is None or not hasattr(answer.parsed, "headlines"):  # refused: recorded, never a crash
        requester.fail(row)
        report.failed_stop, report.stop = True, f"the {channel} channel failed"
        return
    page = answer.parsed
    report.channel = channel
    headlines = list(page.headlines)
    _store(requester, row, [h for h in headlines if _in_range(h, since_iso)], page.warnings)
    report.stop = f"the {channel} channel has a single page"
    oldest = min((h.published_at for h in headlines if h.published_at), default=None)
    target = since_iso or boundary
    if target and (oldest is None or oldest > target):
        report.notes.append(
            f"the {channel} channel reaches back only to {oldest or 'an unknown time'}: items "
            f"published between {target} and then may be missing"
        )


def headline_backfill_channels(spec: SourceSpec) -> list[str]:
    """The channels a headline backfill reads, in the order it tries them: one it can walk back
    in time first, then single pages."""
    usable = [c for c in spec.kind_def.channels if c.backfill in ("paged", "single") and c.headlines]
    return [c.name for c in sorted(usable, key=lambda c: c.backfill != "paged")]


def backfill_headlines(
    db: Database,
    client: httpx.Client,
    spec: SourceSpec,
    *,
    since: datetime | None = None,
    channel: str | None = None,
    urls: dict[str, str] | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    limit: int = DEFAULT_LIMIT,
    pause_s: float = DEFAULT_PAUSE_S,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    advance: Callable[[], None] | None = None,
) -> Report:
    """Record headlines that were published while ticker was not looking.

    The kind's backfill channels are read in order (RBC: the feed JSON, walked back in time,
    then its RSS when the feed JSON's first page fails); `channel` names one of them only;
    `urls` replaces their addresses (mirrors, tests).
    """
    usable = headline_backfill_channels(spec)
    if not usable:
        raise BadBackfillInput(f"{spec.name} ({spec.kind}) has no channel a backfill can read")
    if channel is not None and channel not in usable:
        raise BadBackfillInput(f"backfill channel must be {' or '.join(usable)}, not {channel!r}")
    order = [channel] if channel is not None else usable
    addresses = {name: (urls or {}).get(name) or spec.url_for(name) for name in order}
    for name in order:
        if spec.channel(name).backfill == "paged":
            try:
                spec.channel(name).pager.page_url(addresses[name], 0, limit)  # refused before any request
            except ValueError as error:
                raise BadBackfillInput(str(error)) from None
    report = Report()
    requester = _Requester(db, client, spec, now, report, advance=advance or (lambda: None))
    since_iso = to_iso(since) if since is not None else None
    boundary = None if since is not None else live_watermark(db, spec.name)
    try:
        for number, name in enumerate(order):
            if spec.channel(name).backfill != "paged":
                _read_single(requester, name, addresses[name], since_iso=since_iso, boundary=boundary)
                return report
            answered = _page_feed(
                requester, name, addresses[name], since_iso=since_iso, boundary=boundary,
                max_pages=max_pages, limit=limit, pause_s=pause_s, sleep=sleep,
            )  # fmt: skip
            if answered or number == len(order) - 1:
                return report
            report.notes.append(f"the {name} channel did not answer: read {order[number + 1]} instead")
    except TooManyFailures:
        pass
    return report


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
    url: str | None = None,
    spec: SourceSpec | None = None,
    pause_s: float = DEFAULT_PAUSE_S,
    now: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    advance: Callable[[], None] | None = None,
) -> Report:
    """Fill `rates` for a Bank of Russia source (default: the built-in `cbr`) from its range
    channel (`XML_dynamic.asp`), one request per currency and window; stops after several
    failed requests in a row."""
    check_rate_request(start, end, currencies)
    spec = spec or builtin_source("cbr")
    channel = next((c.name for c in spec.kind_def.channels if c.backfill == "range"), None)
    if channel is None:
        raise BadBackfillInput(f"{spec.name} ({spec.kind}) has no rate range channel")
    base = url or spec.url_for(channel)
    report = Report(channel=channel)
    requester = _Requester(db, client, spec, now, report, advance=advance or (lambda: None))
    windows = [(currency, *window) for currency in currencies for window in rate_windows(start, end)]
    try:
        for number, (currency, window_start, window_end) in enumerate(windows):
            if number and pause_s > 0:
                sleep(pause_s)
            _one_rate_window(
                requester,
                channel,
                spec.channel(channel).ranges.address(base, currency, window_start, window_end),
                currency,
            )
    except TooManyFailures:
        return report
    report.failed_stop = bool(report.failures)
    report.stop = "the whole range was asked for"
    return report


def _one_rate_window(requester: _Requester, channel: str, url: str, currency: str) -> None:
    report = requester.report
    row, answer = requester.get(channel, url)
    if answer is None:
        return
    try:
        document = requester.spec.channel(channel).ranges.read(answer.body, currency)
    except Exception as error:  # recorded, never a crash
        requester.fail(row, error)
        return
    if document.warnings:
        row.warning = one_line("; ".join(document.warnings))
    saved = save_rate_range(requester.db, row, document)
    requester.succeeded()
    report.rates_found += saved.rates_found
    report.rates_new += saved.rates_new
