"""Storage: how many bytes the database grows per poll, per day at the default schedule, per year.

Polls go through `ticker.jobs.poll.poll` against the loopback server with a clock that moves 120 s
per poll. Growth is measured as page_count * page_size after `PRAGMA wal_checkpoint(TRUNCATE)`,
before and after many polls (so SQLite's page-sized steps average out), and attributed to each
table and index with the `dbstat` virtual table (payload bytes: what the rows hold).

Cases: a 304 answer; new bytes with the same items (the page's tokens change, the ticker does
not); one new headline per poll; the Bank of Russia document unchanged. Goal: an unchanged poll
adds <= 200 B (ideally one small `fetches` row).

    python benchmarks/storage.py           # 1000 polls per case
    python benchmarks/storage.py --quick   # 100 polls per case
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from ticker.core.settings import ArchiveSettings
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper.http import make_client

GOAL_BYTES = 200
RBC_POLLS_PER_DAY = 24 * 60 // 2
CBR_POLLS_PER_DAY = 24
NEW_HEADLINES_PER_DAY = 250  # assumption: RBC's main ticker brings a few hundred new items a day


def _size(db) -> int:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    return pages * db.execute("PRAGMA page_size").fetchone()[0]


def _payload(db) -> dict[str, int]:
    return {
        name: payload for name, payload in db.execute("SELECT name, sum(payload) FROM dbstat GROUP BY name")
    }


class Clock:
    def __init__(self, step_s: float) -> None:
        self.moment = datetime(2025, 5, 29, 6, 0, tzinfo=UTC)
        self.step = timedelta(seconds=step_s)

    def __call__(self) -> datetime:
        return self.moment

    def tick(self) -> None:
        self.moment += self.step


def measure(
    server: common.LoopbackServer,
    workdir: Path,
    label: str,
    kind: str,
    path: str,
    polls: int,
    archive: str = "none",
) -> dict:
    db = open_db(workdir / f"{label.replace(' ', '_')}.db")
    spec = SourceSpec(name=kind, kind=kind, url=server.url(path))
    clock = Clock(120 if kind == "rbc" else 3600)
    extra = {}
    if "archive" in inspect.signature(poll).parameters:
        extra["archive"] = ArchiveSettings(keep=archive)
    outcomes: dict[str, int] = {}
    with make_client() as client:
        for _ in range(20):  # warm: the first snapshot, tables past their first pages
            poll(db, client, spec, now=clock, **extra)
            clock.tick()
        size_before, payload_before = _size(db), _payload(db)
        for _ in range(polls):
            saved = poll(db, client, spec, now=clock, **extra)
            outcomes[saved.outcome] = outcomes.get(saved.outcome, 0) + 1
            clock.tick()
        size_after, payload_after = _size(db), _payload(db)
    columns = _fetch_columns(db, polls)
    db.conn.close()
    per_object = {
        name: (payload_after.get(name, 0) - payload_before.get(name, 0)) / polls
        for name in set(payload_before) | set(payload_after)
    }
    return {
        "label": label,
        "file": (size_after - size_before) / polls,
        "payload": sum(per_object.values()),
        "objects": {k: v for k, v in per_object.items() if abs(v) >= 0.5},
        "outcomes": outcomes,
        "archive": archive,
        "columns": columns,
    }


def _value_bytes(value: object) -> int:
    """Bytes SQLite's record format spends on one value (content + its header byte)."""
    if value is None:
        return 1
    if isinstance(value, int):
        if value in (0, 1):
            return 1
        for size in (1, 2, 3, 4, 6):
            if -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
                return 1 + size
        return 9
    if isinstance(value, float):
        return 9
    data = value.encode() if isinstance(value, str) else bytes(value)
    return len(data) + (1 if len(data) < 57 else 2)


def _fetch_columns(db, polls: int) -> dict[str, float]:
    """Mean stored bytes per column of the last `polls` fetches rows."""
    cursor = db.execute(f"SELECT * FROM fetches ORDER BY id DESC LIMIT {int(polls)}")
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return {name: sum(_value_bytes(row[i]) for row in rows) / len(rows) for i, name in enumerate(names)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 polls per case: a smoke test")
    parser.add_argument("--polls", type=int)
    args = parser.parse_args()
    polls = args.polls or (100 if args.quick else 1000)
    print(common.machine())
    with tempfile.TemporaryDirectory(prefix="ticker-storage-") as tmp, common.LoopbackServer() as server:
        workdir = Path(tmp)
        cases = [
            measure(server, workdir, "rbc 304 Not Modified", "rbc", "rbc/etag/a", polls),
            measure(server, workdir, "rbc new bytes, same items", "rbc", "rbc/same/a", polls),
            measure(server, workdir, "rbc one new headline per poll", "rbc", "rbc/rotate/a", polls),
            measure(
                server,
                workdir,
                "rbc one new headline, archive=changed",
                "rbc",
                "rbc/rotate/b",
                polls,
                "changed",
            ),
            measure(server, workdir, "cbr same document (hourly)", "cbr", "cbr/daily", polls),
        ]
    rows = []
    for case in cases:
        unchanged = "new headline" not in case["label"]
        goal = ""
        if unchanged and case["label"].startswith("rbc"):
            goal = f"<= {GOAL_BYTES} B: {'met' if case['file'] <= GOAL_BYTES else 'MISSED'}"
        rows.append(
            [
                case["label"],
                f"{case['file']:.0f}",
                f"{case['payload']:.0f}",
                case["archive"],
                ", ".join(f"{k} {v}" for k, v in case["outcomes"].items()),
                goal,
            ]
        )
    print(
        common.table(
            ["poll", "file B/poll", "payload B/poll", "archive", "outcomes", "goal"],
            rows,
            title=f"Growth per poll ({polls} polls each, after 20 warm-up polls)",
        )
    )
    names = sorted({name for case in cases for name in case["objects"]})
    rows = [[name, *(f"{case['objects'].get(name, 0):.0f}" for case in cases)] for name in names]
    print(
        common.table(
            ["table / index (payload B/poll)", *(c["label"] for c in cases)],
            rows,
            title="Where the bytes go (dbstat)",
        )
    )

    shown = [c for c in cases if "archive=" not in c["label"]]
    names = list(shown[0]["columns"])
    rows = [[name, *(f"{c['columns'].get(name, 0):.0f}" for c in shown)] for name in names]
    rows.append(["(row header, rowid, cell overhead)", *("~5" for _ in shown)])
    print(
        common.table(
            ["fetches column (B/row, content + header byte)", *(c["label"] for c in shown)],
            rows,
            title="One fetches row, column by column (the loopback URL is longer than https://www.rbc.ru/)",
        )
    )

    by_label = {case["label"]: case for case in cases}
    new = by_label["rbc one new headline per poll"]["file"]
    new_archived = by_label["rbc one new headline, archive=changed"]["file"]
    cbr = by_label["cbr same document (hourly)"]["file"]
    quiet = RBC_POLLS_PER_DAY - NEW_HEADLINES_PER_DAY
    rows = []
    for label, unchanged_case, headline_bytes in (
        ("no 304 from RBC (new bytes each poll), archive none", "rbc new bytes, same items", new),
        ("RBC answers 304 when nothing changed, archive none", "rbc 304 Not Modified", new),
        ("no 304 from RBC, archive=changed (the default)", "rbc new bytes, same items", new_archived),
    ):
        day = (
            NEW_HEADLINES_PER_DAY * headline_bytes
            + quiet * by_label[unchanged_case]["file"]
            + CBR_POLLS_PER_DAY * cbr
        )
        rows.append([label, f"{day / 1024:.0f} KiB", f"{day * 365 / 1024**2:.0f} MiB"])
    print(
        common.table(
            ["default schedule: RBC every 2 min, CBR hourly", "per day", "per year"],
            rows,
            title=(
                f"Projection: {RBC_POLLS_PER_DAY} RBC polls/day of which {NEW_HEADLINES_PER_DAY} bring one new "
                f"headline, {CBR_POLLS_PER_DAY} CBR polls/day"
            ),
        )
    )


if __name__ == "__main__":
    main()
