"""The fetch log: one row per attempt, its place in the log, and the summaries the writers keep
beside it (`outage_runs`, `fetch_hours`).

One rule says which fetches are *failed polls* (`FAILED_POLL_SQL`, `is_failed_poll`): a failed
attempt of a live poll. A backfill's or an import's failed request says nothing about what the
live ticker showed or about the source's health, so it never counts: not in health, alerts,
outages, the query CLI or the history's exits.
"""

from __future__ import annotations

from sqlite_utils import Database

from ticker.core.base import FAILURE_OUTCOMES, SUCCESS_OUTCOMES, SUCCESS_SQL
from ticker.core.records import FetchRow

# A failed live poll, as SQL over a `fetches` row (an optional alias prefix: "f.").
FAILED_POLL_SQL = f"(outcome NOT IN {SUCCESS_SQL} AND origin IS NULL)"


def failed_poll_sql(alias: str = "") -> str:
    """`FAILED_POLL_SQL` for a `fetches` table named by `alias` (e.g. "f")."""
    prefix = f"{alias}." if alias else ""
    return f"({prefix}outcome NOT IN {SUCCESS_SQL} AND {prefix}origin IS NULL)"


def is_failed_poll(outcome: str, origin: str | None) -> bool:
    """The rule of `FAILED_POLL_SQL`, for a row already read."""
    return outcome not in SUCCESS_OUTCOMES and origin is None


def failed_polls(db: Database, source: str, channel: str, after_id: int, upto_id: int) -> int:
    """Failed live polls of a source's channel with `after_id < id <= upto_id` (arrival order)."""
    return db.execute(
        f"SELECT count(*) FROM fetches WHERE source = ? AND channel = ? AND id > ? AND id <= ? AND {FAILED_POLL_SQL}",
        [source, channel, after_id, upto_id],
    ).fetchone()[0]


_FETCH_COLUMNS = [name for name in FetchRow.__dataclass_fields__ if name != "id"]


def latest_live_place(db: Database, source: str, channel: str) -> str | None:
    """The latest place (`log_at`) of the channel's live polls: a poll that starts now goes
    after it."""
    found = db.execute(  # backwards through the channel's index: the latest fetch is nearly always live
        "SELECT log_at FROM fetches WHERE source = ? AND channel = ? AND origin IS NULL "
        "ORDER BY log_at DESC LIMIT 1",
        [source, channel],
    ).fetchone()
    return found[0] if found else None


def insert_fetch(
    db: Database, row: FetchRow, *, after_log_at: str | None = None, known_after: bool = False
) -> int:
    """Insert one `fetches` row inside the caller's transaction, with its place in the log;
    returns its id.

    The log's order is (`log_at`, `id`). An imported capture or a backfill request sits at its
    own instant. A live poll sits at its start instant, but never before what was committed when
    it started (`after_log_at`, read then; `known_after=False`: read now, the poll started after
    everything already written): a host clock that stepped back cannot put a poll before the one
    it followed, and only polls that truly overlapped are merged by their instants."""
    columns = [name for name in _FETCH_COLUMNS if name not in ("log_at",)] + ["log_at"]
    if row.log_at is not None:  # a re-parse copies a fetch with the place it had
        after_log_at, known_after = row.log_at, True
    if row.origin is None:
        if not known_after:
            after_log_at = latest_live_place(db, row.source, row.channel)
        row.log_at = max(row.started_at, after_log_at) if after_log_at else row.started_at
    else:
        row.log_at = row.started_at
    values = [getattr(row, name) for name in columns]
    if row.id is not None:  # a re-parse keeps the original ids
        columns, values = ["id", *columns], [row.id, *values]
    cursor = db.execute(
        f"INSERT INTO fetches ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values
    )
    fetch_id = int(cursor.lastrowid)
    row.id = fetch_id
    if row.origin is None:  # a backfill's or an import's requests say nothing of the live source's health
        track_outage(db, fetch_id, row.source, row.channel, row.started_at, row.outcome, row.error)
        count_fetch_hour(db, row.source, row.started_at, row.outcome, row.duration_ms)
    return fetch_id


def count_fetch_hour(db: Database, source: str, at: str, outcome: str, duration_ms: int | None) -> None:
    """Add one attempt to its source's hour in `fetch_hours`."""
    column = outcome if outcome in SUCCESS_OUTCOMES + FAILURE_OUTCOMES else "attempts"
    db.execute(
        f"INSERT INTO fetch_hours (source, hour, attempts, {column}, duration_ms_total) "
        f"VALUES (?, ?, 1, 1, ?) ON CONFLICT (source, hour) DO UPDATE SET "
        f"attempts = attempts + 1, {column} = {column} + 1, "
        f"duration_ms_total = duration_ms_total + excluded.duration_ms_total",
        [source, at[:13] + ":00:00Z", duration_ms or 0],
    )


def _live_only(db: Database) -> str:
    """`WHERE` for live polls only (the `origin` column exists from migration 0007 on)."""
    return "WHERE origin IS NULL" if "origin" in db["fetches"].columns_dict else ""


def rebuild_fetch_hours(db: Database) -> None:
    """Recount `fetch_hours` from the fetch log (migrations, synthetic histories, re-parses)."""
    db.execute("DELETE FROM fetch_hours")
    db.execute(
        "INSERT INTO fetch_hours SELECT source, substr(started_at, 1, 13) || ':00:00Z', count(*), "
        "sum(outcome = 'ok'), sum(outcome = 'unchanged'), sum(outcome = 'blocked'), "
        "sum(outcome = 'http_error'), sum(outcome = 'network_error'), sum(outcome = 'parse_error'), "
        f"coalesce(sum(duration_ms), 0) FROM fetches {_live_only(db)} GROUP BY 1, 2"
    )


def rebuild_outage_runs(db: Database) -> None:
    """Rebuild `outage_runs` from the fetch log (migrations, synthetic histories, re-parses)."""
    db.execute("DELETE FROM outage_runs")
    for fetch_id, source, channel, started_at, outcome, error in db.execute(
        f"SELECT id, source, channel, started_at, outcome, error FROM fetches {_live_only(db)} ORDER BY id"
    ).fetchall():
        track_outage(db, fetch_id, source, channel, started_at, outcome, error)


def track_outage(
    db: Database, fetch_id: int, source: str, channel: str, at: str, outcome: str, error: str | None
) -> None:
    """Keep `outage_runs` in step with one new fetch: a success closes the open run of its
    source and channel, a failure extends it or opens one."""
    if outcome in SUCCESS_OUTCOMES:
        db.execute(
            "UPDATE outage_runs SET ended_at = ?, end_fetch_id = ? "
            "WHERE source = ? AND channel = ? AND ended_at IS NULL",
            [at, fetch_id, source, channel],
        )
        return
    open_run = db.execute(
        "SELECT id, outcomes FROM outage_runs WHERE source = ? AND channel = ? AND ended_at IS NULL",
        [source, channel],
    ).fetchone()
    if open_run is None:
        db.execute(
            "INSERT INTO outage_runs (source, channel, started_at, first_fetch_id, last_failure_at, "
            "last_fetch_id, failures, outcomes, first_error) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [source, channel, at, fetch_id, at, fetch_id, outcome, error],
        )
        return
    outcomes = open_run[1] if outcome in open_run[1].split(",") else f"{open_run[1]},{outcome}"
    db.execute(
        "UPDATE outage_runs SET last_failure_at = max(last_failure_at, ?), last_fetch_id = ?, "
        "failures = failures + 1, outcomes = ? WHERE id = ?",
        [at, fetch_id, outcomes, open_run[0]],
    )
