"""Re-deriving history from the raw archive with today's parser.

Every fetch is copied in id order into a fresh database through the one insert path
(ticker.db.history.store_observation), with its original metadata (time, URL, status, place in
the log, ...) and its original id, and the history is then derived from that log by the one
derivation every writer uses (ticker.db.history.derive):

- a selected fetch whose body reached the parser (2xx) and is archived is parsed again;
- any other fetch is re-driven as recorded: failures as they were, successes from the snapshot
  they stored (or, when that snapshot equals the previous poll's, as "the same page again", so
  items a fixed parser recovered are not declared gone by a poll whose body was not kept);
- backfill fetches (no snapshot) are re-driven from the rows they created.

Fetch ids and headline ids are preserved; ids of derived rows (titles, sightings, rates,
snapshots) may change. The result is compared with the original to report what changed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from sqlite_utils import Database

from ticker.core.base import (
    SUCCESS_OUTCOMES,
    BlockedPage,
    Headline,
    ParseError,
    Rate,
    RatesDocument,
    TickerPage,
    from_iso,
)
from ticker.core.records import Attempt, FetchRow, Saved
from ticker.db.archive import CorruptBody, read_body
from ticker.db.fetchlog import rebuild_fetch_hours, rebuild_outage_runs
from ticker.db.history import (
    MAX_ITEMS,
    derive,
    mark_pending,
    pending,
    store_backfill,
    store_observation,
    store_rate,
)
from ticker.db.schema import open_db, open_existing, write_transaction
from ticker.db.writes import DEFAULT_GAP_LIMIT_S, recorded_sources
from ticker.jobs.fetching import address_key, parse_body
from ticker.jobs.sources import BUILTIN_SOURCES, SourceSpec, UnknownSource, builtin_source, spec_from_record
from ticker.stories.update import rebuild_stories

# Derived history, rebuilt by a re-parse (and swapped in by --in-place).
HISTORY_TABLES = (
    "fetches",
    "snapshots",
    "headlines",
    "headline_titles",
    "title_changes",
    "sightings",
    "rates",
    "outage_runs",
    "fetch_hours",
    "address_state",
    "history_pending",
)
_ROW_FIELDS = [f.name for f in fields(FetchRow)]


class ReparseError(Exception):
    """A re-parse that cannot start (missing database, existing target, unknown fetch)."""


@dataclass(slots=True)
class Report:
    fetches: int = 0
    reparsed: int = 0
    replayed: int = 0  # re-driven as recorded (not selected, not parsed, or body not archived)
    not_archived: list[int] = field(default_factory=list)  # selected, parsed once, body not kept
    outcome_changes: dict[str, list[int]] = field(default_factory=dict)  # "parse_error -> ok": ids
    items_recovered: list[str] = field(default_factory=list)
    items_lost: list[str] = field(default_factory=list)
    titles_corrected: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    rates_new: list[str] = field(default_factory=list)
    rates_lost: list[str] = field(default_factory=list)
    # How many presences changed how they ended: "pulled -> unknown": count (and ones added/gone).
    exits_changed: dict[str, int] = field(default_factory=dict)
    target: str = ""
    stale_scratch: list[str] = field(default_factory=list)  # left by a re-parse that was killed: removed

    @property
    def changed(self) -> bool:
        return bool(
            self.outcome_changes
            or self.items_recovered
            or self.items_lost
            or self.titles_corrected
            or self.rates_new
            or self.rates_lost
            or self.exits_changed
        )

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__} | {"changed": self.changed}


def source_specs(db: Database) -> dict[str, SourceSpec | None]:
    """Configured sources as recorded in `sources` (kind, interval, options), by name."""
    specs: dict[str, SourceSpec | None] = {}
    for recorded in recorded_sources(db):
        try:
            specs[recorded["name"]] = spec_from_record(recorded)
        except (UnknownSource, ValueError):
            specs[recorded["name"]] = None
    return specs


def _spec_for(specs: dict[str, SourceSpec | None], name: str) -> SourceSpec | None:
    if name not in specs and name in BUILTIN_SOURCES:
        specs[name] = builtin_source(name)
    return specs.get(name)


def _is_ticker(spec: SourceSpec | None, channel: str) -> bool:
    try:
        return spec is not None and spec.channel(channel).headlines
    except UnknownSource:
        return False


def _archived_attempt(fetch: dict, row: FetchRow, body: bytes | None = None) -> Attempt:
    return Attempt(row=row, address_key=address_key(fetch["url"]), body=body, final_url=fetch["url"])


PARSE_BATCH = 256  # fetches read ahead at a time (their bodies are in memory together)
PARALLEL_FROM = 64  # bodies to parse in a batch before a pool of processes is worth starting


def _fresh_row(fetch: dict) -> FetchRow:
    """The recorded row, with what a parse decides cleared."""
    row = _row(fetch)
    row.error = row.warning = row.edition = None
    row.items_found = row.rates_found = None
    row.outcome = "ok"
    return row


def _parse_one(job: tuple) -> tuple[int, tuple]:
    """In a worker: today's parser on one archived body -> (fetch id, (outcome, error, warning),
    parsed or None), as parse_body classifies it."""
    spec, fetch, body = job
    attempt = parse_body(
        _archived_attempt(fetch, _fresh_row(fetch), body), spec, fetch["channel"],
        fetched_at=from_iso(fetch["started_at"]),
    )  # fmt: skip
    row = attempt.row
    return fetch["id"], ((row.outcome, row.error, row.warning), attempt.parsed)


class _ParsePool:
    """Processes that parse bodies ahead (one per core, started on the first large batch);
    parsing serially when there is one core or too little to parse."""

    def __init__(self) -> None:
        self._pool = None
        self._workers = min(os.cpu_count() or 1, 4)

    def parse(self, jobs: list[tuple]) -> Callable[[], dict[int, tuple]]:
        """Start parsing `jobs`; the returned call waits for fetch id -> result."""
        if self._workers < 2 or len(jobs) < PARALLEL_FROM:
            return dict  # nothing ahead: parsed on demand, in order
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self._workers)
        pending = self._pool.map_async(_parse_one, jobs, chunksize=8)
        return lambda: dict(pending.get())

    def __enter__(self) -> _ParsePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.terminate() if exc_info[0] is not None else self._pool.close()
            self._pool.join()


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def parse_archived(spec: SourceSpec, fetch: dict, body: bytes) -> TickerPage | RatesDocument:
    """Today's parser on an archived body, as a poll would have called it (raises ParseError or
    BlockedPage with the message a poll records)."""
    attempt = parse_body(_archived_attempt(fetch, _row(fetch), body), spec, fetch["channel"],
                         fetched_at=from_iso(fetch["started_at"]))  # fmt: skip
    if attempt.parsed is None:
        error = attempt.row.error or "not parsed"
        raise BlockedPage(error) if attempt.row.outcome == "blocked" else ParseError(error)
    return attempt.parsed


def _row(fetch: dict) -> FetchRow:
    return FetchRow(**{name: fetch[name] for name in _ROW_FIELDS})


def _fetches(db: Database, after_id: int) -> Iterator[dict]:
    cursor = db.execute("SELECT * FROM fetches WHERE id > ? ORDER BY id", [after_id])
    names = [column[0] for column in cursor.description]
    for values in cursor:
        yield dict(zip(names, values, strict=True))


class Replayer:
    """Copies an old database's fetch log into a fresh one, each fetch with what it saw (parsed
    again by today's parser when selected and archived, else as recorded), through the one
    insert path; the history is then derived from the log (ticker.db.history), as every
    writer derives it."""

    def __init__(
        self,
        old: Database,
        new: Database,
        *,
        source: str | None = None,
        since: str | None = None,
        advance: Callable[[], None] | None = None,
    ) -> None:
        self.old, self.new = old, new
        self.advance = advance or (lambda: None)
        self.source, self.since = source, since
        self.specs = source_specs(old)
        self.report = Report()
        self.last_id = 0
        # (source, channel, old snapshot id) -> (new snapshot id, edition): what an unchanged
        # fetch saw again is what its predecessor with that snapshot saw under today's parser.
        self._seen_again: dict[tuple[str, str, int], tuple[int, str | None]] = {}
        self._old_previous: dict[tuple[str, str], int | None] = {}

    def selected(self, fetch: dict) -> bool:
        if self.source is not None and fetch["source"] != self.source:
            return False
        return self.since is None or fetch["started_at"] >= self.since

    def run(self) -> int:
        """Copy every fetch after the last one copied, then derive the history of the channels
        they belong to; returns how many. Bodies are read in order here and parsed ahead, in
        batches, by a pool of processes (parsing is pure and most of the time)."""
        count = 0
        with _ParsePool() as pool:
            waiting = None  # the batch being parsed while the one before it is written
            for batch in _batches(_fetches(self.old, self.last_id), PARSE_BATCH):
                started = (batch, *self._parse_ahead(batch, pool))
                if waiting is not None:
                    count += self._write_batch(*waiting)
                waiting = started
            if waiting is not None:
                count += self._write_batch(*waiting)
        self._derive()
        self.report.fetches += count
        return count

    def _derive(self) -> None:
        with write_transaction(self.new):
            for source, channel, *_ in pending(self.new):
                spec = _spec_for(self.specs, source)
                ordered = _is_ticker(spec, channel) and spec.channel(channel).ordered
                gap = spec.gap_limit_s if spec is not None else DEFAULT_GAP_LIMIT_S
                derive(self.new, source, channel, since=None, gap_limit_s=gap, ordered=ordered)
            rebuild_outage_runs(self.new)
            rebuild_fetch_hours(self.new)
            self.new.execute("DELETE FROM address_state")
            for values in self.old.execute(
                "SELECT source, channel, address_sha256, address, fetch_id, started_at, etag, last_modified, "
                "body_sha256 FROM address_state"
            ).fetchall():
                snapshot = self.new.execute(
                    "SELECT snapshot_id FROM fetches WHERE id = ?", [values[4]]
                ).fetchone()
                if snapshot is not None:
                    self.new.execute(
                        "INSERT INTO address_state (source, channel, address_sha256, address, fetch_id, started_at, "
                        "etag, last_modified, body_sha256, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [*values, snapshot[0]],
                    )

    def _write_batch(self, batch: list[dict], bodies: dict, results: Callable[[], dict]) -> int:
        parsed = results()
        ahead = {fetch_id: (body, parsed.get(fetch_id)) for fetch_id, body in bodies.items()}
        with write_transaction(self.new):
            for fetch in batch:
                self._replay_one(fetch, ahead)
        return len(batch)

    def _parse_ahead(self, batch: list[dict], pool: _ParsePool) -> tuple[dict, Callable[[], dict]]:
        """The batch's bodies to re-parse (fetch id -> body, None when unreadable), and a call
        that gives their parse results (started in the pool at once)."""
        bodies: dict[int, bytes | None] = {}
        jobs = []
        for fetch in batch:
            spec = _spec_for(self.specs, fetch["source"])
            if not self._to_reparse(spec, fetch):
                continue
            try:
                body = read_body(self.old, fetch["body_sha256"])
            except CorruptBody:  # never parsed from wrong bytes: replayed as recorded, listed
                body = None
            bodies[fetch["id"]] = body
            if body is not None:
                jobs.append((spec, fetch, body))
        return bodies, pool.parse(jobs)

    def _to_reparse(self, spec: SourceSpec | None, fetch: dict) -> bool:
        status = fetch["status"]
        parsed_once = status is not None and 200 <= status < 300 and fetch["body_sha256"] is not None
        return parsed_once and spec is not None and self.selected(fetch)

    def _replay_one(self, fetch: dict, ahead: dict[int, tuple]) -> None:
        saved = self._replay(fetch, ahead)
        if saved.row.log_at is not None:
            mark_pending(self.new, fetch["source"], fetch["channel"], (saved.row.log_at, saved.fetch_id))
        if saved.outcome != fetch["outcome"]:
            key = f"{fetch['outcome']} -> {saved.outcome}"
            self.report.outcome_changes.setdefault(key, []).append(fetch["id"])
        if fetch["outcome"] in SUCCESS_OUTCOMES:
            self._old_previous[(fetch["source"], fetch["channel"])] = fetch["snapshot_id"]
        self.last_id = fetch["id"]
        self.advance()

    def _replay(self, fetch: dict, ahead: dict[int, tuple]) -> Saved:
        spec = _spec_for(self.specs, fetch["source"])
        if fetch["id"] in ahead:
            body, parsed = ahead[fetch["id"]]
            if body is not None:
                self.report.reparsed += 1
                return self._reparse(spec, fetch, body, parsed)
            if fetch["outcome"] != "unchanged":
                self.report.not_archived.append(fetch["id"])
        self.report.replayed += 1
        return self._as_recorded(spec, fetch)

    def _saw(self, fetch: dict, saved: Saved) -> Saved:
        # what a later 304 repeats: a live answer's list and edition, never a capture's
        if fetch["snapshot_id"] is not None and saved.snapshot_id is not None and fetch.get("origin") is None:
            key = (fetch["source"], fetch["channel"], fetch["snapshot_id"])
            self._seen_again[key] = (saved.snapshot_id, saved.row.edition)
        return saved

    def _reparse(self, spec: SourceSpec, fetch: dict, body: bytes, parsed: tuple | None) -> Saved:
        attempt = _archived_attempt(fetch, _fresh_row(fetch), body)
        if parsed is None:  # not parsed ahead (a small batch): here
            parse_body(attempt, spec, fetch["channel"], fetched_at=from_iso(fetch["started_at"]))
        else:
            (attempt.row.outcome, attempt.row.error, attempt.row.warning), attempt.parsed = parsed
        cap = spec.channel(fetch["channel"]).max_items if _is_ticker(spec, fetch["channel"]) else MAX_ITEMS
        saved = store_observation(self.new, attempt.row, attempt.parsed, known_after=True, max_items=cap)
        return self._saw(fetch, saved)

    def _as_recorded(self, spec: SourceSpec | None, fetch: dict) -> Saved:
        row = _row(fetch)
        if fetch["outcome"] not in SUCCESS_OUTCOMES:
            return store_observation(self.new, row, known_after=True)
        if fetch["snapshot_id"] is None:
            return self._backfill(fetch, row)
        key = (row.source, row.channel, fetch["snapshot_id"])
        same_again = self._old_previous.get((row.source, row.channel), -1) == fetch["snapshot_id"]
        if (fetch["outcome"] == "unchanged" or same_again) and key in self._seen_again:
            # The same page again (its body, which a fixed parser may read differently, was not
            # kept): it saw what its predecessor with that list saw under today's parser.
            snapshot_id, edition = self._seen_again[key]
            if fetch["outcome"] == "unchanged":  # an `ok` one keeps the edition it recorded
                row.edition = edition
            saved = store_observation(self.new, row, same_as_snapshot=snapshot_id, known_after=True)
            if fetch.get("origin") is None:  # a later 304 repeats this live answer (maybe another edition)
                self._seen_again[key] = (snapshot_id, row.edition)
            return saved
        items, rates = self._snapshot(fetch["snapshot_id"])
        if _is_ticker(spec, row.channel):
            parsed = TickerPage(headlines=items, rates=rates, edition=row.edition)
        else:
            parsed = RatesDocument(rate_date=None, rates=rates)
        return self._saw(fetch, store_observation(self.new, row, parsed, known_after=True))

    def _snapshot(self, snapshot_id: int) -> tuple[tuple[Headline, ...], tuple[Rate, ...]]:
        found = self.old.execute("SELECT items, rates FROM snapshots WHERE id = ?", [snapshot_id]).fetchone()
        if found is None:
            return (), ()
        headlines = [
            self._headline(headline_id, position, title_id=title_id)
            for position, (headline_id, title_id) in enumerate(json.loads(found[0]), start=1)
        ]
        rates = [self._rate(rate_id) for rate_id in json.loads(found[1])]
        return tuple(h for h in headlines if h), tuple(r for r in rates if r)

    def _headline(self, headline_id: str, position: int, *, title_id=None, fetch_id=None) -> Headline | None:
        row = self.old.execute(
            "SELECT url, title, rubric, kind, paid, project, published_at FROM headlines WHERE id = ?",
            [headline_id],
        ).fetchone()
        if row is None:
            return None
        title = row[1]
        if title_id is not None or fetch_id is not None:
            found = self.old.execute(
                "SELECT title FROM headline_titles WHERE headline_id = ? AND (id = ? OR first_fetch_id = ?) "
                "ORDER BY id LIMIT 1",
                [headline_id, title_id, fetch_id],
            ).fetchone()
            title = found[0] if found else title
        return Headline(
            id=headline_id, url=row[0] or "", title=title, rubric=row[2], kind=row[3],
            published_at=row[6], position=position, project=row[5], paid=bool(row[4]),
        )  # fmt: skip

    def _rate(self, rate_id: int) -> Rate | None:
        row = self.old.execute(
            "SELECT currency, rate_date, value, change, published_at, nominal, raw_value FROM rates "
            "WHERE id = ?",
            [rate_id],
        ).fetchone()
        return Rate(*row) if row else None

    def _backfill(self, fetch: dict, row: FetchRow) -> Saved:
        """A success without a snapshot: a backfill request, re-driven from what it created."""
        if not _is_ticker(_spec_for(self.specs, fetch["source"]), fetch["channel"]):
            saved = store_observation(self.new, row, known_after=True)
            for (rate_id,) in self.old.execute(
                "SELECT id FROM rates WHERE first_fetch_id = ? OR last_fetch_id = ? ORDER BY id",
                [fetch["id"], fetch["id"]],
            ).fetchall():
                rate = self._rate(rate_id)
                if rate is not None:
                    store_rate(self.new, row, rate)
            return saved
        ids = self.old.execute(
            "SELECT id FROM headlines WHERE first_fetch_id = ? ORDER BY rowid", [fetch["id"]]
        ).fetchall()
        headlines = [self._headline(hid, n, fetch_id=fetch["id"]) for n, (hid,) in enumerate(ids, 1)]
        return store_backfill(self.new, row, [h for h in headlines if h])


def compare(old: Database, new: Database, report: Report) -> None:
    """Fill the report with what differs between the original history and the re-derived one."""

    def ids(db: Database, sql: str) -> set:
        return {tuple(r) if len(r) > 1 else r[0] for r in db.execute(sql).fetchall()}

    old_items, new_items = (ids(db, "SELECT id FROM headlines") for db in (old, new))
    report.items_recovered = sorted(new_items - old_items)
    report.items_lost = sorted(old_items - new_items)
    title_sql = "SELECT headline_id, title FROM headline_titles"
    report.titles_corrected = {}
    old_titles, new_titles = ids(old, title_sql), ids(new, title_sql)
    for headline_id in sorted(old_items & new_items):
        gone = sorted(t for h, t in old_titles - new_titles if h == headline_id)
        added = sorted(t for h, t in new_titles - old_titles if h == headline_id)
        if gone or added:
            report.titles_corrected[headline_id] = {"old": gone, "new": added}
    rate_sql = "SELECT source, currency, rate_date, value FROM rates"
    old_rates, new_rates = ids(old, rate_sql), ids(new, rate_sql)
    report.rates_new = sorted("/".join(map(str, r)) for r in new_rates - old_rates)
    report.rates_lost = sorted("/".join(map(str, r)) for r in old_rates - new_rates)
    report.exits_changed = _exit_changes(old, new)


def _exit_changes(old: Database, new: Database) -> dict[str, int]:
    """Presences (by headline, source, channel and first sighting) whose end differs: how they
    ended before -> now ("open" while shown, "none" when the presence is not there)."""
    sql = (
        "SELECT headline_id, source, channel, first_seen, "
        "CASE WHEN exit_fetch_id IS NULL THEN 'open' ELSE coalesce(exit_reason, 'exit') END FROM sightings"
    )
    before = {tuple(row[:4]): row[4] for row in old.execute(sql).fetchall()}
    after = {tuple(row[:4]): row[4] for row in new.execute(sql).fetchall()}
    changes: dict[str, int] = {}
    for key in before.keys() | after.keys():
        was, now = before.get(key, "none"), after.get(key, "none")
        if was != now:
            changes[f"{was} -> {now}"] = changes.get(f"{was} -> {now}", 0) + 1
    return dict(sorted(changes.items()))


def _fast(db: Database) -> Database:
    db.execute("PRAGMA synchronous=OFF")  # a scratch build: a crash leaves an unfinished file anyway
    return db


def _copy_table(db: Database, table: str, schema: str = "old") -> None:
    columns = [row[1] for row in db.execute(f"PRAGMA main.table_info({table})").fetchall()]
    theirs = {row[1] for row in db.execute(f"PRAGMA {schema}.table_info({table})").fetchall()}
    shared = ", ".join(f'"{c}"' for c in columns if c in theirs)
    db.execute(f"INSERT OR IGNORE INTO main.{table} ({shared}) SELECT {shared} FROM {schema}.{table}")


def reparse_into(
    db_path: str | Path,
    target: str | Path,
    *,
    source: str | None = None,
    since: str | None = None,
    advance: Callable[[], None] | None = None,
) -> Report:
    """Re-derive the whole history of `db_path` into a new database file `target`."""
    db_path, target = Path(db_path), Path(target)
    if not db_path.exists():
        raise ReparseError(f"no database at {db_path}")
    if target.exists():
        raise ReparseError(f"{target} already exists: remove it or choose another --into")
    old = open_db(db_path)
    new = _fast(open_db(target))
    replayer = Replayer(old, new, source=source, since=since, advance=advance)
    replayer.run()
    new.execute("ATTACH DATABASE ? AS old", [str(db_path)])
    with write_transaction(new):
        # title_vectors: the story matcher's vector of each title, made once (~50 ms of CPU each) and
        # used as stored; the stories grouped later read them instead of embedding every title again
        for table in ("sources", "bodies", "title_vectors"):
            _copy_table(new, table)
    new.execute("DETACH DATABASE old")
    # stories: none yet in the new file; its first reader (or a daemon's pass) groups them all,
    # as `ticker stories rebuild` would, from the vectors copied above
    compare(old, new, replayer.report)
    replayer.report.target = str(target)
    new.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    new.conn.close()
    return replayer.report


def reparse_in_place(
    db_path: str | Path,
    *,
    source: str | None = None,
    since: str | None = None,
    max_rounds: int = 20,
    advance: Callable[[], None] | None = None,
) -> Report:
    """Re-derive history into a scratch file beside the database, then swap the history tables
    in one transaction. Fetches recorded meanwhile (a running daemon) are replayed before the swap."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise ReparseError(f"no database at {db_path}")
    scratch = db_path.with_name(f"{SCRATCH_PREFIX.format(name=db_path.name)}{os.getpid()}")
    stale = remove_stale_scratch(db_path)
    _remove(scratch)
    old = open_db(db_path)
    new = _fast(open_db(scratch))
    try:
        replayer = Replayer(old, new, source=source, since=since, advance=advance)
        replayer.report.stale_scratch = stale
        for _ in range(max_rounds):
            replayer.run()
            compare(old, new, replayer.report)
            if _swap(old, scratch, replayer.last_id):
                rebuild_stories(old)  # stories: derived from the history just swapped in
                break
        else:
            raise ReparseError("the database kept changing: could not swap in the re-derived history")
    finally:
        new.conn.close()
        _remove(scratch)
    replayer.report.target = str(db_path)
    return replayer.report


SCRATCH_PREFIX = ".{name}.reparse-"  # + the process id of the re-parse building it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_scratch(db_path: Path) -> list[str]:
    """Remove the scratch files of re-parses of this database whose process is gone (killed
    mid-way: nothing else would ever remove them); returns their names."""
    prefix = SCRATCH_PREFIX.format(name=db_path.name)
    removed = []
    for path in sorted(db_path.parent.glob(f"{prefix}*")):
        pid = path.name[len(prefix) :].split("-")[0]
        if not pid.isdigit() or path.name != f"{prefix}{pid}" or _alive(int(pid)):
            continue
        _remove(path)
        removed.append(path.name)
    return removed


def _swap(db: Database, scratch: Path, last_id: int) -> bool:
    """Replace the history tables with the scratch build's, unless new fetches arrived."""
    db.execute("ATTACH DATABASE ? AS fresh", [str(scratch)])
    try:
        with write_transaction(db):
            top = db.execute("SELECT coalesce(max(id), 0) FROM main.fetches").fetchone()[0]
            if top != last_id:
                return False
            for table in HISTORY_TABLES:
                db.execute(f"DELETE FROM main.{table}")
                _copy_table(db, table, "fresh")
        return True
    finally:
        db.execute("DETACH DATABASE fresh")


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def fetch_count(db_path: str | Path) -> int:
    """How many fetches a re-parse will replay (for its progress display)."""
    db = open_existing(db_path)
    try:
        return int(db.execute("SELECT count(*) FROM fetches").fetchone()[0])
    finally:
        db.conn.close()


def extract(db: Database, fetch_id: int) -> tuple[dict, TickerPage | RatesDocument]:
    """What today's parser reads in one fetch's archived body (nothing is written)."""
    fetch = next(_fetches(db, fetch_id - 1), None)
    if fetch is None or fetch["id"] != fetch_id:
        raise ReparseError(f"no fetch {fetch_id}")
    if not fetch["body_sha256"]:
        raise ReparseError(f"fetch {fetch_id} ({fetch['outcome']}) received no body")
    try:
        body = read_body(db, fetch["body_sha256"])
    except CorruptBody as error:
        raise ReparseError(str(error)) from None
    if body is None:
        raise ReparseError(f"the body of fetch {fetch_id} ({fetch['body_sha256'][:12]}) is not archived")
    spec = _spec_for(source_specs(db), fetch["source"])
    if spec is None:
        raise ReparseError(f"fetch {fetch_id}: source {fetch['source']!r} has no known parser")
    return fetch, parse_archived(spec, fetch, body)
