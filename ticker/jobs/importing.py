"""Importing history from before ticker ran: the Wayback Machine's captures and WARC files.

Every capture goes through the one request path (`ticker.jobs.fetching`: the same status
classification and parser as a live poll), is stored as a fetch of the source's channel at the
capture's instant (`ticker.db.imports.save_capture`, which marks the channel's history pending
from there), and once the captures are in, the history is derived from the earliest pending
place (`ticker.db.imports.merge_captures`: the one derivation, ticker.db.history). A re-run
skips captures already stored without asking for them again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from sqlite_utils import Database

from ticker.core.base import OUT_OF_TIME_BOUNDS, in_time_bounds, to_iso, utc_now
from ticker.core.politeness import Politeness as PolitenessRule
from ticker.core.politeness import Stopped
from ticker.core.records import Saved
from ticker.db.imports import (
    Capture,
    capture_stored,
    imported_instants,
    imported_refs,
    merge_captures,
    save_capture,
    save_captures,
)
from ticker.db.writes import register_source
from ticker.jobs.fetching import Attempt, from_recorded, parse_body, request
from ticker.jobs.progress import Bar
from ticker.jobs.sources import SourceSpec, UnknownSource
from ticker.scraper import warc_reader, wayback
from ticker.scraper.bounded import MAX_WORKERS
from ticker.scraper.links import address_identity, same_address

DEFAULT_PAUSE_S = 2.5  # the least gap between two requests: 24 a minute, under the CDX's 30
DEFAULT_THROTTLE_PAUSE_S = 60.0  # after a 429: the Wayback Machine blocks those who keep asking
MAX_REDIRECTS = 3
TRANSIENT_PAUSE_S = 5.0  # after a 5xx or no answer, before asking again
REFUSED = "connection refused"  # how ticker.scraper.http describes a refused connection
MAX_WARNINGS = 10  # warning lines kept in a summary (the count of each kind is always whole)
Opener = Database | Callable[[], Database]  # the database, or how to open it when first needed


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


ImportStopped = Stopped  # the import gave up (too many failures in a row); what was stored stays


class Politeness(PolitenessRule):
    """`ticker.core.politeness`'s rule with the Wayback Machine's defaults: at least `pause_s` between
    two requests (24 a minute, under the CDX's 30), `throttle_pause_s` after a 429 (it sends no
    Retry-After and blocks those who keep asking), TRANSIENT_PAUSE_S after a 5xx or no answer."""

    def __init__(
        self, pause_s: float = DEFAULT_PAUSE_S, throttle_pause_s: float = DEFAULT_THROTTLE_PAUSE_S, **options
    ) -> None:
        super().__init__(pause_s, throttle_pause_s, transient_pause_s=TRANSIENT_PAUSE_S, **options)

    def throttled(self, retry_after_s: float | None = None, what: str = "the Wayback Machine") -> None:
        super().throttled(retry_after_s, what)


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

    def refused(self, kind: str, message: str) -> None:
        """A record or capture that is not the source's, or not to be believed: skipped, counted
        (under `kind`) and said."""
        self.not_a_capture(kind, message)
        self.warn(f"skipped {message}")

    def out_of_bounds(self, what: str, moment: datetime) -> None:
        """A capture dated where no ticker time can be: skipped, counted and said."""
        self.not_a_capture("out_of_range", f"{what}: dated {to_iso(moment)}, {OUT_OF_TIME_BOUNDS}")
        self.warn(f"skipped {what}: dated {to_iso(moment)}, {OUT_OF_TIME_BOUNDS}")

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
    """Merge the captures stored into the channel's history (after any import, even an
    interrupted one): derived from the earliest pending place."""
    merge_captures(
        db, spec.name, channel, gap_limit_s=spec.gap_limit_s, ordered=spec.channel(channel).ordered
    )  # stories: grouped by the next reader or the daemon's pass (ticker/stories/update.py)


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
            politeness.throttled(attempt.row.retry_after_s)
        if replay.kind == "capture":
            politeness.succeeded()
            if not in_time_bounds(replay.captured_at):
                summary.out_of_bounds(f"{address} (its Memento-Datetime)", replay.captured_at)
                return None
            problem = wayback.capture_date_problem(replay.captured_at, instant, utc_now())
            if problem:  # the answer is not the capture the index listed
                summary.refused("date_refused", f"{address}: its Memento-Datetime is {problem}")
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
            politeness.transient(attempt.row.error or replay.message, attempt.row.retry_after_s)
            return None
        politeness.succeeded()
        if replay.kind != "redirect":
            summary.not_a_capture(replay.kind, f"{address}: {replay.message}")
            return None
        hop = wayback.replay_hop(replay.location, replay_url)
        if hop is None or not same_address(hop.original, spec.url_for(channel)):
            summary.refused(
                "redirect_elsewhere",
                f"{address}: redirected to {replay.location}: not a memento of the source's address "
                "on the replay server",
            )
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


def _listed_capture_usable(capture: wayback.Capture, address: str, summary: Summary) -> bool:
    """Whether a CDX row may be asked for: dated within the time bounds and not after now, and a
    capture of the source's own address (a CDX server may list others); else counted and said."""
    what = f"CDX row {capture.timestamp} {capture.original}"
    if not in_time_bounds(capture.instant):
        summary.out_of_bounds(what, capture.instant)
        return False
    problem = wayback.capture_date_problem(capture.instant, None, utc_now())
    if problem:
        summary.refused("date_refused", f"{what}: {problem}")
        return False
    if not same_address(capture.original, address):
        summary.refused("other_address", f"{what}: not the source's address {address}")
        return False
    return True


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

    def cdx_throttled(retry_after_s: float | None = None) -> None:
        summary.throttled += 1
        politeness.throttled(retry_after_s)

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
        in_bounds = [
            capture for capture in captures if _listed_capture_usable(capture, spec.url_for(channel), summary)
        ]
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
                        db,
                        row,
                        attempt.parsed,
                        attempt.body,
                        origin="wayback",
                        origin_ref=row.url,
                        max_items=spec.channel(channel).max_items,
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


PARSE_AHEAD = 8  # WARC records parsed ahead of the ones being written
WRITE_BATCH = 32  # captures stored in one transaction (a daemon writing the same file waits one batch)
HELD_BYTES = 32 * 1024 * 1024  # bodies held, parsing or waiting to be written, before all are written


@dataclass(slots=True)
class _Parsing:
    """A record handed to the parse threads, waiting to be written in file order."""

    summary: Summary
    target: WarcTarget
    ref: str
    size: int
    attempt: Future


class _Writer:
    """Writes the parsed records in file order, WRITE_BATCH captures a transaction, each through
    the one capture path (`ticker.db.imports.save_captures`)."""

    def __init__(self, database: _Lazy, bar: Bar) -> None:
        self.database, self.bar = database, bar
        self.parsing: deque[_Parsing] = deque()
        self.parsed: list[tuple[_Parsing, Attempt]] = []
        self.held = 0  # bytes of the bodies of both
        self.failed = False  # a write (or a parse) raised: nothing more is written

    def add(self, parsing: _Parsing) -> None:
        """One more record being parsed; the oldest are taken (and written by batches) while
        too many wait."""
        self.parsing.append(parsing)
        self.held += parsing.size
        while len(self.parsing) > PARSE_AHEAD:
            self._take_oldest()
        if self.held > HELD_BYTES:
            self.write_all()

    def write_all(self) -> None:
        while self.parsing:
            self._take_oldest()
        self._write()

    def _take_oldest(self) -> None:
        parsing = self.parsing.popleft()
        try:
            self.parsed.append((parsing, parsing.attempt.result()))
        except BaseException:
            self.failed = True
            raise
        if len(self.parsed) >= WRITE_BATCH:
            self._write()

    def _write(self) -> None:
        if not self.parsed:
            return
        captures = [
            Capture(attempt.row, attempt.parsed, attempt.body, parsing.ref,
                    parsing.target.spec.channel(parsing.target.channel).max_items)
            for parsing, attempt in self.parsed
        ]  # fmt: skip
        try:
            saved = save_captures(self.database(), captures, origin="warc")
        except BaseException:
            self.failed = True
            raise
        for (parsing, _), one in zip(self.parsed, saved, strict=True):
            if one is None:  # another import stored it meanwhile
                parsing.summary.skipped += 1
            else:
                parsing.summary.stored(one)
            self.held -= parsing.size
            self.bar.advance()
        self.parsed = []


def _parse_record(target: WarcTarget, record: warc_reader.WarcResponse, ref: str) -> Attempt:
    """In a parse thread: the record as a live answer is taken (`from_recorded`); the parse itself
    runs in a bounded worker process, so the threads wait there while the caller writes."""
    return from_recorded(
        target.spec, target.channel, url=record.target_uri, status=record.status, reason=record.reason,
        headers=record.headers, body=record.body, started_at=record.date, origin="warc", origin_ref=ref,
    )  # fmt: skip


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
    skipped, counted and said.

    Records are parsed ahead, up to PARSE_AHEAD of them, by threads each waiting on a bounded
    parse worker (as many as `ticker.scraper.bounded` runs at once), while this thread reads the
    file and writes the captures in file order, WRITE_BATCH to a transaction: what is stored, and
    in which order, is what a record-by-record import stores. An import stopped meanwhile keeps
    the batches written; a re-run imports the rest."""
    bar = bar or Bar("importing", None)
    database = _Lazy(db)
    summaries: dict[tuple[str, str], Summary] = {}
    specs: dict[tuple[str, str], WarcTarget] = {}
    known: dict[tuple[str, str], set[str]] = {}
    reader = reader or warc_reader.Reader()
    writer = _Writer(database, bar)
    interrupted = False
    threads = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="warc-parse")
    try:
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
                    if record.unreadable or record.date is None:
                        summary.refused("unreadable", f"WARC record {ref}: {record.problem}")
                    elif record.truncated:
                        summary.not_a_capture("truncated", f"{ref}: cut short: {record.problem}")
                        summary.warn(f"{path}: the file is truncated: record {record.record_id} is cut short "
                                     f"({record.problem}): not imported")  # fmt: skip
                    elif not in_time_bounds(record.date):
                        summary.out_of_bounds(f"WARC record {ref}", record.date)
                    elif problem := wayback.capture_date_problem(record.date, None, utc_now()):
                        summary.refused("date_refused", f"WARC record {ref}: {problem}")
                    # the same record again, or a copy of it (the file renamed, another crawl's copy),
                    # stored or waiting to be
                    elif ref in known[key] or to_iso(record.date) in known[key]:
                        summary.skipped += 1
                    elif record.body is None:
                        kind = "revisit_unresolved" if record.revisit else "too_large"
                        summary.not_a_capture(kind, f"{ref}: {record.problem}")
                    else:
                        known[key].update((ref, to_iso(record.date)))
                        parsing = threads.submit(_parse_record, target, record, ref)
                        writer.add(_Parsing(summary, target, ref, len(record.body), parsing))
                        continue
                    bar.advance()
        except Exception:
            if not writer.failed:  # what was read before a file's fault is stored, as record by record
                writer.write_all()
            raise
        writer.write_all()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        threads.shutdown(wait=False, cancel_futures=True)
        for key, target in specs.items():
            summaries[key].interrupted = interrupted
            finish(database(), target.spec, target.channel)
    return list(summaries.values())


def address_matcher(specs: Iterable[SourceSpec]) -> Callable[[str], WarcTarget | None]:
    """Maps a recorded address to the source and channel whose configured address it is, by the
    one rule of `links.address_identity` (scheme, host case, `www.`, a trailing `/` and tracking
    parameters aside; any other query parameter counts: `?section=sport` is not the
    `?section=politics` source). The first channel configured with an address wins."""
    targets: dict[tuple, WarcTarget] = {}
    for spec in specs:
        for channel in spec.kind_def.channel_names:
            try:
                address = spec.url_for(channel)
            except UnknownSource:
                continue
            if "{" in address:  # a template (feed pages): no single address to recognise
                continue
            identity = address_identity(address)
            if identity is not None:
                targets.setdefault(identity, WarcTarget(spec, channel))

    def match(address: str) -> WarcTarget | None:
        identity = address_identity(address)
        return targets.get(identity) if identity is not None else None

    return match
