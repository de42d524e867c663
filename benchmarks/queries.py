"""Query speed on a synthetic history of ten years (benchmarks/synthetic_history.py: RBC's page
every 2 minutes with its ticker channel, the Bank of Russia hourly): every CLI query (`at`,
`changes`, `rates`), every canned query, chart and view page as Datasette runs its SQL, a title
search, and the pages themselves through Datasette's own client (`/-/ticker`, table and view
pages, canned query pages, a title search page). Goal: every one < 50 ms p50.

Each round runs every case once, in every variant, one after the other (interleaved), with the
same random parameters for each variant; the table gives p50 and p99 over the rounds and, with
`--old`, the old code's figures and the median of the per-round ratios. `--old PYTHON` is another
checkout's interpreter (the pre-change code: `--old /work/main/.venv/bin/python`), run on a copy
of the database brought back to that code's schema (its migrations and views).

    python benchmarks/queries.py --dir /tmp/ticker-bench                # 10 years (generates ~5 min once)
    python benchmarks/queries.py --dir /tmp/ticker-bench --old /work/main/.venv/bin/python
    python benchmarks/queries.py --days 30 --rounds 3                  # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETTE_ROWS = 1001
SEARCH = "оштрафовал"
GOAL_MS = 50.0
# what this checkout's migrations add to the old code's schema, dropped from the old variant's copy
NEW_OBJECTS: dict[str, list[str]] = {
    "trigger": ["rates_mismatches_ai", "rates_mismatches_ad", "rates_mismatches_au"],
    "table": ["rate_mismatches"],
}
NEW_MIGRATIONS: list[str] = ["0014_rate_agreement"]  # their names, as in _sqlite_migrations


# ---- the cases (run in a child: the checkout of whichever interpreter runs this file) ----------


def cases(db_path: Path) -> tuple[list[str], Callable[[str, int], None]]:
    """The case names, and run(name, round) running one case once (parameters from the round)."""
    # Lazy: a child imports the ticker of whichever checkout's interpreter runs it; the driver none.
    from ticker.cli.commands.serve import DATASETTE_DIR, load_metadata, make_datasette
    from ticker.core.base import from_iso, to_iso
    from ticker.db import queries
    from ticker.db.schema import connect
    from ticker.db.views import VIEWS

    db = connect(db_path, read_only=True)
    spec = importlib.util.spec_from_file_location("ticker_sql", DATASETTE_DIR / "plugins" / "ticker_sql.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    plugin.prepare_connection(db.conn)
    conn = db.conn
    first, last = conn.execute("SELECT min(started_at), max(started_at) FROM fetches").fetchone()
    start, end = from_iso(first), from_iso(last)
    span = (end - start).total_seconds()
    ids = [r[0] for r in conn.execute("SELECT id FROM headlines ORDER BY id LIMIT 2000")]
    ds = make_datasette(db_path)
    name = db_path.stem
    loop = asyncio.new_event_loop()
    rng = random.Random()

    def instant() -> str:
        return to_iso(start + timedelta(seconds=rng.uniform(0.05, 1.0) * span))

    def sql(text: str, params: Callable[[], dict] = dict) -> Callable[[], object]:
        return lambda: conn.execute(text, params()).fetchmany(DATASETTE_ROWS)

    def page(path: Callable[[], str]) -> Callable[[], object]:
        def run() -> object:  # a redirect is followed: the time is the page the reader gets
            return loop.run_until_complete(ds.client.get(path(), follow_redirects=True)).status_code

        return run

    def changes(hours: int) -> Callable[[], object]:
        def run() -> object:
            until = instant()
            return queries.changes(db, to_iso(from_iso(until) - timedelta(hours=hours)), until)

        return run

    out: dict[str, Callable[[], object]] = {
        "cli at": lambda: queries.ticker_at(db, instant()),
        "cli changes 1h": changes(1),
        "cli changes 1d": changes(24),
        # what `ticker rates` asks by default: every rate before, the newest 100 (one more read) since --limit
        "cli rates (default)": (
            (lambda: queries.rates(db, limit=101))
            if "limit" in inspect.signature(queries.rates).parameters
            else (lambda: queries.rates(db))
        ),
        "cli rates EUR cbr 30d": lambda: queries.rates(
            db, currency="EUR", source="cbr", since_day=(end - timedelta(days=30)).date().isoformat()
        ),
    }
    metadata = load_metadata("ticker")
    every = {"_ticker_rows": -1}  # a paged canned query's limit as its CSV and JSON run it: none
    for query, body in metadata["databases"]["ticker"]["queries"].items():
        text = body["sql"]
        if query == "ticker_at":
            out["q ticker_at"] = sql(text, lambda: {"at": instant(), "source": ""})
        elif query == "headline_history":
            out["q headline_history"] = sql(text, lambda: {"id": rng.choice(ids), "source": ""})
        elif query == "rate_series":
            out["q rate_series EUR"] = sql(text, lambda: {"currency": "EUR", **every})
        else:
            out[f"q {query}"] = sql(text, lambda: every)
    for chart, body in metadata["plugins"]["datasette-dashboards"]["ticker"]["charts"].items():
        out[f"chart {chart}"] = sql(body["query"])
    for table, body in metadata["databases"]["ticker"]["tables"].items():
        if table in VIEWS:
            order = f" ORDER BY {body['sort_desc']} DESC" if "sort_desc" in body else ""
            out[f"view {table}"] = sql(f"SELECT * FROM {table}{order} LIMIT 101")
    out["search titles (FTS, newest first)"] = sql(
        "SELECT t.* FROM headline_titles_fts f JOIN headline_titles t ON t.id = f.rowid "
        "WHERE headline_titles_fts MATCH :q ORDER BY f.rowid DESC LIMIT 101",
        lambda: {"q": f'"{SEARCH}"'},
    )
    out["page /-/ticker"] = page(lambda: f"/-/ticker?source=rbc&at={instant()}")
    for table in ("fetches", "headlines", "headline_titles", "sightings", "rates"):
        out[f"page table {table}"] = page(lambda table=table: f"/{name}/{table}")
    out["page table fetches, counted (_count=1)"] = page(lambda: f"/{name}/fetches?_count=1")
    out["page title search"] = page(lambda: f"/{name}/headline_titles?_search={SEARCH}")
    for view in ("headline_exits", "headline_rewrites", "rate_history", "fetch_health", "fetch_outages"):
        out[f"page view {view}"] = page(lambda view=view: f"/{name}/{view}")
    for query in ("rate_series", "rbc_vs_cbr", "pulled", "outages"):
        if query in metadata["databases"]["ticker"]["queries"]:
            out[f"page query {query}"] = page(lambda query=query: f"/{name}/{query}?currency=EUR")
    for query in ("rate_series", "rbc_vs_cbr", "outages"):  # the "show 1,000" link (the old code: its page)
        if query in metadata["databases"]["ticker"]["queries"]:
            out[f"page query {query}, _rows=1000"] = page(
                lambda query=query: f"/{name}/{query}?currency=EUR&_rows=1000"
            )

    def run(case: str, round_: int) -> object:
        rng.seed(f"{case}:{round_}")
        return out[case]()

    return list(out), run


def child(db_path: Path) -> None:
    """Serve rounds: read a round number per line, answer {case: ms} for that round."""
    names, run = cases(db_path)
    for name in names:  # warm the page cache and Datasette, as a running server is
        run(name, -1)
    print(json.dumps(names), flush=True)
    for line in sys.stdin:
        round_ = int(line)
        timings: dict[str, object] = {"_status": {}}
        for name in names:
            began = time.perf_counter()
            status = run(name, round_)
            timings[name] = (time.perf_counter() - began) * 1000
            if isinstance(status, int) and status != 200:  # a page over Datasette's time limit: 400
                timings["_status"][name] = status
        print(json.dumps(timings), flush=True)


def downgrade(path: Path, python: str) -> None:
    """Bring a copy of the database back to another checkout's schema: drop what this checkout's
    migrations added, then let that checkout write its own views."""
    with sqlite3.connect(path) as conn:
        for kind, names in NEW_OBJECTS.items():
            for name in names:
                conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
        for migration in NEW_MIGRATIONS:
            conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [migration])
        for (view,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
            conn.execute(f"DROP VIEW {view}")
    code = (
        "import sys\nfrom ticker.db.schema import connect\nfrom ticker.db.views import ensure_views\n"
        "ensure_views(connect(sys.argv[1]))"
    )
    subprocess.run([python, "-c", code, str(path)], check=True)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dir", type=Path, help="where to keep the generated databases (reused if present)")
    parser.add_argument("--old", help="another checkout's python, measured in the same rounds")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return
    sys.path.insert(0, str(HERE))
    import synthetic_history  # lazy: only the driver generates, and only with this checkout's ticker

    folder = args.dir or Path(tempfile.mkdtemp(prefix="ticker-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"history-{args.days}d.db"
    if not path.exists():
        began = time.monotonic()
        facts = synthetic_history.generate(path, args.days)
        print(f"generated {args.days} d in {time.monotonic() - began:.0f} s: {facts}", file=sys.stderr)
    variants = {"new": (sys.executable, path)}
    if args.old:
        old_path = folder / f"history-{args.days}d-old.db"
        if not old_path.exists():
            shutil.copyfile(path, old_path)
            downgrade(old_path, args.old)
        variants["old"] = (args.old, old_path)
    children = {
        name: subprocess.Popen(
            [python, __file__, "--child", str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE.parent,
        )
        for name, (python, db) in variants.items()
    }
    names = {name: json.loads(proc.stdout.readline()) for name, proc in children.items()}
    shared = [n for n in names["new"] if all(n in found for found in names.values())]
    times: dict[str, dict[str, list[float]]] = {name: {case: [] for case in shared} for name in children}
    failed: dict[str, dict[str, int]] = {name: {} for name in children}
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
    for round_ in range(args.rounds):
        order = list(children) if round_ % 2 == 0 else list(reversed(children))
        for name in order:
            children[name].stdin.write(f"{round_}\n")
            children[name].stdin.flush()
            got = json.loads(children[name].stdout.readline())
            for case in shared:
                times[name][case].append(got[case])
            for case, status in got["_status"].items():
                failed[name][case] = status
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    for proc in children.values():
        proc.stdin.close()
        proc.wait(timeout=60)
    size = path.stat().st_size
    headers = ["case", "new p50 ms", "new p99 ms"]
    if "old" in times:
        headers += ["old p50 ms", "old p99 ms", "old/new (median per-round ratio)"]
    headers.append(f"new p50 < {GOAL_MS:g} ms")
    rows = []
    for case in shared:
        new = times["new"][case]

        def note(name: str, case: str = case) -> str:
            status = failed[name].get(case)
            return f" (HTTP {status}: over the time limit)" if status else ""

        row = [case, f"{statistics.median(new):.1f}{note('new')}", f"{quantile(new, 0.99):.1f}"]
        if "old" in times:
            old = times["old"][case]
            ratios = [o / n for o, n in zip(old, new, strict=True)]
            row += [f"{statistics.median(old):.1f}{note('old')}", f"{quantile(old, 0.99):.1f}",
                    f"{statistics.median(ratios):.1f}x"]  # fmt: skip
        row.append("yes" if statistics.median(new) < GOAL_MS and not note("new") else "NO")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print(f"\n{args.days} days of history ({size / 1e9:.2f} GB), {args.rounds} interleaved rounds\n")
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
    slow = [row[0] for row in rows if row[-1] == "NO"]
    print(f"\nnew p50 >= {GOAL_MS:g} ms: {', '.join(slow) if slow else 'none'}")


if __name__ == "__main__":
    main()
