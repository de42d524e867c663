"""Migration 0014_rate_agreement: the rate pairs that disagree, kept by triggers, and the
`rbc_vs_cbr` canned query that reads its mismatches from them: the same rows in the same order as
`rate_comparison ORDER BY mismatch DESC, rate_date DESC, currency` (the query before it)."""

from __future__ import annotations

from pathlib import Path

from helpers_front import _page, _row, add_source

from ticker.cli.commands.serve import canned_sql, load_metadata
from ticker.core.base import Rate, RatesDocument
from ticker.db.schema import connect, migrations, open_db
from ticker.db.writes import save_rates, save_ticker

OLD_SQL = canned_sql(
    "SELECT rate_date, currency, rbc_source, rbc_value, cbr_value, difference, mismatch, "
    "{msk:rbc_first_seen} AS rbc_first_seen_msk FROM rate_comparison ORDER BY mismatch DESC, rate_date DESC, currency"
)
KEY = slice(0, 2)  # rate_date, currency: with mismatch, the order both queries promise


def _official(db, at: str, day: str, *rates: tuple[str, str]) -> None:
    document = RatesDocument(day, tuple(Rate(currency, day, value) for currency, value in rates))
    save_rates(db, _row("cbr", "xml_daily", at), document)


def _shown(db, at: str, *rates: Rate) -> None:
    save_ticker(db, _row("rbc", "page", at), _page([(1, None)], rates))


def _write_history(db) -> None:
    """Agreeing, differing, missing and late official rates, a tie, a revised official rate, and
    rates written out of date order (a day's rates after later days')."""
    add_source(db, "rbc", "rbc", ["page"], "page")
    add_source(db, "cbr", "cbr", ["xml_daily"], None)
    _official(db, "2024-11-25T09:00:00Z", "2024-11-26", ("EUR", "108.8652"), ("USD", "103.7631"))
    _shown(
        db, "2024-11-25T10:00:00Z", Rate("EUR", "2024-11-26", "108.87"), Rate("USD", "2024-11-26", "103.79")
    )
    # shown before the official rates of their day are stored (late): one agrees, one differs, a tie
    _shown(
        db, "2024-11-26T10:00:00Z", Rate("EUR", "2024-11-27", "109.12"), Rate("USD", "2024-11-27", "90.34")
    )
    _shown(
        db, "2024-11-27T10:00:00Z", Rate("EUR", "2024-11-28", "108.87"), Rate("USD", "2024-11-28", "100.5")
    )
    _official(db, "2024-11-27T12:00:00Z", "2024-11-27", ("EUR", "109.1234"), ("USD", "90.3451"))
    _official(db, "2024-11-27T12:05:00Z", "2024-11-28", ("EUR", "108.8650"), ("USD", "100.4900"))
    # the official USD of the 28th revised to a value the shown one agrees with: two rows for one rate
    _official(db, "2024-11-27T13:00:00Z", "2024-11-28", ("USD", "100.5000"))
    # no official rate at all (missing)
    _shown(
        db, "2024-11-29T10:00:00Z", Rate("EUR", "2024-11-30", "110.01"), Rate("USD", "2024-11-30", "99.99")
    )
    # out of order: an earlier day's rates written last, shown first then official
    _shown(
        db, "2024-11-30T10:00:00Z", Rate("EUR", "2024-11-20", "100.00"), Rate("USD", "2024-11-20", "95.55")
    )
    _official(db, "2024-11-30T11:00:00Z", "2024-11-20", ("EUR", "100.0100"), ("USD", "95.5549"))


def _same_answer(db) -> list[tuple]:
    new_sql = load_metadata("ticker")["databases"]["ticker"]["queries"]["rbc_vs_cbr"]["sql"]
    old = db.execute(OLD_SQL).fetchall()
    new = db.execute(new_sql, {"_ticker_rows": -1}).fetchall()  # no page limit: as CSV and JSON run it
    assert [(row[6], row[KEY]) for row in new] == [(row[6], row[KEY]) for row in old]
    assert sorted(new, key=repr) == sorted(old, key=repr)
    return new


def test_rbc_vs_cbr_reads_mismatches_from_the_stored_pairs_with_the_same_answer(tmp_path: Path) -> None:
    db = open_db(tmp_path / "t.db")
    _write_history(db)
    found = _same_answer(db)
    mismatches = {(r[0], r[1], r[3], r[4]) for r in found if r[6] == 1}
    assert mismatches == {
        ("2024-11-26", "USD", "103.79", "103.7631"),  # differs by 0.0269
        ("2024-11-27", "USD", "90.34", "90.3451"),  # late, 0.0051 over
        ("2024-11-28", "USD", "100.5", "100.4900"),  # late; the revised official value agrees
        ("2024-11-20", "EUR", "100.00", "100.0100"),  # out of order
    }
    assert [r[6] for r in found] == [1] * 4 + [0] * 5 + [None] * 2
    assert {(r[0], r[1]) for r in found if r[6] is None} == {("2024-11-30", "EUR"), ("2024-11-30", "USD")}
    assert ("2024-11-28", "EUR", "108.87", "108.8650", 0) in {
        (*r[:2], r[3], r[4], r[6]) for r in found
    }  # a tie


def test_migration_fills_pairs_for_rates_stored_before_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    migrations.apply(db, stop_before="0014_rate_agreement")
    _write_history(db)
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'rate_mismatches'").fetchone()[0] == 0
    db.conn.close()
    db = open_db(path)
    found = _same_answer(db)
    assert sum(1 for r in found if r[6] == 1) == 4


def test_pairs_follow_a_changed_or_deleted_rate(tmp_path: Path) -> None:
    """The writer never changes a value or deletes a rate, but the stored pairs may not go stale if
    anyone does."""
    db = open_db(tmp_path / "t.db")
    _write_history(db)
    db.execute(
        "UPDATE rates SET value = '103.76' WHERE source = 'rbc' AND rate_date = '2024-11-26' AND currency = 'USD'"
    )
    db.execute("DELETE FROM rates WHERE source = 'cbr' AND rate_date = '2024-11-20' AND currency = 'EUR'")
    db.execute("UPDATE rates SET change = '+0.01' WHERE source = 'rbc' AND rate_date = '2024-11-27'")
    found = _same_answer(db)
    assert sum(1 for r in found if r[6] == 1) == 2
