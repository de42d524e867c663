"""The raw archive: response bodies kept once each, zlib-compressed, keyed by SHA-256.

`fetches.body_sha256` records the hash of every body received; `bodies` holds those that
retention kept. A body is evidence, not history: it is stored after its fetch, in a second
short transaction, so a crash in between leaves a fetch whose body is simply not archived
(exactly as if retention had declined it), never history that points at nothing.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlite_utils import Database

from ticker.base import SUCCESS_OUTCOMES, SUCCESS_SQL, to_iso, utc_now
from ticker.db.schema import write_transaction
from ticker.settings import ARCHIVE_KEEP_CHOICES, ArchiveSettings

log = logging.getLogger(__name__)

COMPRESSION = "zlib"
ZLIB_LEVEL = 6

# SQL: "this fetch changed something" (new items, retitles, new rates or exits it recorded).
CHANGED_SQL = (
    "(coalesce(f.items_new, 0) + coalesce(f.titles_changed, 0) + coalesce(f.rates_new, 0) > 0 "
    "OR EXISTS (SELECT 1 FROM sightings s WHERE s.exit_fetch_id = f.id))"
)
# SQL: "this fetch failed or looked odd" (its body is evidence of a problem).
FAILED_SQL = f"(f.outcome NOT IN {SUCCESS_SQL} OR f.warning IS NOT NULL)"


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def wanted(settings: ArchiveSettings, outcome: str, changed: bool, suspicious: bool = False) -> bool:
    """Whether retention keeps a body: failed/suspicious bodies are kept unless keep='none'."""
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


def store_body(
    db: Database, body: bytes, content_type: str | None, fetch_id: int | None, at: str
) -> tuple[str, bool]:
    """Insert a body unless it is already there (call inside a transaction); (sha256, stored)."""
    digest = sha256_hex(body)
    if db.execute("SELECT 1 FROM bodies WHERE sha256 = ?", [digest]).fetchone() is not None:
        return digest, False  # an identical body costs nothing new
    cursor = db.execute(
        "INSERT OR IGNORE INTO bodies (sha256, bytes, compression, data, content_type, first_fetch_id, "
        "stored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [digest, len(body), COMPRESSION, zlib.compress(body, ZLIB_LEVEL), content_type, fetch_id, at],
    )
    return digest, cursor.rowcount > 0


def keep_body(
    db: Database,
    fetch_id: int,
    body: bytes,
    content_type: str | None,
    outcome: str,
    changed: bool,
    settings: ArchiveSettings,
    *,
    now: datetime | None = None,
) -> bool:
    """Archive a fetch's body if retention wants it, and prune bodies past `keep_days`.

    A fetch with a `warning` (suspicious parse) counts as failed. Returns whether the body is now
    archived. Errors are logged, never raised: the fetch itself is already recorded.
    """
    try:
        row = db.execute("SELECT warning FROM fetches WHERE id = ?", [fetch_id]).fetchone()
        suspicious = bool(row and row[0])
        keep = wanted(settings, outcome, changed, suspicious)
        if not keep and not settings.keep_days:
            return False
        at = to_iso(now or utc_now())
        with write_transaction(db):
            if keep:
                store_body(db, body, content_type, fetch_id, at)
            if settings.keep_days:
                _delete_older(db, settings.keep_days, now or utc_now())
        return keep
    except (sqlite3.Error, OSError) as error:
        log.warning("fetch %s: body not archived: %s", fetch_id, error)
        return False


def read_body(db: Database, sha256: str) -> bytes | None:
    """The archived body with this hash (a unique prefix of 8+ hex digits works), or None."""
    digest = sha256.strip().lower()
    if len(digest) != 64:
        digest = resolve_sha(db, digest) or ""
    rows = db.execute("SELECT compression, data FROM bodies WHERE sha256 = ?", [digest]).fetchall()
    if not rows:
        return None
    compression, data = rows[0]
    if compression != COMPRESSION:
        raise ValueError(f"unknown body compression {compression!r}")
    return zlib.decompress(data)


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


def _delete_older(db: Database, keep_days: float, now: datetime) -> int:
    cutoff = to_iso(now - timedelta(days=keep_days))
    return db.execute("DELETE FROM bodies WHERE stored_at < ?", [cutoff]).rowcount


@dataclass(slots=True)
class Pruned:
    by_age: int = 0
    by_mode: int = 0


def prune(db: Database, settings: ArchiveSettings, *, now: datetime | None = None) -> Pruned:
    """Apply retention to what is already archived: bodies past `keep_days`, and bodies the keep
    mode would not have kept (e.g. after switching from `all` to `changed`)."""
    wanted(settings, "ok", False)  # validates the mode
    result = Pruned()
    with write_transaction(db):
        if settings.keep_days:
            result.by_age = _delete_older(db, settings.keep_days, now or utc_now())
        if settings.keep == "none":
            result.by_mode = db.execute("DELETE FROM bodies").rowcount
        elif settings.keep in ("changed", "failed"):
            condition = FAILED_SQL if settings.keep == "failed" else f"({FAILED_SQL} OR {CHANGED_SQL})"
            result.by_mode = db.execute(
                "DELETE FROM bodies WHERE NOT EXISTS (SELECT 1 FROM fetches f "
                f"WHERE f.body_sha256 = bodies.sha256 AND {condition})"
            ).rowcount
    return result


@dataclass(slots=True)
class ArchiveStats:
    bodies: int = 0
    bytes_raw: int = 0
    bytes_compressed: int = 0
    fetches_with_body: int = 0
    fetches_archived: int = 0
    by_outcome: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "bodies": self.bodies,
            "bytes_raw": self.bytes_raw,
            "bytes_compressed": self.bytes_compressed,
            "fetches_with_body": self.fetches_with_body,
            "fetches_archived": self.fetches_archived,
            "by_outcome": self.by_outcome,
        }


def stats(db: Database) -> ArchiveStats:
    """The archive's size, overall and by the outcome of the fetch that first brought each body."""
    result = ArchiveStats()
    row = db.execute("SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(length(data)), 0) FROM bodies")
    result.bodies, result.bytes_raw, result.bytes_compressed = row.fetchone()
    result.fetches_with_body, result.fetches_archived = db.execute(
        "SELECT count(*), count(b.sha256) FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256 "
        "WHERE f.body_sha256 IS NOT NULL"
    ).fetchone()
    for outcome, count, raw, packed in db.execute(
        "SELECT coalesce(f.outcome, '(no fetch)'), count(*), sum(b.bytes), sum(length(b.data)) "
        "FROM bodies b LEFT JOIN fetches f ON f.id = b.first_fetch_id GROUP BY 1 ORDER BY 1"
    ).fetchall():
        result.by_outcome[outcome] = {"bodies": count, "bytes_raw": raw, "bytes_compressed": packed}
    return result
