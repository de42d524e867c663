"""Writing fetches and what they saw: one transaction per fetch, history never rewritten.

`save_*` functions take what a fetch produced and store it through the one insert path
(`ticker.db.history.store_observation`), then derive the channel's history from the fetch's
place in the log (`ticker.db.history.derive`), in the same transaction. A poll that brings
nothing new adds one `fetches` row and moves `last_seen` forward; it copies no unchanged data.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlite_utils import Database

from ticker.core.base import SUCCESS_OUTCOMES, RatesDocument, TickerPage, redact_url
from ticker.core.records import AddressState, Attempt, FetchRow, Saved, address_key
from ticker.db import archive
from ticker.db.fetchlog import (
    rebuild_fetch_hours,
    rebuild_outage_runs,
)
from ticker.db.history import MAX_ITEMS, derive, store_observation
from ticker.db.schema import write_transaction

__all__ = [
    "AddressState",
    "Attempt",
    "FetchRow",
    "Saved",
    "address_key",
    "address_state",
    "rebuild_fetch_hours",
    "rebuild_outage_runs",
    "recorded_sources",
    "register_source",
    "save_attempt",
    "save_failure",
    "save_rates",
    "save_ticker",
    "save_unchanged",
]

DEFAULT_GAP_LIMIT_S = 300.0


def _derive_for(db: Database, saved: Saved, *, ordered: bool, gap_limit_s: float) -> Saved:
    """The channel's history derived from the saved fetch's place; the fetch's own exits and
    rewordings copied into `saved`."""
    row = saved.row
    derived = derive(
        db,
        row.source,
        row.channel,
        since=(row.log_at, saved.fetch_id),
        gap_limit_s=gap_limit_s,
        ordered=ordered,
    )
    saved.exits = derived.exits.get(saved.fetch_id, {})
    saved.titles_changed = derived.changes_at.get(saved.fetch_id, 0)
    return saved


def save_failure(
    db: Database, row: FetchRow, *, gap_limit_s: float = DEFAULT_GAP_LIMIT_S, ordered: bool = True
) -> Saved:
    """Record a failed attempt. Nothing is un-seen: a failure only makes the exits across it
    `unknown`."""
    with write_transaction(db):
        saved = store_observation(db, row)
        if row.origin is None:
            _derive_for(db, saved, ordered=ordered, gap_limit_s=gap_limit_s)
    return saved


def save_ticker(
    db: Database,
    row: FetchRow,
    page: TickerPage,
    *,
    gap_limit_s: float = DEFAULT_GAP_LIMIT_S,
    ordered: bool = True,
) -> Saved:
    """Store a parsed ticker (page, RSS or feed-JSON channel) and derive its channel's history:
    headlines, titles, presence runs, exits (with their reason when the channel is an ordered
    live list), rates and the on-page snapshot, in one transaction."""
    with write_transaction(db):
        saved = _derive_for(db, store_observation(db, row, page), ordered=ordered, gap_limit_s=gap_limit_s)
        _remember_recorded(db, row, saved)
    return saved


def save_rates(db: Database, row: FetchRow, document: RatesDocument) -> Saved:
    """Store a rates document (Bank of Russia): one row per distinct value, last_seen moved on."""
    with write_transaction(db):
        saved = _derive_for(
            db, store_observation(db, row, document), ordered=False, gap_limit_s=DEFAULT_GAP_LIMIT_S
        )
        _remember_recorded(db, row, saved)
    return saved


def save_unchanged(
    db: Database,
    row: FetchRow,
    previous_snapshot_id: int | None,
    *,
    gap_limit_s: float = DEFAULT_GAP_LIMIT_S,
    ordered: bool = True,
) -> Saved:
    """A 304 or a body identical to the last one: the same snapshot (and edition) was shown
    again. Adds one `fetches` row pointing at it and moves `last_seen` of what it holds."""
    with write_transaction(db):
        if row.edition is None and previous_snapshot_id is not None:
            row.edition = _edition_of_snapshot(db, row.source, row.channel, previous_snapshot_id)
        saved = store_observation(db, row, same_as_snapshot=previous_snapshot_id)
        _derive_for(db, saved, ordered=ordered, gap_limit_s=gap_limit_s)
        _remember_recorded(db, row, saved)
    return saved


def _edition_of_snapshot(db: Database, source: str, channel: str, snapshot_id: int) -> str | None:
    found = db.execute(
        "SELECT edition FROM fetches WHERE source = ? AND channel = ? AND snapshot_id = ? "
        "AND origin IS NULL ORDER BY id DESC LIMIT 1",  # a 304 repeats a live answer, never a capture
        [source, channel, snapshot_id],
    ).fetchone()
    return found[0] if found else None


def _remember_recorded(db: Database, row: FetchRow, saved: Saved) -> None:
    """A success written without an Attempt (tests, synthetic histories): its address is the
    recorded one."""
    attempt = Attempt(row=row, address_key=address_key(row.url))
    _remember_address(db, attempt, row.body_sha256, saved.snapshot_id)


def address_state(db: Database, source: str, channel: str, key: str) -> AddressState | None:
    """The latest success from this exact address of the channel (None: never, or not since
    migration 0007)."""
    found = db.execute(
        "SELECT fetch_id, etag, last_modified, body_sha256, snapshot_id FROM address_state "
        "WHERE source = ? AND channel = ? AND address_sha256 = ?",
        [source, channel, key],
    ).fetchone()
    return AddressState(*found) if found else None


def _remember_address(
    db: Database, attempt: Attempt, body_sha256: str | None, snapshot_id: int | None
) -> None:
    row = attempt.row
    db.execute(
        "INSERT INTO address_state (source, channel, address_sha256, address, fetch_id, started_at, etag, "
        "last_modified, body_sha256, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (source, channel, address_sha256) DO UPDATE SET address = excluded.address, "
        "fetch_id = excluded.fetch_id, started_at = excluded.started_at, etag = excluded.etag, "
        "last_modified = excluded.last_modified, body_sha256 = excluded.body_sha256, "
        "snapshot_id = excluded.snapshot_id",
        [
            row.source, row.channel, attempt.address_key, row.url, row.id, row.started_at, row.etag,
            row.last_modified, body_sha256, snapshot_id,
        ],
    )  # fmt: skip


def save_attempt(
    db: Database,
    attempt: Attempt,
    *,
    ordered: bool,
    gap_limit_s: float = DEFAULT_GAP_LIMIT_S,
    keep_body: Callable[[Saved, Attempt], bool] | None = None,
    max_items: int = MAX_ITEMS,
) -> Saved:
    """Record one live request and what it saw, in one transaction, and derive the channel's
    history from its place in the log:

    - a failure is one `fetches` row;
    - a 304 to the validators of `attempt.base`, or a body identical to the one that same exact
      address gave then, is `unchanged`: it saw that fetch's snapshot and edition again
      (whatever another writer stored meanwhile: the log puts each where it belongs);
    - anything else is saved in full from `attempt.parsed`.

    `keep_body(saved, attempt)` says whether the body is archived, in the same transaction (a
    fetch never lacks its body because of a crash or a full disk between two transactions).
    """
    row = attempt.row
    with write_transaction(db):
        saved = _record(db, attempt, max_items)
        _derive_for(db, saved, ordered=ordered, gap_limit_s=gap_limit_s)
        if attempt.body is not None and keep_body is not None and keep_body(saved, attempt):
            archive.archive_body(
                db, fetch_id=saved.fetch_id, source=row.source, channel=row.channel, body=attempt.body,
                content_type=row.content_type, at=row.started_at, keep=True,
            )  # fmt: skip
    return saved


def _record(db: Database, attempt: Attempt, max_items: int) -> Saved:
    row = attempt.row
    place = {"after_log_at": attempt.after_log_at, "known_after": attempt.after_log_at is not None}
    if row.outcome not in SUCCESS_OUTCOMES:
        return store_observation(db, row, **place)
    base = attempt.base
    if base is None and (attempt.not_modified or attempt.parsed is None):
        base = address_state(db, row.source, row.channel, attempt.address_key)
    same_body = base is not None and base.body_sha256 is not None and row.body_sha256 == base.body_sha256
    if (attempt.not_modified or same_body) and base is not None and base.snapshot_id is not None:
        row.outcome = "unchanged"
        row.error = row.warning = None
        edition = db.execute("SELECT edition FROM fetches WHERE id = ?", [base.fetch_id]).fetchone()
        row.edition = edition[0] if edition else None
        saved = store_observation(db, row, same_as_snapshot=base.snapshot_id, **place)
        _remember_address(db, attempt, base.body_sha256, base.snapshot_id)
        return saved
    if attempt.parsed is None:
        raise ValueError(f"{row.source}/{row.channel}: an answer to save must be parsed first")
    saved = store_observation(db, row, attempt.parsed, max_items=max_items, **place)
    _remember_address(db, attempt, row.body_sha256, saved.snapshot_id)
    return saved


def register_source(
    db: Database,
    name: str,
    kind: str,
    url: str | None,
    every_s: float | None,
    channels: list[str],
    at: str,
    *,
    ticker_channel: str | None = None,
    options: dict | None = None,
) -> None:
    """Record (or refresh) a source's configuration, so queries know its kind, schedule and
    which channel's list is its ticker, and a re-parse can read it as the daemon did."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO sources (name, kind, url, every_s, channels, updated_at, ticker_channel, options) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
            "url = excluded.url, every_s = coalesce(excluded.every_s, sources.every_s), "
            "channels = excluded.channels, updated_at = excluded.updated_at, "
            "ticker_channel = excluded.ticker_channel, options = excluded.options",
            [
                name, kind, redact_url(url) if url else url, every_s, json.dumps(channels), at, ticker_channel,
                json.dumps(options, ensure_ascii=False, sort_keys=True) if options else None,
            ],
        )  # fmt: skip


def recorded_sources(db: Database) -> list[dict]:
    """The `sources` rows, options decoded."""
    rows = db.execute("SELECT name, kind, url, every_s, channels, ticker_channel, options FROM sources")
    keys = ("name", "kind", "url", "every_s", "channels", "ticker_channel", "options")
    found = [dict(zip(keys, row, strict=True)) for row in rows.fetchall()]
    for source in found:
        source["channels"] = json.loads(source["channels"] or "[]")
        source["options"] = json.loads(source["options"]) if source["options"] else {}
    return found
