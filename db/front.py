"""The questions the browser pages ask (`/-/ticker`, `/-/headline/<id>`), read-only.

Every source's ticker is the list of its `sources.ticker_channel`; nothing here names a kind
or a channel. Instants in and out are stored UTC ISO text.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from ticker.core.base import SUCCESS_SQL
from ticker.db.fetchlog import failed_poll_sql


def rows(db: Database, sql: str, params: dict | list | tuple = ()) -> list[dict[str, Any]]:
    """Rows of a query as dicts keyed by column name."""
    cursor = db.execute(sql, params)
    keys = [column[0] for column in cursor.description]
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def _one(db: Database, sql: str, params: dict | list | tuple = ()) -> dict[str, Any] | None:
    found = rows(db, sql, params)
    return found[0] if found else None


SOURCES_SQL = "SELECT name, kind, ticker_channel FROM sources ORDER BY name"


def sources(db: Database) -> list[dict[str, Any]]:
    """Every recorded source: name, kind and the channel whose list is its ticker (None: none)."""
    return rows(db, SOURCES_SQL)


# `+f.source` (and `+s2.source` below): the poll at or next to a time is found by walking
# `fetches_started` from it; a plain `f.source = ?` lets SQLite pick the writer's `fetches_log
# (source, channel, log_at)` (migration 0010) and read every poll of the channel (1-5 s on ten
# years; benchmarks/queries.py).
_POLL_COLUMNS = "f.id AS fetch_id, f.source, f.channel, f.started_at, f.outcome, f.snapshot_id, f.body_sha256"

POLL_AT_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE +f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL} AND f.started_at <= :at
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

PREVIOUS_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE +f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at < :started_at OR (f.started_at = :started_at AND f.id < :fetch_id))
ORDER BY f.started_at DESC, f.id DESC LIMIT 1
"""

NEXT_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE +f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at > :started_at OR (f.started_at = :started_at AND f.id > :fetch_id))
ORDER BY f.started_at, f.id LIMIT 1
"""

NEXT_CHANGE_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE +f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
  AND (f.started_at > :started_at OR (f.started_at = :started_at AND f.id > :fetch_id))
  AND f.snapshot_id IS NOT :snapshot_id
ORDER BY f.started_at, f.id LIMIT 1
"""

FIRST_POLL_SQL = f"""
SELECT {_POLL_COLUMNS} FROM fetches f
WHERE +f.source = :source AND f.channel = :channel AND f.outcome IN {SUCCESS_SQL}
ORDER BY f.started_at, f.id LIMIT 1
"""

FAILED_BETWEEN_SQL = f"""
SELECT f.outcome, count(*) AS polls, min(f.started_at) AS first_at, max(f.started_at) AS last_at,
       (SELECT g.error FROM fetches g WHERE +g.source = f.source AND g.channel = f.channel
          AND g.outcome = f.outcome AND g.started_at > :after AND g.started_at <= :until
        ORDER BY g.started_at DESC, g.id DESC LIMIT 1) AS last_error
FROM fetches f
WHERE f.source = :source AND f.channel = :channel AND {failed_poll_sql("f")}
  AND f.started_at > :after AND f.started_at <= :until
GROUP BY f.outcome ORDER BY min(f.started_at)
"""


def poll_at(db: Database, source: str, channel: str, at: str) -> dict[str, Any] | None:
    """The last successful poll of a source's channel at or before `at`."""
    return _one(db, POLL_AT_SQL, {"source": source, "channel": channel, "at": at})


def first_poll(db: Database, source: str, channel: str) -> dict[str, Any] | None:
    """The first successful poll of a source's channel."""
    return _one(db, FIRST_POLL_SQL, {"source": source, "channel": channel})


def poll_steps(db: Database, poll: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The successful polls before and after `poll`, and the next one that saw another list."""
    params = {key: poll[key] for key in ("source", "channel", "started_at", "fetch_id", "snapshot_id")}
    return {
        "previous": _one(db, PREVIOUS_POLL_SQL, params),
        "next": _one(db, NEXT_POLL_SQL, params),
        "next_change": _one(db, NEXT_CHANGE_SQL, params),
    }


def failed_between(db: Database, source: str, channel: str, after: str, until: str) -> list[dict[str, Any]]:
    """Failed polls in (after, until], one row per outcome: count, first and last time, last error."""
    params = {"source": source, "channel": channel, "after": after, "until": until}
    return rows(db, FAILED_BETWEEN_SQL, params)


# Each item of a snapshot with its marks: `new` (its presence on this channel began at this poll),
# `reworded_here` (this poll showed a new title), `reworded_later` (a later poll showed another), `exit_reason` of the presence this poll
# belongs to when it has ended (pulled, scrolled_off, unknown), and when.
TICKER_ITEMS_SQL = """
SELECT CAST(j.key AS INTEGER) + 1 AS position, h.id, coalesce(t.title, h.title) AS title,
       h.rubric, h.kind, h.paid, h.published_at, h.url,
       s.first_fetch_id = :fetch_id AS new,
       EXISTS (SELECT 1 FROM title_changes tc WHERE tc.headline_id = h.id AND tc.fetch_id = :fetch_id)
           AS reworded_here,
       EXISTS (SELECT 1 FROM title_changes tc WHERE tc.headline_id = h.id AND tc.fetch_id > :fetch_id)
           AS reworded_later,
       s.exit_reason, s.exited_at, s.first_seen AS on_ticker_since
FROM snapshots sn, json_each(sn.items) j
JOIN headlines h ON h.id = json_extract(j.value, '$[0]')
LEFT JOIN headline_titles t ON t.id = json_extract(j.value, '$[1]')
LEFT JOIN sightings s ON s.id = (
    SELECT s2.id FROM sightings s2 WHERE s2.headline_id = h.id AND +s2.source = :source
      AND s2.channel = :channel AND s2.first_fetch_id <= :fetch_id AND s2.last_fetch_id >= :fetch_id
    ORDER BY s2.first_fetch_id DESC LIMIT 1)
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""

SNAPSHOT_RATES_SQL = """
SELECT r.id AS rate_id, r.currency, r.rate_date, r.value, r.change, r.source
FROM snapshots sn, json_each(sn.rates) j JOIN rates r ON r.id = j.value
WHERE sn.id = :snapshot_id ORDER BY CAST(j.key AS INTEGER)
"""


def ticker_items(db: Database, poll: dict[str, Any]) -> list[dict[str, Any]]:
    """The list a poll saw, in on-page order, titles as they read then, with each item's marks."""
    params = {key: poll[key] for key in ("source", "channel", "fetch_id", "snapshot_id")}
    items = rows(db, TICKER_ITEMS_SQL, params)
    for item in items:
        item["new"] = bool(item["new"])
        item["reworded_here"] = bool(item["reworded_here"])
        item["reworded_later"] = bool(item["reworded_later"])
        item["paid"] = bool(item["paid"])
    return items


def snapshot_rates(db: Database, snapshot_id: int | None) -> list[dict[str, Any]]:
    """The rate widgets a snapshot holds, in on-page order."""
    return rows(db, SNAPSHOT_RATES_SQL, {"snapshot_id": snapshot_id})


HEADLINE_SQL = """
SELECT h.id, h.source, h.url, h.title, h.rubric, h.kind, h.paid, h.project, h.published_at,
       h.first_seen, h.last_seen, h.first_fetch_id, h.last_fetch_id, h.first_channel, f.origin
FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id WHERE h.id = :id
"""

# Each title in the order it was shown: the first title, then one row per rewording (a title
# that comes back is shown again), each with the poll that first showed it.
TITLE_VERSIONS_SQL = """
SELECT title, shown_at, fetch_id, f.source, body_sha256 FROM (
    SELECT t.title, t.first_seen AS shown_at, t.first_fetch_id AS fetch_id, 0 AS ord, 0 AS change_id
    FROM headline_titles t
    WHERE t.headline_id = :id AND t.id = coalesce(
        (SELECT tc.old_title_id FROM title_changes tc WHERE tc.headline_id = :id ORDER BY tc.id LIMIT 1),
        (SELECT min(t2.id) FROM headline_titles t2 WHERE t2.headline_id = :id))
    UNION ALL
    SELECT n.title, tc.changed_at, tc.fetch_id, 1, tc.id
    FROM title_changes tc JOIN headline_titles n ON n.id = tc.new_title_id WHERE tc.headline_id = :id
) v LEFT JOIN fetches f ON f.id = v.fetch_id
ORDER BY ord, change_id
"""

PRESENCES_SQL = """
SELECT s.id AS sighting_id, s.source, s.channel, s.first_seen, s.last_seen, s.exited_at, s.exit_reason,
       s.first_position, s.last_position, s.first_fetch_id, s.last_fetch_id, s.exit_fetch_id,
       CAST(round((julianday(s.last_seen) - julianday(s.first_seen)) * 86400) AS INTEGER) AS shown_s,
       src.ticker_channel = s.channel AS on_ticker
FROM sightings s LEFT JOIN sources src ON src.name = s.source
WHERE s.headline_id = :id ORDER BY s.first_seen, s.id
"""

# Where the item stood at each poll of one presence where its position (or the list) changed.
POSITIONS_SQL = """
SELECT f.id AS fetch_id, f.started_at, CAST(j.key AS INTEGER) + 1 AS position
FROM fetches f JOIN snapshots sn ON sn.id = f.snapshot_id, json_each(sn.items) j
WHERE +f.source = :source AND f.channel = :channel AND f.id BETWEEN :first AND :last
  AND json_extract(j.value, '$[0]') = :id
ORDER BY f.id
"""

EVIDENCE_SQL = """
SELECT f.id AS fetch_id, f.source, f.channel, f.started_at, f.outcome, f.body_sha256,
       b.sha256 IS NOT NULL AS archived, f.origin, f.origin_ref
FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256
WHERE f.id IN (SELECT value FROM json_each(:ids)) ORDER BY f.id
"""


def headline(db: Database, headline_id: str) -> dict[str, Any] | None:
    """One headline: its row, title versions in order, presences with positions, evidence fetches."""
    import json

    found = _one(db, HEADLINE_SQL, {"id": headline_id})
    if found is None:
        return None
    found["paid"] = bool(found["paid"])
    versions = rows(db, TITLE_VERSIONS_SQL, {"id": headline_id})
    presences = rows(db, PRESENCES_SQL, {"id": headline_id})
    for presence in presences:
        presence["on_ticker"] = bool(presence["on_ticker"])
        positions = rows(db, POSITIONS_SQL, {"source": presence["source"], "channel": presence["channel"],
                                             "first": presence["first_fetch_id"],
                                             "last": presence["last_fetch_id"], "id": headline_id})  # fmt: skip
        presence["positions"] = [
            p for i, p in enumerate(positions) if i == 0 or p["position"] != positions[i - 1]["position"]
        ]
    fetch_ids = {found["first_fetch_id"], found["last_fetch_id"]}
    fetch_ids |= {v["fetch_id"] for v in versions}
    for presence in presences:
        fetch_ids |= {presence["first_fetch_id"], presence["last_fetch_id"], presence["exit_fetch_id"]}
    evidence = rows(db, EVIDENCE_SQL, {"ids": json.dumps(sorted(i for i in fetch_ids if i is not None))})
    for fetch in evidence:
        fetch["archived"] = bool(fetch["archived"])
    return {"headline": found, "versions": versions, "presences": presences, "evidence": evidence}


def body_content_type(db: Database, sha256: str) -> str | None:
    """The Content-Type an archived body was served with."""
    row = db.execute("SELECT content_type FROM bodies WHERE sha256 = ?", [sha256]).fetchone()
    return row[0] if row else None


# --- The newsroom pages: search, the last 24 hours, the changes feed (ticker_newsroom.py) ---

DEFAULT_SOURCE_SQL = """
SELECT s.name FROM sources s
LEFT JOIN (SELECT source, channel, max(started_at) AS polled_at FROM address_state GROUP BY source, channel) a
    ON a.source = s.name AND a.channel = s.ticker_channel
WHERE s.ticker_channel IS NOT NULL
ORDER BY a.polled_at IS NULL, a.polled_at DESC, s.rowid LIMIT 1
"""


def default_source(db: Database) -> str | None:
    """The source a page opens without one: the source with a ticker whose ticker was polled
    successfully most recently (`address_state`), else the first one recorded."""
    found = db.execute(DEFAULT_SOURCE_SQL).fetchone()
    return found[0] if found else None


MAX_FAILED_SHOWN = 20  # failed fetches a page lists one by one (all are counted per outcome)

FAILED_FETCHES_SQL = f"""
SELECT f.id AS fetch_id, f.started_at, f.outcome, f.status, f.error, f.body_sha256,
       b.sha256 IS NOT NULL AS archived
FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256
WHERE f.source = :source AND f.channel = :channel AND {failed_poll_sql("f")}
  AND f.started_at > :after AND f.started_at <= :until
ORDER BY f.started_at DESC, f.id DESC LIMIT :limit
"""


def failed_fetches(
    db: Database, source: str, channel: str, after: str, until: str, limit: int = MAX_FAILED_SHOWN
) -> list[dict[str, Any]]:
    """The latest failed fetches of a source's channel in (after, until], newest first, each
    with whether its body is archived (a block page, an error page)."""
    params = {"source": source, "channel": channel, "after": after, "until": until, "limit": limit}
    found = rows(db, FAILED_FETCHES_SQL, params)
    for fetch in found:
        fetch["archived"] = bool(fetch["archived"])
    return found


MIN_SEARCH_CHARS = 3  # the trigram index matches substrings of 3 characters or more


class BadSearch(ValueError):
    """Search text the index cannot answer (too short); the message says why."""


def fts_query(text: str) -> tuple[str, list[str]]:
    """User text as an FTS5 query over the trigram index, and the words it cannot check itself.

    Every word of 3+ characters becomes a quoted phrase (any text is safe: quotes are doubled,
    FTS5 operators are only words inside a phrase), all of them required; shorter words (`ЦБ`)
    cannot be matched by trigrams and are returned for the caller to check. Text with no such
    word is searched as one phrase (`ЦБ РФ`). BadSearch for text under 3 characters."""
    if "\x00" in text:
        raise BadSearch("search text contains a NUL character")
    words = text.split()
    long_words = [word for word in words if len(word) >= MIN_SEARCH_CHARS]
    if not long_words:
        phrase = " ".join(words)
        if len(phrase) < MIN_SEARCH_CHARS:
            raise BadSearch(f"search for at least {MIN_SEARCH_CHARS} characters (got {text.strip()!r})")
        return _phrase(phrase), []
    return " ".join(_phrase(word) for word in long_words), [w for w in words if len(w) < MIN_SEARCH_CHARS]


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def has_words(title: str, words: list[str]) -> bool:
    """Whether the title contains each word, in any case (the words the index cannot check)."""
    folded = title.casefold()
    return all(word.casefold() in folded for word in words)


# Newest title versions first, by the index's rowid (headline_titles.id, in recording order):
# FTS5 walks its doclist backwards, so nothing is sorted and the first page costs the same on a
# day or ten years of titles.
SEARCH_SQL = """
SELECT t.id AS title_id, t.headline_id, t.title, t.first_seen, t.last_seen, h.source,
       h.title AS latest_title, h.url
FROM headline_titles_fts x
JOIN headline_titles t ON t.id = x.rowid
JOIN headlines h ON h.id = t.headline_id
WHERE headline_titles_fts MATCH :match AND x.rowid < :before AND (:source IS NULL OR h.source = :source)
ORDER BY x.rowid DESC
"""


def search_titles(
    db: Database, text: str, *, source: str | None = None, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Title versions containing every word of `text` (any case; substrings), the latest recorded
    first, each with its outlet (`source`) and when it was first and last shown. `before`: a
    title_id, for the next page. BadSearch when the text is too short to search."""
    match, short_words = fts_query(text)
    params = {"match": match, "before": before if before is not None else 2**63 - 1, "source": source}
    cursor = db.execute(SEARCH_SQL, params)
    keys = [column[0] for column in cursor.description]
    found: list[dict[str, Any]] = []
    for row in cursor:  # short words are checked here, so only as many rows are read as shown
        hit = dict(zip(keys, row, strict=True))
        if has_words(hit["title"], short_words):
            found.append(hit)
            if len(found) >= limit:
                break
    cursor.close()
    return found


def matching_headlines_sql(column: str) -> str:
    """An SQL condition: `column` (a headline id) has a title version matching :match."""
    return (
        f"{column} IN (SELECT t.headline_id FROM headline_titles t WHERE t.id IN "
        "(SELECT rowid FROM headline_titles_fts WHERE headline_titles_fts MATCH :match))"
    )


TODAY_ADDED_SQL = """
SELECT h.id AS headline_id, h.source, h.first_seen AS at, h.first_channel AS channel, f.origin,
       coalesce((SELECT t.title FROM headline_titles t WHERE t.headline_id = h.id ORDER BY t.id LIMIT 1),
                h.title) AS title
FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id
WHERE h.first_seen > :since AND h.first_seen <= :until
ORDER BY h.first_seen DESC, h.id LIMIT :cap
"""

TODAY_REWORDED_SQL = """
SELECT headline_id, source, changed_at AS at, old_title, new_title AS title, fetch_id
FROM headline_rewrites WHERE changed_at > :since AND changed_at <= :until
ORDER BY changed_at DESC, change_id DESC LIMIT :cap
"""

TODAY_PULLED_SQL = """
SELECT headline_id, source, exited_at AS at, title, last_position, first_seen, shown_s, exit_fetch_id AS fetch_id
FROM headline_exits WHERE exit_reason = 'pulled' AND exited_at > :since AND exited_at <= :until
ORDER BY exited_at DESC, sighting_id DESC LIMIT :cap
"""

TODAY_KINDS = {"added": TODAY_ADDED_SQL, "reworded": TODAY_REWORDED_SQL, "pulled": TODAY_PULLED_SQL}


def day_of_changes(db: Database, since: str, until: str, cap: int = 5000) -> dict[str, Any]:
    """What every outlet added, reworded and pulled in (since, until]: per source with a ticker
    (and any other that appears), each kind's rows newest first; `capped` names the kinds that
    hit `cap` rows (their counts are then lower bounds)."""
    outlets: dict[str, dict[str, list]] = {
        row["name"]: {kind: [] for kind in TODAY_KINDS}
        for row in sorted(sources(db), key=lambda s: s["name"])
        if row["ticker_channel"]
    }
    capped = []
    for kind, sql in TODAY_KINDS.items():
        found = rows(db, sql, {"since": since, "until": until, "cap": cap})
        if len(found) >= cap:
            capped.append(kind)
        for row in found:
            outlets.setdefault(row["source"], {k: [] for k in TODAY_KINDS})[kind].append(row)
    return {"outlets": outlets, "capped": capped}


CHANGE_EVENTS = ("new", "reworded", "pulled", "scrolled_off", "back")
FEED_DEFAULT_EVENTS = ("pulled", "reworded")

# One SELECT per event, each newest first and bounded by :limit (the merge keeps the newest
# :limit overall). Columns: event, at, headline_id, source, title, detail, old_title, key (the
# row that makes the event unique: a stable entry id).
_FEED_EVENT_SQL = {
    "new": """
        SELECT 'new' AS event, h.first_seen AS at, h.id AS headline_id, h.source,
               coalesce((SELECT t.title FROM headline_titles t WHERE t.headline_id = h.id ORDER BY t.id LIMIT 1),
                        h.title) AS title,
               coalesce(f.origin, 'live') || ' via ' || h.first_channel AS detail, NULL AS old_title,
               h.id AS key
        FROM headlines h LEFT JOIN fetches f ON f.id = h.first_fetch_id
        WHERE h.first_seen > :since AND h.first_seen <= :until {source} {match}
        ORDER BY h.first_seen DESC LIMIT :limit""",
    "reworded": """
        SELECT 'reworded' AS event, changed_at AS at, headline_id, source, new_title AS title, NULL AS detail,
               old_title, change_id AS key
        FROM headline_rewrites
        WHERE changed_at > :since AND changed_at <= :until {source} {match}
        ORDER BY changed_at DESC LIMIT :limit""",
    **{
        reason: f"""
        SELECT '{reason}' AS event, exited_at AS at, headline_id, source, title,
               'from position ' || coalesce(last_position, '?') AS detail, NULL AS old_title, sighting_id AS key
        FROM headline_exits
        WHERE exit_reason = '{reason}' AND exited_at > :since AND exited_at <= :until {{source}} {{match}}
        ORDER BY exited_at DESC LIMIT :limit"""
        for reason in ("pulled", "scrolled_off")
    },
    "back": """
        SELECT 'back' AS event, s.first_seen AS at, s.headline_id, s.source, h.title,
               'back at position ' || coalesce(s.first_position, '?') AS detail, NULL AS old_title, s.id AS key
        FROM sightings s JOIN headlines h ON h.id = s.headline_id
        JOIN sources src ON src.name = s.source AND src.ticker_channel = s.channel
        WHERE s.first_seen > :since AND s.first_seen <= :until {source} {match}
          AND EXISTS (SELECT 1 FROM sightings p WHERE p.headline_id = s.headline_id AND p.source = s.source
                        AND p.channel = s.channel AND p.id < s.id)
        ORDER BY s.id DESC LIMIT :limit""",
}
_FEED_SOURCE_COLUMN = {"new": "h.source", "back": "s.source"}
_FEED_ID_COLUMN = {"new": "h.id", "back": "s.headline_id"}


def feed_changes(
    db: Database,
    events: tuple[str, ...] = FEED_DEFAULT_EVENTS,
    *,
    since: str = "0000",
    until: str = "9999",
    source: str | None = None,
    text: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest `limit` headline changes of the given events (CHANGE_EVENTS) in (since, until],
    optionally of one source and whose title (any version) contains `text`, newest first.
    BadSearch when `text` is too short to search."""
    params: dict[str, Any] = {"since": since, "until": until, "limit": limit}
    match = ""
    if text:
        params["match"], short_words = fts_query(text)
    parts = []
    for event in events:
        sql = _FEED_EVENT_SQL[event]
        source_clause = ""
        if source is not None:
            params["source"] = source
            source_clause = f"AND {_FEED_SOURCE_COLUMN.get(event, 'source')} = :source"
        if text:
            match = "AND " + matching_headlines_sql(_FEED_ID_COLUMN.get(event, "headline_id"))
        parts.append(f"SELECT * FROM ({sql.format(source=source_clause, match=match)})")
    if not parts:
        return []
    union = " UNION ALL ".join(parts)
    found = rows(db, f"SELECT * FROM ({union}) ORDER BY at DESC, event, key DESC LIMIT :limit", params)
    if text and short_words:
        found = [row for row in found if has_words(row["title"] or "", short_words)]
    return found
