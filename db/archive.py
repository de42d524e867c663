"""The raw archive: response bodies kept once each, keyed by SHA-256, delta-compressed.

Each body of a (source, channel) is compressed with zstd using the previous archived body of the
same source and channel as a raw-content dictionary (`zstd-delta`): consecutive polls of one page
are nearly identical, so a delta costs a few hundred bytes. A full compression (`zstd`, a
keyframe) is written whenever the chain would grow past `KEYFRAME_EVERY` links or a delta is not
much smaller than a full compression, so any body decodes from at most `KEYFRAME_EVERY` steps.
Bodies archived before deltas (`zlib`) stay readable; `compact()` re-encodes them.

Every encoding is decoded once and compared with the received bytes before it is written, and
every read checks the SHA-256 of what it decoded: a mismatch raises `CorruptBody` naming the
body, never wrong bytes. A delta depends only on its base's decoded bytes, never on how the base
is encoded, so re-encoding a body never disturbs the bodies built on it.

`archive_body` runs inside the caller's write transaction (a fetch and its body are one
transaction); retention (`prune`) runs on its own, in small transactions, and re-keys the bodies
that depend on a body it deletes.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import zstandard as zstd
from sqlite_utils import Database

from ticker.core.base import SUCCESS_OUTCOMES, from_iso, to_iso, utc_now
from ticker.core.settings import ARCHIVE_KEEP_CHOICES, ArchiveSettings, check_keep_days
from ticker.db.schema import write_transaction

log = logging.getLogger(__name__)

ZLIB, ZSTD, ZSTD_DELTA = "zlib", "zstd", "zstd-delta"
ZLIB_LEVEL = 6  # what bodies were stored with before deltas (and the reference `stats` estimates)
KEYFRAME_EVERY = 64  # a body decodes from at most this many steps
DELTA_LEVEL = 3
KEYFRAME_LEVEL = 3  # 0.3 ms on a 230 KB page (level 9: 2.7 ms for 13% less, once every 64 bodies)
BASE_CANDIDATES = 4  # recent bodies of the source/channel looked at for a base of similar size
# A delta bigger than this share of the body is checked against a full compression...
DELTA_SUSPECT_SHARE = 1 / 16
# ... and replaced by it (a keyframe) unless it is at most this share of the full one.
DELTA_MAX_SHARE_OF_FULL = 0.5
PRUNE_BATCH = 500  # bodies deleted per transaction
COMPACT_BATCH = 50  # bodies re-encoded per transaction
RECENT_FETCHES = 101  # the retention clock: median start of the latest fetches (see reference_now)
MAX_DECODED_BYTES = 256 * 1024 * 1024  # far above the fetch path's cap: a bound on one decode's memory
ZLIB_SAMPLE = 64  # bodies compressed with zlib by `stats` to estimate today's zlib size


class CorruptBody(ValueError):
    """An archived body that does not decode to the bytes its hash names."""

    def __init__(self, sha256: str, detail: str) -> None:
        super().__init__(f"archived body {sha256} is corrupt: {detail} (bodies not built on it still read)")
        self.sha256, self.detail = sha256, detail


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def wants_body(settings: ArchiveSettings, outcome: str, changed: bool, suspicious: bool) -> bool:
    """Whether retention keeps a fetch's body: failed/suspicious bodies are kept unless keep='none'."""
    if settings.keep not in ARCHIVE_KEEP_CHOICES:
        raise ValueError(f"archive keep must be one of {', '.join(ARCHIVE_KEEP_CHOICES)}")
    if settings.keep == "none":
        return False
    if settings.keep == "all":
        return True
    problem = outcome not in SUCCESS_OUTCOMES or suspicious
    if settings.keep == "failed":
        return problem
    return problem or changed


# ---- decoded bodies: a small cache keyed by hash (a hash names its bytes, so it never goes stale)


class _Decoded:
    def __init__(self, max_entries: int = 8, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # the daemon's sources archive from several threads
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def get(self, digest: str) -> bytes | None:
        with self._lock:
            found = self._items.get(digest)
            if found is not None:
                self._items.move_to_end(digest)
            return found

    def put(self, digest: str, body: bytes) -> None:
        with self._lock:
            if digest in self._items or len(body) > self.max_bytes:
                return
            self._items[digest] = body
            self._bytes += len(body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)


_DECODED = _Decoded()


def forget_decoded() -> None:
    """Empty this process's cache of decoded bodies (after the rows were changed by other means:
    the next read decodes and checks them again)."""
    global _DECODED
    _DECODED = _Decoded()


# ---- encoding


@dataclass(frozen=True, slots=True)
class Encoded:
    compression: str
    data: bytes
    base_sha256: str | None
    chain_depth: int


def _raw_dict(base: bytes) -> zstd.ZstdCompressionDict:
    return zstd.ZstdCompressionDict(base, dict_type=zstd.DICT_TYPE_RAWCONTENT)


_LOCAL = threading.local()  # a compressor serves one thread at a time; making one costs ~2 ms


def _full(body: bytes) -> bytes:
    compressor = getattr(_LOCAL, "keyframes", None)
    if compressor is None:
        compressor = _LOCAL.keyframes = zstd.ZstdCompressor(level=KEYFRAME_LEVEL, write_checksum=True)
    return compressor.compress(body)


def encode(body: bytes, base: tuple[str, bytes, int] | None) -> Encoded:
    """The smallest safe encoding of `body`: a delta on `base` (sha256, bytes, chain depth) when
    that is allowed and pays, else a keyframe."""
    if base is not None and base[2] + 1 < KEYFRAME_EVERY:
        base_sha, base_bytes, depth = base
        delta = zstd.ZstdCompressor(
            level=DELTA_LEVEL, dict_data=_raw_dict(base_bytes), write_checksum=True
        ).compress(body)
        if len(delta) <= len(body) * DELTA_SUSPECT_SHARE:
            return Encoded(ZSTD_DELTA, delta, base_sha, depth + 1)
        full = _full(body)
        if len(delta) <= len(full) * DELTA_MAX_SHARE_OF_FULL:
            return Encoded(ZSTD_DELTA, delta, base_sha, depth + 1)
        return Encoded(ZSTD, full, None, 0)
    return Encoded(ZSTD, _full(body), None, 0)


def _type_problem(compression: object, data: object, size: object) -> str | None:
    """What is wrong with a `bodies` row's types (SQLite lets any column hold any type: a row
    written by hand or by another tool may hold TEXT or NULL where ticker writes a BLOB)."""
    if not isinstance(compression, str):
        return f"its compression is {type(compression).__name__} {compression!r:.40}, not text"
    if not isinstance(data, bytes):
        return f"its data is {'NULL' if data is None else type(data).__name__}, not a BLOB"
    if not isinstance(size, int) or isinstance(size, bool):
        return f"its recorded size is {type(size).__name__} {size!r:.40}, not an integer"
    return None


def _decode_one(digest: str, compression: str, data: bytes, size: int, base: bytes | None) -> bytes:
    """One link of a chain; raises CorruptBody (naming `digest`) on anything unexpected, a row of
    the wrong types included."""
    problem = _type_problem(compression, data, size)
    if problem:
        raise CorruptBody(digest, problem)
    if not 0 <= size <= MAX_DECODED_BYTES:
        raise CorruptBody(digest, f"its recorded size {size} is beyond any body ticker accepts")
    try:
        if compression == ZLIB:
            decoded = zlib.decompressobj().decompress(data, size + 1)  # never more than it should be
        elif compression in (ZSTD, ZSTD_DELTA):
            declared = zstd.frame_content_size(data)
            if declared != size:
                raise CorruptBody(digest, f"frame declares {declared} bytes, the archive {size}")
            if compression == ZSTD_DELTA:
                if base is None:
                    raise CorruptBody(digest, "a delta without its base")
                decompressor = zstd.ZstdDecompressor(dict_data=_raw_dict(base))
            else:
                decompressor = zstd.ZstdDecompressor()
            decoded = decompressor.decompress(data, max_output_size=size)
        else:
            raise CorruptBody(digest, f"unknown compression {compression!r}")
    except (zlib.error, zstd.ZstdError) as error:
        raise CorruptBody(digest, f"{compression} data does not decode ({error})") from None
    if len(decoded) != size:
        raise CorruptBody(digest, f"decodes to {len(decoded)} bytes, not {size}")
    return decoded


def _verify(digest: str, encoded: Encoded, body: bytes, base: bytes | None) -> None:
    """Decode what is about to be written; it must give back exactly `body`."""
    again = _decode_one(digest, encoded.compression, encoded.data, len(body), base)
    if again != body:
        raise CorruptBody(digest, "the new encoding does not decode to the received bytes")


# ---- reading


def _has_chains(db: Database) -> bool:
    """Whether `bodies` has the delta columns (a database opened read-only may predate them)."""
    known = getattr(db, "_ticker_chains", None)
    if known is None:
        known = any(row[1] == "base_sha256" for row in db.execute("PRAGMA table_info(bodies)"))
        db._ticker_chains = known  # type: ignore[attr-defined]
    return known


def _row(db: Database, digest: str) -> tuple | None:
    base = "base_sha256" if _has_chains(db) else "NULL"
    return db.execute(
        # CAST: a `data` of TEXT (a row written by another tool) is read as its bytes, never
        # decoded as UTF-8 by the driver (which raises for a compressed body).
        f"SELECT compression, CAST(data AS BLOB), bytes, {base} FROM bodies WHERE sha256 = ?",
        [digest],
    ).fetchone()


def decoded_body(db: Database, digest: str) -> bytes | None:
    """The bytes of the archived body with this full hash, through its chain, checked; None if
    it is not archived. Raises CorruptBody (naming it) when it cannot be read back exactly."""
    cached = _DECODED.get(digest)
    first = _row(db, digest)
    if first is None:
        return None
    if cached is not None:
        return cached
    links: list[tuple[str, tuple]] = [(digest, first)]
    base: bytes | None = None
    while links[-1][1][3] is not None:  # walk down to a keyframe or a body already decoded
        base_sha = links[-1][1][3]
        if not isinstance(base_sha, str):
            raise CorruptBody(digest, f"body {links[-1][0]} names a base that is no hash ({base_sha!r:.40})")
        base = _DECODED.get(base_sha)
        if base is not None:
            break
        row = _row(db, base_sha)
        if row is None:
            raise CorruptBody(digest, f"its chain lacks body {base_sha}")
        if len(links) > 2 * KEYFRAME_EVERY:
            raise CorruptBody(digest, f"its chain is longer than {2 * KEYFRAME_EVERY} links")
        links.append((base_sha, row))
    for link_sha, (compression, data, size, _) in reversed(links):
        try:
            base = _decode_one(link_sha, compression, data, size, base)
        except CorruptBody as error:
            if link_sha == digest:
                raise
            raise CorruptBody(digest, f"it is built on body {link_sha}, which {error.detail}") from None
    assert base is not None
    if sha256_hex(base) != digest:
        raise CorruptBody(digest, "its decoded bytes have another SHA-256")
    _DECODED.put(digest, base)
    return base


def read_body(db: Database, sha256: str) -> bytes | None:
    """The archived body with this hash (a unique prefix of 8+ hex digits works), or None.
    Raises CorruptBody when it does not decode to exactly the bytes its hash names."""
    digest = sha256.strip().lower()
    if len(digest) != 64:
        digest = resolve_sha(db, digest) or ""
    return decoded_body(db, digest) if digest else None


def resolve_sha(db: Database, prefix: str) -> str | None:
    """The full hash of an archived body from a prefix (8+ hex digits)."""
    prefix = prefix.strip().lower()
    rows = db.execute(
        "SELECT sha256 FROM bodies WHERE sha256 >= ? AND sha256 < ? LIMIT 2", [prefix, prefix + "g"]
    ).fetchall()
    if len(rows) > 1:
        raise LookupError(f"body hash prefix {prefix!r} is ambiguous")
    return rows[0][0] if rows else None


def is_archived(db: Database, sha256: str | None) -> bool:
    if not sha256:
        return False
    return db.execute("SELECT 1 FROM bodies WHERE sha256 = ?", [sha256]).fetchone() is not None


# ---- writing


def _choose_base(
    db: Database, source: str | None, channel: str | None, size: int, before_rowid: int | None = None
) -> tuple[str, bytes, int] | None:
    """The most recent body of the source/channel of a similar size (a challenge page between two
    pages is no base for the second page), decoded."""
    rows = db.execute(
        "SELECT sha256, bytes, chain_depth FROM bodies WHERE source IS ? AND channel IS ? "
        "AND rowid < ? ORDER BY rowid DESC LIMIT ?",
        [source, channel, before_rowid if before_rowid is not None else 2**62, BASE_CANDIDATES],
    ).fetchall()
    for digest, base_size, depth in rows:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (base_size, depth or 0)):
            continue  # a row of the wrong types is no base (reading it says it is corrupt)
        if size / 2 <= base_size <= size * 2:
            try:
                decoded = decoded_body(db, digest)
            except CorruptBody as error:  # a damaged base must not stop archiving: a keyframe
                log.warning("%s/%s: %s; the next body is a keyframe", source, channel, error)
                return None
            return (digest, decoded, depth or 0) if decoded is not None else None
    return None


def archive_body(
    db: Database,
    *,
    fetch_id: int | None,
    source: str | None,
    channel: str | None,
    body: bytes,
    content_type: str | None,
    at: str,
    keep: bool,
) -> str | None:
    """Archive a fetch's body inside the caller's open write transaction (never BEGIN/COMMIT
    here; sqlite errors propagate so the whole fetch rolls back). Returns the SHA-256 stored (or
    already there), or None when `keep` is false."""
    if not keep:
        return None
    digest = sha256_hex(body)
    if db.execute("SELECT 1 FROM bodies WHERE sha256 = ?", [digest]).fetchone() is not None:
        return digest  # an identical body costs nothing new
    base = _choose_base(db, source, channel, len(body))
    encoded = encode(body, base)
    _verify(digest, encoded, body, base[1] if encoded.base_sha256 and base else None)
    db.execute(
        "INSERT INTO bodies (sha256, bytes, compression, data, content_type, first_fetch_id, stored_at, "
        "source, channel, base_sha256, chain_depth) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [digest, len(body), encoded.compression, encoded.data, content_type, fetch_id, at, source,
         channel, encoded.base_sha256, encoded.chain_depth],
    )  # fmt: skip
    _DECODED.put(digest, body)
    return digest


def store_body(
    db: Database, body: bytes, content_type: str | None, fetch_id: int | None, at: str
) -> tuple[str, bool]:
    """Archive a body inside the caller's transaction under its fetch's source and channel;
    (sha256, whether it is new). Prefer `archive_body`."""
    row = db.execute("SELECT source, channel FROM fetches WHERE id = ?", [fetch_id]).fetchone()
    source, channel = row if row else (None, None)
    known = is_archived(db, sha256_hex(body))
    digest = archive_body(db, fetch_id=fetch_id, source=source, channel=channel, body=body,
                          content_type=content_type, at=at, keep=True)  # fmt: skip
    return digest or "", not known


def _reencode(db: Database, digest: str, body: bytes, base_sha: str | None) -> None:
    """Replace one body's encoding (same bytes) by one on `base_sha` (or a keyframe), verified."""
    base_bytes = decoded_body(db, base_sha) if base_sha else None
    depth = 0
    if base_sha:
        depth = db.execute("SELECT chain_depth FROM bodies WHERE sha256 = ?", [base_sha]).fetchone()[0] or 0
        depth = depth if isinstance(depth, int) else KEYFRAME_EVERY  # a depth of the wrong type: a keyframe
    encoded = encode(body, (base_sha, base_bytes, depth) if base_sha and base_bytes is not None else None)
    _verify(digest, encoded, body, base_bytes if encoded.base_sha256 else None)
    db.execute(
        "UPDATE bodies SET compression = ?, data = ?, base_sha256 = ?, chain_depth = ? WHERE sha256 = ?",
        [encoded.compression, encoded.data, encoded.base_sha256, encoded.chain_depth, digest],
    )


# ---- retention


def reference_now(db: Database, host_now: datetime | None = None) -> datetime:
    """The instant retention measures ages from: the median start of the latest live polls,
    never later than the host clock. One poll with the clock a year ahead moves neither, nor do
    imported captures (their instants are years old)."""
    host = host_now or utc_now()
    starts = []
    for (started_at,) in db.execute(
        "SELECT started_at FROM fetches WHERE origin IS NULL ORDER BY id DESC LIMIT ?", [RECENT_FETCHES]
    ).fetchall():
        try:
            starts.append(from_iso(started_at))
        except (TypeError, ValueError):
            continue
    if not starts:
        return host
    return min(host, statistics.median_low(starts))


def _delete_bodies(db: Database, doomed: list[str]) -> int:
    """Delete these bodies (inside a transaction), first re-keying every body that depends on one
    of them onto its nearest ancestor that stays (or making it a keyframe)."""
    doomed_set = set(doomed)
    marks = ", ".join("?" * len(doomed))
    dependents = db.execute(
        f"SELECT sha256 FROM bodies WHERE base_sha256 IN ({marks}) ORDER BY rowid", doomed
    ).fetchall()
    for (digest,) in dependents:
        if digest in doomed_set:
            continue
        try:
            body = decoded_body(db, digest)
        except CorruptBody as error:  # unreadable already: nothing to re-key, nothing more to lose
            log.warning("archive prune: %s", error)
            continue
        assert body is not None
        ancestor = db.execute("SELECT base_sha256 FROM bodies WHERE sha256 = ?", [digest]).fetchone()[0]
        while ancestor in doomed_set:
            ancestor = db.execute("SELECT base_sha256 FROM bodies WHERE sha256 = ?", [ancestor]).fetchone()[0]
        _reencode(db, digest, body, ancestor)
    return db.execute(f"DELETE FROM bodies WHERE sha256 IN ({marks})", doomed).rowcount


def _delete_in_batches(
    db: Database,
    doomed: list[str],
    on_batch: Callable[[int], None] | None,
    recheck: Callable[[Database, list[str]], list[str]] | None = None,
) -> int:
    """Delete `doomed` a batch per write transaction. `recheck` decides again, inside that
    transaction, which of the batch are still to go: a daemon may have written, since `doomed`
    was listed, a fetch that wants one of them."""
    deleted = 0
    for start in range(0, len(doomed), PRUNE_BATCH):
        with write_transaction(db):
            batch = doomed[start : start + PRUNE_BATCH]
            if recheck is not None:
                batch = recheck(db, batch)
            done = _delete_bodies(db, batch) if batch else 0
        deleted += done
        if on_batch is not None:
            on_batch(done)
    return deleted


def _kept_by_mode(db: Database, settings: ArchiveSettings, among: list[str] | None = None) -> set[str]:
    """Bodies some fetch would have kept under `settings.keep` (the rule is `wants_body`'s); with
    `among`, only those bodies are looked at."""
    marks = ", ".join("?" * len(among)) if among is not None else ""
    where = f"body_sha256 IN ({marks})" if among is not None else "body_sha256 IS NOT NULL"
    params = list(among) if among is not None else []
    exits = {row[0] for row in db.execute(
        "SELECT DISTINCT exit_fetch_id FROM sightings WHERE exit_fetch_id IS NOT NULL"
        + (f" AND exit_fetch_id IN (SELECT id FROM fetches WHERE {where})" if among is not None else ""),
        params,
    )}  # fmt: skip
    kept = set()
    for fetch_id, digest, outcome, warning, items_new, titles_changed, rates_new in db.execute(
        f"SELECT id, body_sha256, outcome, warning, items_new, titles_changed, rates_new FROM fetches WHERE {where}",
        params,
    ):
        if digest in kept:
            continue
        changed = bool(items_new or titles_changed or rates_new) or fetch_id in exits
        if wants_body(settings, outcome, changed, warning is not None):
            kept.add(digest)
    return kept


@dataclass(slots=True)
class Pruned:
    by_age: int = 0
    by_mode: int = 0


def prune(
    db: Database,
    settings: ArchiveSettings,
    *,
    now: datetime | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Pruned:
    """Apply retention to what is archived: bodies past `keep_days` and bodies the keep mode would
    not have kept (e.g. after switching from `all` to `changed`).

    Ages are measured from `reference_now` (the fetches' own clock, capped by the host's), and the
    newest body of each source/channel is never deleted for its age: a clock jump cannot empty
    the archive. Bodies built on a deleted one are re-encoded first; each batch is one transaction
    (`on_batch` hears how many each deleted), and inside it the batch is decided again: a body that
    a fetch written meanwhile wants (a daemon running beside prune), that a fetch since the cutoff
    uses, or that became the newest of its channel, stays.
    """
    wants_body(settings, "ok", False, False)  # validates the mode
    keep_days = check_keep_days(settings.keep_days)
    result = Pruned()
    if keep_days:
        cutoff = to_iso(reference_now(db, now) - timedelta(days=keep_days))
        doomed = [row[0] for row in db.execute(
            "SELECT sha256 FROM bodies WHERE stored_at < ? AND rowid NOT IN "
            "(SELECT max(rowid) FROM bodies GROUP BY source, channel) ORDER BY rowid",
            [cutoff],
        )]  # fmt: skip

        def still_old(db: Database, batch: list[str]) -> list[str]:
            marks = ", ".join("?" * len(batch))
            recent = {row[0] for row in db.execute(
                f"SELECT DISTINCT body_sha256 FROM fetches WHERE body_sha256 IN ({marks}) AND started_at >= ?",
                [*batch, cutoff],
            )}  # fmt: skip
            newest = {row[0] for row in db.execute(
                f"SELECT sha256 FROM bodies WHERE sha256 IN ({marks}) AND rowid IN "
                "(SELECT max(rowid) FROM bodies GROUP BY source, channel)",
                batch,
            )}  # fmt: skip
            return [digest for digest in batch if digest not in recent and digest not in newest]

        result.by_age = _delete_in_batches(db, doomed, on_batch, still_old)
    if settings.keep != "all":
        kept = _kept_by_mode(db, settings)
        doomed = [
            row[0] for row in db.execute("SELECT sha256 FROM bodies ORDER BY rowid") if row[0] not in kept
        ]

        def still_unwanted(db: Database, batch: list[str]) -> list[str]:
            wanted = _kept_by_mode(db, settings, batch)
            return [digest for digest in batch if digest not in wanted]

        result.by_mode = _delete_in_batches(db, doomed, on_batch, still_unwanted)
    return result


# ---- compaction


@dataclass(slots=True)
class Compacted:
    bodies: int = 0
    bytes_raw: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    unreadable: list[str] = field(default_factory=list)  # corrupt zlib bodies, left as they were

    def as_dict(self) -> dict:
        return {
            "bodies": self.bodies,
            "bytes_raw": self.bytes_raw,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "unreadable": self.unreadable,
        }


def zlib_bodies(db: Database) -> int:
    """How many bodies are still in the pre-delta encoding."""
    return db.execute("SELECT count(*) FROM bodies WHERE compression = ?", [ZLIB]).fetchone()[0]


def _zlib_batches(db: Database) -> Iterator[list[tuple]]:
    """The zlib bodies, chain by chain (source, channel) in archive order, a batch at a time."""
    groups = db.execute(
        "SELECT DISTINCT source, channel FROM bodies WHERE compression = ?", [ZLIB]
    ).fetchall()
    for source, channel in groups:
        after = 0
        while True:
            rows = db.execute(
                "SELECT rowid, sha256 FROM bodies WHERE source IS ? AND channel IS ? AND rowid > ? "
                "AND compression = ? ORDER BY rowid LIMIT ?",
                [source, channel, after, ZLIB, COMPACT_BATCH],
            ).fetchall()
            if not rows:
                break
            after = rows[-1][0]
            yield [(rowid, digest, source, channel) for rowid, digest in rows]


def compact(db: Database, *, on_body: Callable[[], None] | None = None) -> Compacted:
    """Re-encode the zlib bodies into delta chains, a few at a time, each batch one transaction
    and each body replaced by verified bytes: killed at any point, every body still reads."""
    result = Compacted()
    for batch in _zlib_batches(db):
        with write_transaction(db):
            for rowid, digest, source, channel in batch:
                compression, data, size, _ = _row(db, digest)
                if compression != ZLIB:
                    continue
                try:
                    body = _decode_one(digest, compression, data, size, None)
                    if sha256_hex(body) != digest:
                        raise CorruptBody(digest, "its decoded bytes have another SHA-256")
                except CorruptBody as error:  # left exactly as it is, and said
                    log.warning("archive compact: %s", error)
                    result.unreadable.append(digest)
                    continue
                has_dependents = db.execute(
                    "SELECT 1 FROM bodies WHERE base_sha256 = ? LIMIT 1", [digest]
                ).fetchone()
                # A body others are built on keeps depth 0 (a keyframe): their depths stay true.
                base = None if has_dependents else _choose_base(db, source, channel, size, rowid)
                encoded = encode(body, base)
                _verify(digest, encoded, body, base[1] if encoded.base_sha256 and base else None)
                db.execute(
                    "UPDATE bodies SET compression = ?, data = ?, base_sha256 = ?, chain_depth = ? "
                    "WHERE sha256 = ? AND compression = ?",
                    [
                        encoded.compression,
                        encoded.data,
                        encoded.base_sha256,
                        encoded.chain_depth,
                        digest,
                        ZLIB,
                    ],
                )
                _DECODED.put(digest, body)
                result.bodies += 1
                result.bytes_raw += size
                result.bytes_before += len(data)
                result.bytes_after += len(encoded.data)
                if on_body is not None:
                    on_body()
    return result


# ---- statistics


@dataclass(slots=True)
class ArchiveStats:
    bodies: int = 0
    bytes_raw: int = 0
    bytes_compressed: int = 0
    fetches_with_body: int = 0
    fetches_archived: int = 0
    keyframes: int = 0
    longest_chain: int = 0  # links decoded to read the deepest body (a keyframe: 1)
    by_compression: dict[str, dict[str, int]] = field(default_factory=dict)
    zlib_estimate: int = 0  # bytes the same bodies would take with zlib, one at a time
    zlib_sample: int = 0  # bodies compressed with zlib for that estimate (0: all were zlib)
    by_outcome: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def bytes_per_body(self) -> float:
        return self.bytes_compressed / self.bodies if self.bodies else 0.0

    def as_dict(self) -> dict:
        return {
            "bodies": self.bodies,
            "bytes_raw": self.bytes_raw,
            "bytes_compressed": self.bytes_compressed,
            "bytes_per_body": round(self.bytes_per_body, 1),
            "ratio_to_raw": round(self.bytes_compressed / self.bytes_raw, 5) if self.bytes_raw else None,
            "ratio_to_zlib": round(self.bytes_compressed / self.zlib_estimate, 5)
            if self.zlib_estimate
            else None,
            "zlib_estimate": self.zlib_estimate,
            "zlib_sample": self.zlib_sample,
            "keyframes": self.keyframes,
            "longest_chain": self.longest_chain,
            "by_compression": self.by_compression,
            "fetches_with_body": self.fetches_with_body,
            "fetches_archived": self.fetches_archived,
            "by_outcome": self.by_outcome,
        }


def _longest_chain(db: Database) -> int:
    row = db.execute(
        "WITH RECURSIVE chain(sha256, depth) AS ("
        " SELECT sha256, 1 FROM bodies WHERE base_sha256 IS NULL"
        " UNION ALL SELECT b.sha256, c.depth + 1 FROM bodies b JOIN chain c ON b.base_sha256 = c.sha256"
        " WHERE c.depth < ?) SELECT coalesce(max(depth), 0) FROM chain",
        [4 * KEYFRAME_EVERY],
    ).fetchone()
    return row[0]


def _zlib_estimate(db: Database, result: ArchiveStats) -> None:
    """Actual sizes for zlib bodies; for the others, the zlib/raw ratio of an evenly spread sample."""
    zlib_packed = result.by_compression.get(ZLIB, {}).get("bytes_compressed", 0)
    others = db.execute(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM bodies WHERE compression != ?", [ZLIB]
    ).fetchone()
    estimate = zlib_packed
    if others[0]:
        low, high = db.execute("SELECT min(rowid), max(rowid) FROM bodies").fetchone()
        sample: list[str] = []
        for k in range(ZLIB_SAMPLE):  # evenly spread over the archive, found through the rowid
            found = db.execute(
                "SELECT sha256 FROM bodies WHERE rowid >= ? AND compression != ? ORDER BY rowid LIMIT 1",
                [low + (high - low) * k // ZLIB_SAMPLE, ZLIB],
            ).fetchone()
            if found and found[0] not in sample:
                sample.append(found[0])
        raw = packed = 0
        for digest in sample:
            try:
                body = decoded_body(db, digest)
            except CorruptBody:
                continue
            if body:
                raw += len(body)
                packed += len(zlib.compress(body, ZLIB_LEVEL))
        result.zlib_sample = len(sample)
        if raw:
            estimate += round(others[1] * packed / raw)
    result.zlib_estimate = estimate


def stats(db: Database) -> ArchiveStats:
    """The archive's size: overall, by encoding, by the outcome of the fetch that first brought
    each body; keyframes, the longest chain, and what zlib would take (estimated from a sample)."""
    result = ArchiveStats()
    row = db.execute("SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(length(data)), 0) FROM bodies")
    result.bodies, result.bytes_raw, result.bytes_compressed = row.fetchone()
    result.fetches_with_body, result.fetches_archived = db.execute(
        "SELECT count(*), count(b.sha256) FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256 "
        "WHERE f.body_sha256 IS NOT NULL"
    ).fetchone()
    for compression, count, raw, packed in db.execute(
        "SELECT compression, count(*), sum(bytes), sum(length(data)) FROM bodies GROUP BY 1 ORDER BY 1"
    ).fetchall():
        result.by_compression[compression] = {"bodies": count, "bytes_raw": raw, "bytes_compressed": packed}
    if _has_chains(db):
        result.keyframes = db.execute("SELECT count(*) FROM bodies WHERE base_sha256 IS NULL").fetchone()[0]
        result.longest_chain = _longest_chain(db)
    else:  # before migration 0008: every body stands alone
        result.keyframes, result.longest_chain = result.bodies, int(result.bodies > 0)
    _zlib_estimate(db, result)
    for outcome, count, raw, packed in db.execute(
        "SELECT coalesce(f.outcome, '(no fetch)'), count(*), sum(b.bytes), sum(length(b.data)) "
        "FROM bodies b LEFT JOIN fetches f ON f.id = b.first_fetch_id GROUP BY 1 ORDER BY 1"
    ).fetchall():
        result.by_outcome[outcome] = {"bodies": count, "bytes_raw": raw, "bytes_compressed": packed}
    return result
