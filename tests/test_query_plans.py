"""The poll at a time is found by walking `fetches_started` from it, and a ticker item's sighting by
its headline: not by the writer's `fetches_log` / `sightings_channel_first` (migration 0010), which
SQLite picks for an equality on the source and which read every poll of a channel (1-5 s on ten
years: benchmarks/queries.py). A ticker database has no ANALYZE statistics, so the plan depends
on the schema and the statement only: a small database shows the plan of a large one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticker.cli.commands.serve import load_metadata
from ticker.db import front, queries, stories
from ticker.db.schema import open_db
from ticker.web.plugins import ticker_sql

STATEMENTS = {
    "POLL_AT_SQL": front.POLL_AT_SQL,
    "PREVIOUS_POLL_SQL": front.PREVIOUS_POLL_SQL,
    "NEXT_POLL_SQL": front.NEXT_POLL_SQL,
    "NEXT_CHANGE_SQL": front.NEXT_CHANGE_SQL,
    "FIRST_POLL_SQL": front.FIRST_POLL_SQL,
    "FAILED_BETWEEN_SQL": front.FAILED_BETWEEN_SQL,
    "POSITIONS_SQL": front.POSITIONS_SQL,
    "OUTAGE_CAUSES_SQL": queries.OUTAGE_CAUSES_SQL,
    "stories._MEMBERS_SQL": stories._MEMBERS_SQL,
    "TICKER_ITEMS_SQL": front.TICKER_ITEMS_SQL,
    "FALLBACK_POLL_SQL": queries.FALLBACK_POLL_SQL,
    "LAST_ATTEMPT_SQL": queries.LAST_ATTEMPT_SQL,
    "FIRST_LIVE_POLL_SQL": queries.FIRST_LIVE_POLL_SQL,
}
AVOIDED = ("fetches_log", "sightings_channel_first")


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_poll_lookups_do_not_read_a_whole_channel(tmp_path: Path, name: str) -> None:
    db = open_db(tmp_path / "t.db")
    sql = STATEMENTS[name]
    params = dict.fromkeys(re.findall(r"(?<!:):(\w+)", sql))  # every parameter, NULL: the plan is the same
    plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
    assert not [index for index in AVOIDED if index in plan], plan
    if "FROM fetches f" in sql and "ORDER BY f.started_at" in sql:
        assert "fetches_started" in plan, plan


def test_the_ticker_at_canned_query_walks_back_from_the_time(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    ticker_sql.prepare_connection(db.conn)
    sql = load_metadata("ticker")["databases"]["ticker"]["queries"]["ticker_at"]["sql"]
    plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", {"at": "", "source": ""}))
    assert "fetches_started" in plan and not [index for index in AVOIDED if index in plan], plan
