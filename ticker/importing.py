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
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlite_utils import Database

from ticker.base import EARLIEST_YEAR, LATEST_YEAR, to_iso, utc_now
from ticker.db.imports import (
    capture_stored,
    imported_channels,
    imported_instants,
    imported_refs,
    save_capture,
)
from ticker.db.rederive import rederive_source
from ticker.db.writes import Saved, register_source
from ticker.fetching import Attempt, from_recorded, parse_body, request
from ticker.progress import Bar
from ticker.scraper import wayback
from ticker.sources import SourceSpec, UnknownSource
from ticker.stories.update import after_write

DEFAULT_PAUSE_S = 2.5  # the least gap between two requests: 24 a minute, under the CDX's 30
DEFAULT_THROTTLE_PAUSE_S = 60.0  # after a 429: the Wayback Machine blocks those who keep asking
MAX_CONSECUTIVE_FAILURES = 5
MAX_THROTTLE_DOUBLINGS = 3  # a 429 pause grows 1x, 2x, 4x, 8x
MAX_REDIRECTS = 3
TRANSIENT_PAUSE_S = 5.0  # after a 5xx or no answer, before asking again
REFUSED = "connection refused"  # how ticker.scraper.http describes a refused connection
MAX_WARNINGS = 10  # warning lines kept in a summary (the count of each kind is always whole)
OUT_OF_BOUNDS = f"outside the years {EARLIEST_YEAR}..{LATEST_YEAR} that ticker's times may take"
Opener = Database | Callable[[], Database]  # the database, or how to open it when first needed


def in_time_bounds(moment: datetime) -> bool:
    """Whether an instant lies in the years every ticker time does (`ticker.base`'s bounds for a
    typed time): a capture dated 9999-12-31 or 1970 could not be shown, compared or cited."""
    return EARLIEST_YEAR <= moment.astimezone(UTC).year <= LATEST_YEAR


class _Lazy:
    """The database of an import, opened (and so created) only when something is to be stored
    or read: an import that fails before its first answer leaves no file behind."""

    def __init__(self, db: Opener) -> None:
        self._db = db if isinstance(db, Database) else None
        self._open = db

    def __call__(self) -> Database:
        if self._db is None:
            self._db = self._open()
        return self._db


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
    warnings: list[str] = field(default_factory=list)  # printed: dates out of bounds, truncated files

    def stored(self, saved: Saved) -> None:
        self.fetched += 1
        self.outcomes[saved.outcome] = self.outcomes.get(saved.outcome, 0) + 1
        self.items_new += saved.items_new
        self.rates_new += saved.rates_new

    def not_a_capture(self, kind: str, message: str) -> None:
        self.not_captures[kind] = self.not_captures.get(kind, 0) + 1
        if len(self.messages) < 20:
            self.messages.append(message)

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def out_of_bounds(self, what: str, moment: datetime) -> None:
        """A capture dated where no ticker time can be: skipped, counted and said."""
        self.not_a_capture("out_of_range", f"{what}: dated {to_iso(moment)}, {OUT_OF_BOUNDS}")
        self.warn(f"skipped {what}: dated {to_iso(moment)}, {OUT_OF_BOUNDS}")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def lines(self, *, stop: bool = True) -> list[str]:
        """The closing lines; `stop=False` leaves out why the import stopped (the caller says
        it once, as its `Error:` line)."""
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes.items())) or "none"
        lines = [
            f"{self.source}/{self.channel}: {self.found} captures found, {self.kept} kept, "
            f"{self.skipped} skipped (already imported), {self.fetched} fetched ({outcomes}), "
            f"{self.failed} failed; {self.items_new} new items, {self.rates_new} new rates",
        ]
        if self.not_captures:
            what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(self.not_captures.items()))
            lines.append(f"not captures (nothing stored): {what}")
        lines += [f"warning: {message}" for message in self.warnings]
        if self.throttled:
            lines.append(f"rate limited {self.throttled} times (paused each time)")
        if self.interrupted:
            lines.append("interrupted: what was stored stays; run the same command again to resume")
        if self.stopped and stop:
            lines.append(self.stopped)
        return lines


def finish(db: Database, spec: SourceSpec, channel: str) -> None:
    """Put the source's channel history in time order (after any import, even an interrupted one)."""
    rederive_source(
        db, spec.name, channel, gap_limit_s=spec.gap_limit_s, ordered=spec.channel(channel).ordered
    )
    after_write(db)  # stories: group the imported captures' headlines (logged, never raised)


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
            if not in_time_bounds(replay.captured_at):
                summary.out_of_bounds(f"{address} (its Memento-Datetime)", replay.captured_at)
                return None
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
            if attempt.row.status is None and REFUSED in (attempt.row.error or ""):
                # nothing listens at the replay address: asking again cannot help
                raise ImportStopped(f"memento {address}: {attempt.row.error}: check --replay-url")
            politeness.transient(attempt.row.error or replay.message)
            return None
        politeness.succeeded()
        if replay.kind != "redirect":
            summary.not_a_capture(replay.kind, f"{address}: {replay.message}")
            return None
        target = wayback.redirect_within(replay.location, asked)
        if target is not None and not in_time_bounds(target):
            summary.out_of_bounds(f"{address} (redirected to {replay.location})", target)
            return None
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
    db: Opener,
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
    redirects (they are judged here). `db` may be a function opening the database: it is called
    once the CDX server has listed captures, so a refused query, or one listing none, creates no
    file. CDX rows dated outside
    the years ticker's times take are skipped, counted and said."""
    politeness = politeness or Politeness()
    bar = bar or Bar("importing", None)
    channel = channel or spec.main_channel
    summary = Summary(spec.name, channel)
    database = _Lazy(db)
    registered = False

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
        in_bounds = []
        for capture in captures:
            if in_time_bounds(capture.instant):
                in_bounds.append(capture)
            else:
                summary.out_of_bounds(f"CDX row {capture.timestamp} {capture.original}", capture.instant)
        kept = wayback.collapse(in_bounds, every_s)
        summary.kept = len(kept)
        if not kept:  # nothing to store: no database is created for it
            return summary
        db = database()
        _register(db, spec)
        registered = True
        bar.set_total(len(kept))
        known = imported_instants(db, spec.name, channel, "wayback")
        refs = imported_refs(db, spec.name, channel, "wayback")
        for capture in kept:
            memento = wayback.memento_url(replay_url, capture.timestamp, capture.original)
            if (
                to_iso(capture.instant) in known
                or memento in refs
                or capture_stored(db, spec.name, channel, "wayback", to_iso(capture.instant))
            ):  # the last: stored meanwhile by another import of the same captures (no request)
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
                    if saved is None:  # another import stored it meanwhile
                        summary.skipped += 1
                    else:
                        summary.stored(saved)
            bar.advance()
    except ImportStopped as stop:
        summary.stopped = str(stop)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if registered:
            finish(db, spec, channel)
    return summary


# ---- WARC files


@dataclass(frozen=True, slots=True)
class WarcTarget:
    """Which source and channel a WARC record's address belongs to."""

    spec: SourceSpec
    channel: str


def import_warc(
    db: Opener,
    paths: Iterable[Path],
    match: Callable[[str], WarcTarget | None],
    *,
    bar: Bar | None = None,
    reader=None,
) -> list[Summary]:
    """Import the response (and revisit) records of WARC files whose address `match` maps to a
    source's channel; one summary per source and channel found. `db` may be a function opening
    the database: it is called at the first record of a source, so a file that is not a WARC,
    or holds no source's record, creates no database. Records dated outside the years ticker's
    times take, and records cut short (a truncated file: `reader.truncated` names it), are
    skipped, counted and said."""
    from ticker.scraper import warc_reader

    bar = bar or Bar("importing", None)
    database = _Lazy(db)
    summaries: dict[tuple[str, str], Summary] = {}
    specs: dict[tuple[str, str], WarcTarget] = {}
    known: dict[tuple[str, str], set[str]] = {}
    reader = reader or warc_reader.Reader()
    interrupted = False
    try:
        for path in paths:
            for record in reader.records(path, lambda uri: match(uri) is not None):
                target = match(record.target_uri)
                if target is None:
                    continue
                key = (target.spec.name, target.channel)
                if key not in summaries:
                    db = database()
                    summaries[key] = Summary(*key)
                    specs[key] = target
                    known[key] = imported_refs(db, *key, "warc") | imported_instants(db, *key, "warc")
                    _register(db, target.spec)
                summary = summaries[key]
                summary.found += 1
                summary.kept += 1
                ref = f"{path.name}#{record.record_id}"
                if record.truncated:
                    summary.not_a_capture("truncated", f"{ref}: cut short: {record.problem}")
                    summary.warn(f"{path}: the file is truncated: record {record.record_id} is cut short "
                                 f"({record.problem}): not imported")  # fmt: skip
                elif not in_time_bounds(record.date):
                    summary.out_of_bounds(f"WARC record {ref}", record.date)
                # the same record again, or a copy of it (the file renamed, another crawl's copy)
                elif ref in known[key] or to_iso(record.date) in known[key]:
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
                    if saved is None:  # another import stored it meanwhile
                        summary.skipped += 1
                    else:
                        summary.stored(saved)
                bar.advance()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for key, target in specs.items():
            summaries[key].interrupted = interrupted
            finish(database(), target.spec, target.channel)
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
