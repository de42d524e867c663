"""Writing what a backfill found: headlines published while ticker was not looking, and Bank of
Russia rates over a date range.

A backfilled headline is evidence of publication, never of presence on the page: it gets a
`sightings` row with channel 'backfill', first/last seen at the backfill fetch, no position and
no exit (live channels' open-run logic filters by channel, so these rows never take part). A
headline already stored, by any channel, gets nothing new: a re-run adds only `fetches` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from ticker.base import Headline, RatesDocument
from ticker.db.schema import write_transaction
from ticker.db.writes import FetchRow, insert_fetch, upsert_rate

BACKFILL_CHANNEL = "backfill"


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


def _insert_backfilled(db: Database, headline: Headline, source: str, at: str, fetch_id: int) -> None:
    db.execute(
        "INSERT INTO headlines (id, source, url, title, rubric, kind, paid, project, published_at, "
        "first_seen, last_seen, first_fetch_id, last_fetch_id, first_channel) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            headline.id, source, headline.url or None, headline.title, headline.rubric, headline.kind,
            int(headline.paid), headline.project, headline.published_at, at, at, fetch_id, fetch_id,
            BACKFILL_CHANNEL,
        ],
    )  # fmt: skip
    db.execute(
        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen, first_fetch_id, "
        "last_fetch_id) VALUES (?, ?, ?, ?, ?, ?)",
        [headline.id, headline.title, at, at, fetch_id, fetch_id],
    )
    db.execute(
        "INSERT INTO sightings (headline_id, source, channel, first_fetch_id, last_fetch_id, "
        "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [headline.id, source, BACKFILL_CHANNEL, fetch_id, fetch_id, at, at],
    )


def save_backfill_page(db: Database, row: FetchRow, headlines: Sequence[Headline]) -> BackfillSaved:
    """One backfill request (feed JSON page or RSS) and the headlines it made known, in one
    transaction. Headlines already stored are left as they are."""
    row.items_found = len(headlines)
    with write_transaction(db):
        fetch_id = insert_fetch(db, row)
        saved = BackfillSaved(fetch_id, items_found=len(headlines))
        known = stored_ids(db, [headline.id for headline in headlines])
        for headline in headlines:
            if headline.id in known:
                continue
            known.add(headline.id)
            _insert_backfilled(db, headline, row.source, row.started_at, fetch_id)
            saved.items_new += 1
        db.execute(
            "UPDATE fetches SET items_new = ?, titles_changed = 0 WHERE id = ?", [saved.items_new, fetch_id]
        )
    return saved


def save_rate_range(db: Database, row: FetchRow, document: RatesDocument) -> BackfillSaved:
    """One `XML_dynamic` answer: every rate stored once per (source, currency, day, value)."""
    row.rates_found = len(document.rates)
    with write_transaction(db):
        fetch_id = insert_fetch(db, row)
        saved = BackfillSaved(fetch_id, rates_found=len(document.rates))
        for rate in document.rates:
            _, is_new = upsert_rate(db, row.source, row.channel, rate, row.started_at, fetch_id)
            saved.rates_new += is_new
        db.execute("UPDATE fetches SET rates_new = ? WHERE id = ?", [saved.rates_new, fetch_id])
    return saved
