"""One daemon per database file: an exclusive `flock` on the database file itself.

The lock belongs to the file (its inode), not to the path used to name it: a symlink, a hard
link, `./ticker.db` and `/srv/ticker.db` all reach the same lock, and deleting a file next to the
database cannot release it. `flock` locks (BSD) are independent of the POSIX `fcntl` byte-range
locks SQLite takes on the same file on Linux's local file systems, so they never block SQLite
(tests/test_daemon.py checks it); on NFS the kernel emulates `flock` with `fcntl`, and SQLite's WAL
mode does not work there anyway.

`<db>.lock` (named after the database's resolved path) only says who holds the lock: the pid and
start time, for `ticker status` and the "already running" message. The kernel drops the lock when
the process dies, so a stale file never blocks a restart.

One caveat of POSIX locks: closing *any* descriptor of a file drops every `fcntl` lock the process
holds on it. So the lock's descriptor is opened before the daemon's first SQLite connection and
closed after its last, and `current_holder` must not be called while the caller has the database
open.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ticker.core.base import to_iso, utc_now

ACQUIRE_ATTEMPTS = 4


class AlreadyRunning(RuntimeError):
    """Another daemon holds the database's lock."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock, as the lock's info file says."""

    pid: int | None
    started_at: str | None  # UTC ISO 8601


def lock_path(db_path: str | Path) -> Path:
    """The holder's info file: `<db>.lock` beside the database's real file (symlinks resolved)."""
    path = Path(db_path).resolve()
    return path.with_name(path.name + ".lock")


def _read_holder(db_path: str | Path) -> Holder:
    try:
        text = lock_path(db_path).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return Holder(pid=None, started_at=None)
    pid = int(text[0]) if text and text[0].isdigit() else None
    return Holder(pid=pid, started_at=text[1] if len(text) > 1 else None)


def _write_holder(db_path: str | Path) -> None:
    target = lock_path(db_path)
    scratch = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        scratch.write_text(f"{os.getpid()} {to_iso(utc_now())}\n", encoding="utf-8")
        os.replace(scratch, target)  # whole or not at all, for a reader
    except OSError:
        scratch.unlink(missing_ok=True)  # the info is a courtesy; the lock itself is held


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


class DaemonLock:
    """`with DaemonLock(db_path):` holds the database file's lock or raises AlreadyRunning at once.

    Acquiring creates the database file when it does not exist yet (SQLite takes an empty file
    for an empty database).
    """

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(db_path)
        self._fd: int | None = None

    def acquire(self) -> DaemonLock:
        # Read-only is enough for flock; a database SQLite cannot write is then refused by SQLite
        # with its own message ("attempt to write a readonly database").
        fd = os.open(self.db_path, os.O_RDONLY | os.O_CREAT, 0o644)
        # `ticker status` takes a shared lock for an instant to look: try a few times.
        for attempt in range(ACQUIRE_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < ACQUIRE_ATTEMPTS - 1:
                    time.sleep(0.05)
        else:
            os.close(fd)
            holder = _read_holder(self.db_path)
            who = f"pid {holder.pid}" if holder.pid else "another process"
            since = f", started {holder.started_at}" if holder.started_at else ""
            raise AlreadyRunning(
                f"a ticker daemon is already running on this database ({who}{since}; lock {self.path})"
            ) from None
        self._fd = fd
        _write_holder(self.db_path)
        return self

    def still_at_path(self) -> bool:
        """True while the path still names the file this lock holds (not deleted, not replaced)."""
        if self._fd is None:
            return False
        try:
            return _identity(os.stat(self.db_path)) == _identity(os.fstat(self._fd))
        except OSError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def current_holder(db_path: str | Path) -> Holder | None:
    """The running daemon of a database, or None when no process holds its lock (never creates
    anything). Call it with the database closed (see the module's note on POSIX locks)."""
    try:
        fd = os.open(db_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(db_path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
