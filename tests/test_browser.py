"""A real headless Chromium against `ticker serve` on a history written by the real writers: the
ticker at a moment (three instants, poll-by-poll steps), a headline's life (diff, timeline), the
questions on the front page, the charts; hostile titles and links shown as text, never run.

One server and one browser for the module; screenshots are kept in the module's tmp dir."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from helpers_front import STORY_ID, STORY_TITLES, TITLES, XSS_TITLE, build_history, build_story, hid

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REWORDED = "Путин провел совещание с Совбезом"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@contextmanager
def _serving(db_path: Path) -> Iterator[str]:
    """`ticker serve` on db_path as a real process; yields its base address."""
    port = _free_port()
    # Output to a file, never an unread pipe: a pipe that fills would block the server.
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below, with the server)
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "serve", "--db", str(db_path), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
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
            process.wait()
            log.seek(0)
            pytest.fail(f"ticker serve did not start: {log.read()}")
        time.sleep(0.1)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.seek(0)
    output = log.read()
    log.close()
    assert "Warning" not in output and "Serving" in output  # bound to 127.0.0.1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("history") / "ticker.db"
    build_history(db_path)
    with _serving(db_path) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    assert page.evaluate("window.__pwned") is None  # no script from the data ran
    assert page.dialogs == []
    context.close()


def _items(page) -> list[dict]:
    """The list on /-/ticker: id, title and marks of each item, in on-page order."""
    return page.eval_on_selector_all(
        "li.item",
        """items => items.map(li => ({
            id: li.dataset.id,
            title: li.querySelector('.title').innerText.trim(),
            shown: li.querySelector('.shown').innerText.trim(),
            marks: [...li.querySelectorAll('.mark')].map(m => m.innerText.trim()),
        }))""",
    )


def test_ticker_at_three_instants(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T13:01")  # Moscow: the 10:00Z poll
    before = _items(page)
    assert [i["id"] for i in before] == [hid(1), hid(2), hid(3), hid(4)]
    assert before[0]["title"] == TITLES[1]  # as it read then
    assert before[0]["marks"] == ["new at this poll", "reworded later"]
    assert before[1]["marks"] == ["new at this poll", "pulled later"]
    assert before[0]["shown"] == "2024-11-25 12:55:00 MSK"
    assert page.locator(".poll-facts").inner_text().startswith("As the poll of 2024-11-25 13:00:00 MSK")
    assert page.locator(".rate").all_inner_texts() == ["EUR for 2024-11-26: 108.87 (+1.45)",
                                                       "USD for 2024-11-26: 103.79 (+1.21)"]  # fmt: skip
    assert page.locator("time").first.get_attribute("title") == "UTC 2024-11-25T10:00:00Z"
    page.screenshot(path=str(shots / "ticker_before_rewording.png"), full_page=True)

    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T13:03")  # after the rewording
    after = _items(page)
    assert [i["id"] for i in after] == [hid(5), hid(1), hid(2), hid(3)]
    assert after[1]["title"] == REWORDED and after[1]["marks"] == ["reworded at this poll"]
    assert after[0]["marks"] == ["new at this poll"]
    assert after[2]["marks"] == ["pulled later"]
    page.screenshot(path=str(shots / "ticker_after_rewording.png"), full_page=True)

    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T10:09:00Z")  # after the pull, during an outage
    pulled = _items(page)
    assert [i["id"] for i in pulled] == [hid(5), hid(1), hid(3)]
    assert all(i["marks"] == [] for i in pulled)
    assert "1 network_error" in page.locator(".failed").inner_text()
    assert "1 blocked" in page.locator(".failed").inner_text()
    page.screenshot(path=str(shots / "ticker_after_pull.png"), full_page=True)


def test_stepping_poll_by_poll(server: str, page) -> None:
    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T13:01")
    seen = []
    for _ in range(4):
        page.click("#next-poll")
        seen.append(page.locator(".poll-facts strong").inner_text())
    assert seen == [
        "2024-11-25 13:02:00 MSK",
        "2024-11-25 13:04:00 MSK",
        "2024-11-25 13:10:00 MSK",
        "2024-11-25 13:12:00 MSK",
    ]  # fmt: skip  (the failed polls are no steps)
    assert [i["id"] for i in _items(page)] == [hid(6), hid(5), hid(1), hid(2), hid(3)]
    page.click("#next-change")  # the unchanged 13:12 poll is no change: next day
    assert page.locator(".poll-facts strong").inner_text() == "2024-11-26 13:00:00 MSK"
    page.click("#previous-poll")
    assert page.locator(".poll-facts strong").inner_text() == "2024-11-25 13:12:00 MSK"
    # the form: pick a Moscow time and a source
    page.fill("#at", "2024-11-25T13:05")
    page.click("input[type=submit]")
    assert page.locator(".poll-facts strong").inner_text() == "2024-11-25 13:04:00 MSK"
    assert "source=rbc" in page.url


def test_headline_page_diff_and_timeline(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T13:03")
    page.click(f"li.item[data-id='{hid(1)}'] a.history")
    assert page.url.endswith(f"/-/headline/{hid(1)}")
    assert page.locator("h1.headline-title").inner_text() == REWORDED
    versions = page.locator("li.version")
    assert versions.count() == 2
    assert versions.nth(1).locator("ins").inner_text().strip() == "с Совбезом"
    assert versions.nth(1).locator("del").count() == 0
    assert "first shown 2024-11-25 13:02:00 MSK" in versions.nth(1).inner_text()
    page.screenshot(path=str(shots / "headline_reworded.png"), full_page=True)

    page.goto(f"{server}/-/headline/{hid(2)}")  # pulled, came back, then lost in a gap
    presences = page.locator("tr.presence")
    assert presences.count() == 2
    assert presences.nth(0).locator(".exit-reason").inner_text() == "pulled"
    assert (
        presences.nth(0).locator(".positions").inner_text().startswith("2 at 2024-11-25 13:00:00 MSK → 3 at")
    )
    assert presences.nth(1).locator(".exit-reason").inner_text().startswith("unknown")
    assert "ticker cite " + hid(2) in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "headline_pulled.png"), full_page=True)


def test_hostile_title_and_link_render_as_text(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/-/ticker?source=rbc&at=2024-11-25T13:11")
    first = _items(page)[0]
    assert first["id"] == hid(6) and first["title"] == XSS_TITLE
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(f"{server}/-/headline/{hid(6)}")
    assert page.locator("h1.headline-title").inner_text() == XSS_TITLE
    assert page.locator(".unsafe-url").inner_text() == "javascript:window.__pwned = 2"
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(f"{server}/ticker/ticker_at?at=2024-11-25T13:11&source=rbc")
    page.wait_for_selector("table.rows-and-columns")
    cells = page.locator("table.rows-and-columns td").all_inner_texts()
    assert XSS_TITLE in cells
    assert page.locator("a[href^='javascript:']").count() == 0
    assert page.locator(f"td a[href='/-/headline/{hid(6)}']").count() == 1  # ids link to their page
    page.screenshot(path=str(shots / "ticker_at_query.png"), full_page=True)


def test_front_page_search_and_charts(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/")
    assert "ticker" in page.title()
    page.click("text=The ticker at a moment")
    assert "/-/ticker" in page.url and _items(page)  # now: the latest poll
    page.goto(f"{server}/")
    assert "belong to their outlets" in page.locator("body").inner_text()
    page.screenshot(path=str(shots / "front_page.png"), full_page=True)

    page.goto(f"{server}/ticker/headline_titles")  # the table's search box: the search page
    assert "Rows not counted" in page.locator("p.ticker-uncounted").inner_text()
    page.fill("#_search", "оштрафовал")
    page.click("form.filters input[type=submit]")
    assert "/-/search?q=" in page.url
    assert page.locator("tr.hit .title a").all_inner_texts() == [XSS_TITLE]
    page.goto(f"{server}/ticker/headline_titles?_search=оштрафовал&_sort=id")  # with a sort: Datasette's
    page.wait_for_selector("table.rows-and-columns")
    assert XSS_TITLE in page.locator("table.rows-and-columns td").all_inner_texts()

    page.goto(f"{server}/-/dashboards/ticker")
    for chart in ("eur", "usd", "per_hour"):
        element = page.wait_for_selector(f"#chart-{chart} canvas, #chart-{chart} svg", timeout=15000)
        box = element.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 50, chart
        page.wait_for_selector(f"#chart-{chart} svg .role-axis-label text")
        labels = page.eval_on_selector_all(
            f"#chart-{chart} svg .role-axis-label text",
            "texts => texts.map(t => t.textContent).filter(t => t)",
        )
        assert labels and len(labels) == len(set(labels)), (chart, labels)  # no repeated tick label
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert (shots / "dashboard.png").stat().st_size > 5000


def test_the_editor_sees_18_57_and_a_reworded_pulled_headline(tmp_path: Path, page, shots: Path) -> None:
    """The issue's "done when": the ticker at 18:57 on 25 November, then one headline's life."""
    build_story(tmp_path / "ticker.db")
    with _serving(tmp_path / "ticker.db") as base:
        page.goto(f"{base}/")
        page.click("text=The ticker at a moment")
        page.select_option("#source", "rbc")
        page.fill("#at", "2024-11-25T18:57")
        page.click("input[type=submit]")
        assert page.locator(".poll-facts strong").inner_text() == "2024-11-25 18:54:00 MSK"
        assert page.title() == "The ticker at a moment: rbc, 2024-11-25 18:54:00 MSK"  # the tab, too
        story = _items(page)[0]
        assert (story["id"], story["title"]) == (STORY_ID, STORY_TITLES[1])
        assert story["marks"] == ["reworded at this poll", "pulled later"]
        page.screenshot(path=str(shots / "editor_ticker_18_57.png"), full_page=True)
        page.click(f"li.item[data-id='{STORY_ID}'] a.history")
        assert [v.strip() for v in page.locator("li.version ins").all_inner_texts()] == [
            "впервые с 2022 года"
        ]
        presence = page.locator("tr.presence")
        assert presence.count() == 1
        assert presence.locator(".exit-reason").inner_text() == "pulled"
        assert "2024-11-25 18:58:00 MSK" in presence.inner_text()  # left then
        page.screenshot(path=str(shots / "editor_headline_life.png"), full_page=True)


def test_search_from_the_front_page(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/")
    page.fill("#search-q", "провел")
    page.click(".ticker-search input[type=submit]")
    assert "/-/search?q=" in page.url
    hits = page.locator("tr.hit")
    assert hits.count() == 2
    assert hits.nth(0).locator(".outlet").inner_text() == "rbc"
    assert hits.nth(0).locator(".title a").inner_text() == REWORDED
    assert hits.nth(1).locator(".latest").inner_text() == f"now reads: {REWORDED}"
    assert hits.nth(0).locator(".first").inner_text() == "2024-11-25 13:02:00 MSK"
    page.screenshot(path=str(shots / "search.png"), full_page=True)
    hits.nth(1).locator("a.history").click()
    assert page.url.endswith(f"/-/headline/{hid(1)}")
    page.goto(f"{server}/-/search?q=" + "оштрафовал")  # a hostile title is text
    assert page.locator("tr.hit .title a").inner_text() == XSS_TITLE
    page.fill("#search-q", "ЦБ")
    page.click(".ticker-search input[type=submit]")
    assert "at least 3 characters" in page.locator(".message-error").inner_text()


def test_today_page(server: str, page, shots: Path) -> None:
    page.goto(f"{server}/")
    page.click("text=The last 24 hours")
    assert page.url.endswith("/-/today")
    page.goto(f"{server}/-/today?until=2024-11-25T14:00")
    row = page.locator("tr.outlet-count[data-outlet=rbc]")
    assert [row.locator(f".{kind}").inner_text() for kind in ("added", "reworded", "pulled")] == [
        "6",
        "1",
        "1",
    ]
    section = page.locator("section.outlet[data-outlet=rbc]")
    assert section.locator(".today-pulled li").inner_text().startswith("2024-11-25 13:04:00 MSK")
    assert TITLES[2] in section.locator(".today-pulled li").inner_text()
    assert XSS_TITLE in section.locator(".today-added").inner_text()
    page.screenshot(path=str(shots / "today.png"), full_page=True)
    section.locator(".today-reworded a").click()
    assert page.url.endswith(f"/-/headline/{hid(1)}")


def test_feed_is_linked_and_reads_as_atom(server: str, page, shots: Path) -> None:
    import feedparser

    page.goto(f"{server}/")
    head_link = page.locator("link[rel=alternate][type='application/atom+xml']").get_attribute("href")
    assert head_link == page.locator("a.feed-link").get_attribute("href") == "/-/changes.atom"
    response = page.request.get(f"{server}{head_link}")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.body())
    assert not feed.bozo and [e.tags[0].term for e in feed.entries] == ["pulled", "reworded"]
    assert feed.entries[0].link == f"{server}/-/headline/{hid(2)}"
    page.goto(feed.entries[0].link)  # an entry leads to the headline's life
    assert page.locator("h1.headline-title").inner_text() == TITLES[2]
    page.goto(f"{server}{head_link}?event=new,pulled,reworded")
    assert "Путин провел совещание с Совбезом" in page.content()
    page.screenshot(path=str(shots / "feed.png"), full_page=True)
