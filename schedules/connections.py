"""The daemon's connections to its database, kept open from one run to the next.

A run that opened its own connection and closed it again paid more for that than for its
writes: the connection's setup, and, when it was the last one open, a checkpoint of the
write-ahead log on close (~20 ms with its fsyncs). The daemon keeps one connection per run in
flight instead, and one more, read-only, that it holds from start to stop (the *anchor*).

A connection kept open must never write into files that are no longer the database at its path.
Before each run the daemon compares the files now at the path (the database, its `-wal` and its
`-shm`: device and inode, and whether the database is empty) with those it opened
(`HeldConnections.changed`); any difference stops the daemon, as a database deleted or replaced
under it always did. While the anchor is open no other connection of this process can be the
last one, so none of them checkpoints on close: a stale connection is closed without writing
into a file emptied in place or deleting a `-wal` that now belongs to another file. A read-only
connection never checkpoints, so closing the anchor last writes nothing either. On a clean stop
(the files unchanged) the anchor closes first and the last connection checkpoints as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from ticker.db.schema import connect

Identity = tuple[int, int] | None  # (st_dev, st_ino); None: no file there


@dataclass(frozen=True, slots=True)
class Files:
    """What is at a database's path: the identities of the database, its -wal and -shm."""

    database: Identity
    wal: Identity
    shm: Identity
    empty: bool  # the database file holds no bytes (emptied in place)


def _identity(path: str) -> tuple[Identity, int]:
    try:
        found = os.stat(path)
    except OSError:
        return None, 0
    return (found.st_dev, found.st_ino), found.st_size


def files_at(path: str | Path) -> Files:
    """The files now at the database's path (three `stat` calls: a few microseconds)."""
    database, size = _identity(str(path))
    wal, _ = _identity(f"{path}-wal")
    shm, _ = _identity(f"{path}-shm")
    return Files(database, wal, shm, empty=database is not None and size == 0)


class HeldConnections:
    """Connections to one database, handed to runs and taken back (any thread may use one, one
    thread at a time). `open()` before the first run, `close()` after the last."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = db_path
        self._idle: list[Database] = []
        self._every: list[Database] = []
        self._lock = threading.Lock()
        self._anchor: Database | None = None
        self._files: Files | None = None

    def open(self) -> None:
        """Open the anchor and note the files it holds."""
        anchor = connect(self.db_path, read_only=True, shared=True)
        anchor.execute("SELECT count(*) FROM sqlite_master").fetchone()  # holds the file, maps the -shm
        self._anchor, self._files = anchor, files_at(self.db_path)

    def changed(self) -> str | None:
        """None while the files at the path are the ones opened; else what happened to them:
        "replaced" (the database deleted or another file in its place), "emptied" (the same
        file, no bytes left) or "log" (its -wal or -shm deleted or replaced)."""
        if self._files is None:
            return None
        now = files_at(self.db_path)
        if now == self._files:
            return None
        if now.database != self._files.database:
            return "replaced"
        return "emptied" if now.empty else "log"

    @contextlib.contextmanager
    def connection(self) -> Iterator[Database]:
        """A kept connection for one run (a new one when none is idle)."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = connect(self.db_path, shared=True)
            with self._lock:
                self._every.append(db)
        try:
            yield db
        finally:
            if db.conn.in_transaction:  # never hand on a transaction a failure left open
                with contextlib.suppress(Exception):
                    db.conn.execute("ROLLBACK")
            with self._lock:
                self._idle.append(db)

    def close(self) -> None:
        """Close every connection. Files unchanged: the anchor first, so the last connection
        checkpoints the log as a clean stop always did; changed: the anchor last, so nothing is
        written into files that are no longer the database."""
        unchanged = self.changed() is None
        with self._lock:
            every, self._every, self._idle = self._every, [], []
        anchor, self._anchor = self._anchor, None
        order = ([anchor] if anchor is not None and unchanged else []) + every
        order += [anchor] if anchor is not None and not unchanged else []
        for db in order:
            with contextlib.suppress(Exception):  # a broken connection must not stop the others closing
                db.conn.close()
