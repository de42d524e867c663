"""Read-only questions about the history: the ticker at an instant, what changed in a window,
the rate series. Used by `ticker at|changes|rates` and the benchmarks; docs/queries.md."""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from ticker.core.base import SUCCESS_SQL, from_iso, to_moscow_text
from ticker.db.backfill import BACKFILL_CHANNEL
from ticker.db.fetchlog import FAILED_POLL_SQL, failed_poll_sql
from ticker.db.front import (
    BadSearch,
    failed_between,
    fts_query,
    has_words,
    poll_at,
    snapshot_rates,
    sources,
    ticker_items,
)
from ticker.db.schema import DatabaseRefused, database_shape, open_existing
from ticker.db.views import stale_views


class NotReady(Exception):
    """The database cannot be queried: missing, or shaped by another version of ticker."""


def open_history(path: str | Path) -> Database:
    """Open an existing ticker database read-only and check it has the views the queries use
    (never creating, migrating or writing anything)."""

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

    known = {row["name"]: row for row in sources(db)}
    if source not in known:
        names = ", ".join(sorted(known)) or "none recorded yet"
        raise BadQuestion(f"unknown source {source!r} (known: {names})")
    channel = known[source]["ticker_channel"]
    if channel is None:
        raise BadQuestion(f"source {source} has no ticker (it publishes rates only)")
    return channel


# `+f.source`: walk `fetches_started` from the time asked, not the writer's `fetches_log` (0010),
# which SQLite otherwise picks for an equality on the source (db/front.py says more).
FALLBACK_POLL_SQL = f"""
SELECT f.id AS fetch_id, f.source, f.channel, f.started_at, f.outcome, f.snapshot_id, f.body_sha256
FROM fetches f JOIN snapshots sn ON sn.id = f.snapshot_id
WHERE +f.source = :source AND f.channel != :channel AND f.outcome IN {SUCCESS_SQL} AND f.origin IS NULL
  AND f.started_at <= :at AND f.started_at > :after AND sn.item_count > 0
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

TICKER_FAILED_SQL = f"""
SELECT 1 FROM fetches WHERE source = :source AND channel = :channel AND {FAILED_POLL_SQL}
  AND started_at > :after AND started_at <= :at LIMIT 1
"""

LAST_ATTEMPT_SQL = """
SELECT f.id AS fetch_id, f.channel, f.started_at, f.outcome FROM fetches f
WHERE +f.source = :source AND f.origin IS NULL AND f.started_at <= :at
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

SOURCE_EVERY_SQL = "SELECT every_s FROM sources WHERE name = :source"


def answering_poll(db: Database, source: str, channel: str, at: str) -> dict | None:
    """The poll that answers "what did `source`'s ticker show at `at`": the last successful poll
    of its ticker channel at or before `at`, unless that channel failed since and a live poll of
    another of its lists (the RSS fallback the daemon reads while the page is blocked) succeeded
    after it: then that one, with `fallback` true. None when neither exists. `ticker at` and
    `/-/ticker` both ask this."""

    poll = poll_at(db, source, channel, at)
    params = {"source": source, "channel": channel, "at": at, "after": poll["started_at"] if poll else ""}
    failing = poll is None or db.execute(TICKER_FAILED_SQL, params).fetchone() is not None
    rows = _rows(db, FALLBACK_POLL_SQL, params) if failing else []
    ticker_poll_at = poll["started_at"] if poll else None
    if rows:
        return rows[0] | {"fallback": True, "ticker_poll_at": ticker_poll_at}
    return None if poll is None else poll | {"fallback": False, "ticker_poll_at": ticker_poll_at}


def fallback_note(found: dict) -> str | None:
    """What to say over an answer `ticker_at` took from a fallback list (None: from the ticker's own)."""
    if not found["fallback"]:
        return None
    channel = "RSS" if found["channel"] == "rss" else found["channel"]
    since = to_moscow_text(found["ticker_poll_at"]) if found["ticker_poll_at"] else None
    where = (
        f"no successful poll of the {found['ticker_channel']} since {since}"
        if since
        else (f"no successful poll of the {found['ticker_channel']} by then")
    )
    return f"from the {channel} fallback: the feed's items, not the page's order ({where})"


def last_attempt(db: Database, source: str, at: str) -> dict | None:
    """The source's latest live fetch (any channel, any outcome) at or before `at`."""
    found = _rows(db, LAST_ATTEMPT_SQL, {"source": source, "at": at})
    return found[0] if found else None


def staleness(db: Database, source: str, at: str) -> dict:
    """Whether polling had stopped by `at`: the last attempt, and `stale` when nothing was tried
    for longer than the schedule allows (2.5 intervals, at least one interval and a minute)."""
    attempt = last_attempt(db, source, at)
    row = db.execute(SOURCE_EVERY_SQL, {"source": source}).fetchone()
    every = float(row[0]) if row and row[0] else 120.0
    limit = max(2.5 * every, every + 60.0)
    if attempt is None:
        return {"last_attempt_at": None, "stale": True, "silent_s": None}
    silent = (from_iso(at) - from_iso(attempt["started_at"])).total_seconds()
    return {"last_attempt_at": attempt["started_at"], "stale": silent > limit, "silent_s": round(silent)}


def ticker_at(db: Database, at: str, source: str = "rbc") -> dict | None:
    """The ticker as the poll `answering_poll` picks saw it (the last successful poll of
    `source`'s ticker channel at or before `at`, or a later one of its fallback list), each item
    with its marks (docs/queries.md, "Keys").

    Returns None when no successful poll of `source` happened by then; BadQuestion for an
    unknown source or one without a ticker.
    """

    channel = ticker_channel(db, source)
    poll = answering_poll(db, source, channel, at)
    if poll is None:
        return None
    items = ticker_items(db, poll)
    for item in items:
        item["headline_id"] = item.pop("id")
        item["short_id"] = short_id(item["headline_id"])
    return {
        "asked_at": at,
        "source": source,
        "channel": poll["channel"],
        "ticker_channel": channel,
        "fallback": poll["fallback"],
        "ticker_poll_at": poll["ticker_poll_at"],
        "fetch_id": poll["fetch_id"],
        "shown_at": poll["started_at"],
        "outcome": poll["outcome"],
        "body_sha256": poll["body_sha256"],
        "snapshot_id": poll["snapshot_id"],
        # failed polls of the ticker's own list since its last success (the page's, on a fallback)
        "failed_since": failed_between(db, source, channel, poll["ticker_poll_at"] or "", at),
        **staleness(db, source, at),
        "rates": snapshot_rates(db, poll["snapshot_id"]),
        "headlines": items,
    }


# One row per event (docs/queries.md, "changes"). `origin`: NULL for an item first seen live, else
# how it was learned of after the fact (`backfill`, or the importing fetch's origin: `wayback`,
# `warc`); `seen_live`, for those: whether a live poll showed it too (NULL for every other event).
CHANGES_SQL = f"""
SELECT at, event, source, headline_id, rate_id, title, detail, exit_reason, fetch_id, published_at, origin,
       channel,
       -- learned of after the fact, then also shown to a live poll (at an end of a presence run)
       CASE WHEN event = 'new' AND origin IS NOT NULL THEN EXISTS (
           SELECT 1 FROM sightings p JOIN fetches lf ON lf.id IN (p.first_fetch_id, p.last_fetch_id)
           WHERE p.headline_id = e.headline_id AND lf.origin IS NULL) END AS seen_live
FROM (
    SELECT h.first_seen AS at, 'new' AS event, h.source, h.id AS headline_id, NULL AS rate_id,
           coalesce((SELECT t.title FROM headline_titles t WHERE t.headline_id = h.id ORDER BY t.id LIMIT 1),
                    h.title) AS title,
           h.rubric AS detail, NULL AS exit_reason, h.first_fetch_id AS fetch_id, h.published_at,
           coalesce(f.origin, CASE WHEN h.first_channel = :backfill THEN :backfill END) AS origin,
           h.first_channel AS channel
    FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id
    WHERE h.first_seen >= :since AND h.first_seen <= :until
    UNION ALL
    SELECT changed_at, 'reworded', source, headline_id, NULL, new_title, 'was: ' || old_title, NULL, fetch_id,
           NULL, NULL, NULL
    FROM headline_rewrites WHERE changed_at >= :since AND changed_at <= :until
    UNION ALL
    SELECT s.first_seen, 'back', s.source, s.headline_id, NULL, h.title,
           'back at position ' || coalesce(s.first_position, '?') || ' after ' ||
           coalesce((SELECT p.exit_reason FROM sightings p WHERE p.headline_id = s.headline_id
                       AND p.source = s.source AND p.channel = s.channel AND p.id < s.id
                     ORDER BY p.id DESC LIMIT 1), 'an exit'),
           NULL, s.first_fetch_id, h.published_at, NULL, s.channel
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
    SELECT first_seen, 'rate', source, NULL, rate_id, currency || ' ' || rate_date || ': ' || value,
           CASE WHEN move IS NULL THEN 'first recorded' ELSE 'move ' || move || ' from ' || previous_value END,
           NULL, NULL, NULL, NULL, channel
    FROM rate_history WHERE first_seen >= :since AND first_seen <= :until
    UNION ALL
    SELECT exited_at, CASE WHEN exit_reason IN ('pulled', 'scrolled_off') THEN exit_reason ELSE 'exit' END,
           source, headline_id, NULL, title,
           coalesce(exit_reason, 'unknown') || ' from position ' || coalesce(last_position, '?'),
           coalesce(exit_reason, 'unknown'), exit_fetch_id, NULL, NULL, NULL
    FROM headline_exits WHERE exited_at >= :since AND exited_at <= :until
    UNION ALL
    SELECT started_at, 'failed', source, NULL, NULL, channel || ': ' || outcome, error, NULL, id, NULL, NULL,
           channel
    FROM fetches WHERE {FAILED_POLL_SQL}
      AND started_at >= :since AND started_at <= :until
) e WHERE :sources IS NULL OR source IN (SELECT value FROM json_each(:sources))
ORDER BY at, event, coalesce(headline_id, ''), fetch_id
"""

# The event names `changes` gives, and what `--event` may ask for (`exit`: every exit).
EVENTS = ("new", "back", "reworded", "pulled", "scrolled_off", "exit", "rate", "failed")
EXIT_EVENTS = ("pulled", "scrolled_off", "exit")
EVENT_ALIASES = {"rewrite": "reworded", "failure": "failed", "fail": "failed", "scrolled": "scrolled_off"}

FIRST_LIVE_POLL_SQL = f"""
SELECT id FROM fetches WHERE +source = :source AND channel = :channel AND outcome IN {SUCCESS_SQL}
  AND origin IS NULL ORDER BY started_at, id LIMIT 1
"""


def check_source(db: Database, source: str | None) -> None:
    """BadQuestion unless `source` is None or a recorded source name."""

    if source is None:
        return
    known = sorted(
        {row["name"] for row in sources(db)} | set(_names(db, "SELECT DISTINCT source FROM rates"))
    )
    if source not in known:
        raise BadQuestion(f"unknown source {source!r} (known: {', '.join(known) or 'none recorded yet'})")


def event_names(asked: list[str] | tuple[str, ...]) -> set[str]:
    """The events `--event` values select (repeatable, or comma lists); BadQuestion for a typo."""
    wanted: set[str] = set()
    for value in asked:
        for name in (part.strip().lower() for part in value.split(",")):
            if not name:
                continue
            name = EVENT_ALIASES.get(name, name)
            if name not in EVENTS:
                raise BadQuestion(f"unknown event {name!r} (use: {', '.join(EVENTS)})")
            wanted |= set(EXIT_EVENTS) if name == "exit" else {name}
    return wanted


def changes(
    db: Database,
    since: str,
    until: str,
    source: str | None = None,
    *,
    sources: list[str] | tuple[str, ...] = (),
    events: list[str] | tuple[str, ...] = (),
    grep: str | None = None,
) -> list[dict]:
    """New headlines, rewordings, returns after an exit, exits (pulled, scrolled off, or for a
    reason that cannot be known), new rates and failed fetches in [since, until] (both included),
    optionally of some sources, some events (`event_names`), and titles or details containing
    `grep` (case-insensitive, Cyrillic included). Each `new` item that the first live poll of its
    list showed is marked `first_poll` (a new source's whole list, not news)."""
    import json

    names = [*([source] if source else []), *sources]
    for name in names:
        check_source(db, name)
    wanted = event_names(events)
    params = {
        "since": since,
        "until": until,
        "sources": json.dumps(names) if names else None,
        "backfill": BACKFILL_CHANNEL,
    }
    needle = grep.casefold() if grep else None
    found = []
    first_polls: dict[tuple[str, str], int | None] = {}
    for event in _rows(db, CHANGES_SQL, params):
        if wanted and event["event"] not in wanted:
            continue
        if needle and needle not in f"{event['title'] or ''}\n{event['detail'] or ''}".casefold():
            continue
        event["short_id"] = short_id(event["headline_id"]) if event["headline_id"] else None
        event["seen_live"] = None if event["seen_live"] is None else bool(event["seen_live"])
        first = False
        if event["event"] == "new" and event["origin"] is None and event["channel"]:
            key = (event["source"], event["channel"])
            if key not in first_polls:
                row = db.execute(FIRST_LIVE_POLL_SQL, {"source": key[0], "channel": key[1]}).fetchone()
                first_polls[key] = row[0] if row else None
            first = event["fetch_id"] == first_polls[key]
        event["first_poll"] = first
        found.append(event)
    return found


# A shown rate (a source with a ticker: RBC's widget) against the official one of its day, by the
# `rate_comparison` view (the rule of db/rate_rule.py); an official rate against the shown ones.
# The newest :limit (-1: all) first, walking the rates_date index backwards, so only the rates
# shown are paired with their previous one and the official one (ten years: 14,600 rates); then
# in date order.
RATES_SQL = """
SELECT * FROM (
    SELECT rh.rate_id, rh.rate_date, rh.source, rh.currency, rh.value, rh.change_shown AS change, rh.move,
           rh.previous_value, rh.first_seen, rh.last_seen,
           (SELECT c.cbr_value FROM rate_comparison c WHERE c.rbc_rate_id = rh.rate_id AND c.cbr_value IS NOT NULL
            ORDER BY c.cbr_first_seen DESC, c.cbr_rate_id DESC LIMIT 1) AS official_value,
           (SELECT c.mismatch FROM rate_comparison c WHERE c.rbc_rate_id = rh.rate_id AND c.cbr_value IS NOT NULL
            ORDER BY c.cbr_first_seen DESC, c.cbr_rate_id DESC LIMIT 1) AS mismatch
    FROM rate_history rh
    WHERE (:currency IS NULL OR rh.currency = :currency)
      AND (:source IS NULL OR rh.source = :source OR rh.source_kind = :source)
      AND (:since IS NULL OR rh.rate_date >= :since) AND (:until IS NULL OR rh.rate_date <= :until)
    ORDER BY rh.rate_date DESC, rh.currency DESC, rh.source DESC, rh.first_seen DESC
    LIMIT :limit
)
ORDER BY rate_date, currency, source, first_seen
"""


def rates(
    db: Database,
    *,
    currency: str | None = None,
    source: str | None = None,
    since_day: str | None = None,
    until_day: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Rates by the day they are valid for (YYYY-MM-DD bounds, inclusive), with each move; a
    shown rate with the official value of its day and `mismatch` (true: they disagree by the
    rule of db/rate_rule.py; None: no official value stored, or an official rate itself).
    `limit`: only the newest that many (still in date order); None: all."""
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
        "limit": -1 if limit is None else limit,
    }
    found = _rows(db, RATES_SQL, params)
    for rate in found:
        rate["short_id"] = f"rate:{rate['rate_id']}"
        rate["mismatch"] = None if rate["mismatch"] is None else bool(rate["mismatch"])
    return found


COMPARISON_SQL = """
SELECT rbc_rate_id, rbc_source, rbc_value, cbr_rate_id, cbr_source, cbr_value, difference, mismatch
FROM rate_comparison WHERE (rbc_rate_id = :rate_id OR cbr_rate_id = :rate_id) AND cbr_value IS NOT NULL
ORDER BY rbc_rate_id, cbr_rate_id
"""


def rate_comparisons(db: Database, rate_id: int) -> list[dict]:
    """Each shown/official pair of the same currency and day that rate `rate_id` belongs to, with
    `mismatch` by the rule of db/rate_rule.py (the `rate_comparison` view)."""
    found = _rows(db, COMPARISON_SQL, {"rate_id": rate_id})
    for pair in found:
        pair["mismatch"] = bool(pair["mismatch"])
    return found


# ---- short ids -------------------------------------------------------------------------------

SHORT_ID_LENGTH = 8
MIN_PREFIX = 6


def short_id(headline_id: str) -> str:
    """A headline's short id: 8 hex digits of the SHA-1 of its id (any id kind: RBC's hex, a
    feed's `tass:123`, a link), for people to read and paste into `ticker cite`."""
    import hashlib

    return hashlib.sha1(headline_id.encode("utf-8")).hexdigest()[:SHORT_ID_LENGTH]


MATCH_HEADLINES_SQL = """
SELECT id, source, title FROM headlines
WHERE id = :text OR (:prefix AND (substr(id, 1, length(:text)) = :text OR ticker_short_id(id) LIKE :text || '%'))
ORDER BY id LIMIT 20
"""


def find_headlines(db: Database, text: str) -> list[dict]:
    """Headlines `text` names: its full id; else, for 6+ hex digits, those whose short id or
    whose own id starts with it (several: ambiguous)."""
    text = text.strip()
    prefix = len(text) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in text.lower())
    db.conn.create_function("ticker_short_id", 1, short_id, deterministic=True)
    exact = _rows(db, "SELECT id, source, title FROM headlines WHERE id = :text", {"text": text})
    if exact or not prefix:
        return exact
    return _rows(db, MATCH_HEADLINES_SQL, {"text": text.lower(), "prefix": prefix})


# ---- search ----------------------------------------------------------------------------------

SEARCH_SQL = """
SELECT t.headline_id, h.source, t.title, t.first_seen, t.last_seen, t.first_fetch_id, t.last_fetch_id,
       h.title AS latest_title, h.published_at, h.url
FROM headline_titles_fts f JOIN headline_titles t ON t.id = f.rowid JOIN headlines h ON h.id = t.headline_id
WHERE headline_titles_fts MATCH :query
  AND (:sources IS NULL OR h.source IN (SELECT value FROM json_each(:sources)))
  AND (:since IS NULL OR t.last_seen >= :since)
ORDER BY t.last_seen DESC, t.id DESC
"""


def search(
    db: Database,
    text: str,
    *,
    sources: list[str] | tuple[str, ...] = (),
    since: str | None = None,
    limit: int = 50,
) -> list[dict]:
    """Every title version ever shown containing each word of `text` (any case, Cyrillic
    included), most recently shown first: at most `limit` rows."""
    import json

    for name in sources:
        check_source(db, name)
    try:
        query, short_words = fts_query(text)  # the browser's search reads text the same way
    except BadSearch as error:
        raise BadQuestion(f"search {text!r}: {error}") from None
    params = {"query": query, "sources": json.dumps(list(sources)) if sources else None, "since": since}
    found = []
    cursor = db.execute(SEARCH_SQL, params)
    keys = [column[0] for column in cursor.description]
    for row in cursor:
        hit = dict(zip(keys, row, strict=True))
        if not has_words(hit["title"], short_words):
            continue
        hit["short_id"] = short_id(hit["headline_id"])
        found.append(hit)
        if len(found) >= limit:
            break
    return found


# ---- outages ---------------------------------------------------------------------------------

OUTAGES_SQL = """
SELECT id AS outage_id, source, channel, started_at, ended_at, last_failure_at, failures, first_fetch_id,
       last_fetch_id, end_fetch_id,
       CAST(round((julianday(coalesce(ended_at, last_failure_at)) - julianday(started_at)) * 86400) AS INTEGER)
           AS duration_s
FROM outage_runs
WHERE (:sources IS NULL OR source IN (SELECT value FROM json_each(:sources)))
  AND (ended_at IS NULL OR ended_at >= :since) AND started_at <= :until
  AND (NOT :ongoing OR ended_at IS NULL)
ORDER BY started_at DESC, id DESC LIMIT :limit
"""

# Every distinct cause in one run: per outcome and error text, how many fetches, the first and
# last time, and the last fetch of it whose body was archived (the evidence to open).
OUTAGE_CAUSES_SQL = f"""
SELECT f.outcome, f.error, f.status, count(*) AS fetches, min(f.started_at) AS first_at,
       max(f.started_at) AS last_at,
       max(CASE WHEN b.sha256 IS NOT NULL THEN f.id END) AS archived_fetch_id
FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256
WHERE f.id BETWEEN :first AND :last AND +f.source = :source AND f.channel = :channel  -- the id range, not fetches_log
  AND {failed_poll_sql("f")}
GROUP BY f.outcome, f.error, f.status ORDER BY min(f.id)
"""

BODY_OF_SQL = "SELECT body_sha256 FROM fetches WHERE id = :id"


def outages(
    db: Database,
    *,
    since: str,
    until: str,
    sources: list[str] | tuple[str, ...] = (),
    ongoing: bool = False,
    limit: int = 100,
) -> list[dict]:
    """Runs of failed live fetches per source and channel that overlap [since, until], latest
    first: start, end (None: ongoing), duration, attempts and every distinct cause in the run,
    each with the archived body of one of its fetches when one was kept."""
    import json

    for name in sources:
        check_source(db, name)
    params = {"sources": json.dumps(list(sources)) if sources else None, "since": since, "until": until,
              "ongoing": ongoing, "limit": limit}  # fmt: skip
    runs = _rows(db, OUTAGES_SQL, params)
    for run in runs:
        run["ongoing"] = run["ended_at"] is None
        causes = _rows(db, OUTAGE_CAUSES_SQL, {"first": run["first_fetch_id"], "last": run["last_fetch_id"],
                                               "source": run["source"], "channel": run["channel"]})  # fmt: skip
        for cause in causes:
            fetch_id = cause.pop("archived_fetch_id")
            body = db.execute(BODY_OF_SQL, {"id": fetch_id}).fetchone() if fetch_id else None
            cause["archived_fetch_id"] = fetch_id
            cause["body_sha256"] = body[0] if body else None
        run["causes"] = causes
        run["outcomes"] = list(dict.fromkeys(cause["outcome"] for cause in causes))
    return runs
