"""Reading WARC files (`.warc`, `.warc.gz`) with warcio: the HTTP responses they recorded.

warcio (the webrecorder project's reference library) iterates records as a stream, handles
one gzip member per record and undoes chunked transfer and gzip/deflate content coding.

`Reader.records(path)` yields one `WarcResponse` per `response` record and per `revisit`
record; a revisit has no body of its own and takes the payload of the record it refers to
(by WARC-Refers-To-Target-URI + WARC-Refers-To-Date, else by payload digest), looked up among the
responses of wanted addresses read so far by the same Reader (earlier files included). A revisit whose payload was
not read has `body = None` and says why in `problem`.

A file cut short (a crawl interrupted, a partial download) is not read as captures where it is
cut: a record whose payload is shorter than its declared length, or whose gzip member ends early,
has `body = None` and `truncated = True`; a file that ends inside a record's headers is named in
`Reader.truncated` (one line per file), as is any file holding a cut-short record.

Bounds (a hostile file must not take the machine's memory): a body is read up to the cap of a
live fetch; payloads kept for revisits are the latest MAX_KEPT_PAYLOADS within MAX_KEPT_BYTES
together; a header line over MAX_HEADER_LINE bytes (or a record's headers over MAX_HEADER_BYTES)
stops the file, named in `Reader.unreadable`. A wanted record whose WARC-Date or HTTP status
cannot be read is yielded with `unreadable = True` and the reason, never dropped silently.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from ticker.scraper.http import MAX_BODY_BYTES

MAX_KEPT_PAYLOADS = 200  # payloads of the wanted addresses remembered for revisits (the latest)
# ... and their bytes, together: 200 payloads of 20 MB each (a 4.4 MB file of gzipped zeros)
# held 3 GB. The oldest go first; a revisit of one that went is reported, not stored.
MAX_KEPT_BYTES = 64 * 1024 * 1024
# A header line (WARC or HTTP) longer than this, or a record's header lines together longer than
# MAX_HEADER_BYTES, make the rest of the file unreadable: warcio reads a line whole into memory
# (a 2 GiB line reached 1.3 GB), and a stream cannot be re-synchronised after it.
MAX_HEADER_LINE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024


class WarcError(Exception):
    """A file that is not a readable WARC (bad gzip, not WARC at all)."""


class HeadersTooLarge(Exception):
    """A header line, or a record's headers, past the bounds: the file is not read further."""


@dataclass(frozen=True, slots=True)
class WarcResponse:
    """One recorded HTTP answer. `headers`: lower-case names, repeated values joined with ", "."""

    record_id: str
    target_uri: str
    date: datetime | None  # WARC-Date, aware UTC (None: unreadable)
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    revisit: bool = False
    problem: str | None = None
    truncated: bool = False  # cut short: the file ends inside this record
    unreadable: bool = False  # its WARC-Date or HTTP status cannot be read: not a capture


def warc_date(text: str) -> datetime:
    """A WARC-Date (`2017-03-06T04:02:06Z`, WARC/1.1 adds fractions) as an aware UTC datetime."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00: no such instant in UTC
        raise ValueError(f"WARC-Date {text!r} is not an instant datetime can hold") from None


def _headers(http_headers) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in http_headers.headers:
        key = name.lower()
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _strip(uri: str | None) -> str:
    return (uri or "").strip().strip("<>")


_Payload = tuple[bytes, int, str, dict[str, str]]  # body, status, reason, headers


def _bound_header_lines(reader) -> None:
    """Make warcio's reader refuse (HeadersTooLarge) a line longer than MAX_HEADER_LINE, and
    more than MAX_HEADER_BYTES of lines between two reads of payload: warcio parses WARC and
    HTTP headers with `readline()`, which keeps a whole line in memory however long it is."""
    plain_readline, plain_read = reader.readline, reader.read
    since_payload = line_so_far = 0

    def readline(length=None):
        nonlocal since_payload, line_so_far
        cap = MAX_HEADER_LINE + 1 if length is None or length < 0 else min(length, MAX_HEADER_LINE + 1)
        line = plain_readline(cap)  # given a length, warcio may return a line in several pieces
        since_payload += len(line)
        line_so_far += len(line)
        if line_so_far > MAX_HEADER_LINE:
            raise HeadersTooLarge(f"a header line longer than {MAX_HEADER_LINE} bytes")
        if not line or line.endswith(b"\n"):
            line_so_far = 0
        if since_payload > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"headers longer than {MAX_HEADER_BYTES} bytes")
        return line

    def read(length=None):
        nonlocal since_payload, line_so_far
        since_payload = line_so_far = 0
        return plain_read(length)

    reader.readline, reader.read = readline, read


class Reader:
    """Reads WARC files one after another, remembering payloads for later revisits (the latest,
    at most MAX_KEPT_PAYLOADS of them and MAX_KEPT_BYTES together)."""

    def __init__(
        self,
        max_bytes: int = MAX_BODY_BYTES,
        *,
        max_kept_bytes: int = MAX_KEPT_BYTES,
        bound_headers: bool = True,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_kept_bytes = max_kept_bytes
        self.bound_headers = bound_headers  # False only to measure what the bound saves (benchmarks)
        self._kept: OrderedDict[tuple[str, str], tuple[str | None, _Payload]] = OrderedDict()
        self._kept_bytes = 0
        self._by_digest: dict[str, tuple[str, str]] = {}
        self.truncated: list[str] = []  # "<file>: <where it is cut>", one per truncated file
        self.unreadable: list[str] = []  # "<file>: <why the rest is not read>", one per file

    def _remember(self, digest: str | None, target: str, date: str, body: _Payload) -> None:
        size = len(body[0])
        if size > self.max_kept_bytes:
            return  # a revisit of it will say its payload is not kept
        key = (target, date)
        self._forget(key)
        self._kept[key] = (digest, body)
        self._kept_bytes += size
        if digest:
            self._by_digest[digest] = key
        while len(self._kept) > MAX_KEPT_PAYLOADS or self._kept_bytes > self.max_kept_bytes:
            self._forget(next(iter(self._kept)))

    def _forget(self, key: tuple[str, str]) -> None:
        found = self._kept.pop(key, None)
        if found is None:
            return
        digest, body = found
        self._kept_bytes -= len(body[0])
        if digest and self._by_digest.get(digest) == key:
            del self._by_digest[digest]

    def _payload(self, target: str, date: str, digest: str | None) -> _Payload | None:
        found = self._kept.get((target, date))
        if found is None and digest and digest in self._by_digest:
            found = self._kept.get(self._by_digest[digest])
        return found[1] if found is not None else None

    def records(self, path: Path, wanted: Callable[[str], bool] = lambda uri: True) -> Iterator[WarcResponse]:
        """The response and revisit records of one file whose target address is `wanted`, in
        file order. Other records are skipped unread (a crawl holds images and videos too)."""
        records = 0
        cut: str | None = None
        last = member = None
        try:
            with open(path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                iterator = ArchiveIterator(stream)
                if self.bound_headers:
                    _bound_header_lines(iterator.reader)
                for record in iterator:
                    records += 1
                    last, member = record, iterator.reader.decompressor
                    if record.rec_type not in ("response", "revisit") or record.http_headers is None:
                        continue
                    if not wanted(_strip(record.rec_headers.get_header("WARC-Target-URI"))):
                        continue
                    found = self._read(record, iterator)
                    if found is not None and found.truncated:
                        cut = cut or f"{found.record_id} ({found.target_uri}) is cut short: {found.problem}"
                    if found is not None:
                        yield found
                if cut is None and last is not None:
                    cut = _cut_at_end(last, member, size - iterator.offset)
        except ArchiveLoadFailed as error:
            detail = " ".join(str(error).split())  # warcio's advice spans lines: one line here
            raise WarcError(f"{path}: not a readable WARC file ({detail})") from None
        except HeadersTooLarge as error:
            where = f"after record {records}" if records else "at its start"
            self.unreadable.append(f"{path}: {error} {where}: the rest of the file is not read")
            return
        if records == 0:
            raise WarcError(f"{path}: not a WARC file (no WARC record in it)")
        if cut is not None:
            self.truncated.append(f"{path}: the file is truncated: {cut}")

    def _read(self, record, iterator: ArchiveIterator) -> WarcResponse | None:
        found = self._parse(record)
        if found is None:
            return None
        short = _cut_short(record, iterator)
        if short is not None:
            return replace(found, body=None, problem=short, truncated=True)
        if found.body is not None and not found.revisit:
            self._remember(*self._pending)
        return found

    def _parse(self, record) -> WarcResponse | None:
        headers = record.rec_headers
        target = _strip(headers.get_header("WARC-Target-URI"))
        date_text = headers.get_header("WARC-Date") or ""
        record_id = _strip(headers.get_header("WARC-Record-ID"))
        try:
            date = warc_date(date_text)
        except ValueError:
            return _unreadable(record_id, target, f"its WARC-Date {date_text[:40]!r} is not a date")
        try:
            status = int(record.http_headers.get_statuscode() or "")
        except ValueError:
            status_line = record.http_headers.statusline or ""
            return _unreadable(record_id, target, f"its HTTP status line {status_line[:40]!r} has no status")
        reason = (record.http_headers.statusline or "").partition(" ")[2]
        http_headers = _headers(record.http_headers)
        digest = headers.get_header("WARC-Payload-Digest")
        if record.rec_type == "response":
            body = record.content_stream().read(self.max_bytes + 1)  # read now: later it is gone
            if len(body) > self.max_bytes:
                return WarcResponse(
                    record_id, target, date, status, reason, http_headers, None, False,
                    f"body larger than {self.max_bytes} bytes (the cap of a live fetch): not read",
                )  # fmt: skip
            self._pending = (digest, target, date_text, (body, status, reason, http_headers))
            return WarcResponse(record_id, target, date, status, reason, http_headers, body)
        refers_uri = _strip(headers.get_header("WARC-Refers-To-Target-URI")) or target
        refers_date = headers.get_header("WARC-Refers-To-Date") or ""
        payload = self._payload(refers_uri, refers_date, digest)
        if payload is None:
            problem = f"revisit of {refers_uri} {refers_date or digest or ''}".strip()
            return WarcResponse(
                record_id, target, date, status, reason, http_headers, None, True,
                problem + f": that payload is not among the files read or the last {MAX_KEPT_PAYLOADS} "
                f"({self.max_kept_bytes // (1024 * 1024)} MB) kept",
            )  # fmt: skip
        body, original_status, original_reason, original_headers = payload
        if status == 304:  # "server-not-modified": the answer is the one it confirmed
            status, reason, http_headers = original_status, original_reason, original_headers
        return WarcResponse(record_id, target, date, status, reason, http_headers, body, True)


def _unreadable(record_id: str, target: str, why: str) -> WarcResponse:
    """A record of a wanted address that cannot be a capture: counted and said, never skipped
    without a word."""
    return WarcResponse(record_id, target, None, 0, "", {}, None, problem=why, unreadable=True)


def _cut_short(record, iterator: ArchiveIterator) -> str | None:
    """Why this record is not whole (the file ends inside it), or None: read to its end, its
    payload must be as long as its Content-Length says and (in a .warc.gz) its gzip member end."""
    while record.raw_stream.read(1 << 16):
        pass
    missing = getattr(record.raw_stream, "limit", 0)
    if missing > 0:
        return f"{record.length - missing} of its {record.length} bytes are in the file"
    iterator.read_to_end()  # the blank lines after it, and the end of its gzip member
    member = iterator.reader.decompressor
    if member is not None and not member.eof:
        return "its gzip member ends early"
    return None


def _cut_at_end(last, member, left_over: int) -> str | None:
    """Whether a file's end is cut: the last record (even one not read) is not whole, or bytes
    after the last whole record are the start of one that ends early (its headers cut)."""
    if last.rec_type is None:  # warcio's reading of the first bytes of a record's headers
        return "it ends inside a record's headers"
    missing = getattr(last.raw_stream, "limit", 0)
    if missing > 0:
        return f"its last record has {last.length - missing} of its {last.length} bytes"
    if member is not None and not member.eof:
        return "its last gzip member ends early"
    if left_over > 0:
        return f"it ends inside a record's headers ({left_over} bytes after the last whole record)"
    return None
