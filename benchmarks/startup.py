"""Start-up time: `ticker --help` and `ticker fetch` as whole processes, against a bare interpreter
that imports only what ticker's fetch path cannot do without (httpx, sqlite3, click, sqlite_utils,
selectolax). Goal: <= 1.4x that baseline, as the median of per-round ratios. Then `python -X importtime` of `ticker fetch`: the
modules it imports beyond the baseline, costliest first.

All commands run interleaved, round after round, so that load on the machine hits them alike.

    python benchmarks/startup.py           # 20 rounds
    python benchmarks/startup.py --quick   # 4 rounds
    python benchmarks/startup.py --old /work/main/.venv/bin/ticker   # and another checkout, same rounds
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

BASELINE_IMPORTS = "import httpx, sqlite3, click, sqlite_utils, selectolax.lexbor"
GOAL = 1.4


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# Every process runs as an installed ticker does: with its compiled bytecode cached (a shell
# with PYTHONDONTWRITEBYTECODE=1 would recompile every ticker module in every run, ~3x its import
# time). The cache goes to a folder of its own, never into the checkouts measured.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="ticker-startup-pycache-")


def _run(command: list[str], cwd: Path) -> float:
    if command[-1].endswith(".new"):  # a first fetch: the database is created by it, every time
        for suffix in ("", "-wal", "-shm"):
            Path(cwd, command[-1] + suffix).unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def importtime(command: list[str], cwd: Path) -> dict[str, tuple[int, int, int]]:
    """module -> (self us, cumulative us, depth) from `python -X importtime`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command], cwd=cwd, capture_output=True, text=True, env=ENV
    )
    modules = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        modules[name.strip()] = (int(self_us), int(cumulative), depth)
    return modules


PHASES = """
import sys, time, json
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import httpx, sqlite3, click, sqlite_utils, selectolax.lexbor
mark("baseline imports (httpx, sqlite3, click, sqlite_utils, selectolax)")
import ticker.cli, ticker.cli.commands.fetch, ticker.cli.errors
mark("ticker.cli + the fetch command + ticker.cli.errors (sources, parsers)")
from ticker.db.schema import open_db
from ticker.db.writes import register_source
from ticker.jobs.poll import poll
from ticker.scraper.http import make_client
from ticker.jobs.sources import builtin_source
mark("ticker.db.schema, ticker.db.writes, ticker.jobs.poll, ticker.scraper.http")
db = open_db(sys.argv[2])
register_source(db, "rbc", "rbc", "https://www.rbc.ru/", None, ["page"], "2025-01-01T00:00:00Z")
mark("open_db (migrations check, views) + register_source")
client = make_client()
mark("make_client (first httpx.Client: TLS context, httpcore/h11 imports)")
poll(db, client, builtin_source("rbc"), url=sys.argv[1])
mark("poll (GET, parse, store)")
print(json.dumps([[n, b - a] for (_, a), (n, b) in zip(marks, marks[1:])]))
"""


def phases(url: str, db: str, cwd: Path, runs: int) -> None:
    """Where a cold `ticker fetch` spends its time, phase by phase, in fresh processes."""
    import json

    collected: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PHASES, url, db], cwd=cwd, check=True, capture_output=True, env=ENV
        )
        for name, seconds in json.loads(out.stdout):
            collected.setdefault(name, []).append(seconds)
    rows = [[name, common.ms(common.median(values))] for name, values in collected.items()]
    total = sum(common.median(values) for values in collected.values())
    rows.append(["sum (after interpreter start-up)", common.ms(total)])
    print(
        common.table(["phase of a cold `ticker fetch rbc` (304 answer)", "median ms"], rows, title="Phases")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 rounds: a smoke test")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--old", help="another checkout's `ticker` script, measured in the same rounds")
    args = parser.parse_args()
    rounds = args.rounds or (4 if args.quick else 20)
    print(common.machine())
    ticker = common.venv_bin("ticker")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="ticker-startup-") as tmp, common.LoopbackServer() as server:
        cwd = Path(tmp)
        db = str(cwd / "startup.db")
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "baseline": [python, "-c", BASELINE_IMPORTS],
            "baseline + httpx.Client()": [python, "-c", BASELINE_IMPORTS + "; httpx.Client()"],
        }
        variants = [("", ticker, db)] + ([(" [old]", args.old, str(cwd / "old.db"))] if args.old else [])
        for label, script, database in variants:
            commands |= {
                f"ticker --help{label}": [script, "--help"],
                f"ticker fetch --help{label}": [script, "fetch", "--help"],
                f"ticker fetch rbc (304){label}": [
                    script, "fetch", "rbc", "--url", server.url("rbc/etag/s"), "--db", database,
                ],
                f"ticker fetch rbc (new database){label}": [
                    script, "fetch", "rbc", "--url", server.url("rbc/etag/s"), "--db", database + ".new",
                ],
                f"ticker fetch rbc (new headline){label}": [
                    script, "fetch", "rbc", "--url", server.url(f"rbc/rotate/s{label.strip()}"), "--db", database,
                ],
            }  # fmt: skip
        for command in commands.values():  # warm the file cache, create the databases
            _run(command, cwd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                times[name].append(_run(command, cwd))
        base = times["baseline"]
        rows = []
        for name in commands:
            shown = f'`python -c "{BASELINE_IMPORTS}"`' if name == "baseline" else f"`{name}`"
            value = common.median(times[name])
            ratios = [t / b for t, b in zip(times[name], base, strict=True)]  # per round
            ratio = common.median(ratios)
            goal = ""
            if name.startswith(("ticker --help", "ticker fetch rbc")):
                goal = f"<= {GOAL}x baseline: {'met' if ratio <= GOAL else 'MISSED'}"
            rows.append(
                [shown, common.ms(value), common.ms(common.p95(times[name])), f"{ratio:.2f}x",
                 f"{min(ratios):.2f}-{max(ratios):.2f}x", goal]
            )  # fmt: skip
        print(
            common.table(
                ["command (whole process)", "median ms", "p95 ms", "vs baseline (median of per-round ratios)",
                 "per-round range", "goal"],
                rows,
                title=f"Start-up ({rounds} interleaved rounds; load average at start {_load()})",
            )
        )  # fmt: skip

        phases(server.url("rbc/etag/s"), db, cwd, max(3, rounds // 2))
        fetch_modules = importtime(
            [ticker, "fetch", "rbc", "--url", server.url("rbc/etag/s"), "--db", db], cwd
        )
        base_modules = importtime(["-c", BASELINE_IMPORTS], cwd)
        extra = {name: v for name, v in fetch_modules.items() if name not in base_modules}
        extra_self = sum(v[0] for v in extra.values())
        rows = [
            [name, f"{v[0] / 1000:.1f}", f"{v[1] / 1000:.1f}"]
            for name, v in sorted(extra.items(), key=lambda item: -item[1][0])[:15]
        ]
        print(
            common.table(
                ["module imported by `ticker fetch` beyond the baseline", "self ms", "cumulative ms"],
                rows,
                title=(
                    f"python -X importtime (one run): {len(extra)} extra modules, {extra_self / 1000:.1f} ms "
                    f"own import time in all (baseline imports {len(base_modules)} modules)"
                ),
            )
        )
        top = [
            [name, f"{v[1] / 1000:.1f}"]
            for name, v in sorted(fetch_modules.items(), key=lambda item: -item[1][1])
            if name.startswith("ticker") and v[2] == 0
        ]
        print(
            common.table(
                ["ticker module (imported at top level)", "cumulative ms"], top, title="ticker's own modules"
            )
        )


if __name__ == "__main__":
    main()
