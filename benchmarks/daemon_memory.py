"""Daemon memory: does RSS stay flat over thousands of fetch cycles? (Goal: < 10 MB growth from
the value after the first 100 cycles to the value after 10,000.)

Against the loopback server (its own process), a mix of four sources polled round-robin, as a
daemon meets them: an RBC page with one new headline each time (parse, store, archive the
body), an RBC page with new bytes but the same items, an RBC page answering 304, and the Bank
of Russia XML.

- In-process: the daemon's own job code (ticker.schedules.runner.SourceRunner.run: a database
  connection per run, the poll, the hooks), cycle after cycle; RSS of this process.
- Whole daemon: `python -m ticker run --config ...` with the same four sources every 0.05 s;
  RSS of that process, sampled as the `fetches` count passes each checkpoint.

    python benchmarks/daemon_memory.py             # 10,000 cycles each (about 5 minutes)
    python benchmarks/daemon_memory.py --quick     # 1,000 cycles each
    python benchmarks/daemon_memory.py --cycles 20000 --no-daemon
"""

from __future__ import annotations

import argparse
import gc
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psutil

from ticker.db.schema import open_db
from ticker.jobs.sources import SourceSpec
from ticker.schedules.runner import SourceRunner
from ticker.scraper.http import make_client

MB = 2**20
GOAL_MB = 10.0
PATHS = {"rotate": "rbc/rotate/mem", "same": "rbc/same/mem", "etag": "rbc/etag/mem", "cbr": "cbr/daily"}


def checkpoints(cycles: int) -> list[int]:
    marks = {100, 1000, cycles // 4, cycles // 2, 3 * cycles // 4, cycles}
    return sorted(mark for mark in marks if 100 <= mark <= cycles)


def specs(server: common.LoopbackServer) -> list[SourceSpec]:
    return [
        SourceSpec(name=name, kind="cbr" if name == "cbr" else "rbc", url=server.url(path), every_s=0.05)
        for name, path in PATHS.items()
    ]


def in_process(server: common.LoopbackServer, workdir: Path, cycles: int) -> list[tuple[int, float, float]]:
    db_path = workdir / "in-process.db"
    open_db(db_path).conn.close()
    runners = [SourceRunner(spec, db_path, make_client()) for spec in specs(server)]
    me = psutil.Process()
    marks = checkpoints(cycles)
    rows = []
    started = time.monotonic()
    for cycle in range(1, cycles + 1):
        runners[cycle % len(runners)].run()
        if cycle == marks[0]:
            gc.collect()
            rows.append((cycle, me.memory_info().rss / MB, time.monotonic() - started))
            marks.pop(0)
    for runner in runners:
        runner.client.close()
    return rows


def whole_daemon(server: common.LoopbackServer, workdir: Path, cycles: int) -> list[tuple[int, float, float]]:
    config = workdir / "daemon.toml"
    config.write_text(
        'db = "daemon.db"\n'
        + "".join(
            f'[sources.{spec.name}]\nkind = "{spec.kind}"\nurl = "{spec.url}"\nevery = 0.05\n'
            for spec in specs(server)
        ),
        encoding="utf-8",
    )
    log = (workdir / "daemon.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "run", "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    watched = psutil.Process(process.pid)
    db_path = workdir / "daemon.db"
    marks = checkpoints(cycles)
    rows = []
    started = time.monotonic()
    try:
        while marks:
            time.sleep(0.05)
            if process.poll() is not None:
                raise RuntimeError(f"the daemon exited: see {workdir / 'daemon.log'}")
            if not db_path.exists():
                continue
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
                    done = conn.execute("SELECT coalesce(max(id), 0) FROM fetches").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            while marks and done >= marks[0]:
                rows.append((marks.pop(0), watched.memory_info().rss / MB, time.monotonic() - started))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    return rows


def report(title: str, rows: list[tuple[int, float, float]]) -> float:
    base = rows[0][1]
    print(
        common.table(
            ["fetch cycles", "RSS MiB", "growth since 100 MiB", "elapsed s"],
            [[f"{n:,}", f"{rss:.1f}", f"{rss - base:+.1f}", f"{spent:.0f}"] for n, rss, spent in rows],
            title=title,
        )
    )
    return rows[-1][1] - base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, help="fetch cycles per variant (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="1,000 cycles: a smoke run")
    parser.add_argument("--no-daemon", action="store_true", help="skip the whole-daemon variant")
    args = parser.parse_args()
    cycles = args.cycles or (1000 if args.quick else 10_000)
    print(common.machine())
    results = []
    with tempfile.TemporaryDirectory(prefix="ticker-memory-") as tmp, common.LoopbackServer() as server:
        workdir = Path(tmp)
        growth = report(
            "In-process: SourceRunner.run, round-robin over 4 sources", in_process(server, workdir, cycles)
        )
        results.append(("in-process", growth))
        if not args.no_daemon:
            growth = report(
                "Whole daemon: `ticker run`, 4 sources every 0.05 s", whole_daemon(server, workdir, cycles)
            )
            results.append(("whole daemon", growth))
    for name, growth in results:
        verdict = "within" if growth < GOAL_MB else "OVER"
        print(
            f"{name}: RSS grew {growth:+.1f} MiB from cycle 100 to {cycles:,} ({verdict} the {GOAL_MB:g} MiB goal)"
        )


if __name__ == "__main__":
    main()
