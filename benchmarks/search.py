"""Title search on synthetic histories: the `/-/search` page's query (db.front.search_titles:
FTS5 MATCH on quoted words, read backwards by rowid, first page only) against what Datasette's
search box on `headline_titles` runs (the same MATCH, every match sorted by first_seen, plus a
count of them) and a LIKE scan. Median and p95 in ms per variant, interleaved (each round runs
every variant once, in a shuffled order) with the ratio to the LIKE scan per round. Then the
`/-/changes.atom` feed's query (db.front.feed_changes, 100 entries) per event and filter, and
the `/-/today` page's (db.front.day_of_changes, the last 24 hours).

    python benchmarks/search.py                        # 365 days (generated, ~1 min)
    python benchmarks/search.py --days 30 365 --repeat 11 --dir /tmp/ticker-bench
"""

from __future__ import annotations

import argparse
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

from ticker.core.base import from_iso, to_iso
from ticker.db import front
from ticker.db.schema import connect

PAGE = 50
DATASETTE_ROWS = 101  # Datasette's page of a table (100 rows + 1 to know there is more)

DATASETTE_SEARCH = """
SELECT * FROM headline_titles WHERE rowid IN (SELECT rowid FROM headline_titles_fts
WHERE headline_titles_fts MATCH :q) ORDER BY first_seen DESC LIMIT 101
"""
DATASETTE_COUNT = """
SELECT count(*) FROM headline_titles WHERE rowid IN (SELECT rowid FROM headline_titles_fts
WHERE headline_titles_fts MATCH :q)
"""
LIKE_SEARCH = """
SELECT t.id, t.headline_id, t.title, t.first_seen, t.last_seen, h.source FROM headline_titles t
JOIN headlines h ON h.id = t.headline_id WHERE t.title LIKE :like ORDER BY t.id DESC LIMIT 50
"""


def variants(db, text: str) -> dict[str, Callable[[], int]]:
    conn = db.conn
    match, _short = front.fts_query(text)
    like = "%" + text + "%"

    def datasette() -> int:
        rows = conn.execute(DATASETTE_SEARCH, {"q": match}).fetchall()
        conn.execute(DATASETTE_COUNT, {"q": match}).fetchone()
        return len(rows)

    return {
        "search_titles (/-/search)": lambda: len(front.search_titles(db, text, limit=PAGE)),
        "Datasette _search + count": datasette,
        "LIKE scan": lambda: len(conn.execute(LIKE_SEARCH, {"like": like}).fetchall()),
    }


def measure(
    path: Path, queries: dict[str, str], repeat: int
) -> dict[str, dict[str, tuple[int, list[float]]]]:
    """label -> variant -> (rows returned, times in ms)."""
    db = connect(path, read_only=True)
    rng = random.Random(5)
    out: dict[str, dict[str, tuple[int, list[float]]]] = {}
    for label, text in queries.items():
        runs = variants(db, text)
        found = {name: run() for name, run in runs.items()}  # also warms the page cache like a server
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeat):
            order = list(runs)
            rng.shuffle(order)
            for name in order:
                began = time.perf_counter()
                runs[name]()
                times[name].append((time.perf_counter() - began) * 1000)
        out[label] = {name: (found[name], times[name]) for name in runs}
    db.close()
    return out


def feed_cases(db) -> dict[str, Callable[[], object]]:
    last = db.execute("SELECT max(started_at) FROM fetches").fetchone()[0]
    since = to_iso(from_iso(last) - timedelta(hours=24))
    common = synthetic_history.WORDS[0]
    cases: dict[str, Callable[[], object]] = {
        "feed default (pulled, reworded)": lambda: front.feed_changes(db)
    }
    for event in front.CHANGE_EVENTS:
        cases[f"feed {event}"] = lambda event=event: front.feed_changes(db, (event,))
    cases["feed every event"] = lambda: front.feed_changes(db, front.CHANGE_EVENTS)
    cases["feed default, q=Набиуллина (no match)"] = lambda: front.feed_changes(db, text="Набиуллина")
    cases[f"feed default, q={common} (~20% of titles)"] = lambda: front.feed_changes(db, text=common)
    cases[f"feed new, q={common}"] = lambda: front.feed_changes(db, ("new",), text=common)
    cases["today (last 24 h)"] = lambda: front.day_of_changes(db, since, last)
    return cases


def measure_feed(path: Path, repeat: int) -> dict[str, list[float]]:
    db = connect(path, read_only=True)
    times: dict[str, list[float]] = {}
    for name, run in feed_cases(db).items():
        run()
        times[name] = []
        for _ in range(repeat):
            began = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - began) * 1000)
    db.close()
    return times


def _with_ticker_channel(path: Path) -> None:
    """The synthetic history records rbc without `sources.ticker_channel` (it predates the
    column): set it as `ticker fetch` does, so exits and returns count as the ticker's."""
    db = connect(path)
    db.execute("UPDATE sources SET ticker_channel = 'page' WHERE name = 'rbc' AND ticker_channel IS NULL")
    db.close()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[365])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--dir", type=Path, help="Where to keep the generated databases (reused if present).")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="ticker-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    common = synthetic_history.WORDS[0]
    queries = {
        f"common word ({common})": common,
        f"two words ({synthetic_history.WORDS[1]} {synthetic_history.WORDS[2]})": (
            f"{synthetic_history.WORDS[1]} {synthetic_history.WORDS[2]}"
        ),
        "no match (Набиуллина)": "Набиуллина",
    }
    for days in args.days:
        path = folder / f"history-{days}d.db"
        if not path.exists():
            began = time.monotonic()
            facts = synthetic_history.generate(path, days)
            print(f"generated {days} d in {time.monotonic() - began:.0f} s: {facts}", file=sys.stderr)
        _with_ticker_channel(path)
        db = connect(path, read_only=True)
        titles = db.execute("SELECT count(*) FROM headline_titles").fetchone()[0]
        db.close()
        print(
            f"\n{days} days: {titles} title versions, {path.stat().st_size / 1e6:.0f} MB, {args.repeat} rounds\n"
        )
        print("| query | variant | rows | median ms | p95 ms | median ratio to LIKE (per round) |")
        print("|---|---|---|---|---|---|")
        for label, results in measure(path, queries, args.repeat).items():
            like = results["LIKE scan"][1]
            for name, (rows, values) in results.items():
                ratio = statistics.median(v / base for v, base in zip(values, like, strict=True))
                median, p95 = statistics.median(values), _p95(values)
                print(f"| {label} | {name} | {rows} | {median:.1f} | {p95:.1f} | {ratio:.2f}x |")
        print(f"\n| {days} days: feed and today | median ms | p95 ms |\n|---|---|---|")
        for name, values in measure_feed(path, args.repeat).items():
            print(f"| {name} | {statistics.median(values):.1f} | {_p95(values):.1f} |")


if __name__ == "__main__":
    main()
