"""Storing captures made by someone else (a Wayback Machine memento, a WARC record).

A capture is stored as a fetch of the source's channel at the capture's instant, marked with its
origin (`wayback`, `warc`) and where to find it again (`origin_ref`), through the one insert
path (`ticker.db.history.store_observation`). Its channel is marked *pending* from the capture's
place in the same transaction; `merge_captures` (at the end of an import) derives the history
from the earliest pending place, once. An import stopped before that (killed, a full disk)
leaves the mark: the next write or import of the channel derives from it, and `ticker status`
says it is pending.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlite_utils import Database

from ticker.core.base import RatesDocument, TickerPage, to_iso, utc_now
from ticker.core.records import FetchRow, Saved
from ticker.db.archive import archive_body
from ticker.db.history import MAX_ITEMS, Derived, derive, mark_pending, store_observation
from ticker.db.schema import write_transaction

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


class Capture(NamedTuple):
    """One capture to store: the fetch row as classified, what it showed, its body."""

    row: FetchRow
    parsed: TickerPage | RatesDocument | None
    body: bytes | None
    origin_ref: str
    max_items: int = MAX_ITEMS


def save_capture(
    db: Database,
    row: FetchRow,
    parsed: TickerPage | RatesDocument | None,
    body: bytes | None,
    *,
    origin: str,
    origin_ref: str,
    max_items: int = MAX_ITEMS,
) -> Saved | None:
    """Store one capture as a fetch (its outcome as classified: ok, blocked, parse_error, ...),
    with what it showed and its body (imported bodies are always kept), in one transaction.
    The channel is marked pending from the capture's place: call `merge_captures` once the
    captures are in (any later write of the channel merges them too).

    Returns None, storing nothing, when the same capture is already stored: a fetch of this
    origin for the source's channel at the same instant (the same `origin_ref` always is: a
    memento's or a WARC record's instant is its own). The check is made inside the write
    transaction, so imports of the same captures running at once store each one once."""
    [saved] = save_captures(db, [Capture(row, parsed, body, origin_ref, max_items)], origin=origin)
    return saved


def save_captures(db: Database, captures: list[Capture], *, origin: str) -> list[Saved | None]:
    """`save_capture` of each capture in turn, in one transaction (an import of many captures
    commits once per batch, not once per capture): what each returned, in order."""
    if origin not in IMPORT_ORIGINS:
        raise ValueError(f"unknown capture origin {origin!r}")
    with write_transaction(db):
        return [_store_capture(db, capture, origin) for capture in captures]


def _store_capture(db: Database, capture: Capture, origin: str) -> Saved | None:
    row = capture.row
    if capture_stored(db, row.source, row.channel, origin, row.started_at):
        return None
    row.origin, row.origin_ref = origin, capture.origin_ref
    saved = store_observation(db, row, capture.parsed, max_items=capture.max_items)
    mark_pending(db, row.source, row.channel, (row.log_at, saved.fetch_id))
    if capture.body is not None:
        # stored_at is when it entered the archive (age-based retention), not the capture time
        archive_body(
            db, fetch_id=saved.fetch_id, source=row.source, channel=row.channel, body=capture.body,
            content_type=row.content_type, at=to_iso(utc_now()), keep=True,
        )  # fmt: skip
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


def merge_captures(db: Database, source: str, channel: str, *, gap_limit_s: float, ordered: bool) -> Derived:
    """Derive the channel's history from its earliest pending place (the captures stored since
    the last derivation), in one transaction."""
    with write_transaction(db):
        return derive(db, source, channel, since=_far_end(), gap_limit_s=gap_limit_s, ordered=ordered)


def _far_end() -> tuple[str, int]:
    """A place after every fetch: `derive` then starts at the channel's pending mark (if any)."""
    return ("\U0010ffff", 0)
