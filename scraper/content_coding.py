"""Content-Encoding, decoded as a stream and bounded at every layer.

`Content-Encoding: gzip, gzip` (or `deflate, gzip`, `zstd`, ...) lists the codings in the order
the server applied them; they are undone in reverse, each layer pulling at most DECODE_STEP
bytes at a time from the one below, so no layer is ever inflated whole in memory. Every layer,
the bytes on the wire included, is capped at the same size: a stream that inflates to nothing
(empty deflate blocks) cannot spin unbounded either. Unknown codings are refused by name.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable, Iterator

DECODE_STEP = 1 << 20
MAX_CODINGS = 4  # more layers than any real server applies
ZSTD_MAX_WINDOW = 8 << 20  # RFC 9659: HTTP zstd windows are at most 8 MB; larger ones are refused
ALIASES = {"x-gzip": "gzip"}


class CodingError(Exception):
    """The body cannot be decoded: an unknown coding, a corrupt or cut stream, or a layer over
    the cap. The message is one line, fit for `fetches.error`."""


class LayerTooLarge(CodingError):
    """One layer (the wire or a decoded one) grew past the cap."""


def _zlib_layer(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """gzip (several members allowed) or deflate (zlib-wrapped, or raw as some servers send)."""
    wbits = 31 if coding == "gzip" else 15
    decoder = zlib.decompressobj(wbits)
    started = got_input = trailing = False
    for data in chunks:
        got_input = True
        while data and not trailing:
            if decoder.eof:
                if coding != "gzip" or not data.startswith(b"\x1f\x8b"):
                    trailing = True  # bytes after the stream: ignored, as browsers do
                    break
                decoder = zlib.decompressobj(wbits)  # the next gzip member
            try:
                out = decoder.decompress(data, DECODE_STEP)
            except zlib.error as error:
                if wbits != 15 or started:
                    raise CodingError(f"{coding} stream is corrupt ({error})") from None
                wbits, decoder = -15, zlib.decompressobj(-15)
                continue
            started = True
            data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
            if out:
                yield out
    if got_input and not decoder.eof:
        raise CodingError(f"body cut short: the {coding} stream ends before its end marker")


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of chunks (for zstandard's pull-based reader)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""
        self.got_input = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
            self.got_input = True
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _zstd_layer(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    import zstandard

    source = _ChunkReader(chunks)
    decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    reader = decompressor.stream_reader(source, read_size=1 << 16, read_across_frames=True)
    try:
        while out := reader.read(DECODE_STEP):
            yield out
    except zstandard.ZstdError as error:
        raise CodingError(f"zstd stream cannot be decoded ({error})") from None  # corrupt, or window > 8 MB


DECODERS: dict[str, Callable[[Iterable[bytes], str], Iterator[bytes]]] = {
    "gzip": _zlib_layer,
    "deflate": _zlib_layer,
    "zstd": _zstd_layer,
}
ACCEPT_ENCODING = ", ".join(DECODERS)  # what we ask for is exactly what we can decode


def codings(values: Iterable[str]) -> list[str]:
    """The codings named by `Content-Encoding` header values, in the order they were applied
    (`identity` and empty items dropped, names case-folded). Raises CodingError naming an
    unknown coding, or when there are more than MAX_CODINGS."""
    found = []
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            name = ALIASES.get(name, name)
            if name in ("", "identity"):
                continue
            if name not in DECODERS:
                raise CodingError(
                    f"body refused: unsupported Content-Encoding {name!r}"
                    f" (ticker decodes {', '.join(DECODERS)})"
                )
            found.append(name)
    if len(found) > MAX_CODINGS:
        raise CodingError(
            f"body refused: {len(found)} stacked content codings ({', '.join(found)}; limit {MAX_CODINGS})"
        )
    return found


def _capped(chunks: Iterable[bytes], max_bytes: int, what: str, check: Callable[[], None]) -> Iterator[bytes]:
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise LayerTooLarge(f"body refused: more than {max_bytes} bytes{what}")
        check()
        yield chunk


def decode(
    raw: Iterable[bytes],
    applied: list[str],
    *,
    max_bytes: int,
    check: Callable[[], None] = lambda: None,
) -> Iterator[bytes]:
    """The body under `applied` codings (as `codings()` returns them), decoded a layer at a
    time; each layer, the wire included, capped at `max_bytes`. `check()` runs on every chunk of
    every layer (a deadline: it raises to stop)."""
    stream: Iterable[bytes] = _capped(raw, max_bytes, " on the wire" if applied else "", check)
    for depth, coding in enumerate(reversed(applied), start=1):
        layer = DECODERS[coding](stream, coding)
        last = depth == len(applied)
        what = " (after decompression)" if last else f" (after undoing {depth} of {len(applied)} codings)"
        stream = _capped(layer, max_bytes, what, check)
    yield from stream
