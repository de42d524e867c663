"""`/-/changes.atom`: the history's changes as an Atom 1.0 feed, parsed as a feed reader parses it
(feedparser) on a real history of two outlets: what it holds by default, its filters, stable entry
ids, links to each headline's page, hostile titles as text, and bad parameters refused."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest
from helpers_front import XSS_TITLE, _row, hid, newsroom_datasette, tass_id

from ticker.core.base import Headline, TickerPage
from ticker.db.schema import connect
from ticker.db.writes import save_ticker

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def ds(db_path: Path):
    return newsroom_datasette(db_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The same history for the tests that only read it (built once)."""
    return newsroom_datasette(tmp_path_factory.mktemp("history") / "ticker.db")


async def _feed(ds, **params) -> feedparser.FeedParserDict:
    response = await ds.client.get("/-/changes.atom", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ElementTree.fromstring(response.content)  # well-formed XML, whatever the titles hold
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


async def test_default_feed_is_pulled_and_reworded_headlines(shared) -> None:
    feed = await _feed(shared)
    assert feed.feed.id == "tag:ticker,2024:ticker/changes"
    assert feed.feed.updated == "2024-11-25T10:05:00Z"  # the newest entry
    assert [(e.tags[0].term, e.tags[1].term, e.link) for e in feed.entries] == [
        ("pulled", "tass", f"http://localhost/-/headline/{tass_id(2).replace(':', '%3A')}"),
        ("pulled", "rbc", f"http://localhost/-/headline/{hid(2)}"),
        ("reworded", "tass", f"http://localhost/-/headline/{tass_id(1).replace(':', '%3A')}"),
        ("reworded", "rbc", f"http://localhost/-/headline/{hid(1)}"),
    ]  # newest first
    reworded = feed.entries[3]
    assert reworded.title == "[rbc] reworded: Путин провел совещание с Совбезом"
    assert reworded.updated == "2024-11-25T10:02:00Z"
    assert reworded.summary == (
        "Reworded on rbc at 2024-11-25 13:02:00 MSK: «Путин провел совещание» → «Путин провел совещание с Совбезом»"
    )
    assert feed.entries[1].summary == (
        "Pulled on rbc at 2024-11-25 13:04:00 MSK: «Курс евро превысил 108 рублей» (from position 3)"
    )
    again = await _feed(shared)
    assert [e.id for e in again.entries] == [e.id for e in feed.entries]  # a reader sees each change once
    assert len({e.id for e in feed.entries}) == 4


async def test_filters_like_the_changes_command(shared) -> None:
    new_on_tass = await _feed(shared, event="new", source="tass")
    assert [e.title for e in new_on_tass.entries] == [
        "[tass] new: Мишустин подписал указ",  # 10:03
        "[tass] new: Курс юаня вырос",  # the three of 10:01
        "[tass] new: В Казани открыли мост",
        "[tass] new: Лавров провел переговоры",  # the title it was first shown with
    ]
    by_text = await _feed(shared, event="new,reworded,pulled", q="лавров")  # any version, any case
    assert [(e.tags[0].term, e.title) for e in by_text.entries] == [
        ("reworded", "[tass] reworded: Лавров провел переговоры с Ваном"),
        ("new", "[tass] new: Лавров провел переговоры"),
    ]
    since = await _feed(shared, event="pulled,reworded", since="2024-11-25T13:03")  # Moscow time
    assert [e.tags[1].term + " " + e.tags[0].term for e in since.entries] == [
        "tass pulled",
        "rbc pulled",
    ]
    back = await _feed(shared, event="back,scrolled_off", source="rbc")
    # two items shown again after the night's gap start a new presence too (issue 19's gap rule)
    assert [e.tags[0].term for e in back.entries] == ["back", "back", "back", "scrolled_off"]
    limited = await _feed(shared, event="new", limit="2")
    assert len(limited.entries) == 2


async def test_hostile_and_control_characters_stay_text(ds, db_path: Path) -> None:
    db = connect(db_path)
    odd = Headline(id=hid(7), url="https://rbc.example/7", title="Акции & облигации\x07 <b>упали</b>",
                   rubric=None, kind=None, published_at=None, position=1)  # fmt: skip
    save_ticker(db, _row("rbc", "page", "2024-11-27T10:00:00Z"), TickerPage(headlines=(odd,)))
    db.close()
    feed = await _feed(ds, event="new", source="rbc")
    titles = [e.title for e in feed.entries]
    assert f"[rbc] new: {XSS_TITLE}" in titles  # as text, not markup
    assert titles[0] == "[rbc] new: Акции & облигации\ufffd <b>упали</b>"
    raw = (await ds.client.get("/-/changes.atom", params={"event": "new"})).text
    assert "<script>" not in raw and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in raw


BAD = [
    ({"event": "deleted"}, "event = 'deleted': use one or more of new, reworded, pulled, scrolled_off, back"),
    ({"limit": "201"}, "limit = '201': must be a whole number from 1 to 200"),
    ({"limit": "99999999999999999999"}, "must be a whole number from 1 to 200"),
    ({"limit": "0"}, "must be a whole number from 1 to 200"),
    ({"since": "last tuesday"}, "since: cannot read time 'last tuesday'"),
    ({"until": "2024-13-45"}, "until: cannot read time"),
    ({"source": "nosuch"}, "unknown source 'nosuch'"),
    ({"q": "ЦБ"}, "at least 3 characters"),
    ({"q": "abc\x00def"}, "q: contains a control character"),
    ({"limit": "²"}, "limit = '²': must be a whole number"),
]


async def test_bad_parameters_are_a_400_saying_why(shared) -> None:
    for params, says in BAD:
        response = await shared.client.get("/-/changes.atom", params=params)
        assert response.status_code == 400, params
        assert response.text.startswith("Error: ") and says in response.text, params
        assert response.text.count("\n") == 1, params  # one line
