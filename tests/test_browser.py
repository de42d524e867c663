"""A real headless Chromium against `ticker serve`: the index, a canned query, search, and the
charts page (vega-embed draws), with a `<script>` title shown as text, never run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers_front import XSS_TITLE, build_history

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    db_path = tmp_path / "ticker.db"
    build_history(db_path)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "serve", "--db", str(db_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/-/versions.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _out, err = process.communicate()
            pytest.fail(f"ticker serve did not start: {err}")
        time.sleep(0.1)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    assert "Warning" not in (process.stderr.read() if process.stderr else "")  # bound to 127.0.0.1


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            yield context.new_page()
        finally:
            browser.close()


def _chart_box(page, chart: str) -> dict:
    element = page.wait_for_selector(f"#chart-{chart} canvas, #chart-{chart} svg", timeout=15000)
    return element.bounding_box()


def test_index_query_search_and_charts(server: str, page, tmp_path: Path) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{server}/")
    assert "ticker" in page.title()
    assert page.locator("a[href$='/-/dashboards/ticker']").count() >= 1

    page.goto(f"{server}/ticker/ticker_at?at=2024-11-25T13:11")
    page.wait_for_selector("table.rows-and-columns")
    cells = page.locator("table.rows-and-columns td").all_inner_texts()
    assert XSS_TITLE in cells  # shown as text
    assert "EUR for 2024-11-26: 108.87 (+1.45)" in cells
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(tmp_path / "ticker_at.png"), full_page=True)

    page.goto(f"{server}/ticker/headline_titles?_search=оштрафовал")
    page.wait_for_selector("table.rows-and-columns")
    assert XSS_TITLE in page.locator("table.rows-and-columns td").all_inner_texts()
    assert page.evaluate("window.__pwned") is None

    page.goto(f"{server}/-/dashboards/ticker")
    for chart in ("eur", "usd", "per_hour"):
        box = _chart_box(page, chart)
        assert box is not None and box["width"] > 50 and box["height"] > 50, chart
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 5000
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []
