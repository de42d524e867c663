"""Query speed on synthetic histories of 1 month, 6 months and 1 year: every canned query, the
CLI's queries (`at`, `changes`, `rates`), the chart queries, each view's first page as Datasette
asks for it, and a title search. Median and p95 in ms, plus the database size.

Goal: < 50 ms median at 1 year, growth far below linear. Queries run on a read-only connection
with the same SQL functions `ticker serve` registers, fetching at most 1001 rows as Datasette does.

    python benchmarks/queries.py                  # 30, 182, 365 days (generates ~1 min)
    python benchmarks/queries.py --days 30 --repeat 5
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_history

from ticker.base import from_iso, to_iso
from ticker.commands.serve import DATASETTE_DIR, load_metadata
from ticker.db import queries
from ticker.db.schema import connect

DATASETTE_ROWS = 1001


def _plugin():
    spec = importlib.util.spec_from_file_location("ticker_sql", DATASETTE_DIR / "plugins" / "ticker_sql.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(run: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def cases(db, rng: random.Random) -> dict[str, Callable[[], object]]:
    """name -> a callable running one query (parameters drawn afresh on each call)."""
    conn = db.conn
    first, last = conn.execute("SELECT min(started_at), max(started_at) FROM fetches").fetchone()
    start, end = from_iso(first), from_iso(last)
    span = (end - start).total_seconds()
    ids = [r[0] for r in conn.execute("SELECT id FROM headlines ORDER BY random() LIMIT 200")]

    def instant() -> str:
        return to_iso(start + timedelta(seconds=rng.uniform(0.05, 1.0) * span))

    def changes_window(hours: int) -> Callable[[], object]:
        def run() -> object:
            until = instant()
            return queries.changes(db, to_iso(from_iso(until) - timedelta(hours=hours)), until)

        return run

    def fetch(sql: str, params: dict | None = None) -> Callable[[], object]:
        return lambda: conn.execute(sql, params or {}).fetchmany(DATASETTE_ROWS)

    metadata = load_metadata("ticker")
    canned = metadata["databases"]["ticker"]["queries"]
    out: dict[str, Callable[[], object]] = {
        "cli at": lambda: queries.ticker_at(db, instant()),
        "cli changes 1h": changes_window(1),
        "cli changes 1d": changes_window(24),
        "cli rates (all)": lambda: queries.rates(db),
        "cli rates EUR cbr 30d": lambda: queries.rates(
            db, currency="EUR", source="cbr", since_day=(end - timedelta(days=30)).date().isoformat()
        ),
    }
    forms = [
        lambda: instant(),
        lambda: (from_iso(instant()) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),  # Moscow, no zone
        lambda: "",
    ]
    for name, query in canned.items():
        sql = query["sql"]
        if name == "ticker_at":
            out["q ticker_at"] = lambda sql=sql: conn.execute(
                sql, {"at": rng.choice(forms)(), "source": ""}
            ).fetchmany(DATASETTE_ROWS)
        elif name == "headline_history":
            out["q headline_history"] = lambda sql=sql: conn.execute(
                sql, {"id": rng.choice(ids), "source": ""}
            ).fetchall()
        elif name == "rate_series":
            out["q rate_series EUR"] = fetch(sql, {"currency": "EUR"})
        else:
            out[f"q {name}"] = fetch(sql)
    for name, chart in metadata["plugins"]["datasette-dashboards"]["ticker"]["charts"].items():
        out[f"chart {name}"] = fetch(chart["query"])
    for name, table in metadata["databases"]["ticker"]["tables"].items():
        if name in queries_views():
            order = f" ORDER BY {table['sort_desc']} DESC" if "sort_desc" in table else ""
            out[f"view {name}"] = fetch(f"SELECT * FROM {name}{order} LIMIT 101")
    out["search titles"] = fetch(
        "SELECT * FROM headline_titles WHERE rowid IN (SELECT rowid FROM headline_titles_fts "
        "WHERE headline_titles_fts MATCH :q) ORDER BY first_seen DESC LIMIT 101",
        {"q": '"оштрафовал"'},
    )
    return out


def queries_views() -> set[str]:
    from ticker.db.views import VIEWS

    return set(VIEWS)


def measure(path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    db = connect(path, read_only=True)
    _plugin().prepare_connection(db.conn)
    rng = random.Random(11)
    results = {}
    for name, run in cases(db, rng).items():
        run()  # warm the page cache like a running server
        times = _timed(run, repeat)
        results[name] = (statistics.median(times), _p95(times))
    db.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[30, 182, 365])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--dir", type=Path, help="Where to keep the generated databases (reused if present).")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="ticker-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    sizes, measured = {}, {}
    for days in args.days:
        path = folder / f"history-{days}d.db"
        if not path.exists():
            began = time.monotonic()
            facts = synthetic_history.generate(path, days)
            print(f"generated {days} d in {time.monotonic() - began:.0f} s: {facts}", file=sys.stderr)
        sizes[days] = path.stat().st_size
        measured[days] = measure(path, args.repeat)
    names = list(measured[args.days[0]])
    header = f"{'query':<28}" + "".join(f"{f'{d} d median/p95 ms':>22}" for d in args.days)
    print(header)
    print("-" * len(header))
    for name in names:
        cells = "".join(f"{measured[d][name][0]:>13.1f} /{measured[d][name][1]:>7.1f}" for d in args.days)
        print(f"{name:<28}{cells}")
    print("-" * len(header))
    print(f"{'database size MB':<28}" + "".join(f"{sizes[d] / 1e6:>22.1f}" for d in args.days))
    if 365 in sizes:
        print(f"size per year: {sizes[365] / 1e6:.0f} MB")
    slow = [n for n in names if measured[args.days[-1]][n][0] >= 50]
    print(f"median >= 50 ms at {args.days[-1]} d: {', '.join(slow) if slow else 'none'}")


if __name__ == "__main__":
    main()
