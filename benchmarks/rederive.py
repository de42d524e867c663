"""How long re-deriving a source's history takes after an import (ticker.db.rederive).

Builds a live history with the live writer (POLLS page polls two minutes apart, 14 items, a new
item every other poll), stores CAPTURES older captures an hour apart, then times
`rederive_source` (which runs once at the end of every import and after a re-parse).

    .venv/bin/python benchmarks/rederive.py [POLLS] [CAPTURES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ticker.core.base import Headline, Rate, TickerPage, to_iso
from ticker.db.history import rederive as rederive_source
from ticker.db.imports import save_capture
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_ticker

T0 = datetime(2024, 11, 25, tzinfo=UTC)


def page(newest: int) -> TickerPage:
    items = tuple(
        Headline(f"{n:024x}", f"https://www.rbc.ru/x/{n}", f"Заголовок {n}", "Политика", "news", None, p)
        for p, n in enumerate(range(newest, newest - 14, -1), start=1)
    )
    return TickerPage(items, (Rate("EUR", "2024-11-26", str(100 + newest // 500)),))


def main(polls: int = 5000, captures: int = 72) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "bench.db")
        started = time.perf_counter()
        for i in range(polls):
            row = FetchRow("rbc", "page", "https://www.rbc.ru/", to_iso(T0 + timedelta(minutes=2 * i)), "ok")
            save_ticker(db, row, page(1000 + i // 2), gap_limit_s=300)
        live_s = time.perf_counter() - started
        for i in range(captures):
            at = T0 - timedelta(hours=captures - i)
            row = FetchRow("rbc", "page", f"https://web.archive.org/web/{i}", to_iso(at), "ok")
            save_capture(
                db, row, page(1000 - 3 * (captures - i)), b"<html/>", origin="wayback", origin_ref=str(i)
            )
        started = time.perf_counter()
        done = rederive_source(db, "rbc", "page", gap_limit_s=300, ordered=True)
        rederive_s = time.perf_counter() - started
    print("| live polls | captures | live writes | rederive | sightings | title changes |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {polls} | {captures} | {live_s:.1f} s ({live_s / polls * 1000:.2f} ms/poll) | "
        f"{rederive_s:.2f} s | {done.sightings} | {done.title_changes} |"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
