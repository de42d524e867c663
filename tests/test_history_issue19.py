"""Issue 19's wrong histories, each reproduced on the code before it and held here: a host clock
stepping back between two polls, an old capture and today's poll taken for one presence, a
pulled headline recorded `unknown` after an identical poll, a channel with more headlines than
SQLite's variable limit, an import stopped before it merged, a re-parse killed mid-way."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from helpers_history import assert_snapshots_match_sightings
from helpers_import import GAP_LIMIT_S, page, row
from rbc_markup import render_page, standard_items

from ticker.db.history import pending
from ticker.db.imports import merge_captures, save_capture
from ticker.db.schema import open_db
from ticker.db.writes import save_ticker
from ticker.jobs.poll import poll
from ticker.jobs.sources import builtin_source
from ticker.scraper.http import make_client

T0 = datetime(2025, 5, 29, 9, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"


class Site:
    """A local RBC page, polled at chosen instants through the live poll path."""

    def __init__(self, httpserver, db) -> None:
        self.server, self.db = httpserver, db

    def poll(self, body: str, at: datetime):
        self.server.clear()
        self.server.expect_request("/").respond_with_data(body.encode(), content_type=HTML)
        with make_client(read_timeout_s=5) as client:
            return poll(self.db, client, builtin_source("rbc"), url=self.server.url_for("/"), now=lambda: at)


@pytest.fixture
def site(httpserver, db_path):
    return Site(httpserver, open_db(db_path))


def exits(db) -> dict[str, tuple]:
    return {
        hid: (exit_id, reason)
        for hid, exit_id, reason in db.execute(
            "SELECT headline_id, exit_fetch_id, exit_reason FROM sightings WHERE exit_fetch_id IS NOT NULL"
        ).fetchall()
    }


def test_a_clock_stepped_back_between_two_polls_is_not_a_race(site, db_path):
    """The second poll started after the first finished, its clock a minute behind: it is the
    newer page (before: taken for a race and merged before the first, its scroll-off became an
    invented exit and return)."""
    items = standard_items(14, newest=T0)
    site.poll(render_page(items), T0)
    newer = standard_items(15, start=100, newest=T0 + timedelta(minutes=10))[:1]
    second = site.poll(render_page([*newer, *items[:13]]), T0 - timedelta(minutes=1))
    assert second.exits == {"scrolled_off": 1}
    assert exits(site.db) == {items[13].id: (2, "scrolled_off")}
    assert site.db.execute("SELECT count(*) FROM sightings").fetchone()[0] == 15  # no exit-and-return
    order = site.db.execute("SELECT id FROM fetches ORDER BY log_at, id").fetchall()
    assert order == [(1,), (2,)]
    assert_snapshots_match_sightings(db_path)


def test_an_old_capture_and_a_live_poll_are_two_presences(db_path):
    """A headline in a 2022 capture and in a live poll 18 months later: two sightings, the
    first ending `unknown` where the channel was next observed (before: one presence of 557
    days)."""
    db = open_db(db_path)
    captured = row(0)
    save_capture(db, captured, page("a", "b"), b"<html>", origin="wayback", origin_ref="m0")
    merge_captures(db, "rbc", "page", gap_limit_s=GAP_LIMIT_S, ordered=True)
    live = row(60 * 24 * 540)
    saved = save_ticker(db, live, page("a", "c"), gap_limit_s=GAP_LIMIT_S)
    found = db.execute(
        "SELECT first_seen, last_seen, exit_fetch_id, exit_reason FROM sightings "
        "WHERE headline_id = '6216e000000000000000000a' ORDER BY first_seen"
    ).fetchall()
    assert found == [
        (captured.started_at, captured.started_at, saved.fetch_id, "unknown"),
        (live.started_at, live.started_at, None, None),
    ]
    assert_snapshots_match_sightings(db_path)


def test_a_pulled_regional_headline_after_an_identical_poll_is_pulled(site, db_path):
    """A geo-targeted (Tatarstan) page polled at t0, again identical, then with its fifth item
    removed: the item was pulled (before: `unknown`, the identical poll's edition read as NULL)."""
    items = standard_items(14, newest=T0)
    body = render_page(items, region="tatarstan")
    assert site.poll(body, T0).outcome == "ok"
    again = site.poll(body, T0 + timedelta(minutes=2))
    assert again.outcome == "unchanged"
    assert site.db.execute("SELECT edition FROM fetches WHERE id = 2").fetchone()[0] == "rbcnews.tatarstan"
    third = site.poll(render_page([*items[:4], *items[5:]], region="tatarstan"), T0 + timedelta(minutes=4))
    assert third.exits == {"pulled": 1}
    assert exits(site.db) == {items[4].id: (3, "pulled")}
    assert_snapshots_match_sightings(db_path)


def test_more_headlines_than_sqlite_variables_still_merge(db_path):
    """A channel whose headlines outnumber SQLite's variable limit (lowered here to 40): imports
    and late merges never build `IN (?, ?, ...)` lists over them (before: "too many SQL
    variables")."""
    db = open_db(db_path)
    db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    keys = [f"{n:x}" for n in range(60)]
    for minutes in (0, 2, 4):
        save_ticker(db, row(minutes), page(*keys[minutes : minutes + 50]), gap_limit_s=GAP_LIMIT_S)
    save_capture(db, row(1), page(*keys[1:51]), b"<html>", origin="warc", origin_ref="r1")
    merged = merge_captures(db, "rbc", "page", gap_limit_s=GAP_LIMIT_S, ordered=True)
    assert merged.fetches == 3 and merged.headlines == 53
    assert_snapshots_match_sightings(db_path)


def test_a_stopped_import_is_pending_said_and_merged_by_the_next_poll(db_path, cli):
    """Captures committed by an import that was then killed: the channel is marked pending in
    the captures' own transaction, `ticker status` says so, and the next live write merges them
    (before: nothing said, history unmerged until another import of that channel)."""
    db = open_db(db_path)
    save_ticker(db, row(0), page("a", "b", "c"), gap_limit_s=GAP_LIMIT_S)
    save_ticker(db, row(4), page("a", "c"), gap_limit_s=GAP_LIMIT_S)
    save_capture(db, row(2), page("a", "b", "c"), b"<html>", origin="wayback", origin_ref="m2")
    # ... killed here: the import's merge never ran
    assert [(s, c) for s, c, *_ in pending(db)] == [("rbc", "page")]
    said = cli("status", "--db", db_path)
    assert said.exit_code == 0 and "history pending: rbc/page" in said.output
    document = json.loads(cli("status", "--db", db_path, "--json").output)
    assert document["history_pending"][0]["source"] == "rbc"
    save_ticker(db, row(6), page("d", "a", "c"), gap_limit_s=GAP_LIMIT_S)
    assert pending(db) == []
    assert_snapshots_match_sightings(db_path)  # the capture's list is covered by the sightings
    b = db.execute(
        "SELECT last_seen, exit_reason FROM sightings WHERE headline_id = '6216e000000000000000000b'"
    )
    assert b.fetchall() == [("2022-02-24T03:02:00Z", "pulled")]


def test_a_killed_in_place_reparse_leaves_no_scratch_for_ever(db_path, cli):
    """A scratch file left by a re-parse whose process is gone is removed by the next one,
    which says so (before: it stayed beside the database for ever)."""
    db = open_db(db_path)
    save_ticker(db, row(0), page("a", "b"), gap_limit_s=GAP_LIMIT_S)
    db.conn.close()
    stale = db_path.with_name(f".{db_path.name}.reparse-999999999")
    stale.write_bytes(b"half a database")
    db_path.with_name(f"{stale.name}-wal").write_bytes(b"")
    result = cli("reparse", "--in-place", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert f"removed {stale.name}" in result.output
    assert not list(db_path.parent.glob(f".{db_path.name}.reparse-*"))
