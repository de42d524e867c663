"""The Wayback Machine: CDX queries, mementos, and what counts as a capture.

Pure functions (query addresses, CDX parsing, collapsing, memento addresses, classifying a
replay answer) plus `query_cdx`, which asks the CDX server through an injected httpx client.
See docs/evidence.md ("History from before ticker ran").

- CDX timestamps are 14 digits, UTC (`20220224030512`).
- A memento in its original form: `<replay prefix><timestamp>id_/<original address>`.
- An answer is a capture only if it carries `Memento-Datetime`. Without it: a 302 points at the
  nearest capture (followed only when close to the asked instant and a memento on the replay
  server itself: `replay_hop`), a 404 says "not archived", a 200 says the address is excluded, a
  429 is the Wayback Machine's own rate limit.
- A capture's date is believed only when not after now and within CAPTURE_DATE_TOLERANCE of its
  index row (`capture_date_problem`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from ticker.scraper import http

DEFAULT_CDX_URL = "https://web.archive.org/cdx/search/cdx"
DEFAULT_REPLAY_URL = "https://web.archive.org/web/"
CDX_FIELDS = ("timestamp", "original", "statuscode", "mimetype", "digest")
CDX_PAGE_ROWS = 5000
# The most CDX pages one import asks for (5000 rows each: a million captures, far more than a
# source has in any range; a narrower --from/--to asks for fewer). A server that never stops
# paging, or repeats its resumption key, ends the query with a CdxError instead of asking forever.
MAX_CDX_PAGES = 200
# ... and at most this many bytes of CDX answers in all: the listed captures are kept until the
# query ends, and a server sending long rows (a 4 KB `original` each) reached 1.8 GB before.
MAX_CDX_BYTES = 64 * 1024 * 1024
TRANSIENT_STATUSES = (500, 502, 503, 504)  # the CDX server's "try again" (504 on heavy queries)
REDIRECT_WINDOW_S = 900.0  # a 302 to a capture further than this from the asked one is not followed
# A memento's own date (Memento-Datetime) may differ this much from the index row it was asked
# for (the same crawl, a revisit) and no more: beyond, the answer is not the capture listed.
CAPTURE_DATE_TOLERANCE = timedelta(days=1)
# A capture dated this little after now is this host's clock being behind, not an archive's lie.
CLOCK_SLACK = timedelta(minutes=5)
_TIMESTAMP = re.compile(r"^\d{14}$")
_MEMENTO_TS = re.compile(r"/(\d{14})(?:[a-z]{2}_)?/")


class CdxError(Exception):
    """The CDX server's answer cannot be read, or it refused (blocked site, 5xx)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Capture:
    """One CDX row: a capture of `original` at `timestamp` (14 digits, UTC)."""

    timestamp: str
    original: str
    statuscode: str | None = None
    mimetype: str | None = None
    digest: str | None = None

    @property
    def instant(self) -> datetime:
        return parse_timestamp(self.timestamp)


def parse_timestamp(text: str) -> datetime:
    """A 14-digit Wayback timestamp as an aware UTC datetime; ValueError if it is not one."""
    if not _TIMESTAMP.match(text):
        raise ValueError(f"not a 14-digit timestamp: {text!r}")
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def to_timestamp(moment: datetime) -> str:
    """An aware datetime as a 14-digit UTC timestamp."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the zone must be explicit")
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def cdx_query_url(
    cdx_url: str,
    address: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    resume_key: str | None = None,
    page_rows: int = CDX_PAGE_ROWS,
) -> str:
    """The CDX query for the status-200 captures of exactly `address` between two instants
    (inclusive), JSON output, paged with a resumption key."""
    params: list[tuple[str, str]] = [
        ("url", address),
        ("output", "json"),
        ("fl", ",".join(CDX_FIELDS)),
        ("filter", "statuscode:200"),
    ]
    if start is not None:
        params.append(("from", to_timestamp(start)))
    if end is not None:
        params.append(("to", to_timestamp(end)))
    params += [("limit", str(page_rows)), ("showResumeKey", "true")]
    if resume_key:
        params.append(("resumeKey", resume_key))
    return f"{cdx_url}{'&' if '?' in cdx_url else '?'}{urlencode(params)}"


def parse_cdx(body: bytes) -> tuple[list[Capture], str | None]:
    """Captures of a CDX JSON answer (header row first), and the resumption key if more remain.

    An empty answer (`[]`, or no bytes at all after a resumption key) has no captures. Rows with
    a timestamp that is not a real instant (month or day `00`) are skipped; repeated rows once.
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return [], None
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise CdxError(f"the CDX answer is not JSON: {error}") from None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise CdxError("the CDX answer is not a list of rows")
    if not rows:
        return [], None
    resume_key = None
    if len(rows) >= 2 and rows[-2] == [] and len(rows[-1]) == 1:
        resume_key = str(rows[-1][0])
        rows = rows[:-2]
    if not rows:
        return [], resume_key
    header = [str(name) for name in rows[0]]
    if "timestamp" not in header or "original" not in header:
        raise CdxError(f"the CDX answer has no timestamp/original columns: {header}")
    captures: list[Capture] = []
    seen: set[tuple[str, str]] = set()
    for values in rows[1:]:
        if len(values) != len(header):
            continue
        record = dict(zip(header, (str(v) for v in values), strict=True))
        try:
            parse_timestamp(record["timestamp"])
        except ValueError:
            continue
        key = (record["timestamp"], record["original"])
        if key in seen:
            continue
        seen.add(key)
        captures.append(
            Capture(
                timestamp=record["timestamp"],
                original=record["original"],
                statuscode=record.get("statuscode"),
                mimetype=record.get("mimetype"),
                digest=record.get("digest"),
            )
        )
    return captures, resume_key


def collapse(captures: Iterable[Capture], every_s: float) -> list[Capture]:
    """At most one capture per `every_s`-long slot (slots aligned on the Unix epoch, so `1h`
    keeps the first capture of each UTC hour), in time order; 0 keeps all."""
    ordered = sorted(captures, key=lambda c: c.timestamp)
    if every_s <= 0:
        return ordered
    kept: list[Capture] = []
    last_slot = None
    for capture in ordered:
        slot = int(capture.instant.timestamp() // every_s)
        if slot != last_slot:
            kept.append(capture)
            last_slot = slot
    return kept


def capture_date_problem(captured_at: datetime, indexed_at: datetime | None, now: datetime) -> str | None:
    """Why a capture's date cannot be believed (None when it can): after now, or more than
    CAPTURE_DATE_TOLERANCE from its index row (a Memento-Datetime of 2099 for a row of 2022).
    For every import: CDX rows, mementos and WARC records (which have no index row)."""
    shown = captured_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if captured_at > now + CLOCK_SLACK:
        return f"dated {shown}, after now"
    if indexed_at is not None and abs(captured_at - indexed_at) > CAPTURE_DATE_TOLERANCE:
        listed = indexed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"dated {shown}, more than {CAPTURE_DATE_TOLERANCE.days} day from its index row ({listed})"
    return None


def memento_url(replay_url: str, timestamp: str, original: str) -> str:
    """The memento in its original form (no toolbar, no link rewriting)."""
    prefix = replay_url if replay_url.endswith("/") else replay_url + "/"
    return f"{prefix}{timestamp}id_/{original}"


def memento_timestamp(address: str) -> str | None:
    """The 14-digit timestamp in a memento address, if there is one."""
    match = _MEMENTO_TS.search(address)
    return match.group(1) if match else None


def memento_datetime(value: str | None) -> datetime | None:
    """The `Memento-Datetime` header as an aware UTC datetime (None when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 9999-12-31 23:59:59 -0500
        return None


@dataclass(frozen=True, slots=True)
class Replay:
    """What a replay answer is: `capture` (the site's answer as archived, whatever its status),
    `redirect` (to the nearest capture: `location`), `not_archived`, `excluded`, `throttled`
    (the Wayback Machine's own 429) or `unavailable` (another answer of the Wayback Machine)."""

    kind: str
    message: str
    location: str | None = None
    captured_at: datetime | None = None


def classify_replay(status: int | None, headers: dict[str, str], address: str) -> Replay:
    """Tell a capture from the Wayback Machine's own answers (headers: lower-case names)."""
    captured_at = memento_datetime(headers.get("memento-datetime"))
    if status is not None and captured_at is not None:
        return Replay("capture", f"capture of {captured_at:%Y-%m-%d %H:%M:%S}Z", captured_at=captured_at)
    if status in (301, 302, 303, 307, 308) and headers.get("location"):
        location = urljoin(address, headers["location"])
        return Replay("redirect", f"redirected to {location}", location=location)
    if status == 429:
        return Replay("throttled", "HTTP 429 from the Wayback Machine (its rate limit)")
    if status == 404:
        return Replay("not_archived", "HTTP 404: the Wayback Machine has not archived that address")
    if status is not None and 200 <= status < 300:
        return Replay("excluded", f"HTTP {status} without Memento-Datetime: the address is excluded")
    what = f"HTTP {status}" if status is not None else "no answer"
    return Replay("unavailable", f"{what} from the Wayback Machine, not a capture")


@dataclass(frozen=True, slots=True)
class Hop:
    """A redirect's target read as a memento address of the replay server."""

    timestamp: str
    original: str


def _host_port(parts: SplitResult) -> tuple[str, int | None] | None:
    """The host and a port other than 80/443 (http and https of one host are one server)."""
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), None if port in (80, 443) else port


def replay_hop(location: str, replay_url: str) -> Hop | None:
    """The memento a redirect points at, if it is one on the replay server itself (same host, http
    or https, same port, under the replay prefix: `<prefix><14 digits>[xx_]/<original>`); None for any other
    address, however many digits it holds (`https://evil.example/20220224030005/`)."""
    try:
        target, replay = urlsplit(location), urlsplit(replay_url)
    except ValueError:
        return None
    where = _host_port(target)
    if where is None or where != _host_port(replay):
        return None
    prefix = replay.path if replay.path.endswith("/") else replay.path + "/"
    rest = urlunsplit(("", "", target.path, target.query, ""))
    match = re.match(re.escape(prefix) + r"(\d{14})(?:[a-z]{2}_)?/(.+)$", rest)
    return Hop(match.group(1), match.group(2)) if match else None


def redirect_within(location: str, asked: datetime, window_s: float = REDIRECT_WINDOW_S) -> datetime | None:
    """The instant a redirect points at, if it is within `window_s` of the asked one."""
    stamp = memento_timestamp(location)
    if stamp is None:
        return None
    target = parse_timestamp(stamp)
    return target if abs((target - asked).total_seconds()) <= window_s else None


def query_cdx(
    client: httpx.Client,
    cdx_url: str,
    address: str,
    *,
    start: datetime | None,
    end: datetime | None,
    before_request: Callable[[], None] = lambda: None,
    on_throttle: Callable[[float | None], None] | None = None,
    on_transient: Callable[[str, float | None], None] | None = None,
    page_rows: int = CDX_PAGE_ROWS,
    max_bytes: int = MAX_CDX_BYTES,
) -> list[Capture]:
    """Every status-200 capture of `address` in the range, following resumption keys.

    `before_request` runs before each request (the import's rate limiter). A 429 calls
    `on_throttle(retry_after_s)`, a 5xx or no answer `on_transient(message, retry_after_s)` (each
    pauses by `ticker.core.politeness`'s rule, or raises to stop),
    and the same page is asked again; a refused connection (nothing listens at `cdx_url`: a
    local mistake, asking again cannot help) and other refusals raise CdxError. So do a
    resumption key the server already gave (it would page for ever) and more than
    `MAX_CDX_PAGES` pages or `max_bytes` of answers.
    """
    captures: list[Capture] = []
    resume_key: str | None = None
    keys_seen: set[str] = set()
    pages = received = 0
    while True:
        query = cdx_query_url(
            cdx_url, address, start=start, end=end, resume_key=resume_key, page_rows=page_rows
        )
        before_request()
        try:
            answer = http.get(client, query)
        except http.FetchFailed as failure:
            if failure.status == 429 and on_throttle is not None:
                on_throttle(failure.retry_after_s)
                continue
            if failure.status is None and _refused(failure):
                raise CdxError(f"CDX query failed: {failure.message}: check --cdx-url") from None
            if (failure.status is None or failure.status in TRANSIENT_STATUSES) and on_transient is not None:
                on_transient(f"CDX query: {failure.message}", failure.retry_after_s)
                continue
            detail = failure.headers.get("x-archive-wayback-runtime-error") if failure.headers else None
            raise CdxError(
                f"CDX query failed: {failure.message}" + (f" ({detail})" if detail else ""),
                status=failure.status,
            ) from None
        received += len(answer.body)
        if received > max_bytes:
            raise CdxError(
                f"CDX query stopped: its answers passed {max_bytes} bytes after {pages + 1} page(s); "
                "ask for a shorter range (--from, --to)"
            )
        page, resume_key = parse_cdx(answer.body)
        captures.extend(page)
        pages += 1
        if not resume_key or not page:
            return captures
        if resume_key in keys_seen:
            raise CdxError(
                f"CDX query stopped: the server gave the resumption key {resume_key!r} twice "
                f"(it would page for ever); {len(captures)} captures listed, none imported"
            )
        if pages >= MAX_CDX_PAGES:
            raise CdxError(
                f"CDX query stopped: more than {MAX_CDX_PAGES} pages of {page_rows} captures; "
                "ask for a shorter range (--from, --to)"
            )
        keys_seen.add(resume_key)


def _refused(failure: BaseException) -> bool:
    """Whether a failed request was a refused connection (the cause is kept as its context)."""
    error: BaseException | None = failure
    for _ in range(10):
        if error is None:
            return False
        if isinstance(error, ConnectionRefusedError):
            return True
        error = error.__cause__ or error.__context__
    return False
