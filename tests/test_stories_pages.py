"""The stories pages on a real recorded history: /-/stories, /-/story/<id>, the link from a
headline's page and the front page's question (Datasette in-process)."""

from __future__ import annotations

import html
from urllib.parse import quote

import pytest
from helpers_stories import COMMENT, EVENT, INTERFAX_REWORDED, Feeds, run_scenario

from ticker.cli.commands.serve import make_datasette
from ticker.db.schema import open_db
from ticker.db.stories import story_of


@pytest.fixture
def recorded(httpserver, tmp_path, cli, monkeypatch):
    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch)
    run_scenario(feeds)
    db = open_db(feeds.db)
    event_id = story_of(db, "https://tass.example/news/rate21")
    comment_id = story_of(db, "https://interfax.example/news/comment")
    db.conn.close()
    return make_datasette(feeds.db), event_id, comment_id


async def test_latest_stories_outlets_as_columns(recorded):
    ds, event_id, _ = recorded
    response = await ds.client.get("/-/stories")
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "Which outlets carried a story, who first?" in page
    for outlet in ("rbc_feed", "tass", "interfax", "lenta"):
        assert f"<th>{outlet}</th>" in page
    assert f'href="/-/story/{event_id}">{EVENT["rbc_feed"]}</a>' in page
    assert "3 outlets, first rbc_feed" in page and "exclusive" in page and "pulled" in page
    shared = html.unescape((await ds.client.get("/-/stories", params={"min_sources": "2"})).text)
    assert EVENT["rbc_feed"] in shared and COMMENT not in shared
    bad = await ds.client.get("/-/stories", params={"min_sources": "zero"})
    assert bad.status_code == 400 and "whole number" in bad.text


async def test_story_page_tells_who_first_and_how_each_worded_it(recorded):
    ds, event_id, _ = recorded
    response = await ds.client.get(f"/-/story/{event_id}")
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert (
        '<strong>rbc_feed</strong>, <span class="resolution">between 13:30 and 13:38 MSK</span>' in page
    )  # its poll before
    assert "the feed's own time" in page
    assert "+2 min" in page and "+6 min" in page  # tass, interfax behind rbc
    assert "<ins> неожиданно</ins>" in page  # interfax's rewording, word by word
    assert "<del> с 28 октября</del>" in page
    assert "left feed: pulled" in page and "mark mark-pulled" in page
    assert INTERFAX_REWORDED in page and EVENT["tass"] in page
    assert "ticker cite https://tass.example/news/rate21 --db" in page
    assert 'href="/-/headline/https%3A%2F%2Ftass.example%2Fnews%2Frate21"' in page
    assert (await ds.client.get("/-/story/999999")).status_code == 404
    assert (await ds.client.get("/-/story/abc")).status_code == 404


async def test_headline_page_links_to_its_story_and_front_page_asks(recorded):
    ds, event_id, _ = recorded
    page = (await ds.client.get("/-/headline/" + quote("https://tass.example/news/rate21", safe=""))).text
    assert f'href="/-/story/{event_id}"' in page
    front = html.unescape((await ds.client.get("/")).text)
    assert 'href="/-/stories">Which outlets carried a story, who first?</a>' in front


async def test_pages_group_what_one_off_fetches_recorded(recorded, httpserver, tmp_path, cli, monkeypatch):
    """After `ticker fetch` alone (nothing grouped yet), the headline page and /-/stories group
    the polls first: the same story, under the same id as the daemon's poll-by-poll grouping."""
    _, event_id, _ = recorded
    feeds = Feeds(httpserver, tmp_path / "one-off", cli, monkeypatch, group_each_poll=False)
    run_scenario(feeds)
    ds = make_datasette(feeds.db)
    page = (await ds.client.get("/-/headline/" + quote("https://tass.example/news/rate21", safe=""))).text
    assert f'href="/-/story/{event_id}"' in page
    listed = html.unescape((await ds.client.get("/-/stories")).text)
    assert f'href="/-/story/{event_id}">{EVENT["rbc_feed"]}</a>' in listed
    assert "3 outlets, first rbc_feed" in listed and "not brought up to date" not in listed
