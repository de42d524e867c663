"""Read-only questions about the history: the ticker at an instant, what changed in a window,
the rate series. Used by `ticker at|changes|rates` and the benchmarks; docs/queries.md."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from ticker.base import SUCCESS_SQL


class NotReady(Exception):
    """The database cannot be queried: missing, or shaped by another version of ticker."""


def open_history(path: str | Path) -> Database:
    """Open an existing ticker database read-only and check it has the views the queries use."""
    from ticker.db.schema import connect, migrations
    from ticker.db.views import stale_views

    target = Path(path)
    if not target.is_file():
        raise NotReady(f"no database at {target} (create it with `ticker fetch rbc --db {target}`)")
    db = connect(target, read_only=True)
    if migrations.pending(db) or stale_views(db):
        db.close()
        raise NotReady(
            f"database {target} was made by another version of ticker: run `ticker fetch` "
            "or the daemon once on it to bring it up to date"
        )
    return db


def _rows(db: Database, sql: str, params: dict | list) -> list[dict]:
    cursor = db.execute(sql, params)
    keys = [column[0] for column in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


LAST_POLL_SQL = f"""
SELECT id AS fetch_id, source, channel, started_at, outcome, snapshot_id FROM fetches
WHERE source = :source AND channel = 'page' AND outcome IN {SUCCESS_SQL} AND started_at <= :at
ORDER BY started_at DESC, id DESC LIMIT 1
"""

SNAPSHOT_HEADLINES_SQL = """
SELECT CAST(j.key AS INTEGER) + 1 AS position, h.id, coalesce(t.title, h.title) AS title,
       h.rubric, h.kind, h.paid, h.published_at, h.url
FROM snapshots sn, json_each(sn.items) j
JOIN headlines h ON h.id = json_extract(j.value, '$[0]')
LEFT JOIN headline_titles t ON t.id = json_extract(j.value, '$[1]')
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""

SNAPSHOT_RATES_SQL = """
SELECT r.currency, r.rate_date, r.value, r.change, r.source
FROM snapshots sn, json_each(sn.rates) j JOIN rates r ON r.id = j.value
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""

FAILED_SINCE_SQL = f"""
SELECT count(*) FROM fetches
WHERE source = :source AND channel = 'page' AND outcome NOT IN {SUCCESS_SQL}
  AND started_at > :after AND started_at <= :at
"""


def ticker_at(db: Database, at: str, source: str = "rbc") -> dict | None:
    """The ticker as the last successful page poll at or before `at` (UTC ISO) saw it.

    Returns None when no successful poll of `source` happened by then.
    """
    polls = _rows(db, LAST_POLL_SQL, {"source": source, "at": at})
    if not polls:
        return None
    poll = polls[0]
    snapshot = {"snapshot_id": poll["snapshot_id"]}
    failed = db.execute(
        FAILED_SINCE_SQL, {"source": source, "after": poll["started_at"], "at": at}
    ).fetchone()
    return {
        "asked_at": at,
        "poll": poll,
        "failed_polls_since": failed[0],
        "rates": _rows(db, SNAPSHOT_RATES_SQL, snapshot),
        "headlines": _rows(db, SNAPSHOT_HEADLINES_SQL, snapshot),
    }


CHANGES_SQL = f"""
SELECT at, kind, source, ref, text, detail FROM (
    SELECT h.first_seen AS at, 'new' AS kind, h.source, h.id AS ref,
           coalesce((SELECT t.title FROM headline_titles t WHERE t.headline_id = h.id ORDER BY t.id LIMIT 1),
                    h.title) AS text,
           h.rubric AS detail
    FROM headlines h WHERE h.first_seen >= :since AND h.first_seen <= :until
    UNION ALL
    SELECT changed_at, 'rewrite', source, headline_id, new_title, 'was: ' || old_title
    FROM headline_rewrites WHERE changed_at >= :since AND changed_at <= :until
    UNION ALL
    SELECT first_seen, 'rate', source, currency, currency || ' ' || rate_date || ': ' || value,
           CASE WHEN move IS NULL THEN 'first recorded' ELSE 'move ' || move || ' from ' || previous_value END
    FROM rate_history WHERE first_seen >= :since AND first_seen <= :until
    UNION ALL
    SELECT exited_at, 'exit', source, headline_id, title,
           coalesce(exit_reason, 'unknown') || ' from position ' || coalesce(last_position, '?')
    FROM headline_exits WHERE exited_at >= :since AND exited_at <= :until
    UNION ALL
    SELECT started_at, 'failure', source, CAST(id AS TEXT), channel || ': ' || outcome, error
    FROM fetches WHERE outcome NOT IN {SUCCESS_SQL} AND started_at >= :since AND started_at <= :until
) ORDER BY at, kind, ref
"""


def changes(db: Database, since: str, until: str) -> list[dict]:
    """New headlines, rewrites, new rates, exits and failed fetches in [since, until] (both included)."""
    return _rows(db, CHANGES_SQL, {"since": since, "until": until})


RATES_SQL = """
SELECT rate_date, source, currency, value, change_shown, move, previous_value, first_seen, last_seen
FROM rate_history
WHERE (:currency IS NULL OR currency = :currency)
  AND (:source IS NULL OR source = :source OR source_kind = :source)
  AND (:since IS NULL OR rate_date >= :since) AND (:until IS NULL OR rate_date <= :until)
ORDER BY rate_date, currency, source, first_seen
"""


def rates(
    db: Database,
    *,
    currency: str | None = None,
    source: str | None = None,
    since_day: str | None = None,
    until_day: str | None = None,
) -> list[dict]:
    """Rates by the day they are valid for (YYYY-MM-DD bounds, inclusive), with each move."""
    params = {
        "currency": currency.upper() if currency else None,
        "source": source,
        "since": since_day,
        "until": until_day,
    }
    return _rows(db, RATES_SQL, params)
