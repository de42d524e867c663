"""Storing captures made by someone else (a Wayback Machine memento, a WARC record).

A capture is stored as a fetch of the source's channel at the capture's instant, marked with its
origin (`wayback`, `warc`) and where to find it again (`origin_ref`). Unlike a live poll it does
not move history forward: it only makes sure the rows it shows exist (headlines, title versions,
rates, its snapshot) and keeps its body. `ticker.db.rederive.rederive_source` then puts the
source's history in time order, whatever order the captures arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database

from ticker.base import RatesDocument, TickerPage, to_iso, utc_now
from ticker.db.archive import archive_body
from ticker.db.schema import write_transaction
from ticker.db.writes import FetchRow, Saved, insert_fetch, store_snapshot

IMPORT_ORIGINS = ("wayback", "warc")


def imported_refs(db: Database, source: str, channel: str, origin: str) -> set[str]:
    """The `origin_ref` of every capture of this origin already stored for a source's channel."""
    return {
        row[0]
        for row in db.execute(
            "SELECT origin_ref FROM fetches WHERE source = ? AND channel = ? AND origin = ? "
            "AND origin_ref IS NOT NULL",
            [source, channel, origin],
        )
    }


def imported_instants(db: Database, source: str, channel: str, origin: str) -> set[str]:
    """The instants (`started_at`) of the captures of this origin already stored."""
    return {
        row[0]
        for row in db.execute(
            "SELECT started_at FROM fetches WHERE source = ? AND channel = ? AND origin = ?",
            [source, channel, origin],
        )
    }


def capture_stored(db: Database, source: str, channel: str, origin: str, started_at: str) -> bool:
    """Whether a capture of this origin is stored for the source's channel at that instant (one
    instant holds one `origin_ref`); through the (source, started_at) index."""
    return (
        db.execute(
            "SELECT 1 FROM fetches WHERE source = ? AND started_at = ? AND channel = ? AND origin = ? LIMIT 1",
            [source, started_at, channel, origin],
        ).fetchone()
        is not None
    )


def _ensure_headline(db: Database, row: FetchRow, fetch_id: int, headline) -> tuple[int, bool]:
    """The title id of what this capture showed; inserts the headline / title row when new.
    Known rows are left as they are: their extents are re-derived in time order afterwards."""
    at = row.started_at
    cursor = db.execute(
        "INSERT INTO headlines (id, source, url, title, rubric, kind, paid, project, published_at, "
        "first_seen, last_seen, first_fetch_id, last_fetch_id, first_channel) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        [
            headline.id, row.source, headline.url or None, headline.title, headline.rubric,
            headline.kind, int(headline.paid), headline.project, headline.published_at,
            at, at, fetch_id, fetch_id, row.channel,
        ],
    )  # fmt: skip
    is_new = cursor.rowcount > 0
    db.execute(
        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen, first_fetch_id, "
        "last_fetch_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (headline_id, title) DO NOTHING",
        [headline.id, headline.title, at, at, fetch_id, fetch_id],
    )
    title_id = db.execute(
        "SELECT id FROM headline_titles WHERE headline_id = ? AND title = ?", [headline.id, headline.title]
    ).fetchone()[0]
    return int(title_id), is_new


def _ensure_rates(db: Database, row: FetchRow, fetch_id: int, rates: Iterable) -> tuple[list[int], int]:
    ids, new = [], 0
    for rate in rates:
        cursor = db.execute(
            "INSERT INTO rates (source, currency, rate_date, value, change, nominal, raw_value, "
            "published_at, first_seen, last_seen, first_fetch_id, last_fetch_id, channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source, currency, rate_date, value) DO NOTHING",
            [
                row.source, rate.currency, rate.rate_date, rate.value, rate.change, rate.nominal,
                rate.raw_value, rate.published_at, row.started_at, row.started_at, fetch_id,
                fetch_id, row.channel,
            ],
        )  # fmt: skip
        new += cursor.rowcount > 0
        ids.append(
            db.execute(
                "SELECT id FROM rates WHERE source = ? AND currency = ? AND rate_date = ? AND value = ?",
                [row.source, rate.currency, rate.rate_date, rate.value],
            ).fetchone()[0]
        )
    return ids, new


def save_capture(
    db: Database,
    row: FetchRow,
    parsed: TickerPage | RatesDocument | None,
    body: bytes | None,
    *,
    origin: str,
    origin_ref: str,
) -> Saved | None:
    """Store one capture as a fetch (its outcome as classified: ok, blocked, parse_error, ...),
    with what it showed and its body (imported bodies are always kept), in one transaction.
    History extents are not moved here: call `rederive_source` once the captures are in.

    Returns None, storing nothing, when the same capture is already stored: a fetch of this
    origin for the source's channel at the same instant (the same `origin_ref` always is: a
    memento's or a WARC record's instant is its own). The check is made inside the write
    transaction, so imports of the same captures running at once store each one once."""
    if origin not in IMPORT_ORIGINS:
        raise ValueError(f"unknown capture origin {origin!r}")
    if parsed is not None:
        row.items_found = len(parsed.headlines) if isinstance(parsed, TickerPage) else None
        row.rates_found = len(parsed.rates)
        if isinstance(parsed, TickerPage) and row.edition is None:
            row.edition = parsed.edition
    with write_transaction(db):
        if capture_stored(db, row.source, row.channel, origin, row.started_at):
            return None
        row.origin, row.origin_ref = origin, origin_ref
        saved = store_observation(db, row, parsed)
        if body is not None:
            # stored_at is when it entered the archive (age-based retention), not the capture time
            archive_body(
                db, fetch_id=saved.fetch_id, source=row.source, channel=row.channel, body=body,
                content_type=row.content_type, at=to_iso(utc_now()), keep=True,
            )  # fmt: skip
    return saved


def store_observation(db: Database, row: FetchRow, parsed: TickerPage | RatesDocument | None) -> Saved:
    """Inside the caller's transaction: the fetch row, the rows its snapshot points at (created
    when new, extents untouched) and the snapshot. History is put in time order afterwards by
    `ticker.db.rederive`."""
    fetch_id = insert_fetch(db, row)
    saved = Saved(fetch_id, row.outcome, row=row)
    if parsed is not None:
        saved.rates_found = len(parsed.rates)
        items = []
        for headline in parsed.headlines if isinstance(parsed, TickerPage) else ():
            title_id, is_new = _ensure_headline(db, row, fetch_id, headline)
            saved.items_new += is_new
            items.append([headline.id, title_id])
        rate_ids, saved.rates_new = _ensure_rates(db, row, fetch_id, parsed.rates)
        saved.items_found = len(items)
        snapshot_id = store_snapshot(db, row.source, row.channel, items, rate_ids)
        db.execute(
            "UPDATE fetches SET items_new = ?, titles_changed = 0, rates_new = ?, snapshot_id = ? "
            "WHERE id = ?",
            [saved.items_new, saved.rates_new, snapshot_id, fetch_id],
        )
        saved.snapshot_id = snapshot_id
    return saved


def imported_channels(db: Database) -> list[tuple[str, str]]:
    """(source, channel) pairs holding imported captures: their history must be re-derived in
    time order whenever it is rebuilt by arrival (a re-parse)."""
    placeholders = ", ".join("?" for _ in IMPORT_ORIGINS)
    return [
        (row[0], row[1])
        for row in db.execute(
            f"SELECT DISTINCT source, channel FROM fetches WHERE origin IN ({placeholders}) ORDER BY 1, 2",
            list(IMPORT_ORIGINS),
        )
    ]
