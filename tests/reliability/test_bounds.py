"""Bounds of the HTTP layer and of parsing, exercised in-process against a real loopback server:
response headers carried on every answer, stacked content codings, Retry-After, 304 without
validators, the markup guard."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import zstandard
from selectolax.lexbor import LexborHTMLParser

from reliability import faultserver as fs
from reliability.faultserver import FaultServer, Request
from reliability.support import page_bytes
from ticker.base import ParseError
from ticker.scraper import content_coding, http, markup_guard, rbc_page

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


# The markup guard ----------------------------------------------------------------------------


def _open_b(count: int) -> bytes:
    return b"".join(b"<b class=c%d>" % i for i in range(count))


HOSTILE_MARKUP = [
    ("nested div", b"<div>" * 5000, "markup nested 5000 deep (limit 512)"),
    ("nested div, closed", b"<div>" * 5000 + b"</div>" * 5000, "markup nested 5000 deep"),
    ("nested span", b"<span>" * 5000, "markup nested 5000 deep"),
    ("nested table", b"<table><tr><td>" * 1000, "markup nested 4000 deep"),  # + the implied <tbody>
    ("nested ul li", b"<ul><li>" * 2000, "markup nested 4000 deep"),
    ("self-closing div (not void)", b"<div/>" * 5000, "markup nested 5000 deep"),
    ("unclosed formatting", _open_b(5000) + b"x", "more than 200 formatting elements"),
    ("unclosed formatting, same tag", b"<i>" * 5000, "more than 200 formatting elements"),
    ("misnested <b><i></b>", b"<b><i></b>x" * 5000, "more than 200 formatting elements"),
    ("block inside formatting", (b"<b>" + b"<div>" * 50 + b"</b>") * 100, "markup nested 5100 deep"),
    ("mix", (b"<div><span><table><td><b><ul><li><p><em>" * 300), "markup nested"),
    ("ignored </li> over a list", b"<li><ul>" + (b"<div>" * 50 + b"</li>") * 100, "markup nested 5002 deep"),
    ("comment closed at once", b"<!-->" + b"<div>" * 5000 + b"-->", "markup nested 5000 deep"),
    ("quote inside an attribute name", b'<p a">' + b"<div>" * 5000 + b'">', "markup nested 5000 deep"),
    ("unquoted value ending in /", b"<svg>" + b"<g a=x/>" * 5000, "markup nested 5001 deep"),
    ("HTML breaking out of svg", b"<svg><p>" + b"<div/>" * 5000, "markup nested 5000 deep"),
    (
        "<style> in svg is not raw text",
        b"<svg><style>" + b"<g>" * 5000 + b"</style>",
        "markup nested 5002 deep",
    ),
    ("font without color stays in svg", (b"<svg>" + b"<g>" * 50 + b"<font>") * 20, "markup nested 1040 deep"),
    ("options in one select", b"<select>" + b"<option>x" * 20000, "20000 <option>s in one <select>"),
    ("optgroups in one select", b"<select>" + b"<optgroup><option>x" * 10000, "20000 <option>s in one"),
    (
        "attributes on one tag",
        b"<div " + b" ".join(b"a%d=1" % i for i in range(20000)) + b">",
        "20000 attributes",
    ),
    ("too many tags", b"<br>" * 260000, "markup has 260000 tag openings (limit 250000)"),
    ("UTF-16", "\ufeff<html><body>".encode("utf-16-le") + "<div>".encode("utf-16-le") * 5000, "nested 5000"),
]


@pytest.mark.parametrize(
    ("body", "says"), [(b, s) for _, b, s in HOSTILE_MARKUP], ids=[n for n, _, _ in HOSTILE_MARKUP]
)
def test_guard_refuses_markup_that_would_hold_the_parser(body, says):
    with pytest.raises(ParseError) as refused:
        markup_guard.check_markup(body)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def _real_shaped_page() -> bytes:
    return page_bytes(200)


BENIGN_MARKUP = [
    ("an RBC-shaped page of 200 items", _real_shaped_page()),
    ("the stored RBC page", (FIXTURES / "rbc_full_page.html").read_bytes()),
    (
        "an Interfax page (upper-case tags, windows-1251)",
        (FIXTURES / "html_interfax_2015.cp1251.html").read_bytes(),
    ),
    ("500 nested div", b"<div>" * 500),
    ("200 open formatting elements", _open_b(200) + b"x"),
    ("10,000 unclosed <p> and <li>", b"<ul>" + b"<li><p>x" * 5000),
    ("10,000 flat <tr><td>", b"<table>" + b"<tr><td>x" * 5000),
    ("identical <b> left open, closed by a cell", b"<table>" + b"<tr><td><b>x" * 5000),
    ("a country <select>", b"<select>" + b"<option value=x>Country" * 300 + b"</select>"),
    ("svg icons", b"<svg><use href=#a/><path d='M0 0'/></svg>" * 5000),
    ("scripts with < and tags inside", b"<script>if (a<b) document.write('<div><div><div>')</script>" * 5000),
    ("comments with tags inside", b"<!-- <div><div> -->" * 5000),
    ("font with color leaves svg", (b"<svg>" + b"<g>" * 50 + b"<font color=red>") * 20),
    ("a 100 KB attribute value full of spaces", b'<div data-x="' + b"a b " * 25000 + b'">x</div>'),
]


@pytest.mark.parametrize("body", [b for _, b in BENIGN_MARKUP], ids=[n for n, _ in BENIGN_MARKUP])
def test_guard_lets_real_shapes_through(body):
    shape = markup_guard.check_markup(body)
    assert shape.depth <= markup_guard.MAX_DEPTH and shape.work <= markup_guard.MAX_WORK


def test_real_shaped_pages_are_far_from_the_limits():
    """Real pages nest 12-19 deep (see docs/reliability.md): a wide margin under 512."""
    shape = markup_guard.check_markup(_real_shaped_page())
    assert shape.depth < 40 and shape.formatting < 10 and shape.work < markup_guard.MAX_WORK / 1000


def test_rbc_parser_refuses_deep_markup_before_parsing():
    deep = page_bytes().replace(b"<body>", b"<body>" + b"<div>" * 50000, 1)
    with pytest.raises(ParseError, match=r"^markup nested 5\d{4} deep \(limit 512\)"):
        rbc_page.parse_rbc_page(deep, fetched_at=datetime(2024, 11, 25, 12, 0, tzinfo=UTC))


# Tag soup: the guard's depth is never below the parser's (it may be above) --------------------

SOUP = [
    "<div>",
    "</div>",
    "<span>",
    "</span>",
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<a",
    "href=x>",
    "</a>",
    "<li>",
    "</li>",
    "<ul>",
    "</ul>",
    "<table>",
    "</table>",
    "<tr>",
    "<td>",
    "</td>",
    "</tr>",
    "<tbody>",
    "<th>",
    "<caption>",
    "</caption>",
    "<col>",
    "<colgroup>",
    "<svg>",
    "</svg>",
    "<g>",
    "</g>",
    "<g/>",
    "<div/>",
    "<math>",
    "<mi>",
    "</mi>",
    "<foreignObject>",
    "</foreignObject>",
    "<font>",
    "<font",
    "color=red>",
    "</font>",
    "<nobr>",
    "</nobr>",
    "<select>",
    "</select>",
    "<option>",
    "<optgroup>",
    "<h1>",
    "</h1>",
    "<h2>",
    "<dd>",
    "<dt>",
    "<dl>",
    "</dl>",
    "<form>",
    "</form>",
    "<button>",
    "</button>",
    "<template>",
    "</template>",
    "<object>",
    "</object>",
    "<marquee>",
    "</marquee>",
    "<br>",
    "</br>",
    "<img>",
    "<hr>",
    "x",
    "<!--c-->",
    "<script>a<b</script>",
    "<style>p{}</style>",
    "<title>t</title>",
    "<textarea><div></textarea>",
    "<em",
    "class=1>",
    "<em",
    "class=2>",
    "<strong>",
    "</strong>",
    "<body>",
    "</body>",
    "<p/>",
    "<s>",
    "<u>",
    "</u>",
    "<code>",
    "<pre>",
    "</pre>",
    "<noscript>",
    "</noscript>",
    "<ruby>",
    "<rt>",
    "<rp>",
    "<input>",
    "<frameset>",
    "<xmp>x</xmp>",
    "<annotation-xml>",
    "<desc>",
]


def _lexbor_depth(body: bytes) -> int:
    """The deepest element of the tree Lexbor builds, <html> and <body> not counted."""
    deepest = 0
    for node in LexborHTMLParser(body).root.traverse(include_text=False):
        depth, parent = 0, node.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        deepest = max(deepest, depth)
    return deepest - 2


@pytest.mark.parametrize("seed", range(6))
def test_guard_depth_covers_the_parsers_on_tag_soup(seed):
    rng = random.Random(seed)
    for _ in range(60):
        body = "".join(rng.choice(SOUP) for _ in range(rng.randint(20, 200))).encode()
        # -1: a void or empty leaf is a node of its own in the tree, never an open element
        assert markup_guard.measure_markup(body).depth >= _lexbor_depth(body) - 1, body


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
