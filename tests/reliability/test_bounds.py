"""Bounds of the HTTP layer and of parsing, exercised in-process against a real loopback server:
response headers carried on every answer, stacked content codings, Retry-After, 304 without
validators. The parse's own bound (a worker with a hard timeout) is in test_parse_bounds.py."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import zlib
from pathlib import Path

import httpx
import pytest
import zstandard

from reliability import faultserver as fs
from reliability.faultserver import FaultServer, Request
from ticker.scraper import content_coding, http

pytestmark = pytest.mark.reliability
FIXTURES = Path(__file__).parent.parent / "fixtures"


def _repeated_headers(status: str) -> fs.Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        lines = [
            f"HTTP/1.1 {status}",
            "Content-Type: text/plain",
            "Content-Length: 2",
            "Connection: close",
            "X-Archive-Note: first",
            "x-archive-note: second",
            'ETag: "v1"',
        ]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\nhi").encode("latin-1"))

    return handler


def test_answer_carries_response_headers(fault_server: FaultServer):
    url = fault_server.route("/h", _repeated_headers("200 OK"))
    with http.make_client() as client:
        answer = http.get(client, url)
    assert answer.body == b"hi"
    assert answer.headers["x-archive-note"] == "first, second"
    assert answer.headers["etag"] == '"v1"' and answer.headers["content-type"] == "text/plain"
    assert all(name == name.lower() for name in answer.headers)


def test_fetch_failed_carries_response_headers(fault_server: FaultServer):
    url = fault_server.route("/h", _repeated_headers("503 Service Unavailable"))
    with http.make_client() as client, pytest.raises(http.FetchFailed) as failure:
        http.get(client, url)
    assert failure.value.status == 503
    assert failure.value.headers["x-archive-note"] == "first, second"


def test_headers_default_to_empty():
    assert http.FetchFailed("network_error", "x").headers == {}
    assert http.Answer("u", 200, b"", None, None, None).headers == {}


# Stacked content codings ---------------------------------------------------------------------

PAGE = b"<html><body>" + "Заголовок новости ".encode() * 4000 + b"</body></html>"


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _deflate(data: bytes) -> bytes:
    return zlib.compress(data, 9)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


def _encoded(body: bytes, header_lines: list[str], status: str = "200 OK") -> fs.Handler:
    """A raw answer whose Content-Encoding is given as header lines, exactly as written."""

    def handler(conn: socket.socket, request: Request) -> None:
        lines = [f"HTTP/1.1 {status}", "Content-Type: text/html; charset=utf-8"]
        lines += [f"Content-Encoding: {value}" for value in header_lines]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return handler


def _fetch(server: FaultServer, handler: fs.Handler, **kwargs) -> http.Answer:
    url = server.route("/coded", handler)
    with http.make_client() as client:
        return http.get(client, url, **kwargs)


def _refused(server: FaultServer, handler: fs.Handler, **kwargs) -> http.FetchFailed:
    with pytest.raises(http.FetchFailed) as failure:
        _fetch(server, handler, **kwargs)
    assert failure.value.outcome == "network_error" and "\n" not in failure.value.message
    return failure.value


STACKED = [
    ("gzip", ["gzip"], _gzip),
    ("x-gzip", ["x-gzip"], _gzip),
    ("gzip, gzip", ["gzip, gzip"], lambda b: _gzip(_gzip(b))),
    ("gzip twice as two header lines", ["gzip", "gzip"], lambda b: _gzip(_gzip(b))),
    ("deflate, gzip", ["deflate, gzip"], lambda b: _gzip(_deflate(b))),
    ("gzip, deflate", ["gzip, deflate"], lambda b: _deflate(_gzip(b))),
    ("raw deflate", ["deflate"], _raw_deflate),
    ("identity, GZIP ,gzip", ["identity, GZIP ,gzip"], lambda b: _gzip(_gzip(b))),
    ("Identity only", ["Identity"], lambda b: b),
    ("empty items", [" , gzip,,"], _gzip),
    ("zstd", ["zstd"], _zstd),
    ("zstd, gzip", ["zstd, gzip"], lambda b: _gzip(_zstd(b))),
    ("two gzip members", ["gzip"], lambda b: _gzip(b[:1000]) + _gzip(b[1000:])),
]


@pytest.mark.parametrize(
    ("header", "encode"), [(h, e) for _, h, e in STACKED], ids=[n for n, _, _ in STACKED]
)
def test_stacked_codings_decode_to_the_page(header, encode, fault_server):
    answer = _fetch(fault_server, _encoded(encode(PAGE), header))
    assert answer.body == PAGE


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


BOMB = _bomb(400 << 20)  # 400 MB of zeros, gzip: ~400 KB


@pytest.mark.parametrize(
    ("header", "wire"),
    [
        ("gzip, gzip", _gzip(BOMB)),
        ("GZIP,  Gzip", _gzip(BOMB)),
        ("gzip, gzip, gzip", _gzip(_gzip(BOMB))),
        ("gzip, deflate", _deflate(BOMB)),
        ("gzip, zstd", _zstd(BOMB)),
        ("zstd", zstandard.ZstdCompressor(level=19).compress(bytes(100 << 20))),
    ],
    ids=["gzip, gzip", "case and spaces", "three layers", "gzip, deflate", "gzip, zstd", "zstd bomb"],
)
def test_stacked_bombs_are_capped_after_decoding(header, wire, fault_server):
    assert len(wire) < 500_000
    failure = _refused(fault_server, _encoded(wire, [header]))
    assert failure.message == "body refused: more than 20971520 bytes (after decompression)"
    assert failure.status == 200


def test_every_layer_is_capped_not_only_the_last(fault_server):
    """A deflate stream of empty blocks inflates to nothing: without a cap on the middle layer
    it would spin through gigabytes (here 30 MB) without the final size ever growing."""
    empty_blocks = b"\x78\xda" + b"\x00\x00\x00\xff\xff" * (6 << 20) + b"\x03\x00\x00\x00\x00\x01"
    assert zlib.decompress(empty_blocks) == b""
    failure = _refused(fault_server, _encoded(_gzip(empty_blocks), ["deflate, gzip"]))
    assert failure.message == "body refused: more than 20971520 bytes (after undoing 1 of 2 codings)"


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("br", "'br'"),
        ("gzip, br", "'br'"),
        ("compress", "'compress'"),
        ("x-compress", "'x-compress'"),
        ("Zstd, snappy", "'snappy'"),
        ("gzip;q=1", "'gzip;q=1'"),
    ],
)
def test_unknown_codings_are_refused_by_name(header, named, fault_server):
    failure = _refused(fault_server, _encoded(b"\x0b\x02\x80hello\x03", [header]))
    assert failure.message.startswith(f"body refused: unsupported Content-Encoding {named}")
    assert failure.status == 200


def test_too_many_layers_are_refused(fault_server):
    failure = _refused(fault_server, _encoded(b"", ["gzip, gzip, gzip, gzip, gzip"]))
    assert "5 stacked content codings" in failure.message


def test_a_cut_compressed_stream_is_an_error_not_a_short_body(fault_server):
    failure = _refused(fault_server, _encoded(_gzip(PAGE)[:-200], ["gzip"]))
    assert failure.message == "body cut short: the gzip stream ends before its end marker"


def test_corrupt_stream_is_named(fault_server):
    failure = _refused(fault_server, _encoded(b"\x1f\x8b\x08\x00garbage" * 10, ["gzip"]))
    assert failure.message.startswith("gzip stream is corrupt")


def test_empty_body_under_a_coding_is_empty(fault_server):
    assert _fetch(fault_server, _encoded(b"", ["gzip"])).body == b""


def test_client_asks_only_for_codings_it_decodes(fault_server):
    seen: list[str] = []

    def handler(conn: socket.socket, request: Request) -> None:
        seen.append(request.headers.get("accept-encoding", ""))
        fs.respond(conn, "200 OK", b"ok")

    _fetch(fault_server, handler)
    assert seen == [content_coding.ACCEPT_ENCODING] and "br" not in seen[0]


# Retry-After ---------------------------------------------------------------------------------

NOW = 1_732_536_000.0  # 2024-11-25 12:00:00 UTC
TEN_YEARS = 315_360_000


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        (" 0120 ", 120),
        ("0", 0),
        ("1" * 25, TEN_YEARS),
        ("9" * 5000, TEN_YEARS),  # past Python's int() digit limit: never converted
        (str(TEN_YEARS + 1), TEN_YEARS),
        ("1.5", 2),
        ("2.0", 2),
        ("-5", None),
        ("-0", None),
        ("1e5", None),
        ("inf", None),
        ("nan", None),
        ("²²", None),  # isdigit() is true, int() refuses
        ("١٢٠", None),  # Arabic-Indic digits: int() accepts, HTTP does not
        ("", None),
        ("garbage", None),
        ("Mon, 25 Nov 2024 12:02:00 GMT", 120),
        ("Mon, 25 Nov 2024 12:02:00 -0000", 120),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", TEN_YEARS),
        ("Thu, 01 Jan 10000 00:00:00 GMT", None),
        ("Mon, 32 Jan 2020 00:00:00 GMT", None),
    ],
)
def test_retry_after_is_a_bounded_int_or_none(value, seconds):
    got = http.retry_after_seconds(value, now=NOW)
    assert got == seconds
    assert got is None or (isinstance(got, int) and 0 <= got <= http.RETRY_AFTER_MAX_S)


@pytest.mark.parametrize(
    ("value", "note"),
    [
        ("120", " (Retry-After 120s)"),
        ("1" * 25, f" (Retry-After '{'1' * 25}': more than {TEN_YEARS}s, read as {TEN_YEARS}s)"),
        ("\x1b[2J soon", " (Retry-After '?[2J soon' ignored: neither seconds nor an HTTP date)"),
        ("9" * 200, f" (Retry-After '{'9' * 79}…': more than {TEN_YEARS}s, read as {TEN_YEARS}s)"),
        (None, ""),
    ],
)
def test_retry_after_note_says_what_the_server_asked(value, note):
    assert http.retry_after_note(value, http.retry_after_seconds(value, now=NOW)) == note


# 304 Not Modified ----------------------------------------------------------------------------


def _not_modified(seen: list[dict[str, str]]) -> fs.Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        seen.append(request.headers)
        conn.sendall(fs.head("304 Not Modified", {"ETag": '"v2"', "Connection": "close"}))

    return handler


def test_304_without_validators_is_a_failure(fault_server):
    seen: list[dict[str, str]] = []
    with pytest.raises(http.FetchFailed) as failure:
        _fetch(fault_server, _not_modified(seen))
    assert failure.value.outcome == "http_error" and failure.value.status == 304
    assert failure.value.message == (
        "HTTP 304 Not Modified to a request that sent no validators (a broken cache or proxy?)"
    )
    assert "if-none-match" not in seen[0] and "if-modified-since" not in seen[0]


@pytest.mark.parametrize(
    "validators",
    [{"etag": '"v1"'}, {"last_modified": "Mon, 25 Nov 2024 12:00:00 GMT"}],
    ids=["If-None-Match", "If-Modified-Since"],
)
def test_304_with_validators_is_an_answer(validators, fault_server):
    seen: list[dict[str, str]] = []
    answer = _fetch(fault_server, _not_modified(seen), **validators)
    assert answer.status == 304 and answer.body == b"" and answer.etag == '"v2"'
    assert {"if-none-match", "if-modified-since"} & set(seen[0])


# Network errors name the host and say what they mean ------------------------------------------


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _failure(url: str, *, client: httpx.Client | None = None, **kwargs) -> str:
    used = client or http.make_client(connect_timeout_s=0.5, read_timeout_s=0.5)
    with used, pytest.raises(http.FetchFailed) as failure:
        http.get(used, url, **kwargs)
    assert failure.value.outcome == "network_error" and "\n" not in failure.value.message
    return failure.value.message


def test_refused_connection_names_the_address():
    port = _closed_port()
    assert _failure(f"http://127.0.0.1:{port}/") == (
        f"could not connect to 127.0.0.1:{port}: connection refused (nothing listens there, or a firewall refuses)"
    )


def test_dns_failure_names_the_host():
    # RFC 2606: .invalid never resolves (the local resolver answers at once)
    assert _failure("http://www.nonexistent.invalid/").startswith(
        "DNS lookup failed for www.nonexistent.invalid: the name does not resolve ("
    )


def test_dns_server_unreachable_is_told_apart():
    def no_resolver(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        except socket.gaierror as error:
            raise httpx.ConnectError(str(error), request=request) from error

    client = http.make_client(transport=httpx.MockTransport(no_resolver))
    assert _failure("https://www.rbc.ru/", client=client) == (
        "DNS lookup failed for www.rbc.ru: no answer from the name server (is the network up?)"
        " ([Errno -3] Temporary failure in name resolution)"
    )


def _reset(conn: socket.socket, request: Request) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: an RST instead of a FIN


def test_reset_connection_names_the_host(fault_server):
    message = _failure(fault_server.route("/reset", _reset))
    assert message.startswith("connection reset by 127.0.0.1 (the server, or something between, dropped it)")


def test_connect_timeout_names_the_address():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepted: once the queue is full, new connections wait
    port = listener.getsockname()[1]
    waiting = [socket.socket() for _ in range(3)]
    try:
        for sock in waiting:
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
        assert _failure(f"http://127.0.0.1:{port}/") == (
            f"timeout: 127.0.0.1:{port} did not accept a connection within 0.5s"
        )
    finally:
        for sock in [*waiting, listener]:
            sock.close()


def test_read_timeout_names_the_host(fault_server):
    url = fault_server.route("/silent", fs.never_answer(fault_server))
    assert _failure(url) == "timeout: 127.0.0.1 stopped sending (nothing came within 0.5s: read timeout)"


def test_total_timeout_names_the_host(fault_server):
    url = fault_server.route("/drip", fs.drip_headers(fault_server, 0.1))
    assert _failure(url, total_timeout_s=0.5) == "timeout: no complete answer from 127.0.0.1 within 0.5s"


# No request runs on a reused connection the watchdog never saw opened -------------------------


def _healthy_then_dripping(server: FaultServer, connections: list[int]) -> fs.Handler:
    """A healthy kept-alive answer; a second request on the same connection gets headers that
    drip a byte every 0.1 s for ever (each byte inside the read timeout)."""

    def handler(conn: socket.socket, request: Request) -> None:
        connections.append(id(conn))
        fs.respond(conn, "200 OK", b"fine", extra={"Connection": "keep-alive"})
        if fs._read_request(conn) is None:
            return  # the client closed the connection: nothing to hold
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not server.stopping.wait(0.1):
            conn.sendall(b"X")

    return handler


def test_a_second_request_never_rides_a_kept_alive_connection(fault_server):
    seen: list[int] = []
    url = fault_server.route("/keep", _healthy_then_dripping(fault_server, seen))
    results: list[object] = []
    with http.make_client(read_timeout_s=1) as client:
        assert http.get(client, url, total_timeout_s=1).body == b"fine"

        def second() -> None:
            try:
                results.append(http.get(client, url, total_timeout_s=1).body)
            except http.FetchFailed as failure:
                results.append(failure.message)

        worker = threading.Thread(target=second, daemon=True)
        worker.start()
        worker.join(timeout=30)  # the old code stays in the dripping read for ever
        assert not worker.is_alive(), "the second request is held by a reused connection"
    assert results == [b"fine"] and len(seen) == 2  # a new connection, answered healthily


def test_zstd_window_over_8_mb_is_refused(fault_server):
    """RFC 9659 caps HTTP zstd windows at 8 MB; a 128 MB one would reserve 128 MB before any cap."""
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    wire = compressor.compress(PAGE) + compressor.flush()
    assert zstandard.get_frame_parameters(wire).window_size == 128 << 20
    failure = _refused(fault_server, _encoded(wire, ["zstd"]))
    assert (
        failure.message.startswith("zstd stream cannot be decoded (") and "too much memory" in failure.message
    )
