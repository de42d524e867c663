"""Helpers of the archive tests: a stream of RBC-shaped polls that differ like real ones (a new
headline now and then, counters that change every poll), fetch rows to hang bodies on, and
archiving through the public `archive_body` inside a write transaction."""

from __future__ import annotations

import hashlib
import random
import zlib
from datetime import UTC, datetime, timedelta

from rbc_markup import render_page, standard_items

from ticker.core.base import to_iso
from ticker.db import archive
from ticker.db.schema import write_transaction

T0 = datetime(2025, 5, 29, 6, 0, tzinfo=UTC)
_WORDS = [
    "ЦБ",
    "ставка",
    "рынок",
    "Москва",
    "Казань",
    "курс",
    "новости",
    "акции",
    "нефть",
    "биржа",
    "закон",
    "суд",
    "погода",
    "спорт",
]


def _filler(seed: int, words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) + str(rng.randrange(1000)) for _ in range(words))


_STABLE = _filler(1, 6000)  # the page's unchanging bulk (navigation, cards, footer), ~60 KB


def poll_page(n: int) -> bytes:
    """The page at poll n: a new headline every other poll, a counter block new every poll."""
    ticker = render_page(standard_items(14, start=n // 2))
    counters = _filler(10_000 + n, 40)
    head, _, tail = ticker.partition("</body>")
    return f"{head}<div class='stable'>{_STABLE}</div><div class='ads'>{counters}</div></body>{tail}".encode()


def challenge_page(n: int = 0) -> bytes:
    return f"<html><script src='/__qrator/qauth.js?{n}'></script>Проверка браузера</html>".encode()


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def add_fetch(
    db, *, source: str = "rbc", channel: str = "page", at: datetime = T0, outcome: str = "ok",
    body: bytes | None = None, warning: str | None = None,
) -> int:  # fmt: skip
    """A `fetches` row (only the columns the archive looks at), committed."""
    with write_transaction(db):
        return db.execute(
            "INSERT INTO fetches (source, channel, url, started_at, outcome, body_sha256, bytes, warning) "
            "VALUES (?, ?, 'http://127.0.0.1/', ?, ?, ?, ?, ?)",
            [source, channel, to_iso(at), outcome, sha(body) if body else None,
             len(body) if body else None, warning],
        ).lastrowid  # fmt: skip


def fetch_and_archive(
    db, body: bytes, *, source: str = "rbc", channel: str = "page", at: datetime = T0, outcome: str = "ok"
) -> str:
    """One fetch row and its body, in one transaction, as the fetch path writes them."""
    with write_transaction(db):
        fetch_id = db.execute(
            "INSERT INTO fetches (source, channel, url, started_at, outcome, body_sha256, bytes) "
            "VALUES (?, ?, 'http://127.0.0.1/', ?, ?, ?, ?)",
            [source, channel, to_iso(at), outcome, sha(body), len(body)],
        ).lastrowid
        digest = archive.archive_body(
            db, fetch_id=fetch_id, source=source, channel=channel, body=body,
            content_type="text/html; charset=utf-8", at=to_iso(at), keep=True,
        )  # fmt: skip
    assert digest == sha(body)
    return digest


def archive_polls(db, count: int, *, start: int = 0, every: timedelta = timedelta(minutes=2)) -> list[str]:
    return [fetch_and_archive(db, poll_page(n), at=T0 + n * every) for n in range(start, start + count)]


def store_zlib(db, body: bytes, *, source: str = "rbc", channel: str = "page", at: datetime = T0) -> str:
    """A body as ticker archived it before delta chains (one zlib blob, no chain columns)."""
    fetch_id = add_fetch(db, source=source, channel=channel, at=at, body=body)
    with write_transaction(db):
        db.execute(
            "INSERT INTO bodies (sha256, bytes, compression, data, content_type, first_fetch_id, stored_at, "
            "source, channel) VALUES (?, ?, 'zlib', ?, 'text/html', ?, ?, ?, ?)",
            [sha(body), len(body), zlib.compress(body, 6), fetch_id, to_iso(at), source, channel],
        )
    return sha(body)


def fresh_reads(db, digests: list[str]) -> list[bytes | None]:
    """Read bodies with the decoded-body cache emptied first (every chain decoded from the file)."""
    archive._DECODED = archive._Decoded()
    return [archive.read_body(db, digest) for digest in digests]
