"""Stories across outlets, end to end: several outlets' feeds polled in turn with `ticker fetch`,
grouped as the polls arrive, listed by `ticker stories`, told by `ticker story`, rebuilt by
`ticker stories rebuild` into the same stories."""

from __future__ import annotations

import json

import pytest
from helpers_stories import COMMENT, EVENT, INTERFAX_REWORDED, OTHER_EVENT, Feeds, run_scenario

from ticker.db.schema import open_db


@pytest.fixture
def feeds(httpserver, tmp_path, cli, monkeypatch):
    found = Feeds(httpserver, tmp_path, cli, monkeypatch)
    run_scenario(found)
    return found


def _stories(cli, db, *args) -> list[dict]:
    result = cli("stories", "--since", "2000-01-01", "--json", "--db", db, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _by_title(stories: list[dict]) -> dict[str, dict]:
    return {story["title"]: story for story in stories}


def test_one_event_three_outlets_first_with_resolution(feeds, cli):
    stories = _stories(cli, feeds.db)
    event = next(s for s in stories if s["first_source"] == "rbc_feed" and s["sources"] == 3)
    assert event["title"] == EVENT["rbc_feed"]
    members = {m["source"]: m for m in event["members"]}
    assert list(members) == ["rbc_feed", "tass", "interfax"]  # first seen first
    assert members["interfax"]["title"] == INTERFAX_REWORDED  # the current title
    assert members["tass"]["exit_reason"] == "pulled"
    assert members["rbc_feed"]["exit_reason"] is None and members["interfax"]["exit_reason"] is None
    first = members["rbc_feed"]
    assert event["first_seen"] == first["first_seen"] and first["lag_seconds"] == 0
    # The poll that first saw it, and the outlet's previous successful poll that did not.
    assert first["previous_poll"]["fetch_id"] < first["first_poll"]["fetch_id"]
    assert first["previous_poll"]["at"] <= first["first_poll"]["at"] == first["first_seen"]
    assert first["published_at"] == "2026-10-25T10:30:00Z"  # the feed's own time, kept apart
    assert (
        members["tass"]["lag_seconds"] >= 0
        and members["interfax"]["lag_seconds"] >= members["tass"]["lag_seconds"]
    )
    assert members["tass"]["score"] is not None and members["tass"]["terms"]
    assert members["tass"]["explanation"]
    # Another event, a comment and the unrelated items are stories of their own.
    titles = _by_title(stories)
    for title in (OTHER_EVENT, COMMENT, "В Москве выпал первый снег"):
        assert titles[title]["sources"] == 1 and titles[title]["exclusive"]
    assert sum(s["sources"] for s in stories) == 3 + 1 + 1 + 8  # every headline in exactly one story


def test_rebuild_gives_the_same_stories(feeds, cli):
    before = _stories(cli, feeds.db)
    result = cli("stories", "rebuild", "--db", feeds.db)
    assert result.exit_code == 0, result.output
    assert "stories rebuilt" in result.output
    assert _stories(cli, feeds.db) == before
    db = open_db(feeds.db)  # wiped and rebuilt: still the same, ids included
    db.execute("DELETE FROM story_members")
    db.execute("DELETE FROM stories")
    db.conn.close()
    cli("stories", "rebuild", "--db", feeds.db)
    again = _stories(cli, feeds.db)
    assert [[m["headline_id"] for m in s["members"]] for s in again] == [
        [m["headline_id"] for m in s["members"]] for s in before
    ]


def test_filters_text_and_csv(feeds, cli):
    shared = _stories(cli, feeds.db, "--min-sources", "2")
    assert [s["sources"] for s in shared] == [3]
    assert [s["title"] for s in _stories(cli, feeds.db, "--source", "lenta")][
        -1
    ] == "Ученые нашли в Антарктиде неизвестный вид рыб"
    text = cli("stories", "--since", "2000-01-01", "--min-sources", "2", "--db", feeds.db)
    assert text.exit_code == 0, text.output
    assert "3 outlets, first: rbc_feed" in text.output and "MSK" in text.output
    assert "between" in text.output and "pulled" in text.output
    table = cli("stories", "--since", "2000-01-01", "--min-sources", "2", "--csv", "--db", feeds.db)
    lines = table.output.strip().splitlines()
    assert lines[0].startswith("story_id,story_first_seen") and len(lines) == 4


def test_story_timeline_with_citations(feeds, cli):
    event = _stories(cli, feeds.db, "--min-sources", "3")[0]
    result = cli("story", str(event["id"]), "--db", feeds.db)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"Story {event['id']}: {EVENT['rbc_feed']}")
    assert "First: rbc_feed, between" in out and "MSK" in out
    assert "published (the feed's own time)" in out
    assert "reworded" in out and INTERFAX_REWORDED in out and EVENT["interfax"] in out
    assert "left feed: pulled" in out
    assert f"ticker cite https://tass.example/news/rate21 --db {feeds.db}" in out
    data = json.loads(cli("story", str(event["id"]), "--json", "--db", feeds.db).output)
    assert [e["event"] for e in data["timeline"]].count("first seen") == 3
    assert data["members"][0]["citation"]["type"] == "headline"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("story", "abc"), "bad story id"),
        (("story", "999999"), "no story 999999"),
        (("stories", "--min-sources", "0"), "--min-sources"),
        (("stories", "--since", "yesterday-ish"), "Error:"),
        (("stories", "--source", "nosuch"), "unknown source"),
        (("stories", "--json", "--csv"), "choose one"),
    ],
)
def test_bad_input_is_one_error_line(feeds, cli, args, message):
    result = cli(*args, "--db", feeds.db)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_database_is_an_error(tmp_path, cli):
    for args in (("stories",), ("story", "1"), ("stories", "rebuild")):
        result = cli(*args, "--db", tmp_path / "none.db")
        assert result.exit_code == 1 and "Error:" in result.output, result.output
        assert not (tmp_path / "none.db").exists()


def test_a_rewording_rescores_its_item_and_it_may_move(feeds, cli):
    moved = "Интерфакс открыл новый корпункт во Владивостоке"
    feeds.set("interfax", [("cbr", moved, "2026-10-25T10:33:00Z"), *feeds.items["interfax"][1:]])
    feeds.poll("interfax")
    stories = _stories(cli, feeds.db)
    event = next(s for s in stories if s["title"] == EVENT["rbc_feed"])
    assert [m["source"] for m in event["members"]] == ["rbc_feed", "tass"]
    own = _by_title(stories)[moved]
    assert own["members"][0]["headline_id"] == "https://interfax.example/news/cbr"
    cli("stories", "rebuild", "--db", feeds.db)
    assert _stories(cli, feeds.db) == stories


def test_one_off_fetches_only_record_and_the_readers_group_them(
    feeds, httpserver, tmp_path, cli, monkeypatch
):
    """`ticker fetch` leaves the grouping to whoever shows the stories next: `ticker stories`
    then groups every poll since, into the stories the daemon's poll-by-poll grouping gave, a
    few headlines per write transaction (each chunk on top of the stories before it)."""
    import ticker.stories.update
    from ticker.db.stories import grouping_behind, story_count

    online = _stories(cli, feeds.db)
    monkeypatch.setattr(ticker.stories.update, "PASS_CHUNK", 2)
    one_off = Feeds(httpserver, tmp_path / "one-off", cli, monkeypatch, group_each_poll=False)
    run_scenario(one_off)
    db = open_db(one_off.db)
    assert grouping_behind(db) and story_count(db)["stories"] == 0  # recorded, not grouped
    db.conn.close()
    assert _stories(cli, one_off.db) == online
    one_off.poll("lenta")  # nothing new: nothing to group, the readers write nothing
    db = open_db(one_off.db)
    assert not grouping_behind(db)
    db.conn.close()
    one_off.set("lenta", [("late", "Новая новость в ленте", "2026-10-25T11:00:00Z"), *one_off.items["lenta"]])
    one_off.poll("lenta")
    db = open_db(one_off.db)
    assert grouping_behind(db)
    db.conn.close()


def test_a_pass_asked_to_stop_ends_between_batches_and_the_next_resumes(
    httpserver, tmp_path, cli, monkeypatch
):
    import ticker.stories.update
    from ticker.db.stories import grouping_behind, story_count
    from ticker.stories.update import update_stories

    monkeypatch.setattr(ticker.stories.update, "EMBED_BATCH", 2)
    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch, group_each_poll=False)
    run_scenario(feeds)
    db = open_db(feeds.db)
    asked = iter([False, True])  # the first batch of titles, then the daemon is stopping
    update_stories(db, stopping=lambda: next(asked, True))
    assert grouping_behind(db) and story_count(db)["stories"] == 0  # nothing half-grouped
    update_stories(db)
    assert not grouping_behind(db) and story_count(db)["stories"] > 0
    db.conn.close()
