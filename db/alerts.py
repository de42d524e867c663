"""The alerts' SQL: the facts a poll's alerts are decided on, the per-condition state
(`alert_state`), the alert log (`alerts`) and its delivery queue (migration 0009).

Delivery is a queue in the `alerts` table: an alert to send is written with `next_attempt_at` in
the same transaction as the condition it reports, so a crash can never leave a condition raised
and its alert forgotten. `claim_due` marks the due alerts as being sent (attempts + 1, the next
attempt pushed past a lease) before anyone sends them; `finish_delivery` records the result. An
alert whose delivery was interrupted (the process died) is due again at the next start
(`release_interrupted`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from ticker.db.fetchlog import FAILED_POLL_SQL


@dataclass(frozen=True, slots=True)
class FetchFacts:
    source: str
    channel: str
    outcome: str
    started_at: str
    error: str | None


@dataclass(frozen=True, slots=True)
class FailureRun:
    """The current run of failed fetches of a source's channel (from `outage_runs`), up to a fetch."""

    failures: int  # not counting blocked ones
    first_failed_at: str
    first_blocked_at: str | None


@dataclass(frozen=True, slots=True)
class Due:
    """An alert to send now."""

    id: int
    condition: str
    event: str
    message: str
    attempts: int  # including this one


def fetch_ids_between(db: Database, after_id: int, upto_id: int) -> list[int]:
    """The fetch ids in (after_id, upto_id], in order."""
    return [
        r[0]
        for r in db.execute(
            "SELECT id FROM fetches WHERE id > ? AND id <= ? ORDER BY id", [after_id, upto_id]
        )
    ]


def fetch_facts(db: Database, fetch_id: int) -> FetchFacts | None:
    row = db.execute(
        "SELECT source, channel, outcome, started_at, error FROM fetches WHERE id = ?", [fetch_id]
    ).fetchone()
    return FetchFacts(*row) if row else None


def failure_run(db: Database, source: str, channel: str, fetch_id: int) -> FailureRun | None:
    """The outage run holding this failed fetch, counted up to it (None: not in a run)."""
    run = db.execute(
        "SELECT first_fetch_id FROM outage_runs WHERE source = ? AND channel = ? "
        "AND first_fetch_id <= ? AND last_fetch_id >= ? ORDER BY id DESC LIMIT 1",
        [source, channel, fetch_id, fetch_id],
    ).fetchone()
    if run is None:
        return None
    failed, first_blocked, first_failed = db.execute(
        "SELECT count(*) FILTER (WHERE outcome != 'blocked'), "
        "min(started_at) FILTER (WHERE outcome = 'blocked'), min(started_at) FROM fetches "
        f"WHERE source = ? AND channel = ? AND id >= ? AND id <= ? AND {FAILED_POLL_SQL}",
        [source, channel, run[0], fetch_id],
    ).fetchone()
    return FailureRun(failed, first_failed, first_blocked)


def pulled_by(db: Database, fetch_id: int) -> list[tuple[str, str, str | None, str]]:
    """(headline id, title, url, first seen) of each item this fetch found pulled."""
    return db.execute(
        "SELECT s.headline_id, h.title, h.url, s.first_seen FROM sightings s "
        "JOIN headlines h ON h.id = s.headline_id WHERE s.exit_fetch_id = ? AND s.exit_reason = 'pulled'",
        [fetch_id],
    ).fetchall()


def pulled_shown_again(db: Database, source: str, channel: str) -> list[str]:
    """Raised `pulled:<id>` conditions whose headline is shown again on this channel."""
    return [
        condition
        for (condition,) in db.execute(
            "SELECT a.condition FROM alert_state a WHERE a.cleared_at IS NULL AND a.source = ? "
            "AND a.condition LIKE 'pulled:%' AND EXISTS (SELECT 1 FROM sightings s WHERE "
            "s.headline_id = substr(a.condition, 8) AND s.exit_fetch_id IS NULL AND s.channel = ?)",
            [source, channel],
        ).fetchall()
    ]


def rates_touched(db: Database, fetch_id: int) -> list[tuple[str, str]]:
    """(currency, day) of each rate this fetch showed."""
    return db.execute(
        "SELECT DISTINCT currency, rate_date FROM rates WHERE last_fetch_id = ? OR first_fetch_id = ?",
        [fetch_id, fetch_id],
    ).fetchall()


@dataclass(frozen=True, slots=True)
class RatePair:
    """The latest shown rate against the latest official one, as `rate_comparison` pairs them."""

    shown: str
    shown_id: int
    official: str
    official_id: int
    mismatch: bool


def rate_pair(db: Database, currency: str, day: str) -> RatePair | None:
    """From the `rate_comparison` view, so the alert and the view share one rule (db/rate_rule.py)."""
    row = db.execute(
        "SELECT rbc_value, rbc_rate_id, cbr_value, cbr_rate_id, mismatch FROM rate_comparison "
        "WHERE currency = ? AND rate_date = ? AND cbr_value IS NOT NULL "
        "ORDER BY rbc_last_seen DESC, rbc_rate_id DESC, cbr_first_seen DESC, cbr_rate_id DESC LIMIT 1",
        [currency, day],
    ).fetchone()
    return RatePair(row[0], row[1], row[2], row[3], bool(row[4])) if row else None


@dataclass(frozen=True, slots=True)
class Raised:
    """A condition that holds (raised, not cleared)."""

    source: str | None


def raised(db: Database, condition: str) -> Raised | None:
    """The condition's state when it is raised and not cleared; None otherwise."""
    row = db.execute(
        "SELECT source FROM alert_state WHERE condition = ? AND cleared_at IS NULL", [condition]
    ).fetchone()
    return None if row is None else Raised(row[0])


def raise_condition(db: Database, condition: str, source: str, at: str, message: str) -> None:
    db.execute(
        "INSERT INTO alert_state (condition, source, raised_at, cleared_at, message) "
        "VALUES (?, ?, ?, NULL, ?) ON CONFLICT (condition) DO UPDATE SET source = excluded.source, "
        "raised_at = excluded.raised_at, cleared_at = NULL, message = excluded.message",
        [condition, source, at, message],
    )


def clear_condition(db: Database, condition: str, at: str) -> None:
    db.execute("UPDATE alert_state SET cleared_at = ? WHERE condition = ?", [at, condition])


def log_alert(
    db: Database,
    condition: str,
    source: str | None,
    event: str,
    at: str,
    fetch_id: int,
    message: str,
    *,
    due_at: str | None,
) -> int:
    """One `alerts` row; `due_at` queues it for delivery (None: recorded, never sent)."""
    cursor = db.execute(
        "INSERT INTO alerts (condition, source, event, at, fetch_id, message, attempts, next_attempt_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        [condition, source, event, at, fetch_id, message, due_at],
    )
    return int(cursor.lastrowid)


def release_interrupted(db: Database, now: str) -> int:
    """Alerts whose delivery was under way when the process died (claimed, no result): due now.
    Call once at start, while no delivery of this database is in flight (one daemon per file)."""
    cursor = db.execute(
        "UPDATE alerts SET next_attempt_at = ? WHERE next_attempt_at IS NOT NULL AND delivered IS NULL "
        "AND attempts > 0",
        [now],
    )
    return cursor.rowcount


def any_due(db: Database, now: str) -> bool:
    """Whether an alert is due at `now` (a read: no write lock when there is nothing to send)."""
    return (
        db.execute(
            "SELECT 1 FROM alerts WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? LIMIT 1", [now]
        ).fetchone()
        is not None
    )


def claim_due(db: Database, now: str, lease_until: str, limit: int = 20) -> list[Due]:
    """Take the alerts due at `now` (call inside a write transaction): each gets one more
    attempt and is not due again before `lease_until`, so two jobs never send the same one.
    Each kind of condition (`failing`, `pulled`, ...) takes its turn."""
    # Kinds take turns (the first due of each kind, then the second...): a backlog of one kind
    # (a thousand `pulled` alerts) never holds another (`failing`) behind it.
    rows = db.execute(
        "SELECT id, condition, event, message, attempts FROM (SELECT id, condition, event, message, "
        "attempts, row_number() OVER (PARTITION BY substr(condition, 1, instr(condition, ':')) "
        "ORDER BY id) AS turn FROM alerts WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?) "
        "ORDER BY turn, id LIMIT ?",
        [now, limit],
    ).fetchall()
    for row in rows:
        db.execute(
            "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = ?, delivered = NULL WHERE id = ?",
            [lease_until, row[0]],
        )
    return [
        Due(id, condition, event, message, attempts + 1) for id, condition, event, message, attempts in rows
    ]


def finish_delivery(
    db: Database, alert_id: int, delivered: bool, error: str | None, retry_at: str | None
) -> None:
    """The result of one attempt; `retry_at` None: no further attempt (sent, or given up)."""
    db.execute(
        "UPDATE alerts SET delivered = ?, error = ?, next_attempt_at = ? WHERE id = ?",
        [int(delivered), error, None if delivered else retry_at, alert_id],
    )


def pending_alerts(db: Database) -> int:
    """Alerts still to be sent (queued, retrying or under way)."""
    return db.execute("SELECT count(*) FROM alerts WHERE next_attempt_at IS NOT NULL").fetchone()[0]
