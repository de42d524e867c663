"""The one path every request takes: live polls, backfills, re-parses and imports.

`request` GETs a channel's address and `from_recorded` takes an answer recorded elsewhere (a WARC
record); both build the `fetches` row the same way (the address redacted, timing, a failure's
outcome and one-line message, a challenge page recognised as `blocked`) and parse the body with
the kind's parser, classifying what the parser refuses. Nothing here writes: the caller hands
the Attempt to a writer in ticker.db.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from datetime import datetime

import httpx

from ticker.core.base import (
    OUT_OF_TIME_BOUNDS,
    BlockedPage,
    ParseError,
    RatesDocument,
    TickerPage,
    iso_in_time_bounds,
    one_line,
    redact_url,
    to_iso,
    utc_now,
    without_odd_time,
)
from ticker.core.records import AddressState, Attempt, FetchRow, address_key
from ticker.jobs.sources import SourceSpec
from ticker.kinds import ParseContext, parse_bounded
from ticker.scraper import http
from ticker.scraper.challenge import block_page, blocked_message


def target_address(spec: SourceSpec, channel: str, url: str | None, started: datetime) -> str:
    """The address to request: the given one or the channel's, templates filled in."""
    address = url or spec.url_for(channel)
    build = spec.channel(channel).address
    return build(address, started) if build is not None else address


def new_row(
    spec: SourceSpec,
    channel: str,
    address: str,
    started: datetime,
    *,
    origin: str | None = None,
    origin_ref: str | None = None,
) -> FetchRow:
    return FetchRow(
        source=spec.name,
        channel=channel,
        url=redact_url(address),
        started_at=to_iso(started),
        outcome="ok",
        origin=origin,
        origin_ref=redact_url(origin_ref) if origin_ref else origin_ref,
    )


def _blocked_message(failure: http.FetchFailed) -> str:
    vendor = block_page(failure.body) if failure.body else None
    if vendor is not None:
        return f"HTTP {failure.status}: {blocked_message(vendor, 'the content')}"
    return failure.message


def _record_failure(attempt: Attempt, failure: http.FetchFailed) -> Attempt:
    row = attempt.row
    row.outcome = failure.outcome
    row.status = failure.status
    row.retry_after_s = failure.retry_after_s
    row.error = one_line(_blocked_message(failure) if failure.outcome == "blocked" else failure.message)
    attempt.headers = dict(failure.headers)
    if failure.body is not None:
        attempt.body = failure.body
        row.bytes = len(failure.body)
        row.body_sha256 = hashlib.sha256(failure.body).hexdigest()
        row.content_type = failure.content_type
    return attempt


def _record_answer(attempt: Attempt, answer: http.Answer) -> Attempt:
    row = attempt.row
    row.status = answer.status
    row.etag = answer.etag
    row.last_modified = answer.last_modified
    attempt.headers = dict(answer.headers)
    attempt.final_url = redact_url(answer.url)  # links resolve against it: never with a secret
    if answer.status == 304:
        attempt.not_modified = True
        row.outcome = "unchanged"
        return attempt
    attempt.body = answer.body
    row.bytes = len(answer.body)
    row.body_sha256 = hashlib.sha256(answer.body).hexdigest()
    row.content_type = answer.content_type
    return attempt


def _without_odd_times(parsed: TickerPage | RatesDocument) -> TickerPage | RatesDocument:
    """Every parser's page with publication times outside the years ticker's times may take
    dropped (the items kept, the drop said): whatever a page or feed claims, nothing stored is a
    time that cannot be shown."""
    if not isinstance(parsed, TickerPage):
        return parsed
    headlines, warnings = [], list(parsed.warnings)
    for headline in parsed.headlines:
        kept, warning = without_odd_time(headline)
        headlines.append(kept)
        if warning:
            warnings.append(warning)
    updated_at = parsed.updated_at
    if updated_at is not None and not iso_in_time_bounds(updated_at):
        warnings.append(f"page time {updated_at[:40]!r} is {OUT_OF_TIME_BOUNDS}: not stored")
        updated_at = None
    if len(warnings) == len(parsed.warnings):
        return parsed
    return replace(parsed, headlines=tuple(headlines), updated_at=updated_at, warnings=tuple(warnings))


def parse_body(attempt: Attempt, spec: SourceSpec, channel: str, *, fetched_at: datetime) -> Attempt:
    """Run the kind's parser over the attempt's body; what it refuses becomes the outcome."""
    row = attempt.row
    assert attempt.body is not None
    context = ParseContext(
        # Links resolve against the redacted address: a relative `#story` must not carry a `?token=`.
        url=redact_url(attempt.final_url) if attempt.final_url else row.url,
        content_type=row.content_type,
        fetched_at=fetched_at,
        min_items=spec.min_items(channel),
        options=spec.options,
        source=spec.name,
    )
    row.outcome, row.error, row.warning = "ok", None, None
    try:
        parsed = parse_bounded(spec.channel(channel), attempt.body, context)
    except BlockedPage as error:
        row.outcome, row.error = "blocked", one_line(f"HTTP {row.status}: {error}")
        return attempt
    except ParseError as error:
        row.outcome, row.error = "parse_error", one_line(str(error))
        return attempt
    except Exception as error:  # a parser bug must be recorded, never crash the poll
        row.outcome = "parse_error"
        row.error = one_line(f"parser failed: {type(error).__name__}: {error}")
        return attempt
    parsed = _without_odd_times(parsed)
    if parsed.warnings:
        row.warning = one_line("; ".join(parsed.warnings))
    attempt.parsed = parsed
    return attempt


def request(
    client: httpx.Client,
    spec: SourceSpec,
    channel: str,
    *,
    url: str | None = None,
    started_at: datetime | None = None,
    validators: AddressState | None = None,
    origin: str | None = None,
    origin_ref: str | None = None,
    parse: bool = True,
    now=utc_now,
) -> Attempt:
    """GET one channel of a source (`url` replaces its address) and parse what came back.

    `started_at` is the instant recorded (a capture's, for an import); by default the clock's.
    With `parse=False` a 2xx body is left unparsed (the caller may find it is the same as
    before); call `parse_body` later.
    """
    started = now()
    address = target_address(spec, channel, url, started)
    attempt = Attempt(
        row=new_row(spec, channel, address, started_at or started, origin=origin, origin_ref=origin_ref),
        address_key=address_key(address),
        based_on=validators.fetch_id if validators else None,
        base=validators,
    )
    clock = time.monotonic()
    try:
        answer = http.get(
            client,
            address,
            etag=validators.etag if validators else None,
            last_modified=validators.last_modified if validators else None,
        )
    except http.FetchFailed as failure:
        attempt.row.duration_ms = int((time.monotonic() - clock) * 1000)
        return _record_failure(attempt, failure)
    attempt.row.duration_ms = int((time.monotonic() - clock) * 1000)
    _record_answer(attempt, answer)
    if parse and not attempt.not_modified:
        parse_body(attempt, spec, channel, fetched_at=started_at or started)
    return attempt


def from_recorded(
    spec: SourceSpec,
    channel: str,
    *,
    url: str,
    status: int,
    reason: str,
    headers: dict[str, str],
    body: bytes,
    started_at: datetime,
    origin: str,
    origin_ref: str | None = None,
) -> Attempt:
    """An answer recorded elsewhere (a WARC response record), taken as `request` takes a live
    one: the same status classification and the same parser. `headers`: lower-case names."""
    attempt = Attempt(
        row=new_row(spec, channel, url, started_at, origin=origin, origin_ref=origin_ref),
        address_key=address_key(url),
    )
    if status == 304:
        failure = http.FetchFailed(
            "http_error", "HTTP 304 Not Modified recorded: the capture holds no content", status=304
        )
        return _record_failure(attempt, failure)
    try:
        answer = http.classify_answer(url, status, reason, headers, body)
    except http.FetchFailed as failure:
        return _record_failure(attempt, failure)
    _record_answer(attempt, answer)
    return parse_body(attempt, spec, channel, fetched_at=started_at)
