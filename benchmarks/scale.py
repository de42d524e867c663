"""Scale: how many sources one daemon keeps on time, every source every 60 s, against the loopback
server (its own process, on the same 2 cores).

Runs ticker's own daemon (ticker.schedules.daemon.Daemon, as `ticker run` does, logging at INFO
to a file) with N RBC-page sources, each answering with a new ~250 KB page and one new headline
at every poll (the worst ordinary case: every poll parses and stores, and the default archive
keeps the body). For each N: the start burst (every source at once, as the daemon starts) and
one steady round a minute later; start delay = when the run began - when it was scheduled
(what the daemon itself records). On time: p95 of the steady round's delays <= 1 s.
CPU (cores busy) and RSS of the daemon process during the steady round, and the server's CPU.

    python benchmarks/scale.py                  # N = 100..600 (stops at the first late N): ~5 min
    python benchmarks/scale.py --sources 300    # one N
    python benchmarks/scale.py --quick          # every 10 s, N = 10, 20: ~40 s
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psutil

from ticker.schedules.config import DaemonConfig
from ticker.schedules.daemon import jitter_for
from ticker.sources import SourceSpec

ON_TIME_S = 1.0


def trial(port: int, server_pid: int, workdir: Path, count: int, every_s: float) -> dict:
    """One N, in a fresh process (so RSS is this trial's alone)."""
    logging.basicConfig(
        filename=workdir / f"daemon-{count}.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    base = f"http://127.0.0.1:{port}/rbc/rotate/n{count}"
    sources = tuple(
        SourceSpec(name=f"s{i}", kind="rbc", url=f"{base}-s{i}", every_s=every_s) for i in range(count)
    )
    config = DaemonConfig(db=workdir / f"scale-{count}.db", sources=sources)
    daemon = common.recording_daemon(config)
    me, server_process = psutil.Process(), psutil.Process(server_pid)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    started = datetime.now(UTC)
    thread.start()
    # Steady round: the runs scheduled about one interval after the start burst.
    time.sleep(every_s * 0.5)
    cpu_me, cpu_server, wall = me.cpu_times(), server_process.cpu_times(), time.monotonic()
    peak_rss = me.memory_info().rss
    deadline = time.monotonic() + every_s + jitter_for(every_s) + 5
    while time.monotonic() < deadline:
        time.sleep(0.5)
        peak_rss = max(peak_rss, me.memory_info().rss)
        steady = [r for r in daemon.runs if (r[0] - started).total_seconds() > every_s / 2]
        if len(steady) >= count:
            break
    cpu_me_end, cpu_server_end, wall_end = me.cpu_times(), server_process.cpu_times(), time.monotonic()
    daemon.request_stop()
    thread.join(timeout=30)
    import sqlite3

    with sqlite3.connect(config.db) as check:
        outcomes = dict(check.execute("SELECT outcome, count(*) FROM fetches GROUP BY outcome").fetchall())
    burst = [late for when, late in daemon.runs if (when - started).total_seconds() <= every_s / 2]
    steady = [late for when, late in daemon.runs if (when - started).total_seconds() > every_s / 2]
    span = wall_end - wall

    def busy(a, b) -> float:
        return (b.user - a.user + b.system - a.system) / span

    return {
        "count": count,
        "burst": burst,
        "steady": steady,
        "cpu": busy(cpu_me, cpu_me_end),
        "cpu_per_run": busy(cpu_me, cpu_me_end) * span / max(1, len(steady)),
        "server_cpu": busy(cpu_server, cpu_server_end),
        "rss": peak_rss,
        "outcomes": outcomes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="every 10 s, N = 10, 20: a smoke test")
    parser.add_argument("--sources", type=int, nargs="*", help="the N values to try")
    parser.add_argument("--every", type=float, help="interval in seconds (default 60, quick 10)")
    parser.add_argument("--child", nargs=4, metavar=("PORT", "PID", "DIR", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, pid, folder, count = args.child
        print(json.dumps(trial(int(port), int(pid), Path(folder), int(count), args.every)))
        return
    every_s = args.every or (10.0 if args.quick else 60.0)
    counts = args.sources or ([10, 20] if args.quick else [100, 200, 300, 400, 600])
    print(common.machine())
    rows = []
    with tempfile.TemporaryDirectory(prefix="ticker-scale-") as tmp, common.LoopbackServer() as server:
        for count in counts:
            child = [sys.executable, __file__, "--every", str(every_s), "--child", str(server.port)]
            child += [str(server.pid), tmp, str(count)]
            result = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
            steady, burst = result["steady"], result["burst"]
            on_time = bool(steady) and common.p95(steady) <= ON_TIME_S and len(steady) >= count
            rows.append(
                [
                    count,
                    f"{count / every_s:.1f}",
                    f"{len(steady)}/{count}",
                    f"{common.median(steady):.2f}" if steady else "-",
                    f"{common.p95(steady):.2f}" if steady else "-",
                    f"{max(steady):.2f}" if steady else "-",
                    f"{max(burst):.2f}" if burst else "-",
                    f"{result['cpu']:.2f}",
                    f"{1000 * result['cpu_per_run']:.1f}",
                    f"{result['server_cpu']:.2f}",
                    f"{result['rss'] / 2**20:.0f}",
                    "yes" if on_time else "NO",
                    ", ".join(f"{k} {v}" for k, v in sorted(result["outcomes"].items())),
                ]
            )
            print(
                f"  N={count}: steady p95 {rows[-1][4]} s, max {rows[-1][5]} s, cpu {rows[-1][7]}", flush=True
            )
            if not on_time:
                break
    print(
        common.table(
            [
                "sources",
                "polls/s",
                "steady runs",
                "delay median s",
                "p95 s",
                "max s",
                "start burst max s",
                "daemon CPU (cores)",
                "daemon CPU ms/run",
                "server CPU (cores)",
                "daemon RSS MiB",
                "on time",
                "fetches",
            ],
            rows,
            title=f"One daemon, every source every {every_s:g} s (jitter 0..{jitter_for(every_s):g} s)",
        )
    )


if __name__ == "__main__":
    main()
