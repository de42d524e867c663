"""A synthetic ticker history of N days, written FAST straight into a fresh database in the
shape ticker.db.writes produces (same tables, same columns, same meaning), for query benchmarks.

Model (seeded, deterministic): RBC's page polled every 120 s with 14 items on it; ~300 new
headlines a day (more by day than by night); ~5% reworded once while shown; ~0.5% pulled;
failures in runs (network_error, http_error, blocked) making ~2% of polls, a few long outages;
exits after a failed poll or a long gap are `unknown`; the rate widgets change once a day;
the Bank of Russia's XML polled hourly, mostly unchanged, a new rate a day.

Rows are written in chunks as the history advances (a headline when it leaves the page), so ten
years (2.6 million polls, 1.1 million headlines) fit in a few hundred MB of memory.

    python benchmarks/synthetic_history.py OUT.db --days 365
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from ticker.core.base import moscow_day, to_iso
from ticker.db.schema import open_db, write_transaction
from ticker.db.writes import rebuild_fetch_hours, rebuild_outage_runs, register_source

END = datetime(2025, 11, 25, 0, 0, tzinfo=UTC)
POLL_S = 120
CBR_POLL_S = 3600
ON_PAGE = 14
NEW_PER_DAY = 300
REWORD_SHARE = 0.05
PULL_SHARE = 0.005
OUTAGE_START_P = 0.004  # per poll; runs of 1..12 polls, ~1 in 60 runs lasts hours
GAP_LIMIT_S = 300
RUBRICS = ["Политика", "Экономика", "Общество", "Бизнес", "Финансы", "Технологии и медиа", "Спорт",
           "Город", "Нефть и газ", "Инвестиции"]  # fmt: skip
_WORDS = ("суд оштрафовал Telegram Google ЦБ Минфин курс рубль нефть санкции Путин Кремль Госдума "
         "закон банк ставка инфляция Москва Петербург выборы акции биржа бюджет налог экспорт газ "
         "Украина США Китай ЕС Сбербанк ВТБ Яндекс Wildberries Ozon рынок цены рост падение рекорд "
         "заявил одобрил запретил предложил снизил повысил сообщил")  # fmt: skip
WORDS = _WORDS.split()

FETCH_COLUMNS = ("id, source, channel, url, started_at, duration_ms, status, outcome, error, bytes, "
                 "body_sha256, content_type, items_found, rates_found, items_new, titles_changed, "
                 "rates_new, snapshot_id")  # fmt: skip


@dataclass
class Headline:
    id: str
    title: str
    rubric: str
    published_at: str
    first_seen: str
    first_fetch_id: int
    last_seen: str = ""
    last_fetch_id: int = 0
    title_id: int = 0
    title_ids: list[int] = field(default_factory=list)
    reword_at_poll: int | None = None
    pull_at_poll: int | None = None


@dataclass
class Run:
    sighting_id: int
    headline: Headline
    first_fetch_id: int
    first_seen: str
    first_position: int
    last_position: int = 0
    last_fetch_id: int = 0
    last_seen: str = ""


@dataclass
class Writer:
    """Rows kept in memory and written in bulk at the end, exactly as the writer leaves them."""

    fetches: list[tuple] = field(default_factory=list)
    titles: dict[int, list] = field(default_factory=dict)  # id -> [hid, title, first, last, ffid, lfid]
    changes: list[tuple] = field(default_factory=list)
    sightings: list[tuple] = field(default_factory=list)
    snapshots: dict[str, tuple] = field(default_factory=dict)  # digest -> row, not yet written
    snapshot_ids: dict[bytes, int] = field(default_factory=dict)  # every snapshot's key so far -> id
    snapshot_count: int = 0
    title_count: int = 0
    rates: dict[tuple, list] = field(default_factory=dict)  # (source, cur, date, value) -> row
    headlines: list[Headline] = field(default_factory=list)  # left the page, not yet written
    totals: dict[str, int] = field(default_factory=dict)

    def title_version(self, headline: Headline, title: str, at: str, fetch_id: int) -> int:
        self.title_count += 1
        self.titles[self.title_count] = [headline.id, title, at, at, fetch_id, fetch_id]
        headline.title_ids.append(self.title_count)
        return self.title_count

    def snapshot(self, source: str, channel: str, items: list[list], rate_ids: list[int]) -> int:
        items_json = json.dumps(items, separators=(",", ":"))
        rates_json = json.dumps(rate_ids, separators=(",", ":"))
        digest = hashlib.sha256(f"{items_json}|{rates_json}".encode()).hexdigest()
        key = f"{source}|{channel}|{digest}"
        if key not in self.snapshots:
            packed = hashlib.sha256(key.encode()).digest()[:16]
            if packed in self.snapshot_ids:  # written in an earlier chunk
                return self.snapshot_ids[packed]
            self.snapshot_count += 1
            self.snapshot_ids[packed] = self.snapshot_count
            self.snapshots[key] = (
                self.snapshot_count,
                source,
                channel,
                digest,
                items_json,
                rates_json,
                len(items),
            )
        return self.snapshots[key][0]

    def flush(self, db, final: bool = False) -> None:
        """Write what is complete: fetches, snapshots, changes, closed sightings, headlines that left
        the page and their titles (every row if `final`)."""
        marks = lambda k: ", ".join("?" * k)  # noqa: E731
        conn = db.conn
        conn.executemany(f"INSERT INTO fetches ({FETCH_COLUMNS}) VALUES ({marks(18)})", self.fetches)
        conn.executemany(
            f"INSERT INTO snapshots (id, source, channel, digest, items, rates, item_count) VALUES ({marks(7)})",
            self.snapshots.values(),
        )
        conn.executemany(
            "INSERT INTO headlines (id, source, url, title, rubric, kind, paid, project, published_at, first_seen, "
            f"last_seen, first_fetch_id, last_fetch_id, first_channel) VALUES ({marks(14)})",
            ((h.id, "rbc", f"https://www.rbc.ru/rbcfreenews/{h.id}", h.title, h.rubric, "news", 0, "rbcnews",
              h.published_at, h.first_seen, h.last_seen or h.first_seen, h.first_fetch_id,
              h.last_fetch_id or h.first_fetch_id, "page") for h in self.headlines),
        )  # fmt: skip
        done_titles = [tid for h in self.headlines for tid in h.title_ids]
        conn.executemany(
            "INSERT INTO headline_titles (id, headline_id, title, first_seen, last_seen, first_fetch_id, "
            f"last_fetch_id) VALUES ({marks(7)})",
            ((tid, *self.titles.pop(tid)) for tid in sorted(done_titles)),
        )
        conn.executemany(
            f"INSERT INTO title_changes (headline_id, fetch_id, changed_at, old_title_id, new_title_id) VALUES ({marks(5)})",
            self.changes,
        )
        conn.executemany(
            "INSERT INTO sightings (id, headline_id, source, channel, first_fetch_id, last_fetch_id, first_seen, "
            f"last_seen, first_position, last_position, exit_fetch_id, exited_at, exit_reason) VALUES ({marks(13)})",
            sorted(self.sightings),
        )
        for name, rows in (
            ("fetches", self.fetches),
            ("headlines", self.headlines),
            ("rewrites", self.changes),
        ):
            self.totals[name] = self.totals.get(name, 0) + len(rows)
        self.fetches, self.snapshots, self.headlines, self.changes, self.sightings = [], {}, [], [], []
        if final:
            conn.executemany(
                "INSERT INTO rates (id, source, currency, rate_date, value, change, first_seen, last_seen, "
                f"first_fetch_id, last_fetch_id, channel) VALUES ({marks(11)})",
                self.rates.values(),
            )

    def rate(self, source: str, channel: str, currency: str, day: str, value: str, change: str | None,
             at: str, fetch_id: int) -> tuple[int, bool]:  # fmt: skip
        key = (source, currency, day, value)
        row = self.rates.get(key)
        if row is None:
            row = [
                len(self.rates) + 1,
                source,
                currency,
                day,
                value,
                change,
                at,
                at,
                fetch_id,
                fetch_id,
                channel,
            ]
            self.rates[key] = row
            return row[0], True
        row[7], row[9] = at, fetch_id
        return row[0], False


def _title(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(6, 11))
    return " ".join(words).capitalize()


def _rbc_widget_rates(day: datetime, state: dict[str, Decimal], rng: random.Random) -> dict:
    """The Bank of Russia's rate set for the next day (4 decimals); RBC shows it rounded to 2."""
    out = {}
    for currency in ("EUR", "USD"):
        previous = state[currency]
        state[currency] = (
            previous + Decimal(rng.randint(-150, 150)) / 100 + Decimal(rng.randint(0, 99)) / 10000
        )
        out[currency] = (state[currency], state[currency] - previous)
    return out


def generate(path: Path, days: int, seed: int = 7) -> dict:
    """Write a history of `days` days ending at END into a new database at `path`."""
    rng = random.Random(seed)
    if path.exists():
        path.unlink()
    db = open_db(path)
    start = END - timedelta(days=days)
    register_source(
        db, "rbc", "rbc", "https://www.rbc.ru/", POLL_S, ["page"], to_iso(start), ticker_channel="page"
    )
    register_source(db, "cbr", "cbr", "https://www.cbr.ru/scripts/XML_daily.asp", CBR_POLL_S, ["xml_daily"], to_iso(start))  # fmt: skip
    w = Writer()
    fetch_id = 0
    sighting_id = 0
    serial = 0
    rate_state = {"EUR": Decimal("98.5000"), "USD": Decimal("91.2000")}
    official: dict[str, dict] = {}  # rate_date -> {cur: (value, change)}
    on_page: list[Run] = []
    last_ok_poll: int | None = None
    failed_since_ok = False
    outage_left = 0
    polls = days * 86400 // POLL_S
    cbr_every = CBR_POLL_S // POLL_S
    current_rate_ids: list[int] = []
    cbr_snapshot = None

    for n in range(polls):
        moment = start + timedelta(seconds=n * POLL_S)
        at = to_iso(moment)
        day_key = moscow_day(moment)
        publish = datetime(day_key.year, day_key.month, day_key.day, 12, 30, tzinfo=UTC)
        next_day = (day_key + timedelta(days=1)).isoformat()
        if moment >= publish and next_day not in official:
            official[next_day] = _rbc_widget_rates(moment, rate_state, rng)

        if n % cbr_every == 0:  # the Bank of Russia's XML, hourly
            fetch_id += 1
            newest = max(official) if official else None
            if newest is None:
                w.fetches.append((fetch_id, "cbr", "xml_daily", "https://www.cbr.ru/scripts/XML_daily.asp", at, 80, 200,
                                  "unchanged", None, None, None, None, 0, 0, 0, 0, 0, None))  # fmt: skip
            else:
                ids, new = [], 0
                for currency, (value, _) in official[newest].items():
                    rid, is_new = w.rate(
                        "cbr", "xml_daily", currency, newest, f"{value:.4f}", None, at, fetch_id
                    )
                    ids.append(rid)
                    new += is_new
                snapshot_id = w.snapshot("cbr", "xml_daily", [], ids)
                outcome = "ok" if snapshot_id != cbr_snapshot else "unchanged"
                cbr_snapshot = snapshot_id
                w.fetches.append((fetch_id, "cbr", "xml_daily", "https://www.cbr.ru/scripts/XML_daily.asp", at, 90, 200,
                                  outcome, None, 9000, f"{n:064x}", "application/xml; charset=windows-1251",
                                  0, 2, 0, 0, new, snapshot_id))  # fmt: skip

        fetch_id += 1
        if outage_left == 0 and rng.random() < OUTAGE_START_P:
            outage_left = rng.randint(60, 240) if rng.random() < 1 / 60 else rng.randint(1, 12)
        if outage_left > 0:
            outage_left -= 1
            outcome = rng.choice(["network_error", "network_error", "http_error", "blocked"])
            error = {"network_error": "ConnectTimeout: timed out", "http_error": "HTTP 503",
                     "blocked": "HTTP 403: bot challenge page (Qrator/DDoS-Guard)"}[outcome]  # fmt: skip
            status = {"network_error": None, "http_error": 503, "blocked": 403}[outcome]
            w.fetches.append((fetch_id, "rbc", "page", "https://www.rbc.ru/", at, 5000, status, outcome, error,
                              None, None, None, None, None, None, None, None, None))  # fmt: skip
            failed_since_ok = True
            continue

        hour_msk = (moment.hour + 3) % 24  # the day's rhythm only: a fixed +3 h is enough here
        rate = NEW_PER_DAY / 720 * (1.5 if 7 <= hour_msk < 23 else 0.25) / (16 * 1.5 + 8 * 0.25) * 24
        arrivals, chance = -1, 1.0
        while chance > math.exp(-rate):  # Poisson (Knuth)
            arrivals += 1
            chance *= rng.random()
        items_new = titles_changed = 0
        for _ in range(arrivals):
            serial += 1
            headline = Headline(
                id=f"{int(moment.timestamp()):08x}9a7947{serial:010x}", title=_title(rng), rubric=rng.choice(RUBRICS),
                published_at=to_iso(moment - timedelta(seconds=rng.randint(30, 600))), first_seen=at,
                first_fetch_id=fetch_id,
            )  # fmt: skip
            headline.title_id = w.title_version(headline, headline.title, at, fetch_id)
            if rng.random() < REWORD_SHARE:
                headline.reword_at_poll = n + rng.randint(1, 6)
            elif rng.random() < PULL_SHARE / (1 - REWORD_SHARE):
                headline.pull_at_poll = n + rng.randint(1, 6)
            sighting_id += 1
            on_page.insert(0, Run(sighting_id, headline, fetch_id, at, 1))
            items_new += 1
        for run in on_page:
            headline = run.headline
            if headline.reword_at_poll is not None and headline.reword_at_poll <= n:
                old = headline.title_id
                headline.title = headline.title + ", " + rng.choice(WORDS)
                headline.title_id = w.title_version(headline, headline.title, at, fetch_id)
                w.changes.append((headline.id, fetch_id, at, old, headline.title_id))
                headline.reword_at_poll = None
                titles_changed += 1
        blind = failed_since_ok or (last_ok_poll is not None and (n - last_ok_poll) * POLL_S > GAP_LIMIT_S)
        pulled = {
            id(run)
            for run in on_page
            if run.headline.pull_at_poll is not None and run.headline.pull_at_poll <= n
        }
        kept = [run for run in on_page if id(run) not in pulled]
        gone = [(run, "unknown" if blind else "pulled") for run in on_page if id(run) in pulled]
        gone += [(run, "unknown" if blind else "scrolled_off") for run in kept[ON_PAGE:]]
        on_page = kept[:ON_PAGE]
        for run, reason in gone:
            w.headlines.append(run.headline)
            w.sightings.append((run.sighting_id, run.headline.id, "rbc", "page", run.first_fetch_id, run.last_fetch_id,
                                run.first_seen, run.last_seen, run.first_position, run.last_position, fetch_id, at,
                                reason))  # fmt: skip
        items = []
        for position, run in enumerate(on_page, start=1):
            run.last_position, run.last_fetch_id, run.last_seen = position, fetch_id, at
            run.headline.last_seen, run.headline.last_fetch_id = at, fetch_id
            w.titles[run.headline.title_id][3] = at
            w.titles[run.headline.title_id][5] = fetch_id
            items.append([run.headline.id, run.headline.title_id])
        shown_day = next_day if next_day in official else day_key.isoformat()
        rates_new = 0
        if shown_day in official:
            current_rate_ids = []
            for currency, (value, change) in official[shown_day].items():
                rid, is_new = w.rate(
                    "rbc", "page", currency, shown_day, f"{value:.2f}", f"{change:+.2f}", at, fetch_id
                )
                current_rate_ids.append(rid)
                rates_new += is_new
        snapshot_id = w.snapshot("rbc", "page", items, current_rate_ids)
        w.fetches.append((fetch_id, "rbc", "page", "https://www.rbc.ru/", at, rng.randint(150, 900), 200, "ok", None,
                          250_000, f"{fetch_id:064x}", "text/html; charset=utf-8", len(items), len(current_rate_ids),
                          items_new, titles_changed, rates_new, snapshot_id))  # fmt: skip
        last_ok_poll = n
        failed_since_ok = False

        if n % 20_000 == 0:
            with write_transaction(db):
                w.flush(db)

    for run in on_page:
        w.headlines.append(run.headline)
        w.sightings.append((run.sighting_id, run.headline.id, "rbc", "page", run.first_fetch_id, run.last_fetch_id,
                            run.first_seen, run.last_seen, run.first_position, run.last_position, None, None,
                            None))  # fmt: skip
    with write_transaction(db):
        w.flush(db, final=True)
        # The summaries the writers keep as fetches arrive, built in one go here.
        rebuild_outage_runs(db)
        rebuild_fetch_hours(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {
        "days": days,
        "fetches": w.totals["fetches"],
        "headlines": w.totals["headlines"],
        "rewrites": w.totals["rewrites"],
        "snapshots": w.snapshot_count,
        "rates": len(w.rates),
        "bytes": path.stat().st_size,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    began = time.monotonic()
    facts = generate(args.out, args.days, args.seed)
    facts["seconds"] = round(time.monotonic() - began, 1)
    json.dump(facts, sys.stdout)
    print()


if __name__ == "__main__":
    main()
