"""How long one poll of a huge list holds the write lock (issue 19: a 20,000-item list held it
126 s on the code before the one derivation).

Two polls of a list of ITEMS items into a fresh database: the first stores them, the second
shows ITEMS others (every item of the first leaves: the exit classification's worst case). The
time of each `save_ticker` call is the time its write transaction holds the lock. Variants,
interleaved round by round:

- `capped`: as shipped (the list is cut to `ticker.db.history.MAX_ITEMS`);
- `uncapped`: the same code with the cap lifted (the one-pass derivation on the whole list).

Run the same script on an older checkout (PYTHONPATH pointing at it) to time that code: it has
no cap, and only the `uncapped` variant is meaningful there.

    .venv/bin/python benchmarks/history_write.py [ITEMS] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ticker.core.base import Headline, TickerPage, to_iso
from ticker.db import writes
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_ticker

# The module holding the cap; an older checkout (no one derivation) has no cap to lift.
history = sys.modules.get("ticker.db.history") if hasattr(writes, "derive") else None

T0 = datetime(2024, 11, 25, tzinfo=UTC)


def page(start: int, count: int) -> TickerPage:
    items = tuple(
        Headline(f"{n:024x}", f"https://www.rbc.ru/x/{n}", f"Заголовок {n}", "Политика", "news", None, p)
        for p, n in enumerate(range(start, start + count), start=1)
    )
    return TickerPage(items, ())


def two_polls(items: int, cap: int | None) -> tuple[float, float]:
    """Seconds the first and the second poll held the write lock."""
    if history is not None:
        history.MAX_ITEMS = cap or 10**9
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "bench.db")
        times = []
        for n, start in enumerate((0, items)):
            row = FetchRow("rbc", "page", "https://www.rbc.ru/", to_iso(T0 + timedelta(minutes=2 * n)), "ok")
            begun = time.perf_counter()
            save_ticker(db, row, page(start, items), gap_limit_s=300.0)
            times.append(time.perf_counter() - begun)
        db.conn.close()
    return times[0], times[1]


def main(items: int = 20_000, rounds: int = 3) -> None:
    cap = history.MAX_ITEMS if history is not None else None
    variants = {"capped": cap, "uncapped": None} if cap else {"uncapped": None}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, limit in variants.items():
            results[name].append(two_polls(items, limit))
    print(f"{items} items, {rounds} rounds (cap {cap or 'none: older code'})")
    print("| variant | first poll s (median) | second poll s (median) |")
    print("|---|---|---|")
    for name, runs in results.items():
        first, second = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"| {name} | {first:.2f} | {second:.2f} |")
    if len(results) == 2:
        ratios = [u[1] / c[1] for c, u in zip(results["capped"], results["uncapped"], strict=True)]
        print("uncapped / capped, second poll, per round: " + ", ".join(f"{r:.1f}" for r in ratios))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
