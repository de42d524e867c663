"""Imported captures and `ticker reparse`: the re-derived history stays in time order, and a
capture stored as parse_error (markup today's parser did not read) is re-read from its body."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from helpers_import import presence
from rbc_markup import item_id, render_page, standard_items

from ticker.db.history import rederive as rederive_source
from ticker.db.imports import save_capture
from ticker.db.schema import open_db
from ticker.jobs.fetching import from_recorded
from ticker.jobs.sources import builtin_source

T = datetime(2024, 11, 25, 15, 57, tzinfo=UTC)
RBC = builtin_source("rbc")


def store(db, at: datetime, body: bytes, *, origin: str | None):
    """A page answer recorded at `at`: a live poll (origin None) or a capture."""
    attempt = from_recorded(
        RBC, "page", url="https://www.rbc.ru/", status=200, reason="OK",
        headers={"content-type": "text/html; charset=utf-8"}, body=body, started_at=at,
        origin=origin or "warc", origin_ref=f"crawl.warc#{at:%H%M}",
    )  # fmt: skip
    if origin is None:
        from ticker.db.writes import save_ticker

        row = attempt.row
        row.origin = row.origin_ref = None
        return save_ticker(db, row, attempt.parsed, gap_limit_s=RBC.gap_limit_s)
    return save_capture(
        db, attempt.row, attempt.parsed, attempt.body, origin=origin, origin_ref=attempt.row.origin_ref
    )


def page(start: int, newest: datetime) -> bytes:
    return render_page(standard_items(14, start=start, newest=newest)).encode()


def test_reparse_keeps_imported_captures_in_time_order(cli, db_path, tmp_path):
    db = open_db(db_path)
    for minutes, start in ((0, 10), (2, 11), (4, 12)):
        store(db, T + timedelta(minutes=minutes), page(start, T), origin=None)
    for hours, start in ((-3, 0), (-2, 4)):
        store(db, T + timedelta(hours=hours), page(start, T), origin="warc")
    rederive_source(db, "rbc", "page", gap_limit_s=RBC.gap_limit_s, ordered=True)
    before = presence(db)
    target = tmp_path / "reparsed.db"
    result = cli("reparse", "--db", db_path, "--into", target)
    assert result.exit_code == 0, result.output
    assert presence(open_db(target)) == before


def test_a_capture_an_older_parser_refused_is_re_read_in_place(cli, db_path, tmp_path):
    reference = open_db(tmp_path / "reference.db")
    db = open_db(db_path)
    for target in (reference, db):
        for minutes, start in ((0, 10), (2, 11)):
            store(target, T + timedelta(minutes=minutes), page(start, T), origin=None)
    capture_at = T - timedelta(hours=1)
    store(reference, capture_at, page(3, T), origin="warc")
    rederive_source(reference, "rbc", "page", gap_limit_s=RBC.gap_limit_s, ordered=True)
    # the same capture, as a parser that did not read its markup stored it: parse_error, body kept
    attempt = from_recorded(
        RBC, "page", url="https://www.rbc.ru/", status=200, reason="OK",
        headers={"content-type": "text/html; charset=utf-8"}, body=page(3, T), started_at=capture_at,
        origin="warc", origin_ref=f"crawl.warc#{capture_at:%H%M}",
    )  # fmt: skip
    attempt.row.outcome, attempt.row.error = (
        "parse_error",
        "no headline ticker (.js-news-feed-list) on the page",
    )
    save_capture(db, attempt.row, None, attempt.body, origin="warc", origin_ref=attempt.row.origin_ref)
    rederive_source(db, "rbc", "page", gap_limit_s=RBC.gap_limit_s, ordered=True)
    assert db.execute("SELECT count(*) FROM headlines").fetchone()[0] == 15

    result = cli("reparse", "--db", db_path, "--in-place")
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert db.execute("SELECT outcome FROM fetches WHERE origin = 'warc'").fetchone()[0] == "ok"
    assert presence(db) == presence(reference)


def test_cite_finds_an_imported_capture_older_than_the_polls_before_it(cli, db_path):
    db = open_db(db_path)
    store(db, T, page(0, T), origin=None)
    store(db, T + timedelta(minutes=2), page(0, T), origin=None)
    store(db, T - timedelta(hours=1), page(0, T), origin="warc")  # fetch 3, an hour earlier
    rederive_source(db, "rbc", "page", gap_limit_s=RBC.gap_limit_s, ordered=True)

    cited = json.loads(cli("cite", item_id(0), "--db", db_path, "--json").stdout)
    [title] = cited["titles"]
    assert (title["first_fetch"]["fetch_id"], title["last_fetch"]["fetch_id"]) == (3, 2)
    assert title["first_seen"] == "2024-11-25T14:57:00Z"
    # the same body was archived once (the capture's): the earliest and the latest fetch showing
    # it, in time order (by id, 3..2 would be an empty range)
    assert title["archived_fetches_showing_it"] == [3, 2]
