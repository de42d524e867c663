"""Network and server faults against a real loopback server, through `ticker fetch` run as a
subprocess: each ends as one `fetches` row with the right outcome and a one-line error, a
one-line `Error:` on stderr, and no change to the history a good fetch stored before it."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reliability import faultserver as fs
from reliability.faultserver import FaultServer
from reliability.support import history, last_fetch, page_bytes, rows, run_ticker, ticker_env

pytestmark = pytest.mark.reliability

DDOS_GUARD_PAGE = b"""<!DOCTYPE html><html><head><title>DDOS-GUARD</title>
<script src="/.well-known/ddos-guard/check?context=free_splash"></script></head>
<body><div>Checking your browser before accessing the site.</div></body></html>"""
QRATOR_STUB = b'<html><head><script src="/__qrator/qauth.js" async defer></script></head><body></body></html>'


@dataclass(frozen=True)
class Fault:
    """One fault: how the server misbehaves and what `fetches` must say about it."""

    name: str
    serve: Callable[[FaultServer], fs.Handler | str]  # a handler, or a full URL to fetch instead
    outcome: str
    error: str  # a piece of the one-line error
    status: int | None = None
    retry_after_s: int | None = None


def _closed_port_url(server: FaultServer) -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}/"


def _redirect_loop(server: FaultServer) -> fs.Handler:
    server.route("/loop2", fs.redirect(server.url("/fault")))
    return fs.redirect(server.url("/loop2"))


FAULTS = [
    Fault("connection refused", _closed_port_url, "network_error", ": connection refused (nothing listens"),
    Fault(
        "DNS failure",
        lambda s: "http://nonexistent.invalid/",
        "network_error",
        "DNS lookup failed for nonexistent.invalid: the name does not resolve",
    ),
    Fault("accepts, never answers", fs.never_answer, "network_error", "timeout"),
    Fault("headers, then a stalled body", fs.headers_then_stall, "network_error", "timeout"),
    Fault("a body that drips forever", lambda s: fs.drip(s, 0.3), "network_error", "timeout", 200),
    Fault("headers that drip forever", lambda s: fs.drip_headers(s, 0.3), "network_error", "timeout"),
    Fault(
        "Content-Length larger than sent",
        lambda s: fs.cut_short(page_bytes()[:5000], 90000),
        "network_error",
        "cut short",
    ),
    Fault(
        "HTTP 500", lambda s: fs.static(b"oops", "500 Internal Server Error"), "http_error", "HTTP 500", 500
    ),
    Fault(
        "HTTP 502",
        lambda s: fs.static(b"<html>bad gateway</html>", "502 Bad Gateway"),
        "http_error",
        "HTTP 502",
        502,
    ),
    Fault("HTTP 503", lambda s: fs.static(b"", "503 Service Unavailable"), "http_error", "HTTP 503", 503),
    Fault(
        "HTTP 429 with Retry-After",
        lambda s: fs.static(b"slow down", "429 Too Many Requests", extra={"Retry-After": "120"}),
        "http_error",
        "Retry-After 120s",
        429,
        120,
    ),
    *[
        Fault(
            f"HTTP 429 with Retry-After {name}",
            lambda s, asked=asked: fs.static(b"", "429 Too Many Requests", extra={"Retry-After": asked}),
            "http_error",
            says,
            429,
            seconds,
        )
        for name, asked, says, seconds in [
            ("of 25 digits", "1" * 25, "more than 315360000s, read as 315360000s", 315360000),
            ("in year 9999", "Fri, 31 Dec 9999 23:59:59 GMT", "9999 23:59:59 GMT': more than", 315360000),
            ("negative", "-5", "Retry-After '-5' ignored", None),
            ("1.5", "1.5", "Retry-After '1.5': 2s", 2),
            ("garbage", "soon, please", "'soon, please' ignored: neither seconds nor an HTTP date", None),
        ]
    ],
    Fault(
        "304 to a request that sent no validators",
        lambda s: fs.static(b"", "304 Not Modified"),
        "http_error",
        "HTTP 304 Not Modified to a request that sent no validators",
        304,
    ),
    Fault(
        "HTTP 429 without Retry-After",
        lambda s: fs.static(b"", "429 Too Many Requests"),
        "http_error",
        "HTTP 429",
        429,
    ),
    Fault("redirect loop", _redirect_loop, "network_error", "too many redirects"),
    Fault(
        "redirect to ftp://",
        lambda s: fs.redirect("ftp://127.0.0.1/page.html"),
        "network_error",
        "unsupported scheme",
    ),
    Fault(
        "redirect to file://",
        lambda s: fs.redirect("file:///etc/passwd"),
        "network_error",
        "unsupported scheme",
    ),
    Fault("200 DDoS-Guard challenge", lambda s: fs.static(DDOS_GUARD_PAGE), "blocked", "bot challenge", 200),
    Fault(
        "401 Qrator challenge",
        lambda s: fs.static(QRATOR_STUB, "401 Unauthorized"),
        "blocked",
        "challenge",
        401,
    ),
    Fault("200 with an empty body", lambda s: fs.static(b""), "parse_error", "no headline ticker", 200),
    Fault(
        "200, page cut before </html>",
        lambda s: fs.static(page_bytes()[:-2000]),
        "parse_error",
        "truncated",
        200,
    ),
    Fault(
        "200, the ticker inside 50,000 nested <div>",
        lambda s: fs.static(page_bytes().replace(b"<body>", b"<body>" + b"<div>" * 50_000, 1)),
        "parse_error",
        "parse took longer than 3 s: stopped",
        200,
    ),
    Fault(
        "200, 100,000 <option> in one <select>",
        lambda s: fs.static(page_bytes().replace(b"<body>", b"<body><select>" + b"<option>x" * 100_000, 1)),
        "parse_error",
        "parse took longer than 3 s: stopped",
        200,
    ),
    Fault(
        "200 MB body, no length",
        lambda s: fs.huge(200 << 20, declare_length=False),
        "network_error",
        "body refused",
        200,
    ),
    Fault(
        "200 MB body, declared",
        lambda s: fs.huge(200 << 20, declare_length=True),
        "network_error",
        "Content-Length",
        200,
    ),
    Fault(
        "gzip bomb (1 GiB of zeros)", lambda s: fs.gzip_bomb(1 << 30), "network_error", "body refused", 200
    ),
]


_SEEDED: dict[str, Path] = {}


@pytest.fixture
def seeded(fault_server, tmp_path, tmp_path_factory):
    """A database holding one good fetch of a 14-item page (the history faults must not touch):
    recorded once by a real `ticker fetch`, then copied for each test (the suite's time)."""
    if "db" not in _SEEDED:
        template = tmp_path_factory.mktemp("seeded") / "ticker.db"
        good = fault_server.route("/good", fs.static(page_bytes()))
        result = run_ticker("fetch", "rbc", "--url", good, "--db", template)
        assert result.returncode == 0, result.stderr
        _SEEDED["db"] = template
    db = tmp_path / "ticker.db"
    for suffix in ("", "-wal"):
        source = Path(f"{_SEEDED['db']}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{db}{suffix}")
    return db


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fetch_fault_is_recorded_and_history_kept(fault: Fault, fault_server, seeded):
    served = fault.serve(fault_server)
    url = served if isinstance(served, str) else fault_server.route("/fault", served)
    before = history(seeded)

    started = time.monotonic()
    result = run_ticker("fetch", "rbc", "--url", url, "--db", seeded)
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: rbc/page: ")
    assert fault.outcome in lines[0] and fault.error in lines[0]
    row = last_fetch(seeded)
    assert row["id"] == 2 and row["outcome"] == fault.outcome
    assert fault.error in row["error"] and "\n" not in row["error"] and len(row["error"]) <= 500
    assert row["status"] == fault.status
    assert row["retry_after_s"] == fault.retry_after_s
    assert row["snapshot_id"] is None and row["items_found"] is None
    assert history(seeded) == before
    # Bounded: connect 1 s + read 1 s + total 3 s with the test's settings, never the defaults.
    assert elapsed < 20


def _max_rss_mb_of(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    """Run `ticker ARGS` under a fresh parent and return the child's peak RSS (RUSAGE_CHILDREN)."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'rss_mb': peak, 'rc': done.returncode, 'stderr': done.stderr}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "ticker", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    report = json.loads(result.stdout)
    return report["rss_mb"], subprocess.CompletedProcess(args, report["rc"], "", report["stderr"])


def _stacked_bomb(decoded_size: int) -> fs.Handler:
    """`gzip(gzip(zeros))` labelled `Content-Encoding: gzip, gzip`: 400 MB is 822 bytes on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    wire = compressor.compress(fs.gzip_bomb_bytes(decoded_size)) + compressor.flush()
    return fs.static(wire, extra={"Content-Encoding": "gzip, gzip"})


@pytest.mark.parametrize(
    "make_handler",
    [
        lambda: fs.huge(200 << 20, declare_length=False),
        lambda: fs.gzip_bomb(1 << 30),
        lambda: _stacked_bomb(400 << 20),
    ],
    ids=["200 MB streamed", "gzip bomb", "gzip, gzip bomb"],
)
def test_huge_bodies_are_refused_with_memory_bounded(make_handler, fault_server, tmp_path):
    url = fault_server.route("/big", make_handler())
    peak_mb, result = _max_rss_mb_of(
        ["fetch", "rbc", "--url", url, "--db", str(tmp_path / "t.db")], ticker_env()
    )
    assert result.returncode == 1 and "body refused" in result.stderr
    # The cap is 20 MB; inflating a whole network read of a bomb at once used to peak near 160 MB.
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"
    print(f"\nreliability: peak RSS {peak_mb:.0f} MB")


def _titles(db) -> list[str]:
    return [title for (title,) in rows(db, "SELECT title FROM headlines ORDER BY id")]


CP1251_META = page_bytes(encoding="windows-1251").replace(b"charset=utf-8", b"charset=windows-1251")
CP1251_LYING = page_bytes(encoding="windows-1251")  # the page's own <meta> says utf-8 too


@pytest.mark.parametrize(
    ("body", "content_type", "warning"),
    [
        (CP1251_META, "text/html; charset=utf-8", "not valid utf-8"),
        (CP1251_LYING, "text/html; charset=utf-8", "windows-1251"),
        (CP1251_LYING, "text/html", "windows-1251"),
        (page_bytes(), "text/html; charset=windows-1251", "utf-8"),
        (page_bytes(), "text/html; charset=koi8-r", "utf-8"),
        (page_bytes(), "text/html; charset=no-such-charset", "unknown charset"),
        (page_bytes().replace(b"charset=utf-8", b""), "text/html", None),
    ],
    ids=[
        "cp1251 labelled utf-8, meta right",
        "cp1251 labelled utf-8 everywhere",
        "cp1251, no header charset, meta utf-8",
        "utf-8 labelled windows-1251",
        "utf-8 labelled koi8-r",
        "unknown charset label",
        "no charset anywhere",
    ],
)
def test_wrong_or_missing_charset_keeps_titles(body, content_type, warning, fault_server, seeded):
    """The same headlines under a wrong label decode to the same titles: no invented retitling."""
    before = _titles(seeded)
    body = b"<!-- another poll -->\n" + body  # not byte-identical to the seed: it gets parsed
    url = fault_server.route("/charset", fs.static(body, content_type=content_type))
    result = run_ticker("fetch", "rbc", "--url", url, "--db", seeded)
    assert result.returncode == 0, result.stderr
    row = last_fetch(seeded)
    assert row["outcome"] == "ok" and row["items_found"] == 14
    assert _titles(seeded) == before
    assert rows(seeded, "SELECT count(*) FROM title_changes") == [(0,)]
    if warning:
        assert warning in (row["warning"] or ""), row["warning"]


def test_invalid_utf8_bytes_in_a_title_are_refused_not_stored(fault_server, seeded):
    """Bytes no encoding reads, inside a title: storing "Заголовок новости \ufffd\ufffd 3" would
    invent a title version, and a rewording at the next clean poll. The poll is a parse_error and
    the history is as it was."""
    before = rows(seeded, "SELECT count(*) FROM headline_titles")
    body = page_bytes().replace("номер 3".encode(), b"\xff\xfe 3", 1)
    url = fault_server.route("/bad-bytes", fs.static(body))
    result = run_ticker("fetch", "rbc", "--url", url, "--db", seeded)
    assert result.returncode == 1
    row = last_fetch(seeded)
    assert row["outcome"] == "parse_error" and "undecodable bytes in 1 title" in row["error"]
    assert rows(seeded, "SELECT count(*) FROM headline_titles") == before
    assert rows(seeded, "SELECT count(*) FROM title_changes") == [(0,)]
    # Undecodable bytes outside the titles (a script, a counter) leave the poll ok.
    elsewhere = page_bytes().replace(b"</body>", b"<p>\xff\xfe</p></body>", 1)
    url = fault_server.route("/bad-bytes-elsewhere", fs.static(elsewhere))
    assert run_ticker("fetch", "rbc", "--url", url, "--db", seeded).returncode == 0
    row = last_fetch(seeded)
    assert row["outcome"] == "ok" and row["items_found"] == 14


DAEMON_FAULTS = {
    "refused": (_closed_port_url, "network_error"),
    "silent": (fs.never_answer, "network_error"),
    "stalled": (fs.headers_then_stall, "network_error"),
    "short": (lambda s: fs.cut_short(page_bytes()[:5000], 90000), "network_error"),
    "unavailable": (lambda s: fs.static(b"", "503 Service Unavailable"), "http_error"),
    "throttled": (
        lambda s: fs.static(b"", "429 Too Many Requests", extra={"Retry-After": "3600"}),
        "http_error",
    ),
    "ftp-redirect": (lambda s: fs.redirect("ftp://127.0.0.1/x"), "network_error"),
    "challenge": (lambda s: fs.static(DDOS_GUARD_PAGE), "blocked"),
    "bomb": (lambda s: fs.gzip_bomb(1 << 28), "network_error"),
    "deep": (lambda s: fs.static(b"<html><body>" + b"<div>" * 100_000 + b"</body></html>"), "parse_error"),
    "good": (lambda s: fs.static(page_bytes()), "ok"),
}


def test_daemon_records_every_fault_and_keeps_running(fault_server, tmp_path):
    from reliability.support import fetch_count, start_daemon, wait_for, write_config

    sources = {}
    for name, (serve, _) in DAEMON_FAULTS.items():
        served = serve(fault_server)
        url = served if isinstance(served, str) else fault_server.route(f"/{name}", served)
        sources[name] = {"kind": "rbc", "url": url, "every": 0.3}
    config = write_config(tmp_path, sources)
    db, log = tmp_path / "ticker.db", tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    try:
        # Every source recorded at least twice (slow faults take their 1 s read timeout).
        assert wait_for(
            lambda: (
                fetch_count(db) > 0
                and len(rows(db, "SELECT source FROM fetches GROUP BY source HAVING count(*) >= 2"))
                >= len(sources) - 1
            ),
            timeout=60,
        ), log.read_text()[-3000:]
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert daemon.returncode == 0
    text = log.read_text()
    assert "Traceback" not in text and all(len(line) < 700 for line in text.splitlines())
    outcomes = {
        name: {o for (o,) in rows(db, "SELECT DISTINCT outcome FROM fetches WHERE source = ?", (name,))}
        for name in sources
    }
    assert outcomes.pop("good") == {"ok", "unchanged"}  # the same page again is "unchanged"
    assert outcomes == {name: {outcome} for name, (_, outcome) in DAEMON_FAULTS.items() if name != "good"}
    # Retry-After 3600 s: the daemon asked once and waits, it does not hammer the server.
    assert rows(db, "SELECT count(*) FROM fetches WHERE source = 'throttled'") == [(1,)]
    assert rows(db, "SELECT DISTINCT source FROM headlines") == [("good",)]
