"""Stories at scale: `stories rebuild` of a synthetic year of 20 outlets, and the grouping cost per
poll for 50 outlets polled every minute (what the daemon pays after each poll).

Synthetic history (seeded): each outlet shows ~150 new headlines a day (more by day); a third of
them report an event that 2-8 outlets carry within a few hours, each in its own variant of the
wording (words dropped or swapped, the same key number); the rest are their own; ~5% of items
are reworded once. Titles are drawn from a vocabulary of Russian-looking words, so the matcher
(ticker.stories.match, whatever it is in this tree) does its real work on them. Only the tables
the grouping reads are written (headlines, headline_titles, title_changes, fetches).

    python benchmarks/stories_scale.py rebuild --days 365 --outlets 20
    python benchmarks/stories_scale.py online --outlets 50 --minutes 30
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ticker.core.base import to_iso
from ticker.db.schema import open_db, write_transaction
from ticker.stories import match as matcher
from ticker.stories.group import Matcher
from ticker.stories.update import rebuild_stories, update_stories

START = datetime(2025, 1, 1, tzinfo=UTC)
PER_DAY = 150
EVENT_SHARE = 1 / 3
REWORD_SHARE = 0.05
REWORD_POLL_SHARE = 0.02  # online: polls that reword an item of the last hour
_LETTERS = "абвгдежзиклмнопрстуфхцчшэюя"


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    return ["".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 11))) for _ in range(size)]


@dataclass
class Counting:
    """The matcher of this tree, counting its calls."""

    fingerprints: int = 0
    compares: int = 0

    def model(self) -> Matcher:
        def fingerprint(report):
            self.fingerprints += 1
            return matcher.fingerprint(report)

        def compare(a, b):
            self.compares += 1
            return matcher.compare(a, b)

        return Matcher(fingerprint, compare)


def _title(rng: random.Random, words: list[str], n: int | None = None) -> list[str]:
    return [rng.choice(words) for _ in range(n or rng.randint(5, 10))]


def _variant(rng: random.Random, base: list[str], words: list[str]) -> str:
    """An outlet's wording of an event: a word or two dropped or swapped, the number kept."""
    out = list(base)
    for _ in range(rng.randint(0, 2)):
        if rng.random() < 0.5 and len(out) > 4:
            out.pop(rng.randrange(len(out) - 1))
        else:
            out[rng.randrange(len(out) - 1)] = rng.choice(words)
    return " ".join(out).capitalize()


def synthetic_history(db, days: int, outlets: int, seed: int = 21) -> int:
    """Write `days` of headlines of `outlets` outlets; returns the number of headlines."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    names = [f"outlet{n:02d}" for n in range(outlets)]
    rows: list[tuple] = []
    for day in range(days):
        midnight = START + timedelta(days=day)
        per_outlet = {name: 0 for name in names}
        # Events: each carried by 2-8 outlets within 4 hours of the first.
        events = int(PER_DAY * outlets * EVENT_SHARE / 4)
        for e in range(events):
            base = [*_title(rng, words), str(rng.randint(2, 999))]
            at = midnight + timedelta(seconds=rng.randint(6 * 3600, 23 * 3600))
            for name in rng.sample(names, rng.randint(2, min(8, outlets))):
                seen = at + timedelta(seconds=rng.randint(0, 4 * 3600))
                rows.append((f"{name}:{day}:e{e}", name, seen, _variant(rng, base, words)))
                per_outlet[name] += 1
        for name in names:
            for n in range(max(0, PER_DAY - per_outlet[name])):
                seen = midnight + timedelta(seconds=int(86400 * rng.betavariate(2.5, 2)))
                rows.append((f"{name}:{day}:{n}", name, seen, " ".join(_title(rng, words)).capitalize()))
    end = START + timedelta(days=days)
    rows = [row for row in rows if row[2] < end]  # an event's late reports past the end: not yet seen
    with write_transaction(db):
        db.execute(
            "INSERT INTO fetches (source, channel, url, started_at, outcome) VALUES ('synthetic', 'feed', '-', ?, 'ok')",
            [to_iso(START)],
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO headlines (id, source, title, first_seen, last_seen, first_fetch_id, "
            "last_fetch_id, first_channel) VALUES (?, ?, ?, ?, ?, 1, 1, 'feed')",
            [(hid, name, title, to_iso(seen), to_iso(seen)) for hid, name, seen, title in rows],
        )
        db.conn.executemany(
            "INSERT OR IGNORE INTO headline_titles (headline_id, title, first_seen, last_seen) VALUES (?, ?, ?, ?)",
            [(hid, title, to_iso(seen), to_iso(seen)) for hid, _, seen, title in rows],
        )
    return len(rows)


def bench_rebuild(days: int, outlets: int, workdir: Path, shipped: bool = False) -> None:
    db = open_db(workdir / "year.db")
    db.execute("PRAGMA synchronous=OFF")
    clock = time.perf_counter()
    count = synthetic_history(db, days, outlets)
    print(
        f"wrote {count:,} headlines of {outlets} outlets over {days} days in {time.perf_counter() - clock:.0f} s"
    )
    counting = Counting()
    if shipped:  # the matcher as the product runs it: vectors embedded on the first pass, read after
        for attempt in ("first (embeds and stores each title's vector)", "second (reads them)"):
            clock = time.perf_counter()
            rebuild_stories(db)
            print(f"rebuild with the shipped matcher, {attempt}: {time.perf_counter() - clock:.1f} s")
        db.conn.close()
        return  # the counting matcher below would embed every title again, one at a time
    clock = time.perf_counter()
    result = rebuild_stories(db, model=counting.model())
    elapsed = time.perf_counter() - clock
    stories, shared = db.execute("SELECT count(*), coalesce(sum(sources >= 2), 0) FROM stories").fetchone()
    print(
        "| headlines | outlets | days | rebuild min | headlines/s | compares | compares/headline | stories | 2+ outlets |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {count:,} | {outlets} | {days} | {elapsed / 60:.1f} | {result.members / elapsed:,.0f} | "
          f"{counting.compares:,} | {counting.compares / max(1, count):.1f} | {stories:,} | {shared:,} |")  # fmt: skip
    db.conn.close()


def bench_online(outlets: int, minutes: int, workdir: Path, warm_days: int = 2) -> None:
    """Two days of history, then every outlet polled each minute: a new item in ~1 poll of 10
    (a third of them another outlet's recent report, reworded), a rewording of the outlet's item
    up to an hour old in ~1 poll of 50 (more than real: ~5% of items reworded is ~1 in 200);
    the grouping after each poll timed."""
    db = open_db(workdir / "online.db")
    rng = random.Random(7)
    words = vocabulary(rng)
    now = START + timedelta(days=warm_days)
    count = synthetic_history(db, warm_days, outlets)
    rebuild_stories(db)
    print(f"warm history: {count:,} headlines of {outlets} outlets over {warm_days} days, grouped")
    names = [f"outlet{n:02d}" for n in range(outlets)]
    recent: list[tuple[str, str, datetime]] = []
    quiet: list[float] = []  # polls that brought nothing new
    timings: list[float] = []  # polls with a new headline
    reword_timings: list[float] = []
    counter = 0
    for minute in range(minutes):
        for name in names:
            at = now + timedelta(minutes=minute, seconds=names.index(name))
            at_iso = to_iso(at)
            reworded = added = False
            with write_transaction(db):
                fetch_id = db.execute(
                    "INSERT INTO fetches (source, channel, url, started_at, outcome) VALUES (?, 'feed', '-', ?, 'ok')",
                    [name, at_iso],
                ).lastrowid
                if rng.random() < 0.1:
                    counter += 1
                    hid, title = f"{name}:live{counter}", " ".join(_title(rng, words)).capitalize()
                    if recent and rng.random() < EVENT_SHARE:  # another outlet's report, reworded
                        title = _variant(rng, recent[-1][1].lower().split(), words)
                    db.execute(
                        "INSERT INTO headlines (id, source, title, first_seen, last_seen, first_fetch_id, last_fetch_id, "
                        "first_channel) VALUES (?, ?, ?, ?, ?, ?, ?, 'feed')",
                        [hid, name, title, at_iso, at_iso, fetch_id, fetch_id],
                    )
                    db.execute(
                        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                        [hid, title, at_iso, at_iso],
                    )
                    recent.append((hid, title, at))
                    added = True
                mine = [
                    r
                    for r in recent[-200:]
                    if r[0].startswith(name + ":") and at - r[2] <= timedelta(hours=1)
                ]
                if mine and rng.random() < REWORD_POLL_SHARE:
                    hid, title, _ = rng.choice(mine)
                    new_title = title + " " + rng.choice(words)
                    old_id = db.execute(
                        "SELECT id FROM headline_titles WHERE headline_id = ? AND title = ?", [hid, title]
                    ).fetchone()[0]
                    new_id = db.execute(
                        "INSERT INTO headline_titles (headline_id, title, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                        [hid, new_title, at_iso, at_iso],
                    ).lastrowid
                    db.execute("UPDATE headlines SET title = ? WHERE id = ?", [new_title, hid])
                    db.execute(
                        "INSERT INTO title_changes (headline_id, fetch_id, changed_at, old_title_id, new_title_id) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [hid, fetch_id, at_iso, old_id, new_id],
                    )
                    recent = [(h, new_title if h == hid else t, s) for h, t, s in recent]
                    reworded = True
            clock = time.perf_counter()
            update_stories(db)
            spent = time.perf_counter() - clock
            (reword_timings if reworded else timings if added else quiet).append(spent)
    every = quiet + timings + reword_timings

    def row(label: str, values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return (f"| {label} | {len(values):,} | {statistics.median(values) * 1000:.2f} | {p95 * 1000:.2f} | "
                f"{max(values) * 1000:.1f} |")  # fmt: skip

    print("| polls | count | median ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    print(row("nothing new", quiet))
    print(row("a new headline", timings))
    if reword_timings:
        print(row("with a rewording", reword_timings))
    print(row("all", every))
    busy = sum(every) / (minutes * 60)
    print(f"grouping busy {busy * 100:.1f}% of wall time for {outlets} outlets polled every minute")
    db.conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["rebuild", "online"])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--outlets", type=int, default=None)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--shipped", action="store_true", help="rebuild: also twice with the shipped matcher")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        if args.what == "rebuild":
            bench_rebuild(args.days, args.outlets or 20, Path(workdir), args.shipped)
        else:
            bench_online(args.outlets or 50, args.minutes, Path(workdir))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
