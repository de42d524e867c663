"""A thin, bounded HTTP GET: timeouts, a size cap while streaming, conditional requests.

The client is injected (tests and the daemon build their own); every failure becomes a
`FetchFailed` with the outcome to record and a one-line message naming the host. Bounds: a
watchdog on the whole request (every request on a fresh connection it can shut), the decoded
size of every content-coding layer (`content_coding`), Retry-After read as 0..10 years.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from ticker import USER_AGENT
from ticker.core.base import redact_url  # noqa: F401  (re-exported: callers use http.redact_url)
from ticker.scraper import content_coding

MAX_BODY_BYTES = 20 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
TOTAL_TIMEOUT_S = 60.0
MAX_REDIRECTS = 5


def timeout_setting(name: str, default: float) -> float:
    """A timeout in seconds from the environment (TICKER_CONNECT_TIMEOUT, TICKER_READ_TIMEOUT,
    TICKER_TOTAL_TIMEOUT), read at call time so tests and operators can shorten it; else `default`."""
    try:
        value = float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default
    return value if value > 0 else default


class FetchFailed(Exception):
    """The request did not produce a body to parse. `outcome` is what `fetches.outcome` records."""

    def __init__(
        self,
        outcome: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: int | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.body = body
        self.content_type = content_type
        self.headers: dict[str, str] = headers if headers is not None else {}


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx or 304 answer with its whole (decoded) body. `headers`: the response headers,
    lower-case names, a repeated header's values joined with ", "."""

    url: str
    status: int
    body: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    headers: dict[str, str] = field(default_factory=dict)


class SchemeTransport(httpx.BaseTransport):
    """One HTTPTransport per URL scheme, built on first use: the TLS context (certificates
    loaded, ~25 ms) is paid only when an https address is actually asked for."""

    def __init__(self) -> None:
        self._by_scheme: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        transport = self._by_scheme.get(scheme)
        if transport is None:
            # Only the https transport ever negotiates TLS; the others need no certificates.
            transport = httpx.HTTPTransport(verify=scheme == "https")
            self._by_scheme[scheme] = transport
        return transport.handle_request(request)

    def close(self) -> None:
        for transport in self._by_scheme.values():
            transport.close()


WATCHDOG_GRACE_S = 1.0  # past the total timeout, the body's own deadline check speaks first


class _Watchdog:
    """Bounds a whole request. The read timeout is per read, so a server that drips its headers
    a byte at a time never trips it; past the deadline this shuts the request's sockets down,
    which ends the read in progress. Every request asks for `Connection: close`, so none runs on a
    reused connection the watchdog never saw opened."""

    def __init__(self, seconds: float) -> None:
        self.fired = threading.Event()
        self._streams: list[object] = []
        self._lock = threading.Lock()
        self._seconds = seconds
        self._entry: list | None = None

    def trace(self, event_name: str, info: dict) -> None:
        """httpcore's trace hook: keeps each socket the request opens (TCP, then TLS)."""
        if event_name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            if stream is not None:
                with self._lock:
                    self._streams.append(stream)
                if self.fired.is_set():
                    self._shut(stream)

    def _fire(self) -> None:
        self.fired.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            self._shut(stream)

    @staticmethod
    def _shut(stream: object) -> None:
        sock = stream.get_extra_info("socket")  # type: ignore[attr-defined]
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._entry = _deadlines.add(time.monotonic() + self._seconds, self._fire)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._entry is not None:
            _deadlines.cancel(self._entry)


class _Deadlines:
    """Every request's watchdog, kept by one thread of the process (a thread started per request
    cost more than the rest of a small request's bookkeeping). Entries are [when, sequence,
    action]; a cancelled one keeps its place with no action, and is dropped when it comes first."""

    def __init__(self) -> None:
        self._heap: list[list] = []
        self._changed = threading.Condition()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, action: Callable[[], None]) -> list:
        """Call `action` at `when` (time.monotonic()) unless cancelled before."""
        entry = [when, next(self._sequence), action]
        with self._changed:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ticker-http-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:
                self._changed.notify()
        return entry

    def cancel(self, entry: list) -> None:
        entry[2] = None  # one store: the keeper reads it under its lock, never calls a cancelled one

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._changed.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        action = heapq.heappop(self._heap)[2]
                        break
                    self._changed.wait(delay)
            if action is not None:
                with contextlib.suppress(Exception):  # a watchdog must not end the keeper
                    action()


_deadlines = _Deadlines()


def _forget_deadlines() -> None:
    """In a forked child: the parent's keeper thread is not there (nor its lock's state)."""
    global _deadlines
    _deadlines = _Deadlines()


os.register_at_fork(after_in_child=_forget_deadlines)


def make_client(
    *,
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with ticker's User-Agent, bounded timeouts and limited redirects."""
    connect_timeout_s = connect_timeout_s or timeout_setting("TICKER_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S)
    read_timeout_s = read_timeout_s or timeout_setting("TICKER_READ_TIMEOUT", READ_TIMEOUT_S)
    return httpx.Client(
        headers={
            "User-Agent": USER_AGENT,
            "Accept-Language": "ru,en;q=0.5",
            "Accept-Encoding": content_coding.ACCEPT_ENCODING,
        },
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        transport=transport or SchemeTransport(),
    )


RETRY_AFTER_MAX_S = 10 * 365 * 24 * 3600  # any longer wish is read as this: 10 years
_RETRY_AFTER_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def retry_after_seconds(value: str | None, *, now: float | None = None) -> int | None:
    """`Retry-After` as whole seconds, 0..RETRY_AFTER_MAX_S: delay-seconds (a fraction rounded
    up; RFC 9110 allows digits only, some servers send "1.5") or an HTTP date (a past one is 0).
    None when absent or not understood (negative, garbage, an impossible date). Never raises."""
    if not value:
        return None
    value = value.strip()
    if _RETRY_AFTER_NUMBER.fullmatch(value):
        whole, _, fraction = value.partition(".")
        if len(whole.lstrip("0")) > len(str(RETRY_AFTER_MAX_S)):
            return RETRY_AFTER_MAX_S  # no float or int arithmetic on 25 digits
        seconds = int(whole) + (1 if fraction.strip("0") else 0)
        return min(seconds, RETRY_AFTER_MAX_S)
    try:
        moment = parsedate_to_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # "-0000": UTC, as HTTP dates are
        delay = moment.timestamp() - (now if now is not None else time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0, math.ceil(delay)), RETRY_AFTER_MAX_S)


def retry_after_note(value: str | None, seconds: int | None) -> str:
    """What the server asked for, for `fetches.error`: " (Retry-After 120s)", or with the raw
    value when it was capped or not understood."""
    if not value or not value.strip():
        return ""
    asked = one_line_header(value)
    if seconds is None:
        return f" (Retry-After {asked!r} ignored: neither seconds nor an HTTP date)"
    if seconds == RETRY_AFTER_MAX_S and asked != str(seconds):
        return f" (Retry-After {asked!r}: more than {RETRY_AFTER_MAX_S}s, read as {RETRY_AFTER_MAX_S}s)"
    if asked.isdigit() and int(asked) == seconds:
        return f" (Retry-After {seconds}s)"
    return f" (Retry-After {asked!r}: {seconds}s)"


def one_line_header(value: str, limit: int = 80) -> str:
    """A header value fit to quote in a message: printable ASCII only, bounded."""
    text = "".join(c if " " <= c <= "~" else "?" for c in value.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def response_headers(response: httpx.Response) -> dict[str, str]:
    """The response headers: lower-case names, a repeated header's values joined with ", "."""
    return dict(response.headers.items())


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float, total_s: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(
            "network_error",
            f"body refused: Content-Length {declared} exceeds the {max_bytes}-byte cap",
            status=response.status_code,
            headers=response_headers(response),
        )
    try:
        applied = content_coding.codings(response.headers.get_list("content-encoding"))
    except content_coding.CodingError as error:
        raise FetchFailed(
            "network_error", str(error), status=response.status_code, headers=response_headers(response)
        ) from None

    def check_deadline() -> None:
        if time.monotonic() > deadline:
            raise FetchFailed(
                "network_error",
                f"timeout: body from {response.url.host} still arriving after {total_s:g}s",
                status=response.status_code,
                headers=response_headers(response),
            )

    try:
        return b"".join(
            content_coding.decode(response.iter_raw(), applied, max_bytes=max_bytes, check=check_deadline)
        )
    except content_coding.CodingError as error:
        raise FetchFailed(
            "network_error", str(error), status=response.status_code, headers=response_headers(response)
        ) from None


def _where(error: httpx.HTTPError) -> tuple[str, str]:
    """The host the failing request went to, and host:port (a redirect's target, if it failed)."""
    try:
        url = error.request.url
    except RuntimeError:  # an error raised without its request
        return "the server", "the server"
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.host, f"{url.host}:{port}" if port else url.host


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in the chain under `error` (httpx wraps httpcore, which
    wraps the socket's own error)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _timeout_s(error: httpx.HTTPError, which: str) -> str:
    try:
        value = error.request.extensions.get("timeout", {}).get(which)
    except RuntimeError:
        value = None
    return f" within {value:g}s" if isinstance(value, int | float) else ""


def _describe(error: httpx.HTTPError) -> str:
    """One line naming the host and what the failure means (DNS, refused, reset, TLS, timeouts)."""
    name = type(error).__name__
    detail = str(error).splitlines()[0] if str(error) else name
    host, address = _where(error)
    if isinstance(error, httpx.ConnectTimeout):
        return f"timeout: {address} did not accept a connection{_timeout_s(error, 'connect')}"
    if isinstance(error, httpx.ReadTimeout):
        return f"timeout: {host} stopped sending (nothing came{_timeout_s(error, 'read')}: read timeout)"
    if isinstance(error, httpx.TimeoutException):
        return f"timeout: {host}: {detail}"
    if isinstance(error, httpx.TooManyRedirects):
        return f"too many redirects (more than {MAX_REDIRECTS})"
    if isinstance(error, httpx.UnsupportedProtocol):
        return f"redirect or URL to an unsupported scheme: {detail}"
    if isinstance(error, httpx.DecodingError):
        return f"body could not be decompressed: {detail}"
    dns = _cause(error, socket.gaierror)
    if dns is not None:
        meaning = (
            "no answer from the name server (is the network up?)"
            if dns.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_NODATA", None))
            else "the name does not resolve"
        )
        return f"DNS lookup failed for {host}: {meaning} ({dns})"
    certificate = _cause(error, ssl.SSLCertVerificationError)
    if certificate is not None:
        return f"TLS failed with {address}: its certificate is not trusted ({certificate.verify_message}; {detail})"
    tls = _cause(error, ssl.SSLError)
    if tls is not None:
        return f"TLS failed with {address}: {detail}"
    if _cause(error, ConnectionRefusedError) is not None:
        return f"could not connect to {address}: connection refused (nothing listens there, or a firewall refuses)"
    if _cause(error, ConnectionResetError) is not None:
        return f"connection reset by {host} (the server, or something between, dropped it): {detail}"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"connection broken mid-answer by {host} (body cut short?): {detail}"
    if isinstance(error, httpx.ConnectError):
        return f"could not connect to {address}: {detail}"
    if isinstance(error, httpx.ReadError | httpx.WriteError):
        return f"connection to {host} failed mid-answer: {detail}"
    return f"{name}: {detail}"


def classify_answer(url: str, status: int, reason: str, headers: dict[str, str], body: bytes) -> Answer:
    """A complete answer (live, or recorded in a WARC file) as an Answer, or the FetchFailed it
    is: 401/403 blocked, any other non-2xx an http_error. `headers`: lower-case names."""
    content_type = headers.get("content-type")
    if status in (401, 403):
        raise FetchFailed(
            "blocked",
            f"HTTP {status}: access refused (bot protection?)",
            status=status,
            body=body,
            content_type=content_type,
            headers=headers,
        )
    if not 200 <= status < 300:
        asked = headers.get("retry-after")
        retry_after = retry_after_seconds(asked)
        raise FetchFailed(
            "http_error",
            f"HTTP {status} {reason}".strip() + retry_after_note(asked, retry_after),
            status=status,
            retry_after_s=retry_after,
            body=body,
            content_type=content_type,
            headers=headers,
        )
    return Answer(
        url=url,
        status=status,
        body=body,
        content_type=content_type,
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
        headers=headers,
    )


def get(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    total_timeout_s: float | None = None,
) -> Answer:
    """GET `url`; returns a 2xx/304 Answer or raises FetchFailed (network, HTTP status, size)."""
    total_timeout_s = total_timeout_s or timeout_setting("TICKER_TOTAL_TIMEOUT", TOTAL_TIMEOUT_S)
    # A fresh connection each time: the watchdog can only shut sockets it saw opened, and a
    # kept-alive one reused from an earlier, healthy answer would be bounded by the read timeout
    # only (one dripped byte at a time holds it for ever).
    headers: dict[str, str] = {"Connection": "close"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + total_timeout_s
    watchdog = _Watchdog(total_timeout_s + WATCHDOG_GRACE_S)
    try:
        with (
            watchdog,
            client.stream("GET", url, headers=headers, extensions={"trace": watchdog.trace}) as response,
        ):
            if response.status_code == 304 and not (etag or last_modified):
                raise FetchFailed(
                    "http_error",
                    "HTTP 304 Not Modified to a request that sent no validators (a broken cache or proxy?)",
                    status=304,
                    headers=response_headers(response),
                )
            if response.status_code == 304:
                # a 304 may carry a new validator; else the one we sent still holds
                return Answer(
                    str(response.url),
                    304,
                    b"",
                    None,
                    response.headers.get("etag") or etag,
                    response.headers.get("last-modified") or last_modified,
                    response_headers(response),
                )
            body = _read_capped(response, max_bytes, deadline, total_timeout_s)
            return classify_answer(
                str(response.url),
                response.status_code,
                response.reason_phrase or "",
                response_headers(response),
                body,
            )
    except httpx.HTTPError as error:
        if watchdog.fired.is_set():
            raise FetchFailed(
                "network_error",
                f"timeout: no complete answer from {_where(error)[0]} within {total_timeout_s:g}s",
            ) from None
        raise FetchFailed("network_error", _describe(error)) from None
    except httpx.InvalidURL as error:
        raise FetchFailed("network_error", f"invalid URL: {error}") from None
    except (OSError, ValueError) as error:
        raise FetchFailed("network_error", f"{type(error).__name__}: {error}") from None
