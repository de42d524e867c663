"""SQL views over the history, created or updated idempotently when the database is opened.

Each view's SQL lives in VIEWS; `ensure_views` recreates a view only when its stored SQL
differs, so opening an up-to-date database writes nothing.
"""

from __future__ import annotations

from sqlite_utils import Database

from ticker.db.rate_rule import agrees_sql
from ticker.db.transactions import write_transaction


def moscow_offset_sql(column: str) -> str:
    """SQL for Moscow's UTC offset at the instant in `column`, as a date modifier (`10800 seconds`):
    the offset of the last change at or before it in `moscow_offsets` (migration 0011, built from
    zoneinfo), one index seek per row. NULL for NULL or an instant before 1990."""
    return (
        f"((SELECT mo.offset_s FROM moscow_offsets mo WHERE mo.from_utc <= {column} "
        f"ORDER BY mo.from_utc DESC LIMIT 1) || ' seconds')"
    )


def moscow_sql(column: str, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    """SQL for a stored UTC instant as Moscow wall time (`ticker.core.base.moscow_wall` in Python)."""
    return f"strftime('{form}', {column}, {moscow_offset_sql(column)})"


def _msk(column: str) -> str:
    return moscow_sql(column)


def _decimals(column: str) -> str:
    return f"CASE WHEN instr({column}, '.') > 0 THEN length({column}) - instr({column}, '.') ELSE 0 END"


VIEWS: dict[str, str] = {
    # Every rewording of a headline: the old and new title and the poll that first showed the new one.
    "headline_rewrites": f"""
        SELECT tc.id AS change_id, tc.headline_id, tc.changed_at, {_msk("tc.changed_at")} AS changed_at_msk,
               o.title AS old_title, n.title AS new_title, h.source, h.rubric, h.url, tc.fetch_id
        FROM title_changes tc
        JOIN headline_titles o ON o.id = tc.old_title_id
        JOIN headline_titles n ON n.id = tc.new_title_id
        JOIN headlines h ON h.id = tc.headline_id
    """,
    # Each distinct rate a source showed, with the move from the previous one (same source, currency,
    # in the order rate_date, first_seen, id). The previous one is found by an index seek per row
    # (rates_previous), not a window over every rate: a filter on the view applies first.
    "rate_history": f"""
        SELECT r.id AS rate_id, r.source, coalesce(s.kind, r.source) AS source_kind, r.currency,
               r.rate_date, r.value, r.change AS change_shown,
               p.rate_date AS previous_date, p.value AS previous_value,
               CASE WHEN p.value IS NOT NULL THEN printf('%+.*f',
                   max({_decimals("r.value")}, {_decimals("p.value")}), r.value - p.value) END AS move,
               r.first_seen, r.last_seen, r.published_at, r.channel
        FROM rates r LEFT JOIN sources s ON s.name = r.source
        LEFT JOIN rates p ON p.id = (
            SELECT q.id FROM rates q WHERE q.source = r.source AND q.currency = r.currency
                AND (q.rate_date, q.first_seen, q.id) < (r.rate_date, r.first_seen, r.id)
            ORDER BY q.rate_date DESC, q.first_seen DESC, q.id DESC LIMIT 1)
    """,
    # What a ticker source's rate widget showed against the official rate (a source without a
    # ticker: the Bank of Russia) for the same currency and date. mismatch = 1 unless some
    # rounding of the official value to the decimals shown gives the shown one (db/rate_rule.py,
    # the rule the rate-mismatch alert uses too).
    "rate_comparison": f"""
        SELECT r.rate_date, r.currency, r.source AS rbc_source, r.value AS rbc_value,
               c.source AS cbr_source, c.value AS cbr_value,
               CASE WHEN c.value IS NOT NULL THEN printf('%+.4f', r.value - c.value) END AS difference,
               CASE WHEN c.value IS NULL THEN NULL
                    WHEN {agrees_sql("r.value", "c.value")} THEN 0 ELSE 1 END AS mismatch,
               r.first_seen AS rbc_first_seen, r.last_seen AS rbc_last_seen,
               c.first_seen AS cbr_first_seen, r.id AS rbc_rate_id, c.id AS cbr_rate_id
        FROM rates r
        JOIN sources rs ON rs.name = r.source AND rs.ticker_channel IS NOT NULL
        LEFT JOIN rates c ON c.currency = r.currency AND c.rate_date = r.rate_date
            AND c.source IN (SELECT name FROM sources WHERE ticker_channel IS NULL)
    """,
    # Attempts per source and UTC hour, with each outcome counted.
    "fetch_health": f"""
        SELECT source, hour, {_msk("hour")} AS hour_msk, attempts, ok + unchanged AS successes,
               ok, unchanged, blocked, http_error, network_error, parse_error,
               CAST(round(1.0 * duration_ms_total / attempts) AS INTEGER) AS avg_duration_ms
        FROM fetch_hours
    """,
    # Runs of consecutive failed fetches of a source's channel: from the first failure to the
    # first success after the last one (ended_at NULL: still failing).
    "fetch_outages": f"""
        SELECT source, channel, started_at, {_msk("started_at")} AS started_at_msk, ended_at,
               CAST(round((julianday(coalesce(ended_at, last_failure_at)) - julianday(started_at)) * 86400)
                    AS INTEGER) AS duration_s,
               ended_at IS NULL AS ongoing, failures, outcomes, first_error, last_failure_at,
               first_fetch_id, last_fetch_id
        FROM outage_runs
    """,
    # Every exit of a headline from a source's ticker (its sources.ticker_channel), one row per
    # exit (an item can come back).
    "headline_exits": f"""
        SELECT s.id AS sighting_id, s.headline_id, s.source, s.exited_at, {_msk("s.exited_at")} AS exited_at_msk,
               s.exit_reason,
               coalesce((SELECT t.title FROM fetches f JOIN snapshots sn ON sn.id = f.snapshot_id,
                                json_each(sn.items) j JOIN headline_titles t ON t.id = json_extract(j.value, '$[1]')
                         WHERE f.id = s.last_fetch_id AND json_extract(j.value, '$[0]') = s.headline_id),
                        h.title) AS title,
               h.rubric, h.url, s.first_seen, s.last_seen, s.first_position, s.last_position,
               CAST(round((julianday(s.last_seen) - julianday(s.first_seen)) * 86400) AS INTEGER) AS shown_s,
               s.first_fetch_id, s.last_fetch_id, s.exit_fetch_id
        FROM sightings s JOIN headlines h ON h.id = s.headline_id
        JOIN sources src ON src.name = s.source AND src.ticker_channel = s.channel
        WHERE s.exit_fetch_id IS NOT NULL
    """,
}


def _normalise(sql: str | None) -> str:
    return " ".join((sql or "").split())


def _wanted() -> dict[str, str]:
    return {name: f"CREATE VIEW {name} AS {body.strip()}" for name, body in VIEWS.items()}


def stale_views(db: Database) -> list[str]:
    """Views that are missing or differ from VIEWS (read-only)."""
    existing = {
        name: sql
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall()
    }
    return [name for name, sql in _wanted().items() if _normalise(existing.get(name)) != _normalise(sql)]


def ensure_views(db: Database) -> None:
    """Create missing views and replace changed ones (in one transaction)."""
    stale = stale_views(db)
    if not stale:
        return
    wanted = _wanted()
    with write_transaction(db):
        for name in stale:
            db.execute(f"DROP VIEW IF EXISTS {name}")
            db.execute(wanted[name])
