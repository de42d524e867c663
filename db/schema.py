"""The database: opening it safely, its tables (created by migrations), and its shape.

The schema is ticker's public interface (people query it in Datasette and with SQL); it is
described in docs/schema.md. Tables change only through a new migration appended below.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from sqlite_utils import Database, Migrations

from ticker.core.base import check_database_path, moscow_offsets
from ticker.db.fetchlog import rebuild_fetch_hours, rebuild_outage_runs
from ticker.db.rate_rule import agrees_sql
from ticker.db.transactions import write_transaction
from ticker.db.views import ensure_views

__all__ = ["write_transaction"]  # where every writer takes its transaction from

BUSY_TIMEOUT_S = 30.0

migrations = Migrations("ticker")
MIGRATION_NAMES: list[str] = []  # every migration this ticker knows, in order


def _migration(name: str):
    """Register a migration (appended below, in order; never edited once released)."""
    MIGRATION_NAMES.append(name)
    return migrations(name=name)


def _script(db: Database, sql: str) -> None:
    """Run a migration's statements inside the open transaction, split at each `;` that ends a
    complete statement (sqlite-utils' `executescript` tests every prefix of the text: 60 ms of
    a new database's creation)."""
    start = 0
    for end in (found.end() for found in re.finditer(";", sql)):
        if sqlite3.complete_statement(sql[start:end]):
            db.execute(sql[start:end])
            start = end
    if sql[start:].strip():
        db.execute(sql[start:])


@_migration("0001_initial")
def _initial(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,          -- the configured source name (fetches.source)
            kind TEXT NOT NULL,             -- which parser: rbc, cbr
            url TEXT,                       -- the main channel's address
            every_s REAL,                   -- the daemon's polling interval, when scheduled
            channels TEXT,                  -- JSON list of channels in fallback order
            updated_at TEXT NOT NULL
        );

        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            channel TEXT NOT NULL,
            digest TEXT NOT NULL,           -- sha256 of items + rates
            items TEXT NOT NULL,            -- JSON [[headline_id, title_id], ...] in on-page order
            rates TEXT NOT NULL,            -- JSON [rate_id, ...] shown with them
            item_count INTEGER NOT NULL,
            UNIQUE (source, channel, digest)
        );

        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            channel TEXT NOT NULL,          -- page, rss, feed_json, xml_daily, xml_dynamic
            url TEXT NOT NULL,
            started_at TEXT NOT NULL,       -- UTC ISO 8601
            duration_ms INTEGER,
            status INTEGER,                 -- HTTP status, NULL when none came back
            outcome TEXT NOT NULL CHECK (outcome IN
                ('ok', 'unchanged', 'blocked', 'http_error', 'network_error', 'parse_error')),
            error TEXT,                     -- one line, for every outcome but ok/unchanged
            warning TEXT,                   -- an ok fetch that looked odd (skipped items, no rates)
            bytes INTEGER,                  -- body size as received (decoded)
            body_sha256 TEXT,
            content_type TEXT,
            edition TEXT,                   -- the edition the page says it was served as
            items_found INTEGER,
            rates_found INTEGER,
            items_new INTEGER,
            titles_changed INTEGER,
            rates_new INTEGER,
            snapshot_id INTEGER REFERENCES snapshots(id),
            etag TEXT,
            last_modified TEXT,
            retry_after_s INTEGER
        );
        CREATE INDEX fetches_source_started ON fetches (source, started_at);
        CREATE INDEX fetches_started ON fetches (started_at);

        CREATE TABLE headlines (
            id TEXT PRIMARY KEY,            -- the site's item id (24 hex digits on RBC)
            source TEXT NOT NULL,           -- the source that saw it first
            url TEXT,
            title TEXT NOT NULL,            -- the latest title
            rubric TEXT,
            kind TEXT,                      -- news / article / partner
            paid INTEGER NOT NULL DEFAULT 0,
            project TEXT,
            published_at TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            first_fetch_id INTEGER REFERENCES fetches(id),
            last_fetch_id INTEGER REFERENCES fetches(id),
            first_channel TEXT NOT NULL
        );
        CREATE INDEX headlines_published ON headlines (published_at);
        CREATE INDEX headlines_first_seen ON headlines (first_seen);

        CREATE TABLE headline_titles (
            id INTEGER PRIMARY KEY,
            headline_id TEXT NOT NULL REFERENCES headlines(id),
            title TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            first_fetch_id INTEGER REFERENCES fetches(id),
            last_fetch_id INTEGER REFERENCES fetches(id),
            UNIQUE (headline_id, title)
        );

        CREATE TABLE title_changes (
            id INTEGER PRIMARY KEY,
            headline_id TEXT NOT NULL REFERENCES headlines(id),
            fetch_id INTEGER NOT NULL REFERENCES fetches(id),
            changed_at TEXT NOT NULL,       -- the fetch that first showed the new title
            old_title_id INTEGER NOT NULL REFERENCES headline_titles(id),
            new_title_id INTEGER NOT NULL REFERENCES headline_titles(id)
        );
        CREATE INDEX title_changes_headline ON title_changes (headline_id);
        CREATE INDEX title_changes_changed_at ON title_changes (changed_at);

        CREATE TABLE sightings (
            id INTEGER PRIMARY KEY,
            headline_id TEXT NOT NULL REFERENCES headlines(id),
            source TEXT NOT NULL,
            channel TEXT NOT NULL,          -- page, rss, feed_json, backfill
            first_fetch_id INTEGER NOT NULL REFERENCES fetches(id),
            last_fetch_id INTEGER NOT NULL REFERENCES fetches(id),
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            first_position INTEGER,
            last_position INTEGER,
            exit_fetch_id INTEGER REFERENCES fetches(id),  -- first successful poll without it
            exited_at TEXT,
            exit_reason TEXT CHECK (exit_reason IN ('scrolled_off', 'pulled', 'unknown'))
        );
        CREATE INDEX sightings_headline ON sightings (headline_id);
        CREATE INDEX sightings_open ON sightings (source, channel) WHERE exit_fetch_id IS NULL;
        CREATE INDEX sightings_exited ON sightings (exited_at) WHERE exit_fetch_id IS NOT NULL;

        CREATE TABLE rates (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,           -- rbc (shown on the site) or cbr (official)
            currency TEXT NOT NULL,         -- EUR, USD
            rate_date TEXT NOT NULL,        -- YYYY-MM-DD the rate is valid for
            value TEXT NOT NULL,            -- exact decimal text, per unit: "108.87"
            change TEXT,                    -- signed exact decimal: "+1.45", "-0.56"
            nominal INTEGER,
            raw_value TEXT,
            published_at TEXT,              -- when the source published it, if it says
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            first_fetch_id INTEGER REFERENCES fetches(id),
            last_fetch_id INTEGER REFERENCES fetches(id),
            channel TEXT NOT NULL,
            UNIQUE (source, currency, rate_date, value)
        );
        CREATE INDEX rates_currency_date ON rates (currency, rate_date);

        CREATE TABLE bodies (
            sha256 TEXT PRIMARY KEY,
            bytes INTEGER NOT NULL,         -- uncompressed size
            compression TEXT NOT NULL,      -- zlib
            data BLOB NOT NULL,
            content_type TEXT,
            first_fetch_id INTEGER REFERENCES fetches(id),
            stored_at TEXT NOT NULL
        );
        """,
    )


@_migration("0002_titles_fts")
def _titles_fts(db: Database) -> None:
    """Full-text search over every title ever shown (trigram: substrings, any case, Cyrillic too),
    kept in sync by triggers; plus indexes for the history queries (docs/queries.md)."""
    for statement in (
        "CREATE VIRTUAL TABLE [headline_titles_fts] USING FTS5 "
        "([title], tokenize='trigram', content=[headline_titles], content_rowid=[id])",
        "CREATE TRIGGER [headline_titles_ai] AFTER INSERT ON [headline_titles] BEGIN "
        "INSERT INTO [headline_titles_fts] (rowid, [title]) VALUES (new.[id], new.[title]); END",
        "CREATE TRIGGER [headline_titles_ad] AFTER DELETE ON [headline_titles] BEGIN "
        "INSERT INTO [headline_titles_fts] ([headline_titles_fts], rowid, [title]) "
        "VALUES ('delete', old.[id], old.[title]); END",
        "CREATE TRIGGER [headline_titles_au] AFTER UPDATE OF [title] ON [headline_titles] BEGIN "
        "INSERT INTO [headline_titles_fts] ([headline_titles_fts], rowid, [title]) "
        "VALUES ('delete', old.[id], old.[title]); "
        "INSERT INTO [headline_titles_fts] (rowid, [title]) VALUES (new.[id], new.[title]); END",
        "INSERT INTO [headline_titles_fts] ([headline_titles_fts]) VALUES ('rebuild')",
        "CREATE INDEX fetches_failed ON fetches (source, channel, started_at, outcome) "
        "WHERE outcome NOT IN ('ok', 'unchanged')",
        "CREATE INDEX rates_first_seen ON rates (first_seen)",
        "CREATE INDEX sightings_exit_reason ON sightings (exit_reason, exited_at) "
        "WHERE exit_fetch_id IS NOT NULL",
    ):
        db.execute(statement)


@_migration("0003_alerts")
def _alerts(db: Database) -> None:
    """Alert state (one open alert per condition) and its log; an index for archive retention."""
    _script(
        db,
        """
        CREATE TABLE alert_state (
            condition TEXT PRIMARY KEY,     -- failing:rbc/page, blocked:rbc/page, pulled:<id>, ...
            source TEXT,
            raised_at TEXT NOT NULL,        -- UTC ISO 8601
            cleared_at TEXT,                -- NULL while the condition holds
            message TEXT
        );
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            condition TEXT NOT NULL,
            source TEXT,
            event TEXT NOT NULL CHECK (event IN ('raised', 'cleared')),
            at TEXT NOT NULL,
            fetch_id INTEGER REFERENCES fetches(id),
            message TEXT NOT NULL,
            delivered INTEGER,              -- 1 sent, 0 failed, NULL not sent (no urls / muted)
            error TEXT
        );
        CREATE INDEX alerts_at ON alerts (at);
        CREATE INDEX bodies_stored_at ON bodies (stored_at);
        """,
    )


@_migration("0004_outage_runs")
def _outage_runs(db: Database) -> None:
    """Runs of consecutive failed fetches per source and channel, kept by the writers as fetches
    arrive (so "when was the site unreachable" reads a few rows, not the whole fetch log)."""
    _script(
        db,
        """
        CREATE TABLE outage_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            channel TEXT NOT NULL,
            started_at TEXT NOT NULL,       -- the first failed attempt
            first_fetch_id INTEGER NOT NULL REFERENCES fetches(id),
            last_failure_at TEXT NOT NULL,
            last_fetch_id INTEGER NOT NULL REFERENCES fetches(id),
            failures INTEGER NOT NULL,
            outcomes TEXT NOT NULL,         -- failure outcomes seen, comma-separated, first seen first
            first_error TEXT,
            ended_at TEXT,                  -- the first successful attempt after the run; NULL: ongoing
            end_fetch_id INTEGER REFERENCES fetches(id)
        );
        CREATE INDEX outage_runs_open ON outage_runs (source, channel) WHERE ended_at IS NULL;
        CREATE INDEX outage_runs_started ON outage_runs (started_at);
        """,
    )
    rebuild_outage_runs(db)


@_migration("0005_one_fetches_time_index")
def _one_fetches_time_index(db: Database) -> None:
    """Every poll pays for each index on `fetches`: one on `started_at` serves the per-source
    lookups as well (few sources, scanned backwards from the asked time), so the per-source
    copy goes. An unchanged poll then costs one `fetches` row and one index entry."""
    db.execute("DROP INDEX IF EXISTS fetches_source_started")


@_migration("0006_fetch_hours")
def _fetch_hours(db: Database) -> None:
    """Attempts per source and UTC hour by outcome, kept by the writers as fetches arrive, so
    fetch health reads one row per hour instead of grouping the whole fetch log."""
    _script(
        db,
        """
        CREATE TABLE fetch_hours (
            source TEXT NOT NULL,
            hour TEXT NOT NULL,             -- the hour's start, UTC: 2024-11-25T15:00:00Z
            attempts INTEGER NOT NULL DEFAULT 0,
            ok INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            blocked INTEGER NOT NULL DEFAULT 0,
            http_error INTEGER NOT NULL DEFAULT 0,
            network_error INTEGER NOT NULL DEFAULT 0,
            parse_error INTEGER NOT NULL DEFAULT 0,
            duration_ms_total INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, hour)
        ) WITHOUT ROWID;
        CREATE INDEX fetch_hours_hour ON fetch_hours (hour);
        """,
    )
    rebuild_fetch_hours(db)


@_migration("0007_fetch_origin_address_state")
def _fetch_origin_address_state(db: Database) -> None:
    """Where a fetch came from (a live poll, a backfill, a Wayback Machine capture, a WARC
    record), and the conditional-request state of each exact address a channel was fetched
    from: validators and the "same body as before" shortcut belong to the address that produced
    them, never to the channel as a whole."""
    _script(
        db,
        """
        ALTER TABLE fetches ADD COLUMN origin TEXT;      -- NULL: a live poll; backfill, wayback, warc
        ALTER TABLE fetches ADD COLUMN origin_ref TEXT;  -- memento address, or WARC file#record id
        ALTER TABLE sources ADD COLUMN ticker_channel TEXT;  -- the channel whose list is the ticker; NULL: none
        ALTER TABLE sources ADD COLUMN options TEXT;  -- JSON: the kind's own settings (selectors...)
        CREATE TABLE address_state (
            source TEXT NOT NULL,
            channel TEXT NOT NULL,
            address_sha256 TEXT NOT NULL,   -- sha256 of the exact address requested (secrets included)
            address TEXT NOT NULL,          -- the same address, redacted, for people
            fetch_id INTEGER NOT NULL REFERENCES fetches(id),  -- the latest success from it
            started_at TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_sha256 TEXT,               -- the body that success showed (a 304's: the one it confirmed)
            snapshot_id INTEGER REFERENCES snapshots(id),
            PRIMARY KEY (source, channel, address_sha256)
        ) WITHOUT ROWID;
        """,
    )
    # Backfill requests recorded before this migration: successes without a snapshot, and every
    # XML_dynamic request. They say nothing of the live source's health: recount without them.
    db.execute(
        "UPDATE fetches SET origin = 'backfill' WHERE channel = 'xml_dynamic' "
        "OR (snapshot_id IS NULL AND outcome IN ('ok', 'unchanged'))"
    )
    # Sources recorded before it: the kinds of that time, whose ticker was RBC's page.
    db.execute("UPDATE sources SET ticker_channel = 'page' WHERE kind = 'rbc'")
    rebuild_outage_runs(db)
    rebuild_fetch_hours(db)


@_migration("0008_archive_delta")
def _archive_delta(db: Database) -> None:
    """Delta-compressed bodies: each body may be stored as a zstd delta on an earlier body of the
    same source and channel (`base_sha256`), at most `chain_depth` steps from a keyframe.
    `compression` gains `zstd` (a keyframe) and `zstd-delta`; existing zlib bodies stay as they are
    (depth 0) and get the source and channel of the fetch that brought them."""
    _script(
        db,
        """
        ALTER TABLE bodies ADD COLUMN source TEXT;
        ALTER TABLE bodies ADD COLUMN channel TEXT;
        ALTER TABLE bodies ADD COLUMN base_sha256 TEXT;   -- NULL: decodes on its own (a keyframe)
        ALTER TABLE bodies ADD COLUMN chain_depth INTEGER NOT NULL DEFAULT 0;
        UPDATE bodies SET
            source = (SELECT f.source FROM fetches f WHERE f.id = bodies.first_fetch_id),
            channel = (SELECT f.channel FROM fetches f WHERE f.id = bodies.first_fetch_id);
        CREATE INDEX bodies_source_channel ON bodies (source, channel);
        CREATE INDEX bodies_base ON bodies (base_sha256) WHERE base_sha256 IS NOT NULL;
        """,
    )


@_migration("0009_alert_delivery")
def _alert_delivery(db: Database) -> None:
    """Alert delivery as a queue, retried (bounded) after a failure and after a crash: an alert
    to send is queued in the same transaction as the condition it reports (db/alerts.py)."""
    _script(
        db,
        """
        ALTER TABLE alerts ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;  -- delivery attempts made
        ALTER TABLE alerts ADD COLUMN next_attempt_at TEXT;  -- UTC ISO: due then; NULL: nothing more to do
        CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
        """,
    )


@_migration("0010_history_log")
def _history_log(db: Database) -> None:
    """The history as one function of the fetch log (db/history.py): each fetch's place in the
    log (`log_at`: its instant, never before the live poll it followed), the channels whose
    history still waits to be re-derived from a place (`history_pending`: an import stopped
    before it merged), an unchanged fetch's edition (the one its predecessor saw, NULL before),
    and the indexes the derivation walks by."""
    _script(
        db,
        """
        ALTER TABLE fetches ADD COLUMN log_at TEXT;  -- place in the log: (log_at, id) orders a channel
        CREATE TABLE history_pending (
            source TEXT NOT NULL,
            channel TEXT NOT NULL,
            log_at TEXT NOT NULL,           -- re-derive from this place (log_at, fetch_id) on
            fetch_id INTEGER NOT NULL,
            since TEXT NOT NULL,            -- when it was first marked (UTC)
            PRIMARY KEY (source, channel)
        ) WITHOUT ROWID;
        """,
    )
    latest: dict[tuple[str, str], str] = {}
    editions: dict[tuple[str, str, int], str | None] = {}
    places, unchanged = [], []
    for fetch_id, source, channel, started_at, origin, outcome, snapshot_id, edition in db.execute(
        "SELECT id, source, channel, started_at, origin, outcome, snapshot_id, edition FROM fetches ORDER BY id"
    ).fetchall():
        place = started_at
        if origin is None:  # live polls of that time were written in the order they ran
            place = max(started_at, latest.get((source, channel), started_at))
            latest[(source, channel)] = place
        places.append((place, fetch_id))
        if outcome == "ok" and snapshot_id is not None and origin is None:  # what a 304 repeats
            editions[(source, channel, snapshot_id)] = edition
        elif outcome == "unchanged" and edition is None and snapshot_id is not None:
            seen = editions.get((source, channel, snapshot_id))
            if seen is not None:
                unchanged.append((seen, fetch_id))
    db.conn.executemany("UPDATE fetches SET log_at = ? WHERE id = ?", places)
    db.conn.executemany("UPDATE fetches SET edition = ? WHERE id = ?", unchanged)
    _script(
        db,
        """
        CREATE INDEX fetches_log ON fetches (source, channel, log_at);
        CREATE INDEX sightings_channel_first ON sightings (source, channel, first_seen);
        CREATE INDEX title_changes_fetch ON title_changes (fetch_id);
        """,
    )


@_migration("0011_moscow_offsets")
def _moscow_offsets(db: Database) -> None:
    """Moscow's UTC offset over time (zoneinfo's Europe/Moscow, 1990-2100), so the views show
    Moscow time right for every date in plain SQL: an instant's offset is the one of the last row
    at or before it (db/views.py). Plus the indexes the ten-year queries seek by (docs/queries.md)."""
    db.execute(
        "CREATE TABLE moscow_offsets (from_utc TEXT PRIMARY KEY, offset_s INTEGER NOT NULL) WITHOUT ROWID"
    )
    db.conn.executemany("INSERT INTO moscow_offsets (from_utc, offset_s) VALUES (?, ?)", moscow_offsets())
    _script(
        db,
        """
        CREATE INDEX rates_previous ON rates (source, currency, rate_date, first_seen);
        CREATE INDEX rates_date ON rates (rate_date, currency, source);
        CREATE INDEX sightings_exited_began ON sightings (first_seen) WHERE exit_fetch_id IS NOT NULL;
        CREATE INDEX headline_titles_first_seen ON headline_titles (first_seen);
        """,
    )


@_migration("0012_stories")
def _stories(db: Database) -> None:
    """Stories across outlets: headlines grouped by the event they report (ticker/stories), each
    member with the score and terms that put it there. Derived from the history tables and
    re-derivable from them at any time (`ticker stories rebuild`)."""
    _script(
        db,
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,       -- the first member's headline id: keeps the id across rebuilds
            first_seen TEXT NOT NULL,       -- the first member's first sighting (UTC)
            first_source TEXT NOT NULL,
            sources INTEGER NOT NULL,       -- outlets carrying it (one member each)
            last_joined_at TEXT NOT NULL    -- the newest member's first sighting
        );
        CREATE INDEX stories_first_seen ON stories (first_seen);
        CREATE TABLE story_members (
            headline_id TEXT PRIMARY KEY REFERENCES headlines(id),  -- one story per headline
            story_id INTEGER NOT NULL REFERENCES stories(id),
            source TEXT NOT NULL,
            first_seen TEXT NOT NULL,       -- the headline's first sighting (UTC)
            title_id INTEGER REFERENCES headline_titles(id),  -- the wording compared (its current title)
            joined_at TEXT NOT NULL,        -- when that wording was first seen
            score REAL,                     -- mean score against the members before it; NULL: the first
            matched_headline_id TEXT,       -- the member before it that matched best
            terms TEXT,                     -- JSON list: the terms that matched it
            explanation TEXT,
            follow_up_of TEXT               -- its outlet's earlier item on the same event (then it is its own story)
        );
        CREATE INDEX story_members_story ON story_members (story_id);
        CREATE INDEX story_members_first_seen ON story_members (first_seen);
        CREATE TABLE story_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            through_fetch_id INTEGER NOT NULL,  -- fetches up to this id are grouped
            generation INTEGER NOT NULL DEFAULT 0,  -- random, new at every change of the stories
            updated_at TEXT NOT NULL
        );
        """,
    )
    # History recorded before this migration is grouped by `ticker stories rebuild` (minutes on a
    # year), never by the first poll after an upgrade: polls go on grouping from here.
    db.execute(
        "INSERT INTO story_state (id, through_fetch_id, updated_at) "
        "VALUES (1, (SELECT coalesce(max(id), 0) FROM fetches), strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))"
    )


@_migration("0013_title_vectors")
def _title_vectors(db: Database) -> None:
    """The story matcher's sentence vector of each distinct title, computed once (about 50 ms of
    CPU a title) and read back by every later grouping and `ticker stories rebuild`, so a rebuild
    costs comparisons, not embeddings; the vector is used only as stored, so online and rebuilt
    stories are the same."""
    db.execute(
        """
        CREATE TABLE title_vectors (
            title_sha256 TEXT NOT NULL,     -- SHA-256 of the title text compared (UTF-8)
            model TEXT NOT NULL,            -- the embedder that made it (ticker.stories.embed.MODEL_ID)
            vector BLOB NOT NULL,           -- little-endian float16, one per dimension
            PRIMARY KEY (title_sha256, model)
        ) WITHOUT ROWID
        """
    )


def _rate_mismatch_pairs(rate: str, other: str, where: str) -> str:
    """SELECT of the (rate_id, official_id) pairs where `rate`'s value, read as shown, disagrees
    with `other`'s, read as official (db/rate_rule.py): rates of one currency and day from two
    sources."""
    return (
        f"SELECT {rate}.id, {other}.id FROM {where} {rate}.currency = {other}.currency "
        f"AND {rate}.rate_date = {other}.rate_date AND {rate}.source <> {other}.source "
        f"AND NOT {agrees_sql(f'{rate}.value', f'{other}.value')}"
    )


@_migration("0014_rate_agreement")
def _rate_agreement(db: Database) -> None:
    """The pairs of rates (one currency and day, two sources) whose values disagree by the rate
    rule, both ways round, kept by triggers on `rates` and filled for the rates already stored:
    "mismatches first" reads the few mismatches from here instead of applying the rule to every
    shown rate before sorting them (docs/queries.md). Roles (shown, official) are the views'
    business: a pair is stored whatever its sources' ticker channels."""
    new_pairs = (
        f"INSERT INTO rate_mismatches (rate_id, official_id) {_rate_mismatch_pairs('new', 'o', 'rates o WHERE')}; "
        f"INSERT INTO rate_mismatches (rate_id, official_id) {_rate_mismatch_pairs('o', 'new', 'rates o WHERE')};"
    )
    old_pairs = "DELETE FROM rate_mismatches WHERE rate_id = old.id; DELETE FROM rate_mismatches WHERE official_id = old.id;"
    _script(
        db,
        f"""
        CREATE TABLE rate_mismatches (
            rate_id INTEGER NOT NULL,       -- the rate read as shown
            official_id INTEGER NOT NULL,   -- another source's rate of its currency and day, read as official
            PRIMARY KEY (rate_id, official_id)
        ) WITHOUT ROWID;
        CREATE INDEX rate_mismatches_official ON rate_mismatches (official_id);
        INSERT INTO rate_mismatches (rate_id, official_id) {_rate_mismatch_pairs("r", "o", "rates r JOIN rates o ON")};
        CREATE TRIGGER rates_mismatches_ai AFTER INSERT ON rates BEGIN {new_pairs} END;
        CREATE TRIGGER rates_mismatches_ad AFTER DELETE ON rates BEGIN {old_pairs} END;
        CREATE TRIGGER rates_mismatches_au AFTER UPDATE OF id, source, currency, rate_date, value ON rates
        BEGIN {old_pairs} {new_pairs} END;
        """,
    )


def connect(path: str | Path, *, read_only: bool = False, shared: bool = False) -> Database:
    """Open the database: WAL, a busy timeout, transactions under our explicit control. A path
    that is no file (a directory, a FIFO, a device) is refused first (BadInput, one line).
    `shared`: usable from any thread, one at a time (the daemon's kept connections)."""
    target = Path(check_database_path(path))
    if read_only:
        conn = sqlite3.connect(
            f"file:{target}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
            check_same_thread=not shared,
        )  # fmt: skip
    else:
        conn = sqlite3.connect(
            str(target), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=not shared
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    # No sqlite-utils plugins: ticker uses none, and finding them reads every installed package's
    # metadata (30-70 ms of each command's start-up).
    return Database(conn, execute_plugins=False)


class DatabaseRefused(sqlite3.DatabaseError):
    """A file ticker must not use: not a ticker database, or one written by a newer ticker.
    The message is one line naming the file."""


def database_shape(db: Database) -> str:
    """What the file is: `empty`, `current`, `older` (migrations pending), `newer` (migrations
    this ticker does not know) or `foreign` (tables, but not ticker's)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    if not tables:
        return "empty"
    if "_sqlite_migrations" not in tables or "fetches" not in tables:
        return "foreign"
    applied = {
        row[0]
        for row in db.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [migrations.name]
        ).fetchall()
    }
    if not applied:
        return "foreign"
    known = set(MIGRATION_NAMES)
    if applied - known:
        return "newer"
    return "older" if known - applied else "current"


def refuse_unusable(db: Database, path: str | Path, shape: str | None = None) -> str:
    """Raise DatabaseRefused for a file ticker must not touch; returns the shape otherwise."""
    shape = shape or database_shape(db)
    if shape == "foreign":
        raise DatabaseRefused(f"{path} is not a ticker database (it has other tables): nothing was changed")
    if shape == "newer":
        raise DatabaseRefused(
            f"{path} was written by a newer ticker (it has migrations this one does not know): "
            "upgrade ticker to use it; nothing was changed"
        )
    return shape


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) a ticker database and bring it to the current shape. Refuses,
    without changing anything, a file that is not ticker's or was written by a newer ticker."""
    if Path(path).is_file() and Path(path).stat().st_size > 0:
        probe = connect(path, read_only=True)  # looked at before anything (WAL mode) is written
        try:
            refuse_unusable(probe, path)
        finally:
            probe.conn.close()
    db = connect(path)
    ensure_db_shape(db)
    return db


def open_existing(path: str | Path) -> Database:
    """Open an existing ticker database read-only, for commands that only read: never creates,
    migrates or writes. Refuses a missing file, an empty or foreign one, and a newer ticker's;
    an older ticker's opens (callers that need the current shape check `database_shape`)."""
    target = Path(check_database_path(path))
    if not target.is_file():
        raise DatabaseRefused(f"no database at {target}")
    db = connect(target, read_only=True)
    try:
        if refuse_unusable(db, target) == "empty":
            raise DatabaseRefused(f"{target} is not a ticker database (it is empty)")
    except BaseException:
        db.conn.close()
        raise
    return db


def ensure_db_shape(db: Database) -> None:
    """Apply pending migrations, then views and full-text search (idempotent, cheap if current)."""
    if migrations.pending(db):
        with write_transaction(db):
            migrations.apply(db)
    ensure_views(db)
