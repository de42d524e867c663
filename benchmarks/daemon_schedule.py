"""Daemon schedule accuracy: 50 sources every 10 s on this machine's cores. (Goal: median start
delay < 1 s.)

Runs ticker's own daemon (ticker.schedules.daemon.Daemon, as `ticker run` does) for about 75 s
against the loopback server (its own process). Every source is an RBC page with one new
headline at every poll (the worst ordinary case: each poll parses ~250 KB, stores, archives).
Start delay = when the run began - when APScheduler had it due (its phase
included in the due time), as the daemon records it. The start burst (every source at once at start-up) is shown
apart from the steady rounds.

    python benchmarks/daemon_schedule.py                       # 50 sources, every 10 s, 75 s
    python benchmarks/daemon_schedule.py --sources 100 --seconds 60
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psutil

from ticker.jobs.sources import SourceSpec
from ticker.schedules.config import DaemonConfig

GOAL_S = 1.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between polls of a source")
    parser.add_argument("--seconds", type=float, default=75.0, help="how long to run the daemon")
    args = parser.parse_args()
    print(common.machine())
    with tempfile.TemporaryDirectory(prefix="ticker-schedule-") as tmp, common.LoopbackServer() as server:
        workdir = Path(tmp)
        logging.basicConfig(filename=workdir / "daemon.log", level=logging.INFO)
        sources = tuple(
            SourceSpec(name=f"s{i}", kind="rbc", url=server.url(f"rbc/rotate/sched-{i}"), every_s=args.every)
            for i in range(args.sources)
        )
        config = DaemonConfig(db=workdir / "schedule.db", sources=sources)
        daemon = common.recording_daemon(config)
        me, server_process = psutil.Process(), psutil.Process(server.pid)
        started = datetime.now(UTC)
        thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
        thread.start()
        cpu0, server0, wall0 = me.cpu_times(), server_process.cpu_times(), time.monotonic()
        time.sleep(args.seconds)
        cpu1, server1, wall1 = me.cpu_times(), server_process.cpu_times(), time.monotonic()
        rss = me.memory_info().rss
        daemon.request_stop()
        thread.join(timeout=30)
        with sqlite3.connect(config.db) as conn:
            outcomes = dict(conn.execute("SELECT outcome, count(*) FROM fetches GROUP BY outcome").fetchall())

    def busy(a, b) -> float:
        return (b.user - a.user + b.system - a.system) / (wall1 - wall0)

    burst = [late for due, late in daemon.runs if (due - started).total_seconds() < args.every / 2]
    steady = [late for due, late in daemon.runs if (due - started).total_seconds() >= args.every / 2]
    rows = []
    for name, delays in (("start burst", burst), ("steady", steady), ("all", burst + steady)):
        if delays:
            rows.append(
                [
                    name,
                    len(delays),
                    f"{common.median(delays):.3f}",
                    f"{quantile(delays, 0.9):.3f}",
                    f"{quantile(delays, 0.99):.3f}",
                    f"{max(delays):.3f}",
                ]
            )
    print(
        common.table(
            ["runs", "count", "median s", "p90 s", "p99 s", "max s"],
            rows,
            title=(
                f"{args.sources} sources every {args.every:g} s (each at its own phase), "
                f"{args.seconds:g} s run: start delays"
            ),
        )
    )
    expected = args.sources * (1 + int(args.seconds / args.every))
    print(
        common.table(
            [
                "fetches recorded",
                "expected about",
                "daemon CPU (cores)",
                "server CPU (cores)",
                "daemon RSS MiB",
            ],
            [
                [
                    ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
                    expected,
                    f"{busy(cpu0, cpu1):.2f}",
                    f"{busy(server0, server1):.2f}",
                    f"{rss / 2**20:.0f}",
                ]
            ],
        )
    )
    median_all = common.median(burst + steady)
    verdict = "within" if median_all < GOAL_S else "OVER"
    print(f"median start delay {median_all:.3f} s ({verdict} the {GOAL_S:g} s goal)")


if __name__ == "__main__":
    main()
