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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from ticker.scraper.http import MAX_BODY_BYTES

MAX_KEPT_PAYLOADS = 200  # payloads of the wanted addresses remembered for revisits (the latest)


class WarcError(Exception):
    """A file that is not a readable WARC (bad gzip, not WARC at all)."""


@dataclass(frozen=True, slots=True)
class WarcResponse:
    """One recorded HTTP answer. `headers`: lower-case names, repeated values joined with ", "."""

    record_id: str
    target_uri: str
    date: datetime  # WARC-Date, aware UTC
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    revisit: bool = False
    problem: str | None = None
    truncated: bool = False  # cut short: the file ends inside this record


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


class Reader:
    """Reads WARC files one after another, remembering payloads for later revisits."""

    def __init__(self, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.max_bytes = max_bytes
        self._by_digest: dict[str, _Payload] = {}
        self._by_target: dict[tuple[str, str], _Payload] = {}
        self.truncated: list[str] = []  # "<file>: <where it is cut>", one per truncated file

    def _remember(self, digest: str | None, target: str, date: str, body: _Payload) -> None:
        if len(self._by_target) >= MAX_KEPT_PAYLOADS:
            self._by_target.pop(next(iter(self._by_target)))
        self._by_target[(target, date)] = body
        if digest:
            if len(self._by_digest) >= MAX_KEPT_PAYLOADS:
                self._by_digest.pop(next(iter(self._by_digest)))
            self._by_digest[digest] = body

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
        try:
            date = warc_date(date_text)
            status = int(record.http_headers.get_statuscode() or "")
        except ValueError:
            return None
        reason = (record.http_headers.statusline or "").partition(" ")[2]
        http_headers = _headers(record.http_headers)
        record_id = _strip(headers.get_header("WARC-Record-ID"))
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
        payload = self._by_target.get((refers_uri, refers_date))
        if payload is None and digest:
            payload = self._by_digest.get(digest)
        if payload is None:
            problem = f"revisit of {refers_uri} {refers_date or digest or ''}".strip()
            return WarcResponse(
                record_id, target, date, status, reason, http_headers, None, True,
                problem + ": that payload is not in the files read",
            )  # fmt: skip
        body, original_status, original_reason, original_headers = payload
        if status == 304:  # "server-not-modified": the answer is the one it confirmed
            status, reason, http_headers = original_status, original_reason, original_headers
        return WarcResponse(record_id, target, date, status, reason, http_headers, body, True)


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
