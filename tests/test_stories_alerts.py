"""Alerts about stories (optional, `[alerts] stories = N`, `on_story_pulled`): a story picked up
by N outlets, and an outlet pulling its item while others keep theirs; once each."""

from __future__ import annotations

import pytest
from helpers_stories import EVENT, Feeds, run_scenario

from ticker.core.settings import AlertSettings
from ticker.db.schema import open_db, write_transaction
from ticker.schedules.alerts import Alerter
from ticker.schedules.config import ConfigError, parse_config


def _evaluate_every_poll(db_path, settings: AlertSettings) -> list:
    sent = []
    alerter = Alerter(
        settings, notify=lambda title, body, kind: (sent.append((title, body)), (True, None))[1]
    )
    db = open_db(db_path)
    events = []
    for (fetch_id,) in db.execute("SELECT id FROM fetches ORDER BY id").fetchall():
        with write_transaction(db):
            events += alerter.evaluate(db, fetch_id)
    alerter.deliver_due(db)
    for (fetch_id,) in db.execute("SELECT id FROM fetches ORDER BY id").fetchall():  # again: nothing new
        with write_transaction(db):
            assert alerter.evaluate(db, fetch_id) == []
    db.conn.close()
    return sent


def test_a_story_on_three_outlets_and_a_pull_while_others_keep_it(httpserver, tmp_path, cli, monkeypatch):
    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch)
    run_scenario(feeds)
    sent = _evaluate_every_poll(feeds.db, AlertSettings(stories=3, on_story_pulled=True))
    titles = [title for title, _ in sent]
    assert titles == ["ticker: a story across outlets", "ticker: a story pulled by one outlet"]
    carried, pulled = (body for _, body in sent)
    assert "is on 3 outlets (rbc_feed, tass, interfax)" in carried and EVENT["rbc_feed"] in carried
    assert "ticker story" in carried
    assert (
        pulled.startswith(f"tass pulled «{EVENT['tass']}»")
        and "while rbc_feed, interfax still show" in pulled
    )
    assert _evaluate_every_poll(feeds.db, AlertSettings(stories=4)) == []  # nobody had it on 4


def test_the_settings_are_checked(tmp_path):
    config = parse_config({"alerts": {"stories": 3, "on_story_pulled": True}}, tmp_path)
    assert config.settings.alerts.stories == 3 and config.settings.alerts.on_story_pulled
    for bad in (1, -2, True, "3"):
        with pytest.raises(ConfigError, match=r"alerts\.stories"):
            parse_config({"alerts": {"stories": bad}}, tmp_path)


def test_the_daemon_groups_in_passes_of_its_own_and_alerts_after_them(httpserver, tmp_path, cli, monkeypatch):
    """The daemon's polls only record; a pass of its grouping process groups every poll since
    the last one, then raises 'a story on N outlets' for the fetches it grouped, once."""
    from ticker.db.stories import grouping_behind, story_count
    from ticker.schedules.grouping import group_pass

    online = Feeds(httpserver, tmp_path / "online", cli, monkeypatch)
    run_scenario(online)
    feeds = Feeds(httpserver, tmp_path / "daemon", cli, monkeypatch, group_each_poll=False)
    run_scenario(feeds)
    sent = []
    alerter = Alerter(
        AlertSettings(stories=3), notify=lambda title, body, kind: (sent.append(title), (True, None))[1]
    )
    db = open_db(feeds.db)
    # The daemon starts stopping just as the pass ends: what it grouped is still alerted on.
    assert group_pass(db, alerter.after_grouping, stopping=lambda: not grouping_behind(db))
    assert not grouping_behind(db) and story_count(db) == story_count(open_db(online.db))
    assert sent == ["ticker: a story across outlets"]
    assert not group_pass(db, alerter.after_grouping)  # nothing new: no pass, no alert
    assert sent == ["ticker: a story across outlets"]
    db.conn.close()


def test_the_grouping_process_groups_and_stops_when_asked(httpserver, tmp_path, cli, monkeypatch):
    import time

    from ticker.db.stories import grouping_behind
    from ticker.schedules.grouping import StoryGrouping

    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch, group_each_poll=False)
    run_scenario(feeds)
    grouping = StoryGrouping(feeds.db, None, every_s=0.1)
    grouping.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            db = open_db(feeds.db)
            behind = grouping_behind(db)
            db.conn.close()
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not behind
    finally:
        grouping.stop(grace_s=10)
    assert grouping._process is None
