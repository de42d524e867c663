"""The records a request becomes before it is written: shared by the fetch layer (which builds
them) and the writers in `ticker.db` (which store them), below both."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ticker.core.base import RatesDocument, TickerPage


@dataclass(slots=True)
class FetchRow:
    """One attempt, as `fetches` records it (counts are filled in by the save functions)."""

    source: str
    channel: str
    url: str
    started_at: str
    outcome: str
    duration_ms: int | None = None
    status: int | None = None
    error: str | None = None
    warning: str | None = None
    bytes: int | None = None
    body_sha256: str | None = None
    content_type: str | None = None
    edition: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after_s: int | None = None
    items_found: int | None = None
    rates_found: int | None = None
    origin: str | None = None  # None: a live poll; backfill, wayback, warc
    origin_ref: str | None = None  # the memento address, or "<WARC file>#<record id>"
    log_at: str | None = None  # its place in the log (ticker.db.history); set when written
    id: int | None = None  # set once the row is written


@dataclass(slots=True)
class Saved:
    """What one saved fetch changed, with the row as recorded: for the log line and the CLI."""

    fetch_id: int
    outcome: str
    items_found: int = 0
    items_new: int = 0
    titles_changed: int = 0
    rates_found: int = 0
    rates_new: int = 0
    exits: dict[str, int] = field(default_factory=dict)
    row: FetchRow | None = None
    snapshot_id: int | None = None

    @property
    def changed(self) -> bool:
        """Whether the fetch changed the history (new items, rewordings, new rates, exits)."""
        return bool(self.items_new or self.titles_changed or self.rates_new or self.exits)

    @property
    def new_headlines(self) -> bool:
        """Whether the fetch recorded headlines or wordings the stories have not grouped yet."""
        return bool(self.items_new or self.titles_changed)


@dataclass(slots=True)
class AddressState:
    """The latest success from one exact address of a channel: the validators a conditional
    request may send, and the body and snapshot it showed."""

    fetch_id: int
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    snapshot_id: int | None


@dataclass(slots=True)
class Attempt:
    """One request about to be written: its row, the exact address it went to (as a key), and
    what came back."""

    row: FetchRow
    address_key: str
    body: bytes | None = None  # what came back (a failure's body too: evidence)
    parsed: TickerPage | RatesDocument | None = None
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None
    not_modified: bool = False  # a 304 to the validators of `base`
    based_on: int | None = None  # the fetch whose validators (and body hash) the request relied on
    base: AddressState | None = None  # that fetch's state, as read when the request started
    # The channel's latest place in the log when the request started (ticker.db.history): a poll
    # goes after everything committed before it started, whatever its clock says.
    after_log_at: str | None = None


def address_key(address: str) -> str:
    """What identifies an exact address in `address_state` (secrets included) without storing it."""
    return hashlib.sha256(address.encode("utf-8", "surrogateescape")).hexdigest()
