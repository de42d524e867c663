"""The history as one function of the fetch log.

The fetches, with the snapshots they point at, are the log: what each attempt saw, in the log's
order `(log_at, id)` (db/fetchlog.py says how a fetch gets its place). Everything else a reader
cites is derived from it here, by `derive`, inside the writer's transaction:

- `sightings` of a channel: presences, their last poll and how they ended. A presence ends
  where the log says the item was not shown, or where the channel was not watched (neither
  observed nor polled) for longer than its gap limit, whatever wrote the observations: an
  imported capture of 2022 and today's poll are two presences, the first ending `unknown`. An
  exit is `unknown` when a failed live poll, a gap longer than the limit or a change of edition
  lies between the last poll that showed it and the first that did not; otherwise `pulled` or
  `scrolled_off`;
- the extents of headlines, title versions and rates (first and last observation);
- `title_changes` and each headline's latest title, across every channel;
- the fetch-log summary `fetches.titles_changed`.

`derive` re-walks a channel from a place in the log to its end, starting from the last success
before that place: a live poll walks one fetch, an import, a late or racing write, a re-parse
walk a range. Every path stores its observations with `store_observation` and then calls
`derive`, so live, imported, merged and re-parsed histories are the same by construction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlite_utils import Database

from ticker.core.base import SUCCESS_SQL, Headline, RatesDocument, TickerPage, from_iso, to_iso, utc_now
from ticker.core.records import FetchRow, Saved
from ticker.db.fetchlog import insert_fetch, is_failed_poll
from ticker.db.schema import write_transaction

# The most items one fetch of a channel may store, unless its kind's channel says otherwise
# (`ticker.kinds.Channel.max_items`): a list longer than any real ticker (RBC shows 14, a feed
# some hundreds) is cut here, said in the fetch's `warning`, so one answer cannot hold the write
# lock for minutes.
MAX_ITEMS = 2000

Place = tuple[str, int]  # (log_at, fetch id): a fetch's place in the log
UNKNOWN, PULLED, SCROLLED_OFF = "unknown", "pulled", "scrolled_off"


# ---- storing what a fetch saw (the one insert path)


def store_observation(
    db: Database,
    row: FetchRow,
    parsed: TickerPage | RatesDocument | None = None,
    *,
    same_as_snapshot: int | None = None,
    after_log_at: str | None = None,
    known_after: bool = False,
    max_items: int = MAX_ITEMS,
) -> Saved:
    """Inside the caller's transaction: the fetch row and what it saw, as the log holds it (the
    headlines, title versions and rates it showed, created when new, and its snapshot); an
    unchanged fetch (`same_as_snapshot`) saw that snapshot again. Nothing derived is decided
    here: call `derive` for the channel from the fetch's place."""
    headlines: tuple[Headline, ...] = ()
    if isinstance(parsed, TickerPage):
        headlines = parsed.headlines
        if row.edition is None:
            row.edition = parsed.edition
        if len(headlines) > max_items:
            note = f"item cap: kept the first {max_items} of {len(headlines)} items"
            row.warning = f"{row.warning}; {note}" if row.warning else note
            headlines = headlines[:max_items]
    if parsed is not None:
        row.items_found = len(headlines) if isinstance(parsed, TickerPage) else None
        row.rates_found = len(parsed.rates)
    snapshot = None
    if same_as_snapshot is not None:
        snapshot = _load_snapshot(db, same_as_snapshot)
        row.items_found = len(snapshot[0]) or None  # a rates-only snapshot (Bank of Russia) has no items
        row.rates_found = len(snapshot[1])
    fetch_id = insert_fetch(db, row, after_log_at=after_log_at, known_after=known_after)
    saved = Saved(fetch_id, row.outcome, row=row)
    if snapshot is not None:
        saved.items_found, saved.rates_found = len(snapshot[0]), len(snapshot[1])
        db.execute(
            "UPDATE fetches SET snapshot_id = ?, items_new = 0, titles_changed = 0, rates_new = 0 WHERE id = ?",
            [same_as_snapshot, fetch_id],
        )
        saved.snapshot_id = same_as_snapshot
        return saved
    if parsed is None:
        return saved
    items = []
    for headline_id, title_id, is_new in _ensure_headlines(db, row, headlines):
        saved.items_new += is_new
        items.append([headline_id, title_id])
    rate_ids = []
    for rate in parsed.rates:
        rate_id, is_new = _ensure_rate(db, row, rate)
        rate_ids.append(rate_id)
        saved.rates_new += is_new
    saved.items_found, saved.rates_found = len(items), len(rate_ids)
    saved.snapshot_id = store_snapshot(db, row.source, row.channel, items, rate_ids)
    db.execute(
        "UPDATE fetches SET items_new = ?, titles_changed = 0, rates_new = ?, snapshot_id = ? WHERE id = ?",
        [saved.items_new, saved.rates_new, saved.snapshot_id, fetch_id],
    )
    return saved


def _ensure_headline(
    db: Database, row: FetchRow, headline: Headline, *, channel: str | None = None
) -> tuple[int, bool]:
    """The title id of this headline as the fetch showed it; the headline and title rows are
    created when new (their extents are the fetch's until `derive` merges them)."""
    at, fetch_id = row.log_at, row.id
    known = db.execute("SELECT 1 FROM headlines WHERE id = ?", [headline.id]).fetchone() is not None
    if not known:
        db.execute(
            "INSERT INTO headlines (id, source, url, title, rubric, kind, paid, project, "
            "published_at, first_seen, last_seen, first_fetch_id, last_fetch_id, first_channel) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                headline.id, row.source, headline.url or None, headline.title, headline.rubric,
                headline.kind, int(headline.paid), headline.project, headline.published_at,
                at, at, fetch_id, fetch_id, channel or row.channel,
            ],
        )  # fmt: skip
    else:
        db.execute(
            "UPDATE headlines SET url = coalesce(?, url), rubric = coalesce(?, rubric), "
            "kind = coalesce(?, kind), paid = max(paid, ?), project = coalesce(?, project), "
            "published_at = coalesce(published_at, ?) WHERE id = ?",
            [
                headline.url or None, headline.rubric, headline.kind, int(headline.paid),
                headline.project, headline.published_at, headline.id,
            ],
        )  # fmt: skip
    db.execute(
        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen, first_fetch_id, "
        "last_fetch_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (headline_id, title) DO NOTHING",
        [headline.id, headline.title, at, at, fetch_id, fetch_id],
    )
    title_id = db.execute(
        "SELECT id FROM headline_titles WHERE headline_id = ? AND title = ?", [headline.id, headline.title]
    ).fetchone()[0]
    return int(title_id), not known


_IDS = "(SELECT value FROM json_each(?))"  # a list of ids as one variable: no limit on its length


def _ensure_headlines(
    db: Database, row: FetchRow, headlines: tuple[Headline, ...]
) -> list[tuple[str, int, bool]]:
    """`_ensure_headline` for every headline of a list, in its order, with the stored rows read
    in a few queries and only what changes written: (id, title id, is new) each."""
    ids = list(dict.fromkeys(h.id for h in headlines))
    stored: dict[str, list] = {}
    title_ids: dict[tuple[str, str], int] = {}
    listed = [json.dumps(ids)]
    for found in db.execute(
        f"SELECT id, url, rubric, kind, paid, project, published_at FROM headlines WHERE id IN {_IDS}", listed
    ).fetchall():
        stored[found[0]] = list(found[1:])
    for headline_id, title, title_id in db.execute(
        f"SELECT headline_id, title, id FROM headline_titles WHERE headline_id IN {_IDS}", listed
    ).fetchall():
        title_ids[(headline_id, title)] = title_id
    at, fetch_id = row.log_at, row.id
    result = []
    for headline in headlines:
        known = stored.get(headline.id)
        if known is None:
            _ensure_headline(db, row, headline)  # inserts the headline and its title
            stored[headline.id] = [
                headline.url or None, headline.rubric, headline.kind, int(headline.paid),
                headline.project, headline.published_at,
            ]  # fmt: skip
        else:
            # What `UPDATE headlines SET url = coalesce(?, url), ...` would leave, computed here:
            # the statement only when it changes something.
            merged = [
                headline.url or known[0], known[1] if headline.rubric is None else headline.rubric,
                known[2] if headline.kind is None else headline.kind, max(known[3], int(headline.paid)),
                known[4] if headline.project is None else headline.project,
                headline.published_at if known[5] is None else known[5],
            ]  # fmt: skip
            if merged != known:
                db.execute(
                    "UPDATE headlines SET url = ?, rubric = ?, kind = ?, paid = ?, project = ?, "
                    "published_at = ? WHERE id = ?",
                    [*merged, headline.id],
                )
                stored[headline.id] = merged
        title_id = title_ids.get((headline.id, headline.title))
        if title_id is None:
            db.execute(
                "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen, first_fetch_id, "
                "last_fetch_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (headline_id, title) DO NOTHING",
                [headline.id, headline.title, at, at, fetch_id, fetch_id],
            )
            title_id = title_ids[(headline.id, headline.title)] = int(
                db.execute(
                    "SELECT id FROM headline_titles WHERE headline_id = ? AND title = ?",
                    [headline.id, headline.title],
                ).fetchone()[0]
            )
        result.append((headline.id, title_id, known is None))
    return result


def _ensure_rate(db: Database, row: FetchRow, rate) -> tuple[int, bool]:
    found = db.execute(
        "SELECT id FROM rates WHERE source = ? AND currency = ? AND rate_date = ? AND value = ?",
        [row.source, rate.currency, rate.rate_date, rate.value],
    ).fetchone()
    if found is not None:
        db.execute(
            "UPDATE rates SET change = coalesce(change, ?), published_at = coalesce(published_at, ?) WHERE id = ?",
            [rate.change, rate.published_at, found[0]],
        )
        return int(found[0]), False
    cursor = db.execute(
        "INSERT INTO rates (source, currency, rate_date, value, change, nominal, raw_value, "
        "published_at, first_seen, last_seen, first_fetch_id, last_fetch_id, channel) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row.source, rate.currency, rate.rate_date, rate.value, rate.change, rate.nominal,
            rate.raw_value, rate.published_at, row.log_at, row.log_at, row.id, row.id, row.channel,
        ],
    )  # fmt: skip
    return int(cursor.lastrowid), True


BACKFILL_CHANNEL = "backfill"


def store_backfill(db: Database, row: FetchRow, headlines: list[Headline]) -> Saved:
    """A backfill request and the headlines it made known, inside the caller's transaction.
    A backfilled headline is evidence of publication, never of presence: a headline not stored
    before gets its rows and a `sightings` row of channel 'backfill' (no position, no exit); one
    already stored, by any channel, gets nothing new."""
    row.items_found = len(headlines)
    saved = store_observation(db, row)
    saved.items_found = len(headlines)
    for headline in headlines:
        if _known(db, headline.id):  # seen or backfilled before (or twice in this answer)
            continue
        _ensure_headline(db, row, headline, channel=BACKFILL_CHANNEL)
        saved.items_new += 1
        db.execute(
            "INSERT INTO sightings (headline_id, source, channel, first_fetch_id, last_fetch_id, "
            "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [headline.id, row.source, BACKFILL_CHANNEL, row.id, row.id, row.log_at, row.log_at],
        )
    db.execute("UPDATE fetches SET items_new = ?, titles_changed = 0 WHERE id = ?", [saved.items_new, row.id])
    return saved


def _known(db: Database, headline_id: str) -> bool:
    return db.execute("SELECT 1 FROM headlines WHERE id = ?", [headline_id]).fetchone() is not None


def store_rate(db: Database, row: FetchRow, rate) -> tuple[int, bool]:
    """One rate a fetch without a snapshot showed (a rate-range backfill): stored once per
    (source, currency, day, value), its extents merged. Returns (rate id, is new)."""
    rate_id, is_new = _ensure_rate(db, row, rate)
    if not is_new:
        _merge_extent(db, "rates", rate_id, (row.log_at, row.id), (row.log_at, row.id))
    return rate_id, is_new


def store_snapshot(db: Database, source: str, channel: str, items: list[list], rate_ids: list[int]) -> int:
    """The id of this exact list (stored once per distinct list), inside the caller's transaction."""
    items_json = json.dumps(items, separators=(",", ":"))
    rates_json = json.dumps(rate_ids, separators=(",", ":"))
    digest = hashlib.sha256(f"{items_json}|{rates_json}".encode()).hexdigest()
    found = db.execute(
        "SELECT id FROM snapshots WHERE source = ? AND channel = ? AND digest = ?", [source, channel, digest]
    ).fetchone()
    if found is not None:
        return int(found[0])
    cursor = db.execute(
        "INSERT INTO snapshots (source, channel, digest, items, rates, item_count) VALUES (?, ?, ?, ?, ?, ?)",
        [source, channel, digest, items_json, rates_json, len(items)],
    )
    return int(cursor.lastrowid)


def _load_snapshot(db: Database, snapshot_id: int) -> tuple[list[list], list[int]]:
    row = db.execute("SELECT items, rates FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
    return (json.loads(row[0]), json.loads(row[1])) if row else ([], [])


class _Snapshots:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[int, tuple[list[list], list[int]]] = {}

    def get(self, snapshot_id: int) -> tuple[list[list], list[int]]:
        found = self._cache.get(snapshot_id)
        if found is None:
            found = self._cache[snapshot_id] = _load_snapshot(self.db, snapshot_id)
        return found


# ---- history still to derive (an import stopped before it merged)


def mark_pending(db: Database, source: str, channel: str, place: Place) -> None:
    """Note, in the caller's transaction, that the channel's history must be re-derived from
    `place` on (captures stored, not merged yet): the next `derive` of the channel starts there."""
    db.execute(
        "INSERT INTO history_pending (source, channel, log_at, fetch_id, since) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (source, channel) DO UPDATE SET log_at = excluded.log_at, fetch_id = excluded.fetch_id "
        "WHERE (excluded.log_at, excluded.fetch_id) < (history_pending.log_at, history_pending.fetch_id)",
        [source, channel, place[0], place[1], to_iso(utc_now())],
    )


def pending(db: Database) -> list[tuple[str, str, str, int, str]]:
    """(source, channel, log_at, fetch id, since) of every channel whose history waits to be
    re-derived."""
    return db.execute(
        "SELECT source, channel, log_at, fetch_id, since FROM history_pending ORDER BY 1, 2"
    ).fetchall()


def _take_pending(db: Database, source: str, channel: str) -> Place | None:
    found = db.execute(
        "SELECT log_at, fetch_id FROM history_pending WHERE source = ? AND channel = ?", [source, channel]
    ).fetchone()
    if found is None:
        return None
    db.execute("DELETE FROM history_pending WHERE source = ? AND channel = ?", [source, channel])
    return found[0], found[1]


# ---- deriving


def exit_reasons(
    previous: dict[str, int], current: set[str] | dict[str, int], gone: list[str], *, blind: bool
) -> list[str]:
    """Why each of `gone` (items of the previous list, `previous`: id -> position) is missing
    from `current`, in one pass over the lists:

    - unknown: the two polls cannot be compared (`blind`: failed polls or too long a gap
      between them, another edition);
    - pulled: an item that stood below it is still shown, or nothing new came in;
    - scrolled_off: everything below it left too, and newer items came in at the top.
    """
    if blind:
        return [UNKNOWN] * len(gone)
    deepest_kept = max((position for hid, position in previous.items() if hid in current), default=0)
    newcomers = any(hid not in previous for hid in current)
    return [PULLED if previous.get(hid, 0) < deepest_kept or not newcomers else SCROLLED_OFF for hid in gone]


def classify_exit(
    gone_position: int, previous_positions: dict[str, int], current_ids: set[str], *, blind_gap: bool
) -> str:
    """`exit_reasons` for one item at `gone_position` of the previous list."""
    previous = dict(previous_positions)
    previous["\x00gone"] = gone_position
    return exit_reasons(previous, current_ids, ["\x00gone"], blind=blind_gap)[0]


@dataclass(slots=True)
class _Run:
    id: int | None
    headline_id: str
    first_fetch_id: int
    first_seen: str
    first_position: int
    last_fetch_id: int
    last_seen: str
    last_position: int
    exit_fetch_id: int | None = None
    exited_at: str | None = None
    exit_reason: str | None = None


@dataclass(slots=True)
class _Seen:
    """One headline's observations in a walk: first and last (place, title id), and the title
    changes between them."""

    first: tuple[Place, int]
    last: tuple[Place, int]
    changes: list[tuple[Place, int, int]] = field(default_factory=list)  # (place, old, new)


@dataclass(slots=True)
class Derived:
    """What a derivation walked and wrote (for the import summary and the live log line)."""

    fetches: int = 0  # successes walked
    sightings: int = 0  # presences written
    title_changes: int = 0
    headlines: int = 0
    rates: int = 0
    exits: dict[int, dict[str, int]] = field(default_factory=dict)  # fetch id -> reason -> count
    changes_at: dict[int, int] = field(default_factory=dict)  # fetch id -> title changes


def derive(
    db: Database, source: str, channel: str, *, since: Place | None, gap_limit_s: float, ordered: bool
) -> Derived:
    """Derive the channel's history from place `since` (None: its first fetch) to the end of its
    log, inside the caller's transaction (see the module docstring). A channel marked pending
    is derived from the earlier of the two places, and unmarked. `ordered`: the channel is an
    ordered live list (exits get a reason)."""
    marked = _take_pending(db, source, channel)
    start: Place = ("", 0) if since is None else min(since, marked) if marked is not None else since
    snapshots = _Snapshots(db)
    base = db.execute(
        "SELECT id, log_at, snapshot_id, edition FROM fetches WHERE source = ? AND channel = ? "
        f"AND outcome IN {SUCCESS_SQL} AND snapshot_id IS NOT NULL AND (log_at, id) < (?, ?) "
        "ORDER BY log_at DESC, id DESC LIMIT 1",
        [source, channel, *start],
    ).fetchone()
    open_runs = _reopen(db, source, channel, start, base, snapshots)
    derived = Derived()
    seen: dict[str, _Seen] = {}
    titles: dict[int, list[Place]] = {}
    rates: dict[int, list[Place]] = {}
    runs = list(open_runs.values())
    previous: dict[str, int] = {}
    before: tuple[str, str | None] | None = None
    if base is not None:
        previous = _positions(snapshots.get(base[2])[0])
        before = (base[1], base[3])
    failed = False
    watched = base[1] if base is not None else None  # the last instant the channel was watched
    after = (base[1], base[0]) if base is not None else ("", 0)
    cursor = db.execute(
        "SELECT id, log_at, outcome, origin, snapshot_id, edition FROM fetches "
        "WHERE source = ? AND channel = ? AND (log_at, id) > (?, ?) ORDER BY log_at, id",
        [source, channel, *after],
    )
    for fetch_id, at, outcome, origin, snapshot_id, edition in cursor.fetchall():
        if outcome not in ("ok", "unchanged"):
            if is_failed_poll(outcome, origin):
                failed, watched = True, at
            continue
        if snapshot_id is None:  # a backfill request: evidence of publication, not of presence
            continue
        derived.fetches += 1
        place = (at, fetch_id)
        items, rate_ids = snapshots.get(snapshot_id)
        current = _positions(items)
        for headline_id, title_id in items:
            _note(seen, headline_id, place, title_id)
            titles.setdefault(title_id, [place, place])[1] = place
        for rate_id in rate_ids:
            rates.setdefault(rate_id, [place, place])[1] = place
        if watched is not None and (from_iso(at) - from_iso(watched)).total_seconds() > gap_limit_s:
            # Not watched for longer than the channel allows (no observation, no live attempt):
            # every presence ends here, its exit unknown, and what this fetch shows begins
            # again, whatever wrote either side (a capture of 2022 and today's poll).
            for headline_id in list(open_runs):
                _end(open_runs.pop(headline_id), fetch_id, at, UNKNOWN if ordered else None, derived)
        for headline_id, position in current.items():
            run = open_runs.get(headline_id)
            if run is None:
                run = _Run(None, headline_id, fetch_id, at, position, fetch_id, at, position)
                open_runs[headline_id] = run
                runs.append(run)
            else:
                run.last_fetch_id, run.last_seen, run.last_position = fetch_id, at, position
        gone = [headline_id for headline_id in open_runs if headline_id not in current]
        if gone:
            blind = (
                before is None
                or failed
                or before[1] != edition
                or (from_iso(at) - from_iso(before[0])).total_seconds() > gap_limit_s
            )
            positions = previous or {hid: open_runs[hid].last_position for hid in gone}
            reasons = exit_reasons(positions, current, gone, blind=blind)
            for headline_id, reason in zip(gone, reasons, strict=True):
                _end(open_runs.pop(headline_id), fetch_id, at, reason if ordered else None, derived)
        previous, before, failed, watched = current, (at, edition), False, at
    derived.sightings = _write_runs(db, source, channel, runs)
    _derive_titles(db, snapshots, seen, titles, derived)
    _merge_extents(db, "rates", rates)
    derived.headlines, derived.rates = len(seen), len(rates)
    return derived


def _end(run: _Run, fetch_id: int, at: str, reason: str | None, derived: Derived) -> None:
    run.exit_fetch_id, run.exited_at, run.exit_reason = fetch_id, at, reason
    counts = derived.exits.setdefault(fetch_id, {})
    key = reason or "exit"
    counts[key] = counts.get(key, 0) + 1


def _positions(items: list[list]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for position, (headline_id, _) in enumerate(items, start=1):
        positions.setdefault(headline_id, position)
    return positions


def _note(seen: dict[str, _Seen], headline_id: str, place: Place, title_id: int) -> None:
    found = seen.get(headline_id)
    if found is None:
        seen[headline_id] = _Seen((place, title_id), (place, title_id))
        return
    if found.last[1] != title_id:
        found.changes.append((place, found.last[1], title_id))
    found.last = (place, title_id)


def _reopen(
    db: Database, source: str, channel: str, start: Place, base, snapshots: _Snapshots
) -> dict[str, _Run]:
    """The presences open at the last success before `start` (`base`), as they stood then:
    presences that began at or after `start` are removed, exits at or after it undone, and
    every open presence's last poll set back to `base`."""
    db.execute(
        "DELETE FROM sightings WHERE source = ? AND channel = ? AND (first_seen, first_fetch_id) >= (?, ?)",
        [source, channel, *start],
    )
    db.execute(
        "UPDATE sightings SET exit_fetch_id = NULL, exited_at = NULL, exit_reason = NULL "
        # by the exits index (`+`: not by the channel's, which holds every presence it ever had)
        "WHERE +source = ? AND +channel = ? AND exit_fetch_id IS NOT NULL AND exited_at >= ? "
        "AND (exited_at, exit_fetch_id) >= (?, ?)",
        [source, channel, start[0], *start],
    )
    shown = _positions(snapshots.get(base[2])[0]) if base is not None else {}
    runs: dict[str, _Run] = {}
    for values in db.execute(
        "SELECT id, headline_id, first_fetch_id, first_seen, first_position, last_fetch_id, last_seen, "
        "last_position FROM sightings WHERE source = ? AND channel = ? AND exit_fetch_id IS NULL",
        [source, channel],
    ).fetchall():
        run = _Run(*values)
        if run.headline_id in shown:
            run.last_fetch_id, run.last_seen, run.last_position = base[0], base[1], shown[run.headline_id]
        runs[run.headline_id] = run
    return runs


def _write_runs(db: Database, source: str, channel: str, runs: list[_Run]) -> int:
    db.conn.executemany(
        "UPDATE sightings SET last_fetch_id = ?, last_seen = ?, last_position = ?, exit_fetch_id = ?, "
        "exited_at = ?, exit_reason = ? WHERE id = ?",
        [
            (r.last_fetch_id, r.last_seen, r.last_position, r.exit_fetch_id, r.exited_at, r.exit_reason, r.id)
            for r in runs
            if r.id is not None
        ],
    )
    db.conn.executemany(
        "INSERT INTO sightings (headline_id, source, channel, first_fetch_id, last_fetch_id, first_seen, "
        "last_seen, first_position, last_position, exit_fetch_id, exited_at, exit_reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.headline_id, source, channel, r.first_fetch_id, r.last_fetch_id, r.first_seen, r.last_seen,
             r.first_position, r.last_position, r.exit_fetch_id, r.exited_at, r.exit_reason)
            for r in runs
            if r.id is None
        ],
    )  # fmt: skip
    return len(runs)


def _merge_extent(db: Database, table: str, row_id: int, first: Place, last: Place) -> None:
    """Widen a row's (first, last) observation to include [first, last]: the extents are the
    least and greatest places that showed it, whatever order the observations came in."""
    db.execute(
        f"UPDATE {table} SET first_seen = ?, first_fetch_id = ? WHERE id = ? AND (first_seen, first_fetch_id) > (?, ?)",
        [*first, row_id, *first],
    )
    db.execute(
        f"UPDATE {table} SET last_seen = ?, last_fetch_id = ? WHERE id = ? AND (last_seen, last_fetch_id) < (?, ?)",
        [*last, row_id, *last],
    )


def _merge_extents(db: Database, table: str, extents: dict[int, list[Place]]) -> None:
    """`_merge_extent` for many rows (row id -> [first, last]): the rows read in a few queries,
    written only where the extent widens (a live poll never moves a first observation)."""
    firsts, lasts = [], []
    for row_id, *stored in db.execute(
        f"SELECT id, first_seen, first_fetch_id, last_seen, last_fetch_id FROM {table} WHERE id IN {_IDS}",
        [json.dumps(list(extents))],
    ).fetchall():
        first, last = extents[row_id]
        if _precedes(first, (stored[0], stored[1])):
            firsts.append((*first, row_id))
        if _precedes((stored[2], stored[3]), last):
            lasts.append((*last, row_id))
    db.conn.executemany(f"UPDATE {table} SET first_seen = ?, first_fetch_id = ? WHERE id = ?", firsts)
    db.conn.executemany(f"UPDATE {table} SET last_seen = ?, last_fetch_id = ? WHERE id = ?", lasts)


def _precedes(a: tuple, b: tuple) -> bool:
    """SQL's `a < b` of two (text, integer) row values: a NULL it must compare is not less."""
    if a[0] != b[0]:
        return a[0] < b[0]
    return a[1] is not None and b[1] is not None and a[1] < b[1]


def _stored_headlines(db: Database, ids: list[str]) -> dict[str, tuple]:
    """id -> (title, first_seen, first_fetch_id, last_seen, last_fetch_id, the title's id)."""
    return {
        values[0]: values[1:]
        for values in db.execute(
            "SELECT h.id, h.title, h.first_seen, h.first_fetch_id, h.last_seen, h.last_fetch_id, t.id "
            "FROM headlines h LEFT JOIN headline_titles t ON t.headline_id = h.id AND t.title = h.title "
            f"WHERE h.id IN {_IDS}",
            [json.dumps(ids)],
        ).fetchall()
    }


def _derive_titles(
    db: Database,
    snapshots: _Snapshots,
    seen: dict[str, _Seen],
    titles: dict[int, list[Place]],
    derived: Derived,
) -> None:
    """Extents, title changes and latest titles of the headlines a walk saw. A headline whose
    walked observations all come after what was stored of it (a live poll) is extended; any
    other (an observation merged before later ones) is recomputed from every fetch that showed
    it, in every channel."""
    touched: set[int] = set()
    _merge_extents(db, "headline_titles", titles)
    stored_rows = _stored_headlines(db, list(seen))
    extended = []
    for headline_id, walk in seen.items():
        stored = stored_rows[headline_id]
        stored_first, stored_last = (stored[1], stored[2]), (stored[3], stored[4])
        walk_first = walk.first[0]
        if stored_last < walk_first or stored_first == stored_last == walk_first:
            changes = list(walk.changes)
            if stored_last < walk_first:
                before = stored[5]  # the id of the stored title
                if before is not None and before != walk.first[1]:
                    changes.insert(0, (walk_first, before, walk.first[1]))
            if changes:
                _insert_changes(db, headline_id, changes, touched)
            extended.append((walk.last[1], *walk.last[0], headline_id))
            continue
        _recompute_headline(db, snapshots, headline_id, touched)
    db.conn.executemany(
        "UPDATE headlines SET title = (SELECT title FROM headline_titles WHERE id = ?), last_seen = ?, "
        "last_fetch_id = ? WHERE id = ?",
        extended,
    )
    for fetch_id in touched:
        count = db.execute("SELECT count(*) FROM title_changes WHERE fetch_id = ?", [fetch_id]).fetchone()[0]
        db.execute("UPDATE fetches SET titles_changed = ? WHERE id = ?", [count, fetch_id])
        derived.changes_at[fetch_id] = count
        derived.title_changes += count


def _insert_changes(
    db: Database, headline_id: str, changes: list[tuple[Place, int, int]], touched: set[int]
) -> None:
    db.conn.executemany(
        "INSERT INTO title_changes (headline_id, fetch_id, changed_at, old_title_id, new_title_id) "
        "VALUES (?, ?, ?, ?, ?)",
        [(headline_id, place[1], place[0], old, new) for place, old, new in changes],
    )
    touched.update(place[1] for place, _, _ in changes)


def _observations(db: Database, snapshots: _Snapshots, headline_id: str) -> list[tuple[Place, int, str, str]]:
    """Every observation of a headline, in the log's order: (place, title id, source, channel),
    from the fetches its presences cover (any channel) and the backfill requests that made it
    known."""
    found: list[tuple[Place, int, str, str]] = []
    for source, channel, first_seen, first_id, last_seen, last_id in db.execute(
        "SELECT source, channel, first_seen, first_fetch_id, last_seen, last_fetch_id FROM sightings "
        "WHERE headline_id = ?",
        [headline_id],
    ).fetchall():
        if channel == "backfill":
            for title_id in db.execute(
                "SELECT id FROM headline_titles WHERE headline_id = ? AND ? IN (first_fetch_id, last_fetch_id)",
                [headline_id, first_id],
            ).fetchall():
                found.append(((first_seen, first_id), title_id[0], source, channel))
            continue
        for fetch_id, at, snapshot_id in db.execute(
            "SELECT id, log_at, snapshot_id FROM fetches WHERE source = ? AND channel = ? "
            f"AND outcome IN {SUCCESS_SQL} AND snapshot_id IS NOT NULL "
            "AND (log_at, id) >= (?, ?) AND (log_at, id) <= (?, ?)",
            [source, channel, first_seen, first_id, last_seen, last_id],
        ).fetchall():
            for shown_id, title_id in snapshots.get(snapshot_id)[0]:
                if shown_id == headline_id:
                    found.append(((at, fetch_id), title_id, source, channel))
                    break
    found.sort()
    return found


def _recompute_headline(db: Database, snapshots: _Snapshots, headline_id: str, touched: set[int]) -> None:
    observations = _observations(db, snapshots, headline_id)
    if not observations:
        return
    touched.update(
        row[0]
        for row in db.execute("SELECT fetch_id FROM title_changes WHERE headline_id = ?", [headline_id])
    )
    db.execute("DELETE FROM title_changes WHERE headline_id = ?", [headline_id])
    changes, extents = [], {}
    previous = None
    for place, title_id, _, _ in observations:
        if previous is not None and previous != title_id:
            changes.append((place, previous, title_id))
        previous = title_id
        extent = extents.setdefault(title_id, [place, place])
        extent[1] = place
    _insert_changes(db, headline_id, changes, touched)
    for title_id, (first, last) in extents.items():
        db.execute(
            "UPDATE headline_titles SET first_seen = ?, first_fetch_id = ?, last_seen = ?, last_fetch_id = ? "
            "WHERE id = ?",
            [*first, *last, title_id],
        )
    (first, _, source, channel), (last, last_title, _, _) = observations[0], observations[-1]
    db.execute(
        "UPDATE headlines SET source = ?, first_channel = ?, first_seen = ?, first_fetch_id = ?, last_seen = ?, "
        "last_fetch_id = ?, title = (SELECT title FROM headline_titles WHERE id = ?) WHERE id = ?",
        [source, channel, *first, *last, last_title, headline_id],
    )


def rederive(db: Database, source: str, channel: str, *, gap_limit_s: float, ordered: bool) -> Derived:
    """`derive` the channel's whole history, in its own write transaction (a check that the
    stored history is the log's: on a history the writers built it changes nothing)."""
    with write_transaction(db):
        return derive(db, source, channel, since=None, gap_limit_s=gap_limit_s, ordered=ordered)
