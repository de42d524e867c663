"""Parsing under a hard time limit: the parse runs in a worker process, killed if it takes too long.

Lexbor, selectolax's CSS engine and feedparser hold the interpreter lock while they work, and some
markup costs them minutes (50,000 nested `<div>`: 7.5 s in Lexbor; a CSS selector backtracking
over a crafted page: a minute). No scan of the bytes beforehand can bound every parser and every
selector, so the parse itself runs where it can be stopped: a worker process forked from this
one is sent (function, arguments) and answers the result (plain picklable records) or the
exception raised. A worker that has not answered within the limit is killed and replaced; the
caller gets ParseTimeout ("parse took longer than N s: stopped"), a ParseError, which a fetch
records as a `parse_error`. A worker that dies (out of memory, a crash in C) is a ParseError too.

Workers are forked when first needed and kept. Measured on every real page of the reference set
(benchmarks/parse_bounds.py, 2 cores at load average 8-9): a fork per parse costs 2.7-21x the
in-process parse's wall time; a kept worker 1.0-1.25x on feeds and large pages and up to 6.7x on
2 ms pages (each parse waits twice for the scheduler: several ms at that load, while the round
trip of an empty call costs 0.03 ms of CPU), and 1.03-1.5x their CPU (+0.7-1.4 ms on pages:
pickling, the body's copy, a second process's cold caches). At most MAX_WORKERS run at once (more
callers wait for one; the wait is not counted in the limit), and each is replaced after MAX_TASKS
parses so its memory stays that of a fresh one. A function that cannot be sent by reference (a
lambda, a closure, a module attribute patched since) runs in a one-off fork under the same limit.
Workers end when this process ends (their pipe closes); a process forked from this one (a pool)
forks its own.
"""

from __future__ import annotations

import atexit
import contextlib
import mmap
import os
import pickle
import select
import signal
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ticker.core.base import ParseError

PARSE_TIMEOUT_S = 3.0  # a real page parses in 2-50 ms; a hostile one is stopped here
SECONDS_PER_MB = 1.0  # more for each MB past the first: a 10,000-item page (8 MB) takes 1.1 s
MAX_WORKERS = max(1, min(4, os.cpu_count() or 1))
MAX_TASKS = 1_000  # parses before a worker is replaced by a fresh fork
_IDLE_CHECK_S = 1.0  # how often an idle worker checks that its parent is still there
# A body goes to the worker through memory both share (one copy, no wait on a socket's buffer
# filling and draining: on a loaded machine each refill is a trip through the scheduler).
SHARED_BYTES = 32 * 1024 * 1024  # the HTTP cap is 20 MiB; larger arguments go through the pipe
_SHARED_FROM = 16_384  # smaller arguments go through the pipe with the request

T = TypeVar("T")


class ParseTimeout(ParseError):
    """The parse did not finish within the limit: the worker was killed."""


class _Died(Exception):
    """The worker's pipe closed before it answered."""


class _Connection:
    """One end of a socket pair carrying length-prefixed messages (what multiprocessing's
    Connection does, without importing multiprocessing into every `ticker fetch`)."""

    _HEADER = struct.Struct("!Q")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self._HEADER.pack(len(data)))
        self.sock.sendall(data)

    def recv_bytes(self) -> bytes:
        (size,) = self._HEADER.unpack(self._exactly(self._HEADER.size))
        return self._exactly(size)

    def _exactly(self, size: int) -> bytes:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            count = self.sock.recv_into(view[got:])
            if count == 0:
                raise EOFError("the other end closed")
            got += count
        return bytes(buffer)

    def poll(self, timeout_s: float) -> bool:
        """Whether a message (or the other end's closing) is waiting, within `timeout_s`."""
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        return bool(ready)

    def close(self) -> None:
        self.sock.close()


def _pipe() -> tuple[_Connection, _Connection]:
    """Two connected ends."""
    left, right = socket.socketpair()
    return _Connection(left), _Connection(right)


class _InShared:
    """An argument left in the shared buffer: where."""

    __slots__ = ("end", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __reduce__(self):
        return (_InShared, (self.start, self.end))


def _to_shared(args: tuple, shared: mmap.mmap) -> tuple:
    """`args` with its large bytes written to `shared` and replaced by where they are."""
    placed, used = [], 0
    for arg in args:
        if type(arg) is bytes and len(arg) >= _SHARED_FROM and used + len(arg) <= len(shared):
            shared[used : used + len(arg)] = arg
            placed.append(_InShared(used, used + len(arg)))
            used += len(arg)
        else:
            placed.append(arg)
    return tuple(placed)


def _from_shared(args: tuple, shared: mmap.mmap) -> tuple:
    return tuple(shared[arg.start : arg.end] if isinstance(arg, _InShared) else arg for arg in args)


def _answer(function: Callable[..., Any], args: tuple, kwargs: dict) -> bytes:
    """Call and pickle what came of it: ("ok", result) or ("raise", exception)."""
    try:
        outcome = ("ok", function(*args, **kwargs))
    except Exception as error:
        outcome = ("raise", error)
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if outcome[0] == "raise":
            pickle.loads(data)  # an exception with a custom __init__ may pickle but not load
        return data
    except Exception as error:
        what = "result" if outcome[0] == "ok" else f"{type(outcome[1]).__name__}: {outcome[1]}"
        failure = RuntimeError(f"{what} cannot be sent back from the parse worker ({error})")
        return pickle.dumps(("raise", failure))


def _quiet_child() -> None:
    """In a fresh worker: no terminal input or output, Ctrl-C left to the parent, and none of
    the parent's signal handlers (a daemon's shutdown handler must not run in its worker)."""
    _default_signals()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_DFL)


def _serve(conn: _Connection, shared: mmap.mmap, parent: int) -> None:
    """A worker's loop: requests in, answers out, until the parent goes."""
    _quiet_child()
    while True:
        if not conn.poll(_IDLE_CHECK_S):
            if os.getppid() != parent:
                return
            continue
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            function, args, kwargs = pickle.loads(data)
        except Exception as error:  # not importable here (defined after the fork): the parent forks anew
            conn.send_bytes(pickle.dumps(("unloadable", f"{type(error).__name__}: {error}")))
            continue
        conn.send_bytes(_answer(function, _from_shared(args, shared), kwargs))


def _exit_status(pid: int, *, kill: bool) -> str:
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "exit status unknown"
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class _Worker:
    """One forked worker and its end of the pipe."""

    def __init__(self) -> None:
        ours, theirs = _pipe()
        self.shared = mmap.mmap(-1, SHARED_BYTES)  # anonymous, shared with the child
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            try:
                ours.close()
                _serve(theirs, self.shared, parent)
            finally:
                os._exit(0)
        theirs.close()
        self.pid, self.conn, self.tasks, self.generation = pid, ours, 0, 0

    def call(self, function: Callable[..., Any], args: tuple, kwargs: dict, timeout_s: float) -> tuple:
        """Send one request; the answer, or ParseTimeout / _Died (the worker is then gone).
        PicklingError and the like when the function cannot be sent by reference."""
        data = pickle.dumps(
            (function, _to_shared(args, self.shared), kwargs), protocol=pickle.HIGHEST_PROTOCOL
        )
        self.tasks += 1
        try:
            self.conn.send_bytes(data)
            if not self.conn.poll(timeout_s):
                self.stop(kill=True)
                raise ParseTimeout(f"parse took longer than {timeout_s:.3g} s: stopped")
            return pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            raise _Died(self.stop(kill=False)) from None

    def stop(self, *, kill: bool) -> str:
        """End the worker: closing its pipe lets an idle one exit, `kill` ends a busy one."""
        self.conn.close()
        status = _exit_status(self.pid, kill=kill)
        self.shared.close()
        return status


class _Pool:
    """The workers of this process: idle ones, and how many exist."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.idle: list[_Worker] = []
        self.every: set[_Worker] = set()
        self.generation = 0  # bumped by stop(): a worker forked before it is not reused

    def take(self) -> _Worker:
        with self.changed:
            while not self.idle and len(self.every) >= MAX_WORKERS:
                self.changed.wait()
            if self.idle:
                return self.idle.pop()
            placeholder = _Reserved()
            self.every.add(placeholder)
        try:
            worker = _Worker()
        finally:
            with self.changed:
                self.every.discard(placeholder)
                self.changed.notify()
        with self.changed:
            worker.generation = self.generation
            self.every.add(worker)
        return worker

    def give_back(self, worker: _Worker, *, alive: bool) -> None:
        with self.changed:
            keep = alive and worker.tasks < MAX_TASKS and worker.generation == self.generation
            if keep:
                self.idle.append(worker)
            else:
                self.every.discard(worker)
            self.changed.notify()
        if alive and not keep:
            worker.stop(kill=True)

    def stop(self) -> None:
        with self.changed:
            self.generation += 1
            idle, self.idle = self.idle, []
            self.every.difference_update(idle)
        for worker in idle:
            worker.stop(kill=True)


class _Reserved:
    """Holds a worker's place in the count while it is being forked."""


_pool = _Pool()


def _forget_inherited() -> None:
    """In a forked child: the parent's workers are the parent's (their pipes closed here)."""
    global _pool
    for worker in _pool.every:
        if isinstance(worker, _Worker):
            worker.conn.close()
            worker.shared.close()
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_inherited)
atexit.register(lambda: _pool.stop())


def _one_off(function: Callable[..., T], args: tuple, kwargs: dict, timeout_s: float) -> tuple:
    """Run in a fork made for this call (the child inherits the function as it is now)."""
    ours, theirs = _pipe()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            _default_signals()
            theirs.send_bytes(_answer(function, args, kwargs))
        finally:
            os._exit(0)
    theirs.close()
    try:
        if not ours.poll(timeout_s):
            ours.close()
            _exit_status(pid, kill=True)
            raise ParseTimeout(f"parse took longer than {timeout_s:.3g} s: stopped")
        outcome = pickle.loads(ours.recv_bytes())
    except (EOFError, OSError):
        ours.close()
        raise ParseError(f"parse worker died ({_exit_status(pid, kill=False)}): stopped") from None
    ours.close()
    _exit_status(pid, kill=False)
    return outcome


def parse_limit(size: int) -> float:
    """The time a body of `size` bytes may take to parse: PARSE_TIMEOUT_S, and SECONDS_PER_MB
    more for each MB past the first (a real page's parse grows with it; hostile markup is slow
    at any size)."""
    return PARSE_TIMEOUT_S + SECONDS_PER_MB * max(0.0, size / 1_048_576 - 1)


def run_bounded(
    function: Callable[..., T], /, *args: Any, timeout_s: float | None = None, **kwargs: Any
) -> T:
    """`function(*args, **kwargs)` run in a worker process: its result, or the exception it
    raised, as if called here. ParseTimeout when it takes longer than `timeout_s` (default
    PARSE_TIMEOUT_S); ParseError when the worker dies."""
    limit = PARSE_TIMEOUT_S if timeout_s is None else timeout_s
    kind, value = _pooled(function, args, kwargs, limit)
    if kind == "raise":
        raise value
    return value


def _pooled(function: Callable[..., Any], args: tuple, kwargs: dict, limit: float) -> tuple:
    pool = _pool
    worker = pool.take()
    alive = True
    try:
        outcome = worker.call(function, args, kwargs, limit)
    except (pickle.PicklingError, AttributeError, TypeError):  # a lambda, a closure, a patched function
        outcome = ("unloadable", "")
    except _Died as died:
        alive = False
        raise ParseError(f"parse worker died ({died}): stopped") from None
    except ParseTimeout:
        alive = False
        raise
    finally:
        pool.give_back(worker, alive=alive)
    if outcome[0] == "unloadable":
        return _one_off(function, args, kwargs, limit)
    return outcome


def stop_workers() -> None:
    """End this process's workers (idle ones now, busy ones when they answer): the next parse
    forks a fresh one, which sees the process as it is then (tests that patch a parser)."""
    _pool.stop()
