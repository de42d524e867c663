"""One daemon per database: an exclusive `flock` on `<db>.lock`, which holds the pid and start time.

The kernel drops the lock when the process dies, so a stale file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ticker.base import to_iso, utc_now

ACQUIRE_ATTEMPTS = 4


class AlreadyRunning(RuntimeError):
    """Another daemon holds the database's lock."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock, as the lock file says."""

    pid: int | None
    started_at: str | None  # UTC ISO 8601


def lock_path(db_path: str | Path) -> Path:
    path = Path(db_path)
    return path.with_name(path.name + ".lock")


def _read_holder(fd: int) -> Holder:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 200).decode("utf-8", "replace").split()
    pid = int(text[0]) if text and text[0].isdigit() else None
    return Holder(pid=pid, started_at=text[1] if len(text) > 1 else None)


class DaemonLock:
    """`with DaemonLock(db_path):` holds the lock or raises AlreadyRunning at once."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = lock_path(db_path)
        self._fd: int | None = None

    def acquire(self) -> DaemonLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        # `ticker status` takes a shared lock for an instant to look: try a few times.
        for attempt in range(ACQUIRE_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt < ACQUIRE_ATTEMPTS - 1:
                    time.sleep(0.05)
        else:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"pid {holder.pid}" if holder.pid else "another process"
            since = f", started {holder.started_at}" if holder.started_at else ""
            raise AlreadyRunning(
                f"a ticker daemon is already running on this database ({who}{since}; lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {to_iso(utc_now())}\n".encode())
        self._fd = fd
        return self

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
    """The running daemon of a database, or None when no process holds its lock (never creates it)."""
    try:
        fd = os.open(lock_path(db_path), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
