"""The SQL views and full-text search, on a history written by the real writers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers_front import RBC_DAY1, TITLES, XSS_TITLE, _page, _row, add_source, build_history, hid

from ticker.core.base import Rate, RatesDocument
from ticker.db.schema import connect, open_db
from ticker.db.views import VIEWS, ensure_views, stale_views
from ticker.db.writes import save_failure, save_rates, save_ticker


def rows(db, sql: str, params=()) -> list[dict]:
    cursor = db.execute(sql, params)
    keys = [c[0] for c in cursor.description]
    return [dict(zip(keys, r, strict=True)) for r in cursor.fetchall()]


def test_views_created_idempotently_and_replaced_when_changed(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path)
    assert stale_views(db) == []
    before = db.execute("PRAGMA schema_version").fetchone()[0]
    ensure_views(db)
    assert db.execute("PRAGMA schema_version").fetchone()[0] == before  # nothing rewritten
    db.execute("DROP VIEW fetch_outages")
    db.execute("DROP VIEW rate_history")
    db.execute("CREATE VIEW rate_history AS SELECT 1 AS stale")
    assert sorted(stale_views(db)) == ["fetch_outages", "rate_history"]
    ensure_views(db)
    assert stale_views(db) == []
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'view'")} >= set(VIEWS)


def test_title_rewrites(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path, read_only=True)
    found = rows(db, "SELECT * FROM headline_rewrites")
    assert len(found) == 1
    assert found[0]["headline_id"] == hid(1)
    assert found[0]["old_title"] == "Путин провел совещание"
    assert found[0]["new_title"] == "Путин провел совещание с Совбезом"
    assert found[0]["changed_at"] == "2024-11-25T10:02:00Z"
    assert found[0]["changed_at_msk"] == "2024-11-25 13:02:00"


def test_rate_history_moves_per_source_and_currency(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path, read_only=True)
    found = rows(db, "SELECT source, currency, rate_date, value, previous_value, move, change_shown "
                     "FROM rate_history ORDER BY source, currency, rate_date")  # fmt: skip
    by_key = {(r["source"], r["currency"], r["rate_date"]): r for r in found}
    assert len(found) == 7
    assert by_key[("rbc", "EUR", "2024-11-27")]["move"] == "+0.25"
    assert by_key[("rbc", "EUR", "2024-11-27")]["change_shown"] == "+0.25"
    assert by_key[("rbc", "USD", "2024-11-27")]["move"] == "+0.01"
    assert by_key[("rbc", "EUR", "2024-11-26")]["move"] is None
    assert by_key[("cbr", "EUR", "2024-11-27")]["move"] == "+0.2582"  # four decimals kept
    assert by_key[("cbr", "EUR", "2024-11-27")]["previous_value"] == "108.8652"


def test_rbc_vs_cbr_flags_beyond_rounding(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path, read_only=True)
    found = {(r["rate_date"], r["currency"]): r for r in rows(db, "SELECT * FROM rate_comparison")}
    assert found[("2024-11-26", "EUR")]["mismatch"] == 0
    assert found[("2024-11-26", "EUR")]["difference"] == "+0.0048"
    assert found[("2024-11-26", "USD")]["mismatch"] == 1
    assert found[("2024-11-26", "USD")]["difference"] == "+0.0269"
    assert found[("2024-11-27", "EUR")]["mismatch"] == 0
    assert found[("2024-11-27", "USD")]["cbr_value"] is None  # no official rate stored: not judged
    assert found[("2024-11-27", "USD")]["mismatch"] is None


def test_rbc_vs_cbr_uses_source_kinds(tmp_path: Path) -> None:
    """A differently named RBC-kind source is compared; a cbr value from a non-cbr source is not."""
    db = open_db(tmp_path / "k.db")
    add_source(db, "rbc_mirror", "rbc", ["page"], "page")
    add_source(db, "official", "cbr", ["xml_daily"], None)
    save_rates(db, _row("official", "xml_daily", "2024-11-25T09:00:00Z"),
               RatesDocument("2024-11-26", (Rate("EUR", "2024-11-26", "108.9000"),)))  # fmt: skip
    save_ticker(db, _row("rbc_mirror", "page", "2024-11-25T10:00:00Z"), _page([(1, None)], RBC_DAY1[:1]))
    found = rows(db, "SELECT rbc_source, cbr_source, mismatch, difference FROM rate_comparison")
    assert found == [
        {"rbc_source": "rbc_mirror", "cbr_source": "official", "mismatch": 1, "difference": "-0.0300"}
    ]


def test_fetch_health_counts_each_outcome(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path, read_only=True)
    found = rows(db, "SELECT * FROM fetch_health WHERE source = 'rbc' ORDER BY hour")
    first = found[0]
    assert first["hour"] == "2024-11-25T10:00:00Z"
    assert first["hour_msk"] == "2024-11-25 13:00:00"
    assert (first["attempts"], first["successes"], first["ok"], first["unchanged"]) == (7, 5, 4, 1)
    assert (first["network_error"], first["blocked"], first["http_error"], first["parse_error"]) == (
        1,
        1,
        0,
        0,
    )
    assert [r["attempts"] for r in found] == [7, 1]


def test_outages_are_runs_of_consecutive_failures(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path)
    save_failure(db, _row("rbc", "page", "2024-11-26T10:02:00Z", "http_error", "HTTP 502"))
    save_failure(db, _row("cbr", "xml_daily", "2024-11-26T10:00:00Z", "parse_error", "not XML"))
    found = rows(db, "SELECT * FROM fetch_outages ORDER BY source, started_at")
    assert [(r["source"], r["started_at"], r["ended_at"], r["failures"], r["duration_s"], r["ongoing"])
            for r in found] == [
        ("cbr", "2024-11-26T10:00:00Z", None, 1, 0, 1),
        ("rbc", "2024-11-25T10:06:00Z", "2024-11-25T10:10:00Z", 2, 240, 0),
        ("rbc", "2024-11-26T10:02:00Z", None, 1, 0, 1),
    ]  # fmt: skip
    assert found[1]["outcomes"].split(",") == ["network_error", "blocked"]
    assert found[1]["first_error"] == "connect timeout"


def test_headline_exits_one_row_per_exit(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path, read_only=True)
    found = rows(db, "SELECT headline_id, exited_at, exit_reason, title, last_position, last_seen "
                     "FROM headline_exits ORDER BY exited_at, headline_id")  # fmt: skip
    summary = [(r["headline_id"], r["exited_at"], r["exit_reason"]) for r in found]
    assert summary == [
        (hid(4), "2024-11-25T10:02:00Z", "scrolled_off"),
        (hid(2), "2024-11-25T10:04:00Z", "pulled"),
        (hid(1), "2024-11-26T10:00:00Z", "unknown"),
        (hid(2), "2024-11-26T10:00:00Z", "unknown"),
        # Shown again after the night's gap: a new presence, the one before it ending unknown
        # (issue 19: a presence breaks where the channel was not watched for longer than its limit).
        (hid(3), "2024-11-26T10:00:00Z", "unknown"),
        (hid(5), "2024-11-26T10:00:00Z", "unknown"),
        (hid(6), "2024-11-26T10:00:00Z", "unknown"),
    ]
    pulled = found[1]
    assert pulled["title"] == TITLES[2]
    assert pulled["last_position"] == 3
    assert pulled["last_seen"] == "2024-11-25T10:02:00Z"
    assert found[2]["title"] == "Путин провел совещание с Совбезом"  # the title it had when it left


def test_title_search_finds_russian_words_substrings_and_prefixes(db_path: Path) -> None:
    build_history(db_path)
    db = connect(db_path)

    def search(query: str) -> set[str]:
        return {
            r[0]
            for r in db.execute(
                "SELECT t.title FROM headline_titles t JOIN headline_titles_fts f ON f.rowid = t.id "
                "WHERE headline_titles_fts MATCH ?",
                [query],
            )
        }

    assert search('"Telegram"') == {XSS_TITLE}
    assert search('"telegram"') == {XSS_TITLE}
    assert search('"оштрафовал"') == {XSS_TITLE}
    assert search('"ОШТРАФ"') == {XSS_TITLE}  # any case, inside a word
    assert search("оштраф*") == {XSS_TITLE}
    assert search('"Совбез"') == {"Путин провел совещание с Совбезом"}
    assert search('"совещание"') == {"Путин провел совещание", "Путин провел совещание с Совбезом"}
    # kept in sync by triggers: a new title version is found at once
    save_ticker(db, _row("rbc", "page", "2024-11-26T10:02:00Z"),
                _page([(5, "ЦБ оштрафовал банк за нарушения"), (3, None)], ()))  # fmt: skip
    assert search('"оштрафовал"') == {XSS_TITLE, "ЦБ оштрафовал банк за нарушения"}
    # every version stays searchable
    assert search('"ключевую"') == {TITLES[5]}


def test_fts_is_registered_the_datasette_way(db_path: Path) -> None:
    from datasette.utils import detect_fts

    build_history(db_path)
    conn = sqlite3.connect(db_path)
    assert detect_fts(conn, "headline_titles") == "headline_titles_fts"


def test_summaries_kept_by_writers_match_a_recount(db_path: Path) -> None:
    """outage_runs and fetch_hours, kept fetch by fetch, equal what a recount of the fetch log
    (the migrations' way) gives."""
    from ticker.db.writes import rebuild_fetch_hours, rebuild_outage_runs

    build_history(db_path)
    db = connect(db_path)
    save_failure(db, _row("rbc", "page", "2024-11-26T10:02:00Z", "http_error", "HTTP 502"))
    kept = (
        rows(db, "SELECT * FROM outage_runs ORDER BY id"),
        rows(db, "SELECT * FROM fetch_hours ORDER BY 1, 2"),
    )
    assert len(kept[0]) == 2 and len(kept[1]) == 4
    rebuild_outage_runs(db)
    rebuild_fetch_hours(db)
    recount = (
        rows(db, "SELECT * FROM outage_runs ORDER BY id"),
        rows(db, "SELECT * FROM fetch_hours ORDER BY 1, 2"),
    )
    strip = lambda runs: [{k: v for k, v in r.items() if k != "id"} for r in runs]  # noqa: E731
    assert strip(kept[0]) == strip(recount[0])
    assert kept[1] == recount[1]


def test_rate_history_previous_is_the_window_definition(tmp_path: Path) -> None:
    """The index-seek `previous` of rate_history is lag() over (source, currency) ordered by
    rate_date, first_seen, id, also with several values on one day and rows written out of
    order; and a filter on the view gives the same rows as filtering the whole view."""
    db = open_db(tmp_path / "r.db")
    add_source(db, "cbr", "cbr", ["xml_daily"], None)
    at = "2024-11-{:02d}T09:{:02d}:00Z"
    for n, (day, value) in enumerate(
        [(26, "100.10"), (25, "99.5"), (26, "100.2"), (27, "101"), (25, "99.75"), (27, "100.999")]
    ):
        save_rates(db, _row("cbr", "xml_daily", at.format(10 + n, n)),
                   RatesDocument(f"2024-11-{day}", (Rate("EUR", f"2024-11-{day}", value), Rate("USD", f"2024-11-{day}", value))))  # fmt: skip
    window = rows(db, """
        SELECT r.id AS rate_id, lag(r.rate_date) OVER w AS previous_date, lag(r.value) OVER w AS previous_value
        FROM rates r WINDOW w AS (PARTITION BY r.source, r.currency ORDER BY r.rate_date, r.first_seen, r.id)
        ORDER BY r.id""")  # fmt: skip
    view = rows(db, "SELECT rate_id, previous_date, previous_value FROM rate_history ORDER BY rate_id")
    assert view == window and len(view) == 12
    moves = {
        r["value"]: r["move"] for r in rows(db, "SELECT value, move FROM rate_history WHERE currency = 'EUR'")
    }
    assert moves == {"99.5": None, "99.75": "+0.25", "100.10": "+0.35", "100.2": "+0.10", "101": "+0.8",
                     "100.999": "-0.001"}  # fmt: skip
