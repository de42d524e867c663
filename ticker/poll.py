"""One poll of one source's channel: fetch, classify, parse, save. Shared by `ticker fetch`
and the daemon, so both record exactly the same things."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import datetime

import httpx
from sqlite_utils import Database

from ticker.base import BlockedPage, ParseError, RatesDocument, TickerPage, to_iso, utc_now
from ticker.db.archive import keep_body
from ticker.db.writes import (
    FetchRow,
    Saved,
    last_success,
    save_failure,
    save_rates,
    save_ticker,
    save_unchanged,
)
from ticker.scraper import http, rbc_page
from ticker.scraper.decoding import charset_from_content_type
from ticker.settings import ArchiveSettings
from ticker.sources import SourceSpec

MAX_MESSAGE = 500
FEED_LIVE_LIMIT = 20  # items a live feed-JSON poll asks for

Parsed = TickerPage | RatesDocument
# (kind, channel) -> parser(body, answer, fetched_at, spec, channel)
Parser = Callable[[bytes, http.Answer, datetime, SourceSpec, str], Parsed]


def _parse_rbc_page(
    body: bytes, answer: http.Answer, fetched_at: datetime, spec: SourceSpec, channel: str
) -> Parsed:
    return rbc_page.parse_rbc_page(
        body,
        fetched_at=fetched_at,
        base_url=answer.url,
        charset=charset_from_content_type(answer.content_type),
        min_items=spec.min_items(channel),
    )


def _parse_cbr_daily(
    body: bytes, answer: http.Answer, fetched_at: datetime, spec: SourceSpec, channel: str
) -> Parsed:
    from ticker.scraper import cbr_xml  # parsers other than the page's load when first used

    return cbr_xml.parse_daily(body)


def _parse_rbc_rss(
    body: bytes, answer: http.Answer, fetched_at: datetime, spec: SourceSpec, channel: str
) -> Parsed:
    from ticker.scraper import rbc_rss

    return rbc_rss.parse_rbc_rss(body, base_url=answer.url, min_items=spec.min_items(channel))


def _parse_rbc_feed_json(
    body: bytes, answer: http.Answer, fetched_at: datetime, spec: SourceSpec, channel: str
) -> Parsed:
    from ticker.scraper import rbc_feed_json

    # A live poll: an empty answer is a parse error, never "every item left".
    return rbc_feed_json.parse_feed_json(
        body, fetched_at=fetched_at, base_url=answer.url, min_items=spec.min_items(channel)
    )


PARSERS: dict[tuple[str, str], Parser] = {
    ("rbc", "page"): _parse_rbc_page,
    ("rbc", "rss"): _parse_rbc_rss,
    ("rbc", "feed_json"): _parse_rbc_feed_json,
    ("cbr", "xml_daily"): _parse_cbr_daily,
}


def one_line(text: str) -> str:
    """A message fit for `fetches.error` and a log line: one line, bounded."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1] + "…"


def _blocked_message(failure: http.FetchFailed) -> str:
    if failure.body and rbc_page.looks_like_challenge(failure.body[:20000].decode("latin-1")):
        return f"HTTP {failure.status}: bot challenge page (Qrator/DDoS-Guard)"
    return failure.message


def poll(
    db: Database,
    client: httpx.Client,
    spec: SourceSpec,
    *,
    channel: str | None = None,
    url: str | None = None,
    now: Callable[[], datetime] = utc_now,
    archive: ArchiveSettings | None = None,
) -> Saved:
    """Fetch one channel of a source and record the attempt, whatever happens to it; then keep
    its body in the raw archive if retention wants it (a second, short transaction: see
    ticker.db.archive)."""
    received: list[tuple[bytes, str | None]] = []
    saved = _poll(db, client, spec, channel=channel, url=url, now=now, received=received)
    if received:
        changed = bool(saved.items_new or saved.titles_changed or saved.rates_new or saved.exits)
        body, content_type = received[-1]
        settings = archive or ArchiveSettings()
        keep_body(db, saved.fetch_id, body, content_type, saved.outcome, changed, settings, now=now())
    return saved


def _poll(
    db: Database,
    client: httpx.Client,
    spec: SourceSpec,
    *,
    channel: str | None,
    url: str | None,
    now: Callable[[], datetime],
    received: list[tuple[bytes, str | None]],
) -> Saved:
    channel = channel or spec.channels[0]
    started = now()
    target = url or spec.url_for(channel)
    if "{last_date}" in target:  # a feed-JSON template: the newest page as of now
        from ticker.scraper import rbc_feed_json

        target = rbc_feed_json.feed_page_url(target, int(started.timestamp()), FEED_LIVE_LIMIT)
    clock = time.monotonic()
    row = FetchRow(
        source=spec.name,
        channel=channel,
        url=http.redact_url(target),
        started_at=to_iso(started),
        outcome="ok",
    )
    previous = last_success(db, spec.name, channel)
    try:
        answer = http.get(
            client,
            target,
            etag=previous["etag"] if previous else None,
            last_modified=previous["last_modified"] if previous else None,
        )
    except http.FetchFailed as failure:
        row.duration_ms = int((time.monotonic() - clock) * 1000)
        row.outcome = failure.outcome
        row.status = failure.status
        row.retry_after_s = failure.retry_after_s
        row.error = one_line(_blocked_message(failure) if failure.outcome == "blocked" else failure.message)
        if failure.body is not None:
            received.append((failure.body, failure.content_type))
            received.append((failure.body, failure.content_type))  # e.g. the challenge page: evidence
            row.bytes = len(failure.body)
            row.body_sha256 = hashlib.sha256(failure.body).hexdigest()
            row.content_type = failure.content_type
        return save_failure(db, row)

    row.duration_ms = int((time.monotonic() - clock) * 1000)
    row.status = answer.status
    row.etag = answer.etag
    row.last_modified = answer.last_modified
    if answer.status == 304:
        row.outcome = "unchanged"
        return save_unchanged(db, row, previous["snapshot_id"] if previous else None)

    received.append((answer.body, answer.content_type))
    row.bytes = len(answer.body)
    row.body_sha256 = hashlib.sha256(answer.body).hexdigest()
    row.content_type = answer.content_type
    if previous is not None and previous["body_sha256"] == row.body_sha256:
        row.outcome = "unchanged"
        return save_unchanged(db, row, previous["snapshot_id"])

    parser = PARSERS.get((spec.kind, channel))
    if parser is None:
        row.outcome = "parse_error"
        row.error = f"no parser for kind {spec.kind!r} channel {channel!r}"
        return save_failure(db, row)
    try:
        parsed = parser(answer.body, answer, started, spec, channel)
    except BlockedPage as error:
        row.outcome, row.error = "blocked", one_line(f"HTTP {answer.status}: {error}")
        return save_failure(db, row)
    except ParseError as error:
        row.outcome, row.error = "parse_error", one_line(str(error))
        return save_failure(db, row)
    except Exception as error:  # a parser bug must be recorded, never crash the poll
        row.outcome = "parse_error"
        row.error = one_line(f"parser failed: {type(error).__name__}: {error}")
        return save_failure(db, row)

    if parsed.warnings:
        row.warning = one_line("; ".join(parsed.warnings))
    if isinstance(parsed, TickerPage):
        return save_ticker(db, row, parsed, gap_limit_s=spec.gap_limit_s)
    return save_rates(db, row, parsed)
