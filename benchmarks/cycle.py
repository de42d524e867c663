"""One whole cycle, fetch -> parse -> store, against a loopback server (its own process).

- In-process, the daemon's path: `ticker.jobs.poll.poll` with one reused httpx client and one open
  database, for each kind of poll (one new headline, new bytes with the same items, 304, CBR).
- Whole process, cold start included: `ticker fetch rbc --url ...` run again and again.

Median and p95 per cycle, and each stage's share: fetch (HTTP GET and body), parse, store
(the last-success lookup, the save transaction and the body archive), the rest (hashing, rows);
for the whole process also start-up (interpreter, imports, opening the database).

    python benchmarks/cycle.py            # full run (about a minute)
    python benchmarks/cycle.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

if __name__ != "__main__" or "--child" not in sys.argv:  # the instrumented child stays lean
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

STAGES = ("fetch", "parse", "store")


class StageClock:
    """Wraps the functions `ticker.jobs.poll` calls for each stage and adds up their wall time."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn: Callable) -> Callable:
        spent = self.spent

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - start

        return timed

    def install(self) -> None:
        import ticker.jobs.fetching as fetching_module
        import ticker.jobs.poll as poll_module

        fetching_module.http.get = self.wrap("fetch", fetching_module.http.get)
        for name in ("parse_body",):
            setattr(poll_module, name, self.wrap("parse", getattr(poll_module, name)))
        for name in ("address_state", "save_attempt"):
            setattr(poll_module, name, self.wrap("store", getattr(poll_module, name)))

    def take(self) -> dict[str, float]:
        taken = dict(self.spent)
        self.spent.clear()
        return taken


def _summary(
    label: str, totals: list[float], stages: list[dict[str, float]], extra: str = ""
) -> list[object]:
    mean_total = sum(totals) / len(totals)
    shares = []
    for stage in STAGES:
        mean_stage = sum(s.get(stage, 0.0) for s in stages) / len(stages)
        shares.append(f"{100 * mean_stage / mean_total:.0f}%")
    rest = 100 - sum(float(s.rstrip("%")) for s in shares)
    return [
        label,
        len(totals),
        common.ms(common.median(totals)),
        common.ms(common.p95(totals)),
        *shares,
        f"{rest:.0f}%",
        extra,
    ]


def in_process(server: common.LoopbackServer, workdir: Path, runs: int) -> list[list[object]]:
    from ticker.db.schema import open_db
    from ticker.jobs.poll import poll
    from ticker.jobs.sources import SourceSpec
    from ticker.scraper.http import make_client

    clock = StageClock()
    clock.install()
    rows = []
    cases = [
        ("rbc page, one new headline per poll", "rbc", "rbc/rotate/inproc", runs),
        ("rbc page, new bytes, same items", "rbc", "rbc/same/inproc", runs),
        ("rbc page, 304 Not Modified", "rbc", "rbc/etag/inproc", runs),
        ("cbr XML_daily, same document", "cbr", "cbr/daily", runs),
    ]
    for label, kind, path, count in cases:
        db = open_db(workdir / f"inproc-{kind}-{path.replace('/', '_')}.db")
        spec = SourceSpec(name=kind, kind=kind, url=server.url(path))
        totals, stages, outcomes = [], [], defaultdict(int)
        with make_client() as client:
            for _ in range(3):  # warm: connection, first snapshot, caches
                poll(db, client, spec)
            clock.take()
            for _ in range(count):
                start = time.perf_counter()
                saved = poll(db, client, spec)
                totals.append(time.perf_counter() - start)
                stages.append(clock.take())
                outcomes[saved.outcome] += 1
        db.conn.close()
        rows.append(
            _summary(label, totals, stages, ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        )
    return rows


def child(url: str, db_path: str, out: str) -> None:
    """`ticker fetch` in this process with stage clocks (run by the parent as a fresh process)."""
    clock = StageClock()
    clock.install()
    from ticker.cli import main as ticker_main

    try:
        ticker_main(["fetch", "rbc", "--url", url, "--db", db_path], standalone_mode=False)
    finally:
        Path(out).write_text(json.dumps(clock.take()))


def whole_process(server: common.LoopbackServer, workdir: Path, runs: int) -> list[list[object]]:
    ticker = common.venv_bin("ticker")
    rows = []
    for label, path in (
        ("`ticker fetch rbc`, one new headline per run", "rbc/rotate/cli"),
        ("`ticker fetch rbc`, 304 Not Modified", "rbc/etag/cli"),
    ):
        db = workdir / f"cli-{path.replace('/', '_')}.db"
        command = [ticker, "fetch", "rbc", "--url", server.url(path), "--db", str(db)]
        for _ in range(2):
            subprocess.run(command, check=True, capture_output=True)
        totals = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            totals.append(time.perf_counter() - start)
        # The same runs again, instrumented, for the stage shares (start-up = what is left).
        stages, instrumented = [], []
        stage_file = workdir / "stages.json"
        for _ in range(max(3, runs // 2)):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--child", server.url(path), str(db), str(stage_file)],
                check=True,
                capture_output=True,
            )
            instrumented.append(time.perf_counter() - start)
            stages.append(json.loads(stage_file.read_text()))
        # Stage times come from the instrumented runs; shares are of the plain runs' mean.
        row = _summary(label, totals, stages)
        mean_total = sum(totals) / len(totals)
        parts = [sum(s.get(stage, 0.0) for s in stages) / len(stages) for stage in STAGES]
        row[4:7] = [f"{100 * p / mean_total:.0f}% ({common.ms(p)} ms)" for p in parts]
        row[7] = f"{100 - sum(100 * p / mean_total for p in parts):.0f}% (start-up etc.)"
        row[8] = f"instrumented process median {common.ms(common.median(instrumented))} ms"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few runs: a smoke test")
    parser.add_argument("--runs", type=int, help="in-process polls per case (default 300, quick 20)")
    parser.add_argument("--child", nargs=3, metavar=("URL", "DB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    runs = args.runs or (20 if args.quick else 300)
    process_runs = 5 if args.quick else 40
    print(common.machine())
    headers = ["cycle", "n", "median ms", "p95 ms", "fetch", "parse", "store", "rest", "outcomes / note"]
    with tempfile.TemporaryDirectory(prefix="ticker-bench-") as tmp, common.LoopbackServer() as server:
        workdir = Path(tmp)
        rows = in_process(server, workdir, runs)
        print(
            common.table(
                headers, rows, title="In-process cycle (the daemon's path: poll() with a reused client)"
            )
        )
        rows = whole_process(server, workdir, process_runs)
        print(common.table(headers, rows, title="Whole process cycle (cold start included)"))
    print(
        "\nShares are of the mean cycle. Store = address-state lookup + save transaction (body archive included);"
        " rest = hashing, row building, in-process glue; whole-process rest = interpreter start-up,"
        " imports, opening the database, registering the source."
    )


if __name__ == "__main__":
    main()
