"""The snapshot/sighting invariant of tests/helpers_history.py holds on real writes and catches
each way of breaking it."""

from __future__ import annotations

import re
import sqlite3

import pytest
from helpers_history import assert_snapshots_match_sightings, snapshot_sighting_mismatches
from reliability.support import rotating_page

from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper.http import make_client


@pytest.fixture
def history(httpserver, db_path):
    """Five polls of a page that changes each time (items enter, exit and come back unchanged)."""
    spec = SourceSpec("rbc", "rbc", url=httpserver.url_for("/"), every_s=120)
    db = open_db(db_path)
    with make_client() as client:
        for number in (0, 1, 1, 2, 3):
            httpserver.clear_all_handlers()
            httpserver.expect_request("/").respond_with_data(
                rotating_page(number, count=8), content_type="text/html"
            )
            assert poll(db, client, spec).outcome in ("ok", "unchanged")
    db.conn.close()
    return db_path


def test_real_writes_keep_the_invariant(history):
    assert_snapshots_match_sightings(history)


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        ("UPDATE sightings SET last_fetch_id = first_fetch_id WHERE id = (SELECT max(id) FROM sightings "
         "WHERE last_fetch_id > first_fetch_id)", "shown but not covered ['"),
        ("UPDATE sightings SET last_fetch_id = (SELECT max(id) FROM fetches) WHERE exit_fetch_id IS NOT NULL",
         "covered but not shown ['"),
        ("UPDATE sightings SET exit_fetch_id = exit_fetch_id + 2, last_fetch_id = last_fetch_id "
         "WHERE exit_fetch_id IS NOT NULL", "between its last fetch and its exit"),
    ],
)  # fmt: skip
def test_each_break_is_caught(history, damage, what):
    with sqlite3.connect(history) as conn:
        assert conn.execute(damage).rowcount >= 1
    conn.close()
    assert any(what in problem for problem in snapshot_sighting_mismatches(history))
    with pytest.raises(AssertionError, match=re.escape(what)):
        assert_snapshots_match_sightings(history)
