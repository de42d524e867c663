"""The newsroom's pages in Datasette, in-process on a real history of two outlets (rbc's page,
tass's feed): title search with the outlet of each hit, the last 24 hours per outlet, the
default source of /-/ticker, failed fetches linked to what the site answered, hostile titles
shown as text and bad parameters answered with a 400 that says why."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from helpers_front import XSS_TITLE, _row, hid, newsroom_datasette, tass_id

from ticker.core.base import Headline, TickerPage
from ticker.db.schema import connect, write_transaction
from ticker.db.writes import save_ticker

ESCAPED_SCRIPT = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"


@pytest.fixture
def ds(db_path: Path):
    return newsroom_datasette(db_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The same history for the tests that only read it (built once)."""
    return newsroom_datasette(tmp_path_factory.mktemp("history") / "ticker.db")


def _hits(page: str) -> list[tuple[str, str, str]]:
    """(outlet, headline id, title version) of each search hit, in page order."""
    rows = re.findall(
        r'<tr class="hit" data-id="([^"]+)">\s*<td class="outlet">([^<]*)</td>\s*<td class="title"><a [^>]*>([^<]*)</a>',
        page,
    )
    return [(outlet, headline_id, html.unescape(title)) for headline_id, outlet, title in rows]


async def test_search_lists_each_title_version_with_its_outlet(shared) -> None:
    response = await shared.client.get("/-/search", params={"q": "провел"})
    assert response.status_code == 200
    assert _hits(
        response.text
    ) == [  # the latest recorded first, across outlets (tass was recorded after rbc)
        ("tass", tass_id(1), "Лавров провел переговоры с Ваном"),
        ("tass", tass_id(1), "Лавров провел переговоры"),
        ("rbc", hid(1), "Путин провел совещание с Совбезом"),
        ("rbc", hid(1), "Путин провел совещание"),
    ]
    page = response.text
    assert f'href="/-/headline/{hid(1)}"' in page
    # first and last shown, in Moscow time and labelled, UTC in the tooltip
    assert (
        '<time datetime="2024-11-25T10:02:00Z" title="UTC 2024-11-25T10:02:00Z">2024-11-25 13:02:00 MSK</time>'
        in page
    )
    assert "now reads: Путин провел совещание с Совбезом" in page  # an older version says what it became
    only_tass = (await shared.client.get("/-/search", params={"q": "ПРОВЕЛ", "source": "tass"})).text
    assert [outlet for outlet, _id, _title in _hits(only_tass)] == ["tass", "tass"]


async def test_search_words_in_any_order_short_words_and_any_text(shared) -> None:
    both = (await shared.client.get("/-/search", params={"q": "совбезом путин"})).text
    assert [title for *_rest, title in _hits(both)] == ["Путин провел совещание с Совбезом"]
    short = (await shared.client.get("/-/search", params={"q": "ЦБ ставку"})).text  # "ЦБ": under 3 letters
    assert [title for *_rest, title in _hits(short)] == ["ЦБ сохранил ключевую ставку"]
    assert _hits((await shared.client.get("/-/search", params={"q": "Минфин ЦБ"})).text) == []
    for text in ('""""', 'ставку" OR "снег', "NEAR(путин совещание)", "*провел", "title:снег", "(a) AND -b"):
        response = await shared.client.get("/-/search", params={"q": text})
        assert response.status_code == 200, text  # FTS syntax in user text is only text
        assert "message-error" not in response.text
    assert len(_hits((await shared.client.get("/-/search", params={"q": 'ставку" OR "снег'})).text)) == 0


async def test_search_pages_through_older_titles(shared) -> None:
    first = (await shared.client.get("/-/search", params={"q": "провел", "limit": "3"})).text
    assert len(_hits(first)) == 3
    more = html.unescape(re.search(r'<a class="more" href="([^"]+)"', first).group(1))
    rest = (await shared.client.get(more)).text
    assert _hits(rest) == [("rbc", hid(1), "Путин провел совещание")]
    assert 'class="more"' not in rest


async def test_search_refuses_what_it_cannot_answer(shared) -> None:
    for params, says in [
        ({"q": "ЦБ"}, "at least 3 characters"),
        ({"q": "снег", "source": "nosuch"}, "unknown source 'nosuch'"),
        ({"q": "снег", "limit": "100000"}, "limit = '100000': must be a whole number from 1 to 500"),
        ({"q": "снег", "limit": "-1"}, "must be a whole number"),
        ({"q": "снег", "before": "x"}, "before = 'x': must be a whole number"),
        ({"q": "снег" * 100}, "at most 200 characters"),
        ({"q": "снег", "limit": "²"}, "limit = '²': must be a whole number"),  # a digit int() refuses
        (
            {"q": "снег", "before": "99999999999999999999"},
            "before = '99999999999999999999': must be a whole number",
        ),
        ({"q": "сн\x00ег"}, "q: contains a control character"),
    ]:
        response = await shared.client.get("/-/search", params=params)
        assert response.status_code == 400, params
        assert says in html.unescape(response.text), params
    empty = await shared.client.get("/-/search")
    assert (
        empty.status_code == 200
        and 'id="search-q"' in empty.text
        and '<table class="search-hits">' not in empty.text
    )


async def test_today_counts_and_lists_per_outlet(shared) -> None:
    response = await shared.client.get("/-/today", params={"until": "2024-11-25T14:00"})  # Moscow
    assert response.status_code == 200
    page = response.text
    counts = dict(
        (name, (int(a), int(r), int(p)))
        for name, a, r, p in re.findall(
            r'<tr class="outlet-count" data-outlet="(\w+)">.*?<td class="added">(\d+)</td>'
            r'<td class="reworded">(\d+)</td><td class="pulled">(\d+)</td>',
            page,
        )
    )
    assert counts == {"rbc": (6, 1, 1), "tass": (4, 1, 1)}
    assert "2024-11-24 14:00:00 MSK" in page and "2024-11-25 14:00:00 MSK" in page  # the window, labelled
    assert f'href="/-/headline/{hid(2)}"' in page  # the pulled one links to its life
    assert "<del>Лавров провел переговоры</del>" in page  # a rewording shows the old title
    later = (await shared.client.get("/-/today", params={"until": "2024-11-26T14:00"})).text
    assert 'data-outlet="rbc"><td><a href="#outlet-rbc">rbc</a></td><td class="added">0</td>' in later


async def test_today_refuses_a_bad_time(shared) -> None:
    response = await shared.client.get("/-/today", params={"until": "yesterday-ish"})
    assert response.status_code == 400
    assert "until: cannot read time" in response.text


async def test_every_new_page_shows_a_hostile_title_as_text(shared) -> None:
    pages = [
        await shared.client.get("/-/search", params={"q": "оштрафовал"}),
        await shared.client.get("/-/today", params={"until": "2024-11-25T14:00"}),
        await shared.client.get("/-/search", params={"q": "<script>window"}),  # the echo of the query too
    ]
    for response in pages:
        assert response.status_code == 200
        assert "<script>window.__pwned" not in response.text
        assert ESCAPED_SCRIPT[:30] in response.text
    assert html.escape(XSS_TITLE, quote=False) in pages[0].text


async def test_ticker_opens_the_most_recently_polled_outlet(ds, db_path: Path) -> None:
    page = (await ds.client.get("/-/ticker")).text
    assert '<option value="rbc" selected>' in page  # rbc polled last (26 Nov)
    db = connect(db_path)
    late = Headline(id=tass_id(9), url="https://tass.example/9", title="Новость дня", rubric=None, kind=None,
                    published_at=None, position=1)  # fmt: skip
    save_ticker(db, _row("tass", "rss", "2024-11-27T10:00:00Z"), TickerPage(headlines=(late,)))
    db.close()
    page = (await ds.client.get("/-/ticker")).text
    assert '<option value="tass" selected>' in page  # not the first name alphabetically
    assert "Новость дня" in page
    rows = (
        await ds.client.get("/ticker/ticker_at.json", params={"at": "", "source": "", "_shape": "array"})
    ).json()
    assert [row["headline_id"] for row in rows if row["what"] == "headline"] == [
        tass_id(9)
    ]  # the table agrees


async def test_ticker_links_each_failed_fetch_to_what_the_site_answered(ds, db_path: Path) -> None:
    from ticker.db.archive import store_body

    db = connect(db_path)
    blocked_id = db.execute("SELECT id FROM fetches WHERE outcome = 'blocked'").fetchone()[0]
    db.execute(
        "UPDATE fetches SET error = ? WHERE id = ?",
        ["HTTP 403: bot challenge <script>window.__pwned = 5</script>", blocked_id],
    )
    challenge = b"<html><script>window.__pwned = 4</script>Checking your browser</html>"
    with write_transaction(db):
        digest, _new = store_body(db, challenge, "text/html", blocked_id, "2024-11-25T10:08:00Z")
        db.execute("UPDATE fetches SET body_sha256 = ? WHERE id = ?", [digest, blocked_id])
    db.close()
    page = (await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T10:09:00Z"})).text
    failed = re.findall(r'<li class="failed-fetch" data-fetch="(\d+)">(.*?)</li>', page, re.S)
    assert [int(fetch_id) for fetch_id, _text in failed] == [blocked_id, blocked_id - 1]  # newest first
    assert f'<a class="failed-body" href="/-/body/{digest}">' in failed[0][1]
    assert "HTTP 403: bot challenge &lt;script&gt;" in failed[0][1] and "connect timeout" in failed[1][1]
    assert "<script>window.__pwned = 5" not in page
    assert "failed-body" not in failed[1][1]  # nothing was archived for the timeout
    body = await ds.client.get(f"/-/body/{digest}")
    assert body.headers["content-type"].startswith("text/plain")
    assert body.headers["x-content-type-options"] == "nosniff"
    assert body.content == challenge
    # the outages list links the same body (what the site answered at the run's last failure)
    outages = (await ds.client.get("/ticker/outages", params={"_search": ""})).text
    assert f'<a class="body-link" href="/-/body/{digest}"' in outages
    rows = (await ds.client.get("/ticker/outages.json", params={"_shape": "array"})).json()
    assert [(r["source"], r["first_body"], r["last_body"]) for r in rows if r["source"] == "rbc"] == [
        ("rbc", None, digest)
    ]
    # polls after the outage: nothing failed since the poll shown, nothing listed
    later = (await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T10:11:00Z"})).text
    assert '<li class="failed-fetch"' not in later


async def test_front_page_searches_and_offers_the_feed(shared) -> None:
    page = (await shared.client.get("/")).text
    assert '<form class="ticker-search" action="/-/search"' in page
    assert '<option value="tass">tass</option>' in page and '<option value="cbr">' not in page  # outlets only
    assert '<link rel="alternate" type="application/atom+xml"' in page and 'href="/-/changes.atom"' in page
    assert 'href="/-/today"' in page
