"""A real headless Chromium against `ticker serve` on outlets' feeds polled in turn: the story
page (who first, each outlet's wording and diffs, the pull, the rewording) and the stories
table, with screenshots kept in the test's tmp dir."""

from __future__ import annotations

import pytest
from helpers_stories import EVENT, INTERFAX_REWORDED, Feeds, run_scenario
from test_browser import CHROMIUM, _serving, browser, page  # noqa: F401 (fixtures)

from ticker.db.schema import open_db
from ticker.db.stories import story_of

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def test_story_page_in_a_browser(httpserver, tmp_path, cli, monkeypatch, page):  # noqa: F811
    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch)
    run_scenario(feeds)
    db = open_db(feeds.db)
    story_id = story_of(db, "https://rbc_feed.example/news/rate")
    db.conn.close()
    with _serving(feeds.db) as base:
        page.goto(f"{base}/-/story/{story_id}")
        assert page.locator("h1").inner_text() == EVENT["rbc_feed"]
        assert page.locator(".resolution").inner_text() == "between 13:30 and 13:38 MSK"
        members = page.locator(".story-member")
        assert members.count() == 3
        assert "first" in members.nth(0).locator("h3").inner_text()
        assert "pulled" in members.nth(1).locator("h3").inner_text()
        assert members.nth(2).locator(".diff ins").first.inner_text().strip() == "неожиданно"
        assert INTERFAX_REWORDED in members.nth(2).inner_text()
        page.screenshot(path=str(tmp_path / "story.png"), full_page=True)
        page.goto(f"{base}/-/stories")
        row = page.locator("tr.story", has_text=EVENT["rbc_feed"])
        assert "3 outlets, first rbc_feed" in row.inner_text()
        assert page.locator("tr.story.exclusive").count() == 10
        page.screenshot(path=str(tmp_path / "stories.png"), full_page=True)
        page.click(f"text={EVENT['rbc_feed']}")
        assert page.url.endswith(f"/-/story/{story_id}")
