"""Importing history from before ticker ran: the Wayback Machine's captures and WARC files.

Every capture goes through the one request path (`ticker.fetching`: the same status
classification and parser as a live poll), is stored as a fetch of the source's channel at the
capture's instant (`ticker.db.imports.save_capture`), and once the captures are in, the
source's history is re-derived in time order (`ticker.db.rederive`). A re-run skips captures
already stored without asking for them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlite_utils import Database

from ticker.base import to_iso, utc_now
from ticker.db.imports import CaptureSaved, imported_channels, imported_instants, imported_refs, save_capture
from ticker.db.rederive import rederive_source
from ticker.db.writes import register_source
from ticker.fetching import Attempt, from_recorded, parse_body, request
from ticker.progress import Bar
from ticker.scraper import wayback
from ticker.sources import SourceSpec, UnknownSource

DEFAULT_PAUSE_S = 2.5  # the least gap between two requests: 24 a minute, under the CDX's 30
DEFAULT_THROTTLE_PAUSE_S = 60.0  # after a 429: the Wayback Machine blocks those who keep asking
MAX_CONSECUTIVE_FAILURES = 5
MAX_THROTTLE_DOUBLINGS = 3  # a 429 pause grows 1x, 2x, 4x, 8x
MAX_REDIRECTS = 3
TRANSIENT_PAUSE_S = 5.0  # after a 5xx or no answer, before asking again


class ImportStopped(Exception):
    """The import gave up (too many consecutive failures); what was stored stays stored."""


class Politeness:
    """One rate limiter for every request of an import: at least `pause_s` between two requests,
    a pause of at least `throttle_pause_s` after a 429 (doubling while they continue), and a stop
    after `max_failures` consecutive failures. `sleep` and `clock` are injected by tests."""

    def __init__(
        self,
        pause_s: float = DEFAULT_PAUSE_S,
        throttle_pause_s: float = DEFAULT_THROTTLE_PAUSE_S,
        *,
        max_failures: int = MAX_CONSECUTIVE_FAILURES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        note: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.pause_s, self.throttle_pause_s = pause_s, throttle_pause_s
        self.max_failures = max_failures
        self.sleep, self.clock, self.note = sleep, clock, note
        self.requests = 0
        self.throttles = 0
        self.failures_in_a_row = 0
        self._throttles_in_a_row = 0
        self._last: float | None = None

    def before_request(self) -> None:
        if self._last is not None:
            wait = self.pause_s - (self.clock() - self._last)
            if wait > 0:
                self.sleep(wait)
        self._last = self.clock()
        self.requests += 1

    def throttled(self) -> None:
        """A 429 from the Wayback Machine: pause, longer each time in a row; stop if it lasts."""
        self.throttles += 1
        self.failed("HTTP 429 from the Wayback Machine (rate limited)")
        pause = self.throttle_pause_s * 2 ** min(self._throttles_in_a_row, MAX_THROTTLE_DOUBLINGS)
        self._throttles_in_a_row += 1
        self.note(f"HTTP 429 (rate limited): pausing {pause:g} s")
        self.sleep(pause)
        self._last = self.clock()

    def transient(self, message: str) -> None:
        """A 5xx or no answer: count it as a failure, then pause (doubling while they continue)."""
        self.failed(message)
        pause = max(self.pause_s, TRANSIENT_PAUSE_S) * 2 ** min(
            self.failures_in_a_row - 1, MAX_THROTTLE_DOUBLINGS
        )
        self.note(f"{message}: pausing {pause:g} s")
        self.sleep(pause)
        self._last = self.clock()

    def failed(self, message: str) -> None:
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= self.max_failures:
            raise ImportStopped(f"stopped after {self.failures_in_a_row} failures in a row; last: {message}")

    def succeeded(self) -> None:
        self.failures_in_a_row = 0
        self._throttles_in_a_row = 0


@dataclass(slots=True)
class Summary:
    """What an import did, for the closing lines and `--json`."""

    source: str
    channel: str
    found: int = 0  # captures listed (CDX rows, WARC records of the source)
    kept: int = 0  # after collapsing by --every
    skipped: int = 0  # already imported: no request made
    fetched: int = 0  # stored as fetches of the source
    outcomes: dict[str, int] = field(default_factory=dict)  # stored fetches by outcome
    not_captures: dict[str, int] = field(default_factory=dict)  # not_archived, excluded, redirect_far, ...
    failed: int = 0  # requests that brought nothing (network, 5xx): nothing stored
    items_new: int = 0
    rates_new: int = 0
    throttled: int = 0
    stopped: str | None = None
    interrupted: bool = False
    messages: list[str] = field(default_factory=list)

    def stored(self, saved: CaptureSaved) -> None:
        self.fetched += 1
        self.outcomes[saved.outcome] = self.outcomes.get(saved.outcome, 0) + 1
        self.items_new += saved.items_new
        self.rates_new += saved.rates_new

    def not_a_capture(self, kind: str, message: str) -> None:
        self.not_captures[kind] = self.not_captures.get(kind, 0) + 1
        if len(self.messages) < 20:
            self.messages.append(message)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def lines(self) -> list[str]:
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes.items())) or "none"
        lines = [
            f"{self.source}/{self.channel}: {self.found} captures found, {self.kept} kept, "
            f"{self.skipped} skipped (already imported), {self.fetched} fetched ({outcomes}), "
            f"{self.failed} failed; {self.items_new} new items, {self.rates_new} new rates",
        ]
        if self.not_captures:
            what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(self.not_captures.items()))
            lines.append(f"not captures (nothing stored): {what}")
        if self.throttled:
            lines.append(f"rate limited {self.throttled} times (paused each time)")
        if self.interrupted:
            lines.append("interrupted: what was stored stays; run the same command again to resume")
        if self.stopped:
            lines.append(self.stopped)
        return lines


def finish(db: Database, spec: SourceSpec, channel: str) -> None:
    """Put the source's channel history in time order (after any import, even an interrupted one)."""
    rederive_source(
        db, spec.name, channel, gap_limit_s=spec.gap_limit_s, ordered=spec.channel(channel).ordered
    )


def rederive_imported(db: Database, specs: dict[str, SourceSpec | None]) -> int:
    """Re-derive in time order every source's channel that holds imported captures (after a
    history rebuilt in fetch-id order, such as a re-parse); returns how many channels."""
    done = 0
    for source, channel in imported_channels(db):
        spec = specs.get(source)
        if spec is not None and channel in spec.kind_def.channel_names:
            finish(db, spec, channel)
            done += 1
    return done


def _register(db: Database, spec: SourceSpec) -> None:
    register_source(
        db, spec.name, spec.kind, spec.url_for(spec.main_channel), spec.every_s, list(spec.channels),
        to_iso(utc_now()), ticker_channel=spec.ticker_channel,
    )  # fmt: skip


# ---- the Wayback Machine


def _fetch_memento(
    client: httpx.Client,
    spec: SourceSpec,
    channel: str,
    capture: wayback.Capture,
    replay_url: str,
    politeness: Politeness,
    summary: Summary,
    known: set[str],
) -> Attempt | None:
    """The capture's memento through the request path, or None (not a capture, or already
    stored after a redirect). Redirects to the nearest capture are followed only nearby."""
    address = wayback.memento_url(replay_url, capture.timestamp, capture.original)
    asked = instant = capture.instant
    for _ in range(MAX_REDIRECTS + 1):
        while True:
            politeness.before_request()
            attempt = request(
                client, spec, channel, url=address, started_at=instant, origin="wayback",
                origin_ref=address, parse=False,
            )  # fmt: skip
            replay = wayback.classify_replay(attempt.row.status, attempt.headers, address)
            if replay.kind != "throttled":
                break
            summary.throttled += 1
            politeness.throttled()
        if replay.kind == "capture":
            politeness.succeeded()
            attempt.row.started_at = to_iso(replay.captured_at)
            if attempt.row.started_at in known:  # its Memento-Datetime names a capture stored before
                summary.skipped += 1
                return None
            if attempt.row.outcome == "ok" and attempt.body is not None:
                attempt.final_url = capture.original  # links resolve against the site, not the replay
                parse_body(attempt, spec, channel, fetched_at=replay.captured_at)
            return attempt
        if attempt.row.status is None or replay.kind == "unavailable":
            summary.failed += 1  # nothing stored: a re-run asks for it again
            politeness.transient(attempt.row.error or replay.message)
            return None
        politeness.succeeded()
        if replay.kind != "redirect":
            summary.not_a_capture(replay.kind, f"{address}: {replay.message}")
            return None
        target = wayback.redirect_within(replay.location, asked)
        if target is None:
            summary.not_a_capture(
                "redirect_far", f"{address}: the nearest capture is too far: {replay.location}"
            )
            return None
        if to_iso(target) in known:
            summary.skipped += 1
            return None
        address, instant = replay.location, target
    summary.not_a_capture("redirect_loop", f"{address}: more than {MAX_REDIRECTS} redirects")
    return None


def import_wayback(
    db: Database,
    client: httpx.Client,
    spec: SourceSpec,
    *,
    start: datetime | None,
    end: datetime | None,
    every_s: float,
    cdx_url: str = wayback.DEFAULT_CDX_URL,
    replay_url: str = wayback.DEFAULT_REPLAY_URL,
    politeness: Politeness | None = None,
    bar: Bar | None = None,
    channel: str | None = None,
) -> Summary:
    """Import the Wayback Machine's captures of a source's channel address (default: its main
    channel) between two instants, at most one per `every_s`. `client` must not follow
    redirects (they are judged here)."""
    politeness = politeness or Politeness()
    bar = bar or Bar("importing", None)
    channel = channel or spec.main_channel
    summary = Summary(spec.name, channel)
    _register(db, spec)

    def cdx_throttled() -> None:
        summary.throttled += 1
        politeness.throttled()

    try:
        try:
            captures = wayback.query_cdx(
                client, cdx_url, spec.url_for(channel), start=start, end=end,
                before_request=politeness.before_request, on_throttle=cdx_throttled,
                on_transient=politeness.transient,
            )  # fmt: skip
        except wayback.CdxError as error:
            summary.stopped = str(error)
            return summary
        summary.found = len(captures)
        kept = wayback.collapse(captures, every_s)
        summary.kept = len(kept)
        bar.set_total(len(kept))
        known = imported_instants(db, spec.name, channel, "wayback")
        refs = imported_refs(db, spec.name, channel, "wayback")
        for capture in kept:
            memento = wayback.memento_url(replay_url, capture.timestamp, capture.original)
            if to_iso(capture.instant) in known or memento in refs:
                summary.skipped += 1
            else:
                attempt = _fetch_memento(
                    client, spec, channel, capture, replay_url, politeness, summary, known
                )
                if attempt is not None:
                    row = attempt.row
                    saved = save_capture(
                        db, row, attempt.parsed, attempt.body, origin="wayback", origin_ref=row.url
                    )
                    known.add(row.started_at)
                    summary.stored(saved)
            bar.advance()
    except ImportStopped as stop:
        summary.stopped = str(stop)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        finish(db, spec, channel)
    return summary


# ---- WARC files


@dataclass(frozen=True, slots=True)
class WarcTarget:
    """Which source and channel a WARC record's address belongs to."""

    spec: SourceSpec
    channel: str


def import_warc(
    db: Database,
    paths: Iterable[Path],
    match: Callable[[str], WarcTarget | None],
    *,
    bar: Bar | None = None,
) -> list[Summary]:
    """Import the response (and revisit) records of WARC files whose address `match` maps to a
    source's channel; one summary per source and channel found."""
    from ticker.scraper import warc_reader

    bar = bar or Bar("importing", None)
    summaries: dict[tuple[str, str], Summary] = {}
    specs: dict[tuple[str, str], WarcTarget] = {}
    known: dict[tuple[str, str], set[str]] = {}
    reader = warc_reader.Reader()
    interrupted = False
    try:
        for path in paths:
            for record in reader.records(path, lambda uri: match(uri) is not None):
                target = match(record.target_uri)
                if target is None:
                    continue
                key = (target.spec.name, target.channel)
                if key not in summaries:
                    summaries[key] = Summary(*key)
                    specs[key] = target
                    known[key] = imported_refs(db, *key, "warc") | imported_instants(db, *key, "warc")
                    _register(db, target.spec)
                summary = summaries[key]
                summary.found += 1
                summary.kept += 1
                ref = f"{path.name}#{record.record_id}"
                # the same record again, or a copy of it (the file renamed, another crawl's copy)
                if ref in known[key] or to_iso(record.date) in known[key]:
                    summary.skipped += 1
                elif record.body is None:
                    kind = "revisit_unresolved" if record.revisit else "too_large"
                    summary.not_a_capture(kind, f"{ref}: {record.problem}")
                else:
                    attempt = from_recorded(
                        target.spec, target.channel, url=record.target_uri, status=record.status,
                        reason=record.reason, headers=record.headers, body=record.body,
                        started_at=record.date, origin="warc", origin_ref=ref,
                    )  # fmt: skip
                    row = attempt.row
                    saved = save_capture(db, row, attempt.parsed, attempt.body, origin="warc", origin_ref=ref)
                    known[key].update((ref, row.started_at))
                    summary.stored(saved)
                bar.advance()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for key, target in specs.items():
            summaries[key].interrupted = interrupted
            finish(db, target.spec, target.channel)
    return list(summaries.values())


def _page_key(address: str) -> tuple[str, str] | None:
    """What makes two addresses the same page: host and path (scheme, the host's case, query
    and fragment ignored; an empty path is `/`)."""
    parts = urlsplit(address)
    if not parts.hostname:
        return None
    return parts.hostname.lower(), parts.path or "/"


def address_matcher(specs: Iterable[SourceSpec]) -> Callable[[str], WarcTarget | None]:
    """Maps a recorded address to the source and channel whose address it is: exactly, or the
    same page with other query or tracking parameters (an exact match wins)."""
    exact: dict[str, WarcTarget] = {}
    pages: dict[tuple[str, str], WarcTarget] = {}
    for spec in specs:
        for channel in spec.kind_def.channel_names:
            try:
                address = spec.url_for(channel)
            except UnknownSource:
                continue
            if "{" in address:  # a template (feed pages): no single address to recognise
                continue
            target = WarcTarget(spec, channel)
            exact.setdefault(address, target)
            key = _page_key(address)
            if key is not None:
                pages.setdefault(key, target)

    def match(address: str) -> WarcTarget | None:
        found = exact.get(address)
        if found is not None:
            return found
        key = _page_key(address)
        return pages.get(key) if key is not None else None

    return match
