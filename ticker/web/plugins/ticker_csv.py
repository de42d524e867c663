"""Datasette plugin (loaded by `ticker serve`): its CSV exports get the same formula-safe cells
as every `--csv` of the CLI (`ticker.core.csv_export.safe_cell`).

Datasette 0.65 writes CSV itself (`views/base.py`, `csv.writer` over the rows) and has no hook
for CSV cells: `render_cell` is for HTML, and an output renderer cannot take over `.csv`. So an
ASGI wrapper rewrites the answer of every CSV request (`.csv` and `?_format=csv`, streamed or
not) record by record as it is sent: a record is complete at a CRLF once it holds an even number
of `"` (Datasette quotes like the csv module: a quote inside a field is doubled). Memory is one
record, never the whole export.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qs

from datasette import hookimpl

from ticker.core.csv_export import safe_cell

_CSV_TYPES = (b"text/csv", b"text/plain")


def _asks_for_csv(scope: dict) -> bool:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "_trace" in query:  # Datasette's HTML debug view of a CSV
        return False
    return scope.get("path", "").endswith(".csv") or query.get("_format") == ["csv"]


class CsvRewriter:
    """Re-writes a CSV byte stream with formula-safe cells, one complete record at a time."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes, *, final: bool) -> bytes:
        data = self._pending + chunk
        out: list[bytes] = []
        start = search = 0
        while (end := data.find(b"\r\n", search)) >= 0:
            search = end + 2
            if data.count(b'"', start, end) % 2 == 0:
                out.append(_rewrite(data[start:end]) + b"\r\n")
                start = search
        self._pending = data[start:]
        if final and self._pending:
            out.append(_rewrite(self._pending))
            self._pending = b""
        return b"".join(out)


def _rewrite(record: bytes) -> bytes:
    text = record.decode("utf-8", "surrogateescape")
    fields = next(csv.reader(io.StringIO(text, newline="")), [])
    if not any(isinstance(safe_cell(field), str) and safe_cell(field) != field for field in fields):
        return record  # nothing formula-like: the bytes as Datasette wrote them
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([safe_cell(field) for field in fields])
    return buffer.getvalue().encode("utf-8", "surrogateescape")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope.get("type") != "http" or not _asks_for_csv(scope):
                await app(scope, receive, send)
                return
            rewriter: CsvRewriter | None = None

            async def rewriting_send(message):
                nonlocal rewriter
                if message["type"] == "http.response.start":
                    headers = dict(message.get("headers") or [])
                    if headers.get(b"content-type", b"").startswith(_CSV_TYPES):
                        rewriter = CsvRewriter()
                        kept = [
                            (k, v) for k, v in message.get("headers") or [] if k.lower() != b"content-length"
                        ]
                        message = {**message, "headers": kept}
                elif message["type"] == "http.response.body" and rewriter is not None:
                    body = rewriter.feed(message.get("body", b""), final=not message.get("more_body", False))
                    message = {**message, "body": body}
                await send(message)

            await app(scope, receive, rewriting_send)

        return wrapped

    return wrap
