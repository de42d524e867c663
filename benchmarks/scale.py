"""Scale: is every poll on time when one daemon runs N feeds every 60 s on this machine's cores?

Runs ticker's own daemon (ticker.schedules.daemon.Daemon, as `ticker run` does, logging at INFO
to a file) with N `rss` sources against a loopback HTTP server on 127.0.0.1 (its own process)
that answers each GET with a small feed (20 items, one new item per GET: every poll parses and
stores). Measured **from the start** (the start runs included) for `--seconds`, so a burst at
start or at each round cannot hide: lateness of a run = when it began - when the scheduler had
it due, as the daemon itself records it. Reported per N: lateness p50 / p99 / max, runs done
against runs due, the daemon's CPU (cores) and RSS, the server's CPU.

`--old PYTHON` runs the same trial with another checkout's interpreter (e.g. the pre-change code
in /work/main: `--old /work/main/.venv/bin/python`), alternating old and new for each N in one
run. Each trial is a fresh process and stops by itself after `--seconds`.

    python benchmarks/scale.py                                   # N = 1000, 5000; 150 s each
    python benchmarks/scale.py --old /work/main/.venv/bin/python # the same, old vs new
    python benchmarks/scale.py --quick                           # N = 200, every 10 s, 25 s

`--new-every K`: a feed gains one item every K-th GET and repeats its bytes in between (default
1: every poll stores a new item). `--no-stories`: the daemon's grouping process (a pass every 10 s)
is not started, to measure the poll path alone. Daemon CPU counts its parse workers (forked children).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

GOAL_P99_S = 0.050
FEED_ITEMS = 20


# ---- the loopback feed server (its own process) ------------------------------------------------


class _FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counters: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()
    new_every = 1  # a new item every this many GETs of a feed; the others repeat the last answer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with self.lock:
            n = (self.counters.setdefault(self.path, -1) + 1) // self.new_every
            self.counters[self.path] += 1
        name = self.path.strip("/").replace("/", "-")
        items = []
        for k in range(n + FEED_ITEMS - 1, n - 1, -1):  # newest first: one new item per GET
            when = format_datetime(datetime.fromtimestamp(1_700_000_000 + 60 * k, UTC))
            items.append(
                f"<item><title>Новость {k} источника {name}</title><link>https://feed.example/{name}/{k}</link>"
                f"<guid>https://feed.example/{name}/{k}</guid><pubDate>{when}</pubDate></item>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>feed</title>'
            f"<link>https://feed.example/</link><description>d</description>{''.join(items)}</channel></rss>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(new_every: int) -> None:
    _FeedHandler.new_every = new_every
    server = _Server(("127.0.0.1", 0), _FeedHandler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


# ---- one trial (a fresh process: the daemon of whichever checkout runs this file) --------------


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process (Linux /proc); `reaped`: with its children that
    ended and were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def daemon_cpu_seconds() -> float:
    """This process's CPU with its parse workers' (forked children: ticker.scraper.bounded),
    live or ended."""
    total = cpu_seconds(os.getpid(), reaped=True)
    for task in Path("/proc/self/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def trial(port: int, server_pid: int, workdir: Path, count: int, every_s: float, seconds: float) -> dict:
    # Lazy: a trial runs the daemon of whichever checkout's interpreter runs it; the driver and
    # the feed server import no ticker.
    from ticker.jobs.sources import SourceSpec
    from ticker.schedules.config import DaemonConfig
    from ticker.schedules.daemon import Daemon

    logging.basicConfig(filename=workdir / f"daemon-{count}-{os.getpid()}.log", level=logging.INFO)
    if os.environ.get("SCALE_NO_STORIES") == "1":  # the poll path alone: no story grouping
        import ticker.schedules.runner

        if hasattr(ticker.schedules.runner, "after_write"):  # code whose polls grouped their headlines
            ticker.schedules.runner.after_write = lambda db, since=None: None
        try:  # code whose daemon groups in a process of its own (schedules/grouping.py)
            from ticker.schedules.grouping import StoryGrouping

            StoryGrouping.start = lambda self: None
        except ImportError:
            pass
    runs: list[tuple[float, float]] = []  # (due, seconds late), as the daemon records them

    class Recording(Daemon):
        def _on_executed(self, event) -> None:
            super()._on_executed(event)
            if isinstance(event.retval, datetime):
                due = event.scheduled_run_time
                runs.append((due.timestamp(), (event.retval - due).total_seconds()))

    sources = tuple(
        SourceSpec(name=f"feed{i}", kind="rss", url=f"http://127.0.0.1:{port}/f{i}", every_s=every_s)
        for i in range(count)
    )
    daemon = Recording(DaemonConfig(db=workdir / f"scale-{count}-{os.getpid()}.db", sources=sources))
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    cpu0, server0, wall0 = daemon_cpu_seconds(), cpu_seconds(server_pid), time.monotonic()
    thread.start()
    peak = rss_bytes()
    while time.monotonic() - wall0 < seconds:
        time.sleep(0.5)
        peak = max(peak, rss_bytes())
    cpu1, server1, wall1 = daemon_cpu_seconds(), cpu_seconds(server_pid), time.monotonic()
    daemon.request_stop()
    thread.join(timeout=60)
    with sqlite3.connect(daemon.config.db) as check:
        outcomes = dict(check.execute("SELECT outcome, count(*) FROM fetches GROUP BY outcome").fetchall())
        first = check.execute("SELECT min(started_at) FROM fetches").fetchone()[0]
    span = wall1 - wall0
    return {
        "late": [late for _, late in runs],
        "runs": len(runs),
        "cpu": (cpu1 - cpu0) / span,
        "server_cpu": (server1 - server0) / span,
        "cpu_per_run": (cpu1 - cpu0) / max(1, len(runs)),
        "rss": peak,
        "outcomes": outcomes,
        "first_fetch": first,
    }


# ---- the driver --------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, nargs="*", help="the N values (default 1000 5000)")
    parser.add_argument("--every", type=float, help="seconds between polls of a source (default 60)")
    parser.add_argument(
        "--seconds", type=float, help="how long each trial runs, from the start (default 150)"
    )
    parser.add_argument(
        "--new-every",
        type=int,
        default=1,
        help="a feed's answer gains one new item every K-th GET, the other GETs repeat it byte for byte "
        "(default 1: every poll parses and stores a new item)",
    )
    parser.add_argument(
        "--no-stories",
        action="store_true",
        help="measure the poll path alone: the daemon's stories job is off",
    )
    parser.add_argument("--old", help="another checkout's python: run its daemon too, alternating")
    parser.add_argument("--quick", action="store_true", help="N = 200, every 10 s, 25 s: a smoke test")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("PORT", "PID", "DIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    every_s = args.every or (10.0 if args.quick else 60.0)
    seconds = args.seconds or (25.0 if args.quick else 150.0)
    if args.serve:
        serve(max(1, args.new_every))
        return
    if args.child:
        port, pid, folder, count = args.child
        print(json.dumps(trial(int(port), int(pid), Path(folder), int(count), every_s, seconds)))
        return
    counts = args.sources or ([200] if args.quick else [1000, 5000])
    variants = [("new", sys.executable)] + ([("old", args.old)] if args.old else [])
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--new-every", str(args.new_every)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])
        with tempfile.TemporaryDirectory(prefix="ticker-scale-") as tmp:
            for count in counts:
                for name, python in variants:
                    child = [python, __file__, "--every", str(every_s), "--seconds", str(seconds)]
                    child += ["--child", str(port), str(server.pid), tmp, str(count)]
                    env = {**os.environ, "SCALE_NO_STORIES": "1" if args.no_stories else "0"}
                    done = subprocess.run(
                        child, check=True, capture_output=True, text=True, timeout=seconds + 300, env=env
                    )
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    late = result["late"]
                    rows.append([
                        name, count, f"{count / every_s:.0f}",
                        f"{1000 * quantile(late, 0.5):.1f}", f"{1000 * quantile(late, 0.99):.1f}",
                        f"{1000 * max(late):.0f}" if late else "-", result["runs"],
                        f"{result['cpu']:.2f}", f"{1000 * result['cpu_per_run']:.1f}", f"{result['server_cpu']:.2f}", f"{result['rss'] / 2**20:.0f}",
                        "yes" if late and quantile(late, 0.99) <= GOAL_P99_S else "NO",
                        ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())),
                    ])  # fmt: skip
                    print(
                        f"  {name} N={count}: lateness p50 {rows[-1][3]} ms, p99 {rows[-1][4]} ms", flush=True
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
    headers = ["code", "feeds", "polls/s due", "lateness p50 ms", "p99 ms", "max ms", "runs",
               "daemon CPU (cores)", "CPU ms/run", "server CPU (cores)", "daemon RSS MiB", "p99 <= 50 ms", "fetches"]  # fmt: skip
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    news = "a new item every GET" if args.new_every <= 1 else f"a new item every {args.new_every}th GET"
    news += ", story grouping off" if args.no_stories else ""
    print(
        f"\nOne daemon, every feed every {every_s:g} s ({news}), measured from the start for {seconds:g} s\n"
    )
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
