"""Security: `ticker serve` binds 127.0.0.1 unless told otherwise (and warns when exposed);
Datasette opens the database read-only and accepts no write SQL; configured URLs are http/https
only; secrets in URLs never reach logs or `fetches`; stored page content is never rendered
unescaped."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest
from rbc_markup import render_page, standard_items

from reliability import faultserver as fs
from reliability.support import (
    fetch_count,
    rows,
    run_ticker,
    start_daemon,
    ticker_env,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.reliability

SCRIPT_TITLE = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"
SECRET = "s3cr3t-T0KEN"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(db, *args: str):
    port = _free_port()
    # The server's output goes to a file, never an unread pipe: a pipe that fills (a logged error
    # per refused request) would block the server mid-request.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed with the process, in _stop)
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "serve", "--db", str(db), "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=ticker_env(),
    )
    process.log = log

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/-/versions.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, timeout=30), _output(process) if process.poll() is not None else "not up"
    return process, f"http://127.0.0.1:{port}"


def _output(process) -> str:
    process.log.seek(0)
    return process.log.read()


def _stop(process) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return _output(process)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A database holding a `<script>` title, served by `ticker serve` with its defaults."""
    folder = tmp_path_factory.mktemp("serve")
    db = folder / "ticker.db"
    items = standard_items(8)
    items[0].title = SCRIPT_TITLE
    server = fs.FaultServer().start()
    try:
        url = server.route("/", fs.static(render_page(items).encode()))
        assert run_ticker("fetch", "rbc", "--url", url, "--db", db).returncode == 0
    finally:
        server.stop()
    process, base = _serve(db)
    yield db, base, items[0].id
    err = _stop(process)
    assert "Warning" not in err and "Serving" in err and "127.0.0.1" in err


def test_serve_binds_loopback_by_default(served):
    _, base, _ = served
    port = int(base.rsplit(":", 1)[1])
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1"} - {a for a in addresses if a.startswith("127.")}:
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, port)) != 0, f"reachable on {address}"


def test_serve_warns_when_exposed(served, tmp_path):
    db, _, _ = served
    process, _ = _serve(db, "--host", "0.0.0.0")
    err = _stop(process)
    assert "Warning: listening on 0.0.0.0" in err


@pytest.mark.parametrize(
    "sql",
    [
        "insert into fetches (source, channel, url, started_at, outcome) values ('x','page','u','t','ok')",
        "delete from headlines",
        "update headlines set title = 'owned'",
        "drop table rates",
        "attach database '/tmp/evil.db' as evil",
        "pragma journal_mode=delete",
    ],
)
def test_datasette_accepts_no_write_sql(sql, served):
    db, base, _ = served
    before = rows(db, "SELECT count(*), max(title) FROM headlines")
    fetches = fetch_count(db)
    get = httpx.get(f"{base}/ticker.json", params={"sql": sql}, timeout=30)
    post = httpx.post(f"{base}/ticker", data={"sql": sql}, timeout=30)
    assert get.status_code >= 400 and post.status_code >= 400, (get.text[:300], post.text[:300])
    assert rows(db, "SELECT count(*), max(title) FROM headlines") == before
    assert fetch_count(db) == fetches
    assert rows(db, "SELECT count(*) FROM sqlite_master WHERE name = 'rates'") == [(1,)]


def test_stored_script_title_is_escaped_in_datasette_html(served):
    _, base, headline_id = served
    for path in (f"/ticker/headlines/{headline_id}", "/ticker/headlines", "/ticker/headline_titles"):
        page = httpx.get(base + path, timeout=30)
        assert page.status_code == 200
        assert "&lt;script&gt;alert(" in page.text, path
        assert "<script>alert(" not in page.text and "<img src=x" not in page.text, path


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/x",
        "javascript:alert(1)",
        "gopher://h/",
        "//no-scheme/",
        "http://",
    ],
)
def test_config_urls_are_http_or_https_only(url, tmp_path):
    config = write_config(tmp_path, {"rbc": {"kind": "rbc", "url": url, "every": 60}})
    result = run_ticker("run", "--config", config, timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "http:// or https://" in result.stderr
    assert not (tmp_path / "ticker.db").exists()


def test_fetch_url_is_http_or_https_only(tmp_path):
    result = run_ticker("fetch", "rbc", "--url", "file:///etc/passwd", "--db", tmp_path / "t.db")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "http:// or https://" in result.stderr and "root:" not in result.stderr
    assert not (tmp_path / "t.db").exists()  # refused before anything is opened or fetched


def test_secrets_in_urls_never_reach_logs_or_fetches(fault_server, tmp_path):
    """A source URL with user:password@ and an alert URL with a token, through failing polls."""
    fault_server.route("/feed", fs.static(b"down", "503 Service Unavailable"))
    fault_server.route("/hook", fs.static(b"{}", "500 Internal Server Error", "application/json"))
    source_url = f"http://reader:{SECRET}@127.0.0.1:{fault_server.port}/feed?api_key={SECRET}"
    alert_url = f"json://127.0.0.1:{fault_server.port}/hook?token={SECRET}"
    config = write_config(
        tmp_path,
        {"rbc": {"kind": "rbc", "url": source_url, "every": 0.2}},
        extra=f'\n[alerts]\nurls = ["{alert_url}"]\nfail_after = 1\n',
    )
    db = tmp_path / "ticker.db"
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log, args=["--log-level", "debug"])
    try:
        assert wait_for(lambda: fetch_count(db) >= 2, timeout=30), log.read_text()
        time.sleep(0.5)  # let the alert be attempted
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert fault_server.hits.get("/hook", 0) >= 1  # the alert with the token was really sent
    fetch_cli = run_ticker("fetch", "rbc", "--url", source_url, "--db", db)
    assert fetch_cli.returncode == 1
    assert SECRET not in log.read_text()
    assert SECRET not in fetch_cli.stderr
    stored = rows(db, "SELECT url, error, warning FROM fetches") + rows(db, "SELECT * FROM sources")
    assert stored and all(SECRET not in str(value) for row in stored for value in row)
    dumped = "\n".join(sqlite_dump(db))
    assert SECRET not in dumped


def sqlite_dump(db) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://user:pw@host:8080/p?q=1", "http://***@host:8080/p?q=1"),
        ("https://h/x?token=abc&from=main&api_key=zz", "https://h/x?token=***&from=main&api_key=***"),
        ("https://www.rbc.ru/", "https://www.rbc.ru/"),  # real address, text only
    ],
)
def test_redact_url(url, kept):
    from ticker.core.base import redact_url

    assert redact_url(url) == kept


HOSTILE_LINKS = {
    0: "javascript:alert(document.cookie)",
    1: " JaVaScRiPt:alert(1)",
    2: "java\nscript:alert(1)",
    3: "data:text/html;base64,PHNjcmlwdD4=",
    4: "vbscript:msgbox(1)",
    5: "file:///etc/passwd",
    6: "https://www.rbc.ru/a\nInjected: a line of its own",  # real address, text only
    7: "https://www.rbc.ru/a\x1b[31mred",  # real address, text only
}


def test_only_http_links_are_stored_and_never_a_control_character(fault_server, tmp_path):
    """Hostile hrefs on a polled page: the headlines are stored, their `url` is NULL (or an http(s)
    address without control characters), and the fetch's warning says why."""
    items = standard_items(10)
    for index, href in HOSTILE_LINKS.items():
        items[index].href = href
    url = fault_server.route("/", fs.static(render_page(items).encode()))
    db = tmp_path / "ticker.db"
    result = run_ticker("fetch", "rbc", "--url", url, "--db", db)
    assert result.returncode == 0, result.stderr
    stored = dict(rows(db, "SELECT id, url FROM headlines"))
    assert len(stored) == 10
    for index in range(6):
        assert stored[items[index].id] is None
    assert stored[items[6].id] == "https://www.rbc.ru/aInjected:%20a%20line%20of%20its%20own"
    assert stored[items[7].id] is None
    assert all(
        address is None
        or (address.startswith("https://") and not any(ord(c) < 0x20 or c == " " for c in address))
        for address in stored.values()
    )
    (warning,) = rows(db, "SELECT warning FROM fetches")[0]
    assert (
        f"item {items[0].id}: link 'javascript:alert(document.cookie)' is not an http(s) address" in warning
    )
    assert "\n" not in warning and "\x1b" not in warning
