"""Writing what a backfill found: headlines published while ticker was not looking, and Bank of
Russia rates over a date range.

What a backfill stores goes through the one insert path (ticker.db.history): a backfilled
headline is evidence of publication, never of presence on the page (a `sightings` row with
channel 'backfill', no position, no exit). A headline already stored, by any channel, gets
nothing new: a re-run adds only `fetches` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from ticker.core.base import Headline, RatesDocument
from ticker.core.records import FetchRow
from ticker.db.history import BACKFILL_CHANNEL, store_backfill, store_observation, store_rate
from ticker.db.schema import write_transaction

__all__ = [
    "BACKFILL_CHANNEL",
    "live_seen_ids",
    "live_watermark",
    "save_backfill_page",
    "save_rate_range",
    "stored_ids",
]


@dataclass(slots=True)
class BackfillSaved:
    """What one backfill request stored."""

    fetch_id: int
    items_found: int = 0
    items_new: int = 0
    rates_found: int = 0
    rates_new: int = 0


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def stored_ids(db: Database, ids: Sequence[str]) -> set[str]:
    """Those of `ids` already in `headlines` (seen or backfilled before)."""
    found: set[str] = set()
    for chunk in _chunks(list(ids)):
        marks = ", ".join("?" for _ in chunk)
        found.update(
            row[0] for row in db.execute(f"SELECT id FROM headlines WHERE id IN ({marks})", list(chunk))
        )
    return found


def live_seen_ids(db: Database, ids: Sequence[str]) -> set[str]:
    """Those of `ids` seen by a live poll (any channel but 'backfill'): where a backfill stops."""
    found: set[str] = set()
    for chunk in _chunks(list(ids)):
        marks = ", ".join("?" for _ in chunk)
        found.update(
            row[0]
            for row in db.execute(
                f"SELECT DISTINCT headline_id FROM sightings WHERE headline_id IN ({marks}) AND channel != ?",
                [*chunk, BACKFILL_CHANNEL],
            )
        )
    return found


def live_watermark(db: Database, source: str) -> str | None:
    """The newest publication time among headlines a live poll of `source` has seen."""
    row = db.execute(
        "SELECT max(h.published_at) FROM headlines h WHERE h.published_at IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM sightings s WHERE s.headline_id = h.id AND s.source = ? AND s.channel != ?)",
        [source, BACKFILL_CHANNEL],
    ).fetchone()
    return row[0] if row else None


def save_backfill_page(db: Database, row: FetchRow, headlines: Sequence[Headline]) -> BackfillSaved:
    """One backfill request (feed JSON page or RSS) and the headlines it made known, in one
    transaction (ticker.db.history.store_backfill). Headlines already stored are left as they are."""
    with write_transaction(db):
        saved = store_backfill(db, row, list(headlines))
    return BackfillSaved(saved.fetch_id, items_found=saved.items_found, items_new=saved.items_new)


def save_rate_range(db: Database, row: FetchRow, document: RatesDocument) -> BackfillSaved:
    """One `XML_dynamic` answer: every rate stored once per (source, currency, day, value)."""
    row.rates_found = len(document.rates)
    with write_transaction(db):
        fetch_id = store_observation(db, row).fetch_id
        saved = BackfillSaved(fetch_id, rates_found=len(document.rates))
        for rate in document.rates:
            _, is_new = store_rate(db, row, rate)
            saved.rates_new += is_new
        db.execute("UPDATE fetches SET rates_new = ? WHERE id = ?", [saved.rates_new, fetch_id])
    return saved
