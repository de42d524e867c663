"""Read-only questions about the history: the ticker at an instant, what changed in a window,
the rate series. Used by `ticker at|changes|rates` and the benchmarks; docs/queries.md."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from ticker.db.fetchlog import FAILED_POLL_SQL


class NotReady(Exception):
    """The database cannot be queried: missing, or shaped by another version of ticker."""


def open_history(path: str | Path) -> Database:
    """Open an existing ticker database read-only and check it has the views the queries use
    (never creating, migrating or writing anything)."""
    from ticker.db.schema import DatabaseRefused, database_shape, open_existing
    from ticker.db.views import stale_views

    try:
        db = open_existing(path)
    except DatabaseRefused as error:
        raise NotReady(str(error)) from None
    older = database_shape(db) == "older"
    if older or stale_views(db):
        db.close()
        raise NotReady(
            f"database {path} was made by {'an older' if older else 'another'} version of ticker: "
            "run `ticker fetch` or the daemon once on it to bring it up to date"
        )
    return db


def _rows(db: Database, sql: str, params: dict | list) -> list[dict]:
    cursor = db.execute(sql, params)
    keys = [column[0] for column in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


class BadQuestion(ValueError):
    """A question the history cannot answer as asked: an unknown source or currency, a source
    without a ticker."""


def _names(db: Database, sql: str) -> list[str]:
    return [row[0] for row in db.execute(sql).fetchall()]


def ticker_channel(db: Database, source: str) -> str:
    """The channel whose list is `source`'s ticker; BadQuestion when unknown or it has none."""
    from ticker.db.front import sources

    known = {row["name"]: row for row in sources(db)}
    if source not in known:
        names = ", ".join(sorted(known)) or "none recorded yet"
        raise BadQuestion(f"unknown source {source!r} (known: {names})")
    channel = known[source]["ticker_channel"]
    if channel is None:
        raise BadQuestion(f"source {source} has no ticker (it publishes rates only)")
    return channel


def ticker_at(db: Database, at: str, source: str = "rbc") -> dict | None:
    """The ticker as the last successful poll of `source`'s ticker channel at or before `at`
    (UTC ISO) saw it, each item with its marks (docs/queries.md, "keys").

    Returns None when no successful poll of `source` happened by then; BadQuestion for an
    unknown source or one without a ticker.
    """
    from ticker.db.front import failed_between, poll_at, snapshot_rates, ticker_items

    channel = ticker_channel(db, source)
    poll = poll_at(db, source, channel, at)
    if poll is None:
        return None
    return {
        "asked_at": at,
        "source": source,
        "channel": channel,
        "fetch_id": poll["fetch_id"],
        "shown_at": poll["started_at"],
        "outcome": poll["outcome"],
        "body_sha256": poll["body_sha256"],
        "snapshot_id": poll["snapshot_id"],
        "failed_since": failed_between(db, source, channel, poll["started_at"], at),
        "rates": snapshot_rates(db, poll["snapshot_id"]),
        "headlines": ticker_items(db, poll),
    }


# `origin`: NULL for an item first seen live, else how it was learned of after the fact
# (`backfill`, or the importing fetch's origin: `wayback`, `warc`); `seen_live`, for those: whether
# a live poll showed it too (1/0; NULL for every other event).
CHANGES_SQL = f"""
SELECT at, event, source, id, title, detail, fetch_id, published_at, origin,
       -- learned of after the fact, then also shown to a live poll (at an end of a presence run)
       CASE WHEN event = 'new' AND origin IS NOT NULL THEN EXISTS (
           SELECT 1 FROM sightings p JOIN fetches lf ON lf.id IN (p.first_fetch_id, p.last_fetch_id)
           WHERE p.headline_id = e.id AND lf.origin IS NULL) END AS seen_live
FROM (
    SELECT h.first_seen AS at, 'new' AS event, h.source, h.id,
           coalesce((SELECT t.title FROM headline_titles t WHERE t.headline_id = h.id ORDER BY t.id LIMIT 1),
                    h.title) AS title,
           h.rubric AS detail, h.first_fetch_id AS fetch_id, h.published_at,
           coalesce(f.origin, CASE WHEN h.first_channel = :backfill THEN :backfill END) AS origin
    FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id
    WHERE h.first_seen >= :since AND h.first_seen <= :until
    UNION ALL
    SELECT changed_at, 'rewrite', source, headline_id, new_title, 'was: ' || old_title, fetch_id, NULL, NULL
    FROM headline_rewrites WHERE changed_at >= :since AND changed_at <= :until
    UNION ALL
    SELECT s.first_seen, 'back', s.source, s.headline_id, h.title,
           'back at position ' || coalesce(s.first_position, '?') || ' after ' ||
           coalesce((SELECT p.exit_reason FROM sightings p WHERE p.headline_id = s.headline_id
                       AND p.source = s.source AND p.channel = s.channel AND p.id < s.id
                     ORDER BY p.id DESC LIMIT 1), 'an exit'),
           s.first_fetch_id, h.published_at, NULL
    FROM (
        -- a presence that began in the window is still shown, or has left since :since (it left
        -- after it began): both halves read a partial index, never the whole table
        SELECT * FROM sightings WHERE exit_fetch_id IS NULL AND first_seen >= :since AND first_seen <= :until
        UNION ALL
        SELECT * FROM sightings WHERE exit_fetch_id IS NOT NULL AND exited_at >= :since
          AND first_seen >= :since AND first_seen <= :until
    ) s JOIN headlines h ON h.id = s.headline_id
    JOIN sources src ON src.name = s.source AND src.ticker_channel = s.channel
    WHERE EXISTS (SELECT 1 FROM sightings p WHERE p.headline_id = s.headline_id AND p.source = s.source
                    AND p.channel = s.channel AND p.id < s.id)
    UNION ALL
    SELECT first_seen, 'rate', source, NULL, currency || ' ' || rate_date || ': ' || value,
           CASE WHEN move IS NULL THEN 'first recorded' ELSE 'move ' || move || ' from ' || previous_value END,
           NULL, NULL, NULL
    FROM rate_history WHERE first_seen >= :since AND first_seen <= :until
    UNION ALL
    SELECT exited_at, 'exit', source, headline_id, title,
           coalesce(exit_reason, 'unknown') || ' from position ' || coalesce(last_position, '?'),
           exit_fetch_id, NULL, NULL
    FROM headline_exits WHERE exited_at >= :since AND exited_at <= :until
    UNION ALL
    SELECT started_at, 'failure', source, NULL, channel || ': ' || outcome, error, id, NULL, NULL
    FROM fetches WHERE {FAILED_POLL_SQL} AND started_at >= :since AND started_at <= :until
) e WHERE :source IS NULL OR source = :source
ORDER BY at, event, coalesce(id, ''), fetch_id
"""


def check_source(db: Database, source: str | None) -> None:
    """BadQuestion unless `source` is None or a recorded source name."""
    from ticker.db.front import sources

    if source is None:
        return
    known = sorted(
        {row["name"] for row in sources(db)} | set(_names(db, "SELECT DISTINCT source FROM rates"))
    )
    if source not in known:
        raise BadQuestion(f"unknown source {source!r} (known: {', '.join(known) or 'none recorded yet'})")


def changes(db: Database, since: str, until: str, source: str | None = None) -> list[dict]:
    """New headlines, rewrites, returns after an exit, new rates, exits and failed fetches in
    [since, until] (both included), optionally of one source."""
    from ticker.db.backfill import BACKFILL_CHANNEL

    check_source(db, source)
    params = {"since": since, "until": until, "source": source, "backfill": BACKFILL_CHANNEL}
    return _rows(db, CHANGES_SQL, params)


RATES_SQL = """
SELECT rate_id, rate_date, source, currency, value, change_shown AS change, move, previous_value, first_seen,
       last_seen
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
    code = currency.strip().upper() if currency else None
    if code is not None:
        known = _names(db, "SELECT DISTINCT currency FROM rates ORDER BY currency")
        if code not in known:
            raise BadQuestion(f"unknown currency {currency!r} (recorded: {', '.join(known) or 'none yet'})")
    if source is not None:
        kinds = _names(db, "SELECT kind FROM sources")
        if source not in kinds:
            check_source(db, source)
    params = {
        "currency": code,
        "source": source,
        "since": since_day,
        "until": until_day,
    }
    return _rows(db, RATES_SQL, params)
