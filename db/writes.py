"""Writing fetches and what they saw: one transaction per fetch, history never rewritten.

`save_*` functions take what a fetch produced and store it. A poll that brings nothing new
adds one `fetches` row and moves `last_seen` forward; it copies no unchanged data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlite_utils import Database

from ticker.base import (
    FAILURE_OUTCOMES,
    SUCCESS_OUTCOMES,
    SUCCESS_SQL,
    Headline,
    Rate,
    RatesDocument,
    TickerPage,
    from_iso,
    redact_url,
)
from ticker.db.schema import write_transaction

DEFAULT_GAP_LIMIT_S = 300.0
# A success that started less than this before the channel's latest one was in flight beside it
# (another writer's poll committed first: the request path bounds a request to about a minute):
# it is merged where it belongs in time. An earlier start is the host clock stepping back: the
# poll is the newest observation, kept in arrival (id) order.
RACE_WINDOW_S = 120.0


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
    not_modified: bool = False  # a 304 to the validators of `based_on`
    based_on: int | None = None  # the fetch whose validators (and body hash) the request relied on
    replayed_outcome: str | None = None  # a re-parse replaying a fetch keeps the outcome it recorded


def address_key(address: str) -> str:
    """What identifies an exact address in `address_state` (secrets included) without storing it."""
    return hashlib.sha256(address.encode("utf-8", "surrogateescape")).hexdigest()


class NeedsParse(Exception):
    """The body is the same as an earlier one, but that one is no longer what the channel last
    showed (another writer came in between): parse it and save it in full."""


class NeedsRefetch(Exception):
    """A 304 confirmed a body that is no longer what the channel last showed: ask again without
    validators."""


_FETCH_COLUMNS = [name for name in FetchRow.__dataclass_fields__ if name != "id"]
_INSERT_FETCH = (
    f"INSERT INTO fetches ({', '.join(_FETCH_COLUMNS)}) VALUES ({', '.join('?' for _ in _FETCH_COLUMNS)})"
)


def _insert_fetch(db: Database, row: FetchRow) -> int:
    cursor = db.execute(_INSERT_FETCH, [getattr(row, name) for name in _FETCH_COLUMNS])
    fetch_id = int(cursor.lastrowid)
    row.id = fetch_id
    if row.origin is None:  # a backfill's or an import's requests say nothing of the live source's health
        track_outage(db, fetch_id, row.source, row.channel, row.started_at, row.outcome, row.error)
        count_fetch_hour(db, row.source, row.started_at, row.outcome, row.duration_ms)
    return fetch_id


def count_fetch_hour(db: Database, source: str, at: str, outcome: str, duration_ms: int | None) -> None:
    """Add one attempt to its source's hour in `fetch_hours`."""
    column = outcome if outcome in SUCCESS_OUTCOMES + FAILURE_OUTCOMES else "attempts"
    db.execute(
        f"INSERT INTO fetch_hours (source, hour, attempts, {column}, duration_ms_total) "
        f"VALUES (?, ?, 1, 1, ?) ON CONFLICT (source, hour) DO UPDATE SET "
        f"attempts = attempts + 1, {column} = {column} + 1, "
        f"duration_ms_total = duration_ms_total + excluded.duration_ms_total",
        [source, at[:13] + ":00:00Z", duration_ms or 0],
    )


def _live_only(db: Database) -> str:
    """`WHERE` for live polls only (the `origin` column exists from migration 0007 on)."""
    return "WHERE origin IS NULL" if "origin" in db["fetches"].columns_dict else ""


def rebuild_fetch_hours(db: Database) -> None:
    """Recount `fetch_hours` from the fetch log (migrations, synthetic histories)."""
    db.execute("DELETE FROM fetch_hours")
    db.execute(
        "INSERT INTO fetch_hours SELECT source, substr(started_at, 1, 13) || ':00:00Z', count(*), "
        "sum(outcome = 'ok'), sum(outcome = 'unchanged'), sum(outcome = 'blocked'), "
        "sum(outcome = 'http_error'), sum(outcome = 'network_error'), sum(outcome = 'parse_error'), "
        f"coalesce(sum(duration_ms), 0) FROM fetches {_live_only(db)} GROUP BY 1, 2"
    )


def rebuild_outage_runs(db: Database) -> None:
    """Rebuild `outage_runs` from the fetch log (migrations, synthetic histories)."""
    db.execute("DELETE FROM outage_runs")
    for fetch_id, source, channel, started_at, outcome, error in db.execute(
        f"SELECT id, source, channel, started_at, outcome, error FROM fetches {_live_only(db)} ORDER BY id"
    ).fetchall():
        track_outage(db, fetch_id, source, channel, started_at, outcome, error)


def track_outage(
    db: Database, fetch_id: int, source: str, channel: str, at: str, outcome: str, error: str | None
) -> None:
    """Keep `outage_runs` in step with one new fetch: a success closes the open run of its
    source and channel, a failure extends it or opens one."""
    if outcome in SUCCESS_OUTCOMES:
        db.execute(
            "UPDATE outage_runs SET ended_at = ?, end_fetch_id = ? "
            "WHERE source = ? AND channel = ? AND ended_at IS NULL",
            [at, fetch_id, source, channel],
        )
        return
    open_run = db.execute(
        "SELECT id, outcomes FROM outage_runs WHERE source = ? AND channel = ? AND ended_at IS NULL",
        [source, channel],
    ).fetchone()
    if open_run is None:
        db.execute(
            "INSERT INTO outage_runs (source, channel, started_at, first_fetch_id, last_failure_at, "
            "last_fetch_id, failures, outcomes, first_error) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            [source, channel, at, fetch_id, at, fetch_id, outcome, error],
        )
        return
    outcomes = open_run[1] if outcome in open_run[1].split(",") else f"{open_run[1]},{outcome}"
    db.execute(
        "UPDATE outage_runs SET last_failure_at = max(last_failure_at, ?), last_fetch_id = ?, "
        "failures = failures + 1, outcomes = ? WHERE id = ?",
        [at, fetch_id, outcomes, open_run[0]],
    )


def save_failure(db: Database, row: FetchRow) -> Saved:
    """Record a failed attempt. Nothing else is touched: no history is un-seen."""
    with write_transaction(db):
        fetch_id = _insert_fetch(db, row)
    return Saved(fetch_id=fetch_id, outcome=row.outcome, row=row)


def _upsert_headline(
    db: Database, headline: Headline, row: FetchRow, fetch_id: int
) -> tuple[int, bool, bool]:
    """Store one sighting of a headline; returns (title id, is new, title changed)."""
    at = row.started_at
    current = db.execute("SELECT title FROM headlines WHERE id = ?", [headline.id]).fetchone()
    if current is None:
        db.execute(
            "INSERT INTO headlines (id, source, url, title, rubric, kind, paid, project, "
            "published_at, first_seen, last_seen, first_fetch_id, last_fetch_id, first_channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                headline.id, row.source, headline.url or None, headline.title, headline.rubric,
                headline.kind, int(headline.paid), headline.project, headline.published_at,
                at, at, fetch_id, fetch_id, row.channel,
            ],
        )  # fmt: skip
    else:
        db.execute(
            "UPDATE headlines SET title = ?, url = coalesce(?, url), rubric = coalesce(?, rubric), "
            "kind = coalesce(?, kind), paid = max(paid, ?), project = coalesce(?, project), "
            "published_at = coalesce(published_at, ?), last_seen = max(last_seen, ?), "
            "last_fetch_id = ? WHERE id = ?",
            [
                headline.title, headline.url or None, headline.rubric, headline.kind,
                int(headline.paid), headline.project, headline.published_at, at, fetch_id,
                headline.id,
            ],
        )  # fmt: skip
    title_id = _touch_title(db, headline.id, headline.title, at, fetch_id)
    changed = current is not None and current[0] != headline.title
    if changed:
        old_title_id = _touch_title(db, headline.id, current[0], None, None)
        db.execute(
            "INSERT INTO title_changes (headline_id, fetch_id, changed_at, old_title_id, "
            "new_title_id) VALUES (?, ?, ?, ?, ?)",
            [headline.id, fetch_id, at, old_title_id, title_id],
        )
    return title_id, current is None, changed


def _touch_title(db: Database, headline_id: str, title: str, at: str | None, fetch_id: int | None) -> int:
    found = db.execute(
        "SELECT id FROM headline_titles WHERE headline_id = ? AND title = ?", [headline_id, title]
    ).fetchone()
    if found is not None:
        if at is not None:
            db.execute(
                "UPDATE headline_titles SET last_seen = max(last_seen, ?), last_fetch_id = ? WHERE id = ?",
                [at, fetch_id, found[0]],
            )
        return int(found[0])
    cursor = db.execute(
        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen, first_fetch_id, "
        "last_fetch_id) VALUES (?, ?, ?, ?, ?, ?)",
        [headline_id, title, at, at, fetch_id, fetch_id],
    )
    return int(cursor.lastrowid)


def _upsert_rate(
    db: Database, source: str, channel: str, rate: Rate, at: str, fetch_id: int
) -> tuple[int, bool]:
    found = db.execute(
        "SELECT id FROM rates WHERE source = ? AND currency = ? AND rate_date = ? AND value = ?",
        [source, rate.currency, rate.rate_date, rate.value],
    ).fetchone()
    if found is not None:
        db.execute(
            "UPDATE rates SET last_seen = max(last_seen, ?), last_fetch_id = ?, "
            "change = coalesce(change, ?), published_at = coalesce(published_at, ?) WHERE id = ?",
            [at, fetch_id, rate.change, rate.published_at, found[0]],
        )
        return int(found[0]), False
    cursor = db.execute(
        "INSERT INTO rates (source, currency, rate_date, value, change, nominal, raw_value, "
        "published_at, first_seen, last_seen, first_fetch_id, last_fetch_id, channel) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source, rate.currency, rate.rate_date, rate.value, rate.change, rate.nominal,
            rate.raw_value, rate.published_at, at, at, fetch_id, fetch_id, channel,
        ],
    )  # fmt: skip
    return int(cursor.lastrowid), True


def _store_snapshot(db: Database, source: str, channel: str, items: list[list], rate_ids: list[int]) -> int:
    items_json = json.dumps(items, separators=(",", ":"))
    rates_json = json.dumps(rate_ids, separators=(",", ":"))
    digest = hashlib.sha256(f"{items_json}|{rates_json}".encode()).hexdigest()
    found = db.execute(
        "SELECT id FROM snapshots WHERE source = ? AND channel = ? AND digest = ?",
        [source, channel, digest],
    ).fetchone()
    if found is not None:
        return int(found[0])
    cursor = db.execute(
        "INSERT INTO snapshots (source, channel, digest, items, rates, item_count) VALUES (?, ?, ?, ?, ?, ?)",
        [source, channel, digest, items_json, rates_json, len(items)],
    )
    return int(cursor.lastrowid)


def _open_sightings(db: Database, source: str, channel: str) -> dict[str, tuple[int, int, int]]:
    """headline id -> (sighting id, last position, last fetch id) for items shown at the last poll."""
    return {
        row[0]: (row[1], row[2], row[3])
        for row in db.execute(
            "SELECT headline_id, id, last_position, last_fetch_id FROM sightings "
            "WHERE source = ? AND channel = ? AND exit_fetch_id IS NULL",
            [source, channel],
        ).fetchall()
    }


def classify_exit(
    gone_position: int,
    previous_positions: dict[str, int],
    current_ids: set[str],
    *,
    blind_gap: bool,
) -> str:
    """Why an item shown at the previous poll is missing now.

    - unknown: failed polls or too long a gap lie between the two polls;
    - pulled: an item that stood below it is still shown (it did not scroll, it was removed),
      or nothing new came in to push it out;
    - scrolled_off: everything below it left too, and newer items came in at the top.
    """
    if blind_gap:
        return "unknown"
    below_still_shown = any(
        position > gone_position and headline_id in current_ids
        for headline_id, position in previous_positions.items()
    )
    if below_still_shown:
        return "pulled"
    newcomers = current_ids - previous_positions.keys()
    return "scrolled_off" if newcomers else "pulled"


def _blind_gap(
    db: Database,
    source: str,
    channel: str,
    previous_fetch_id: int,
    fetch_id: int,
    at: str,
    gap_limit_s: float,
    edition: str | None,
) -> bool:
    """Whether the two polls cannot be compared: too far apart, failed polls between them, or
    different editions of a geo-targeted page (whose lists differ without anything leaving)."""
    previous = db.execute(
        "SELECT started_at, edition FROM fetches WHERE id = ?", [previous_fetch_id]
    ).fetchone()
    if previous is None or previous[1] != edition:
        return True
    if (from_iso(at) - from_iso(previous[0])).total_seconds() > gap_limit_s:
        return True
    failed = db.execute(
        "SELECT count(*) FROM fetches WHERE source = ? AND channel = ? AND id > ? AND id < ? "
        f"AND outcome NOT IN {SUCCESS_SQL} AND origin IS NULL",
        [source, channel, previous_fetch_id, fetch_id],
    ).fetchone()[0]
    return failed > 0


def save_ticker(
    db: Database,
    row: FetchRow,
    page: TickerPage,
    *,
    gap_limit_s: float = DEFAULT_GAP_LIMIT_S,
    ordered: bool = True,
) -> Saved:
    """Store a parsed ticker (page, RSS or feed-JSON channel): headlines, titles, presence runs,
    exits (with their reason when the channel is an ordered live list), rates and the on-page
    snapshot, in one transaction."""
    with write_transaction(db):
        saved = _save_ticker(db, row, page, gap_limit_s=gap_limit_s, ordered=ordered)
        _remember_recorded(db, row, saved)
    return saved


def _remember_recorded(db: Database, row: FetchRow, saved: Saved) -> None:
    """A success written without an Attempt (replays, tests): its address is the recorded one."""
    attempt = Attempt(row=row, address_key=address_key(row.url))
    _remember_address(db, attempt, row.body_sha256, saved.snapshot_id)


def _save_ticker(
    db: Database, row: FetchRow, page: TickerPage, *, gap_limit_s: float, ordered: bool
) -> Saved:
    at = row.started_at
    row.items_found = len(page.headlines)
    row.rates_found = len(page.rates)
    if row.edition is None:
        row.edition = page.edition
    fetch_id = _insert_fetch(db, row)
    saved = Saved(
        fetch_id, row.outcome, items_found=len(page.headlines), rates_found=len(page.rates), row=row
    )
    open_runs = _open_sightings(db, row.source, row.channel)
    items: list[list] = []
    for headline in page.headlines:
        title_id, is_new, changed = _upsert_headline(db, headline, row, fetch_id)
        saved.items_new += is_new
        saved.titles_changed += changed
        items.append([headline.id, title_id])
        run = open_runs.get(headline.id)
        if run is not None:
            db.execute(
                "UPDATE sightings SET last_fetch_id = ?, last_seen = max(last_seen, ?), "
                "last_position = ? WHERE id = ?",
                [fetch_id, at, headline.position, run[0]],
            )
        else:
            db.execute(
                "INSERT INTO sightings (headline_id, source, channel, first_fetch_id, "
                "last_fetch_id, first_seen, last_seen, first_position, last_position) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [headline.id, row.source, row.channel, fetch_id, fetch_id, at, at,
                 headline.position, headline.position],
            )  # fmt: skip
    current_ids = {headline.id for headline in page.headlines}
    gone = {hid: run for hid, run in open_runs.items() if hid not in current_ids}
    if gone:
        previous_fetch_id = max(run[2] for run in open_runs.values())
        blind = _blind_gap(
            db, row.source, row.channel, previous_fetch_id, fetch_id, at, gap_limit_s, row.edition
        )
        positions = {hid: run[1] for hid, run in open_runs.items()}
        for sighting_id, position, _ in gone.values():
            reason = classify_exit(position, positions, current_ids, blind_gap=blind)
            saved.exits[reason] = saved.exits.get(reason, 0) + 1
            db.execute(
                # max(): a host clock stepped back must not put an exit before the last sighting.
                "UPDATE sightings SET exit_fetch_id = ?, exited_at = max(?, last_seen), exit_reason = ? "
                "WHERE id = ?",
                [fetch_id, at, reason if ordered else None, sighting_id],
            )
    rate_ids = []
    for rate in page.rates:
        rate_id, is_new = _upsert_rate(db, row.source, row.channel, rate, at, fetch_id)
        rate_ids.append(rate_id)
        saved.rates_new += is_new
    snapshot_id = _store_snapshot(db, row.source, row.channel, items, rate_ids)
    db.execute(
        "UPDATE fetches SET items_new = ?, titles_changed = ?, rates_new = ?, snapshot_id = ? WHERE id = ?",
        [saved.items_new, saved.titles_changed, saved.rates_new, snapshot_id, fetch_id],
    )
    saved.snapshot_id = snapshot_id
    return saved


def save_rates(db: Database, row: FetchRow, document: RatesDocument) -> Saved:
    """Store a rates document (Bank of Russia): one row per distinct value, last_seen moved on."""
    with write_transaction(db):
        saved = _save_rates(db, row, document)
        _remember_recorded(db, row, saved)
    return saved


def _save_rates(db: Database, row: FetchRow, document: RatesDocument) -> Saved:
    row.rates_found = len(document.rates)
    fetch_id = _insert_fetch(db, row)
    saved = Saved(fetch_id, row.outcome, rates_found=len(document.rates), row=row)
    rate_ids = []
    for rate in document.rates:
        rate_id, is_new = _upsert_rate(db, row.source, row.channel, rate, row.started_at, fetch_id)
        rate_ids.append(rate_id)
        saved.rates_new += is_new
    snapshot_id = _store_snapshot(db, row.source, row.channel, [], rate_ids)
    db.execute(
        "UPDATE fetches SET rates_new = ?, snapshot_id = ? WHERE id = ?",
        [saved.rates_new, snapshot_id, fetch_id],
    )
    saved.snapshot_id = snapshot_id
    return saved


def save_unchanged(db: Database, row: FetchRow, previous_snapshot_id: int | None) -> Saved:
    """A 304 or a body identical to the last one: the same snapshot was shown again.

    Adds one `fetches` row pointing at the previous snapshot and moves `last_seen` of what it
    holds; nothing is copied.
    """
    with write_transaction(db):
        saved = _save_unchanged(db, row, previous_snapshot_id)
        _remember_recorded(db, row, saved)
    return saved


def _save_unchanged(db: Database, row: FetchRow, previous_snapshot_id: int | None) -> Saved:
    at = row.started_at
    snapshot = None
    if previous_snapshot_id is not None:
        snapshot = db.execute(
            "SELECT items, rates FROM snapshots WHERE id = ?", [previous_snapshot_id]
        ).fetchone()
    items = json.loads(snapshot[0]) if snapshot else []
    rate_ids = json.loads(snapshot[1]) if snapshot else []
    row.items_found = len(items) or None  # a rates-only snapshot (Bank of Russia) has no items
    row.rates_found = len(rate_ids)
    fetch_id = _insert_fetch(db, row)
    db.execute(
        "UPDATE fetches SET snapshot_id = ?, items_new = 0, titles_changed = 0, rates_new = 0 WHERE id = ?",
        [previous_snapshot_id, fetch_id],
    )
    for headline_id, title_id in items:
        db.execute(
            "UPDATE headlines SET last_seen = max(last_seen, ?), last_fetch_id = ? WHERE id = ?",
            [at, fetch_id, headline_id],
        )
        db.execute(
            "UPDATE headline_titles SET last_seen = max(last_seen, ?), last_fetch_id = ? WHERE id = ?",
            [at, fetch_id, title_id],
        )
    db.execute(
        "UPDATE sightings SET last_fetch_id = ?, last_seen = max(last_seen, ?) "
        "WHERE source = ? AND channel = ? AND exit_fetch_id IS NULL",
        [fetch_id, at, row.source, row.channel],
    )
    for rate_id in rate_ids:
        db.execute(
            "UPDATE rates SET last_seen = max(last_seen, ?), last_fetch_id = ? WHERE id = ?",
            [at, fetch_id, rate_id],
        )
    saved = Saved(fetch_id, row.outcome, items_found=len(items), rates_found=len(rate_ids), row=row)
    saved.snapshot_id = previous_snapshot_id
    return saved


def address_state(db: Database, source: str, channel: str, key: str) -> AddressState | None:
    """The latest success from this exact address of the channel (None: never, or not since
    migration 0007)."""
    found = db.execute(
        "SELECT fetch_id, etag, last_modified, body_sha256, snapshot_id FROM address_state "
        "WHERE source = ? AND channel = ? AND address_sha256 = ?",
        [source, channel, key],
    ).fetchone()
    return AddressState(*found) if found else None


def _channel_latest(db: Database, source: str, channel: str) -> tuple[int, str] | None:
    """The channel's latest success as the writers recorded it (in arrival order, from whichever
    address): (fetch id, started_at)."""
    return db.execute(
        "SELECT fetch_id, started_at FROM address_state WHERE source = ? AND channel = ? "
        "ORDER BY fetch_id DESC LIMIT 1",
        [source, channel],
    ).fetchone()


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
) -> Saved:
    """Record one live request and what it saw, in one transaction, deciding "unchanged or
    new" against the state inside that transaction:

    - a failure is one `fetches` row; nothing else is touched;
    - a 304, or a body identical to the one the same exact address gave last, is `unchanged`
      only if that address's success is still the channel's latest (else NeedsRefetch /
      NeedsParse: another writer came in between, and the caller must ask again or parse);
    - anything else is saved in full from `attempt.parsed`.

    `keep_body(saved, attempt)` says whether the body is archived, in the same transaction (a
    fetch never lacks its body because of a crash or a full disk between two transactions).
    """
    row = attempt.row
    with write_transaction(db):
        if row.outcome not in SUCCESS_OUTCOMES:
            saved = Saved(_insert_fetch(db, row), row.outcome, row=row)
        else:
            saved = _save_success(db, attempt, ordered=ordered, gap_limit_s=gap_limit_s)
        if attempt.body is not None and keep_body is not None and keep_body(saved, attempt):
            from ticker.db.archive import archive_body

            archive_body(
                db, fetch_id=saved.fetch_id, source=row.source, channel=row.channel, body=attempt.body,
                content_type=row.content_type, at=row.started_at, keep=True,
            )  # fmt: skip
    return saved


def _save_out_of_order(db: Database, attempt: Attempt, *, ordered: bool, gap_limit_s: float) -> Saved:
    """A success that started before the channel's latest recorded one (another writer's poll
    committed first): stored where it belongs in time, by re-deriving the channel's history."""
    from ticker.db.imports import store_observation
    from ticker.db.rederive import rederive_in_transaction

    row = attempt.row
    if attempt.not_modified:
        raise NeedsRefetch(f"{row.source}/{row.channel}: a 304 older than the channel's latest poll")
    if attempt.parsed is None:
        raise NeedsParse(f"{row.source}/{row.channel}: an answer older than the channel's latest poll")
    if isinstance(attempt.parsed, TickerPage) and row.edition is None:
        row.edition = attempt.parsed.edition
    stored = store_observation(db, row, attempt.parsed)  # its counts, as the live writer gives them
    rederive_in_transaction(db, row.source, row.channel, gap_limit_s=gap_limit_s, ordered=ordered)
    return stored


def _save_success(db: Database, attempt: Attempt, *, ordered: bool, gap_limit_s: float) -> Saved:
    row = attempt.row
    latest = _channel_latest(db, row.source, row.channel)
    if latest is not None and row.started_at < latest[1]:
        behind_s = (from_iso(latest[1]) - from_iso(row.started_at)).total_seconds()
        if behind_s < RACE_WINDOW_S:
            return _save_out_of_order(db, attempt, ordered=ordered, gap_limit_s=gap_limit_s)
    state = address_state(db, row.source, row.channel, attempt.address_key)
    current = state is not None and latest is not None and state.fetch_id == latest[0]
    if attempt.not_modified:
        if state is None or not current or state.fetch_id != attempt.based_on:
            raise NeedsRefetch(
                f"{row.source}/{row.channel}: the page a 304 confirmed is no longer the latest"
            )
        row.outcome = attempt.replayed_outcome or "unchanged"
        saved = _save_unchanged(db, row, state.snapshot_id)
        _remember_address(db, attempt, state.body_sha256, state.snapshot_id)
        return saved
    if current and state.snapshot_id is not None and row.body_sha256 == state.body_sha256:
        row.outcome, row.error, row.warning = "unchanged", None, None
        saved = _save_unchanged(db, row, state.snapshot_id)
    elif attempt.parsed is None:
        raise NeedsParse(f"{row.source}/{row.channel}: the body must be parsed")
    elif isinstance(attempt.parsed, TickerPage):
        saved = _save_ticker(db, row, attempt.parsed, gap_limit_s=gap_limit_s, ordered=ordered)
    else:
        saved = _save_rates(db, row, attempt.parsed)
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


def insert_fetch(db: Database, row: FetchRow) -> int:
    """Insert one `fetches` row inside the caller's transaction; returns its id."""
    return _insert_fetch(db, row)


def upsert_rate(
    db: Database, source: str, channel: str, rate: Rate, at: str, fetch_id: int
) -> tuple[int, bool]:
    """Store one rate inside the caller's transaction, never duplicating (source, currency, day,
    value): a known one only has `last_seen` moved. Returns (rate id, is new)."""
    return _upsert_rate(db, source, channel, rate, at, fetch_id)


def store_snapshot(db: Database, source: str, channel: str, items: list[list], rate_ids: list[int]) -> int:
    """The id of this exact list (stored once per distinct list), inside the caller's transaction."""
    return _store_snapshot(db, source, channel, items, rate_ids)
