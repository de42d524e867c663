"""The write transaction every writer takes (the lowest module of `ticker.db`: it imports none)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One IMMEDIATE transaction: takes the write lock up front (waits, never deadlocks)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        # SQLite has already rolled back after some errors (a full disk, an I/O error): a second
        # ROLLBACK would raise and hide the real error.
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")
