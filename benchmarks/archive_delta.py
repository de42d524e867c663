"""The raw archive with every body kept: bytes per poll, decode and write time, reparse speed.

A simulated week of RBC's main page polled every 2 minutes (5040 polls; `--quick`: a day, 720):
real-shaped pages of ~230 KB (the ticker rendered by tests/rbc_markup.py inside the markup a real
page carries, from benchmarks/common.py), where a new headline arrives every 4 minutes, the main
column moves on every 30 minutes, the ad blocks and counters (creative ids, impression tokens,
the CSRF nonce, request stamps) change at every poll and the rate widgets once a Moscow day.

Side by side, on the same bodies:

- zlib, level 6, one body at a time (ticker's archive before delta chains);
- zstd alone, level 9 (what a keyframe costs);
- zstd with a dictionary trained on the first day's bodies (110 KB, counted once);
- the delta scheme: `ticker.db.archive.archive_body` into a real SQLite file, inside each
  fetch's transaction, every body kept.

Then: decode time of random bodies (empty cache, so a whole chain is decoded; median, p99, max),
write time per poll (the `archive_body` call, and the whole transaction with its fetch row), the
year's size for RBC every 2 minutes and for 20 such sources; and `ticker reparse` throughput on
the week: the database built by the real fetch path (`ticker.jobs.poll.poll`, keep = "all") and
re-derived by `ticker reparse` as a separate process, polls per second, median of the runs.

    python benchmarks/archive_delta.py            # the week (a few minutes)
    python benchmarks/archive_delta.py --quick    # a day
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import zstandard as zstd
from rbc_markup import Widget, render_page

from ticker.core.base import moscow_day, to_iso
from ticker.db import archive
from ticker.db.schema import open_db, write_transaction

POLL_S = 120
POLLS_PER_YEAR = 365 * 24 * 3600 // POLL_S  # 262,800
GOAL_BYTES_PER_POLL = 2048
GOAL_DECODE_MS = 20
GOAL_WRITE_MS = 5
GOAL_REPARSE_PER_S = 300
_WORDS = [
    "Минфин",
    "ЦБ",
    "Росстат",
    "Госдума",
    "Мосбиржа",
    "Татарстан",
    "Казань",
    "нефть",
    "газ",
    "рубль",
    "ставка",
    "инфляция",
    "ипотека",
    "бюджет",
    "налог",
    "экспорт",
    "санкции",
    "рынок",
    "акции",
    "облигации",
    "дивиденды",
    "выборы",
    "суд",
    "арест",
    "тариф",
    "погода",
    "спорт",
    "хоккей",
    "футбол",
    "мост",
    "аэропорт",
    "метро",
    "застройщик",
    "банк",
    "кредит",
    "вклад",
    "биткоин",
    "золото",
]


def _title(rng: random.Random, words: int = 9) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize()


def _card(story: int, poll: int) -> str:
    rng = random.Random(story)
    hex_id = f"6837{story:04x}9a7947{rng.getrandbits(40):010x}"
    return (
        f'<div class="main__feed js-main-reload-item" data-id="{hex_id}" data-modif="{1748500000 + story * 1800}">'
        f'<a href="https://www.rbc.ru/{rng.choice(["economics", "politics", "society", "business"])}/'
        f'29/05/2025/{hex_id}" class="main__feed__link js-yandex-counter js-visited" '
        f'data-yandex-params=\'{{"position": {story % 15}, "type": "main_feed"}}\'>'
        f'<picture><source srcset="https://s0.rbk.ru/v6_top_pics/resized/640xH/media/img/{rng.getrandbits(32):08x}/'
        f'{hex_id}.webp 640w" type="image/webp"><img src="https://s0.rbk.ru/v6_top_pics/resized/320xH/media/img/'
        f'{rng.getrandbits(32):08x}/{hex_id}.jpeg" alt="{_title(rng, 5)}" loading="lazy"></picture>'
        f'<span class="main__feed__title">{_title(rng)}</span>'
        f'<span class="main__feed__subtitle">{_title(rng, 16)}</span></a></div>\n'
    )


def _ads(poll: int) -> str:
    """What changes at every poll: ad creatives and impression tokens, counters, request stamps."""
    rng = random.Random(1_000_000 + poll)
    blocks = []
    for place in ("after_topline", "in_newsline", "right_column", "footer", "main_feed_2", "main_feed_7"):
        token = "".join(f"{rng.getrandbits(32):08x}" for _ in range(4))
        blocks.append(
            f'<div class="banner js-fox-place" data-place="{place}" data-creative="{rng.getrandbits(30)}">'
            f'<a href="https://ad.adriver.ru/cgi-bin/click.cgi?sid=1&bt=21&ad={rng.getrandbits(24)}&pid='
            f'{rng.getrandbits(28)}&bid={rng.getrandbits(28)}&rnd={rng.getrandbits(31)}&erid={token[:22]}">'
            f'<img src="https://banners.adfox.ru/{token[:8]}/{token[8:]}.jpg" alt="{_title(rng, 4)}"></a>'
            f'<img src="https://ads.adfox.ru/event.gif?pr={rng.getrandbits(31)}&p2=fhwq&ptrc=b&puid3=old'
            f'&token={token}" width="1" height="1"></div>\n'
        )
    counters = (
        f'<script>window.__counters = {{"requestId": "{rng.getrandbits(64):016x}", "ts": '
        f'{1748500000 + poll * POLL_S}, "tns": {rng.getrandbits(31)}, "ym": {rng.getrandbits(31)}, '
        f'"top100": "{rng.getrandbits(48):012x}", "liveinternet": {rng.random():.16f}}};</script>\n'
    )
    return "".join(blocks) + counters


def _widgets(day_index: int) -> list[Widget]:
    rng = random.Random(day_index)
    eur, usd = 9000 + rng.randrange(-300, 300), 7900 + rng.randrange(-200, 200)
    day = f"{1 + day_index % 28} мая"
    return [
        Widget(
            "EUR",
            day,
            f"{eur // 100},{eur % 100:02d}",
            f"+{rng.randrange(1, 99) / 100:.2f}".replace(".", ","),
        ),
        Widget(
            "USD",
            day,
            f"{usd // 100},{usd % 100:02d}",
            f"-{rng.randrange(1, 99) / 100:.2f}".replace(".", ","),
        ),
    ]


def page(poll: int) -> bytes:
    """The main page as poll number `poll` (every 2 minutes from common.T0) sees it."""
    moment = common.T0 + timedelta(seconds=poll * POLL_S)
    first = poll // 2  # a new headline every 4 minutes
    items = [common.ticker_item(n) for n in range(first + common.ITEMS_ON_PAGE - 1, first - 1, -1)]
    day_index = (moscow_day(moment) - moscow_day(common.T0)).days
    ticker = render_page(items, widgets=_widgets(day_index), updated=moment, region="tatarstan")
    head, _, rest = ticker.partition("</head>")
    top, _, rest = rest.partition('            <div class="news-feed__wrapper')
    middle, _, tail = rest.partition("<footer>")
    story = poll // 15  # the main column moves on every 30 minutes
    main = "".join(_card(s, poll) for s in range(story + 109, story - 1, -1))
    text = (
        head
        + common._head_padding(hashlib.sha256(str(poll).encode()).hexdigest())
        + "</head>"
        + top
        + common._nav("rubric", 40)
        + _ads(poll)
        + f'<div class="main js-main-reload">{main}</div>'
        + '            <div class="news-feed__wrapper'
        + middle
        + common._padding("bottom")
        + "<footer>"
        + tail
    )
    return text.encode("utf-8")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _kb(value: float) -> str:
    return f"{value / 1024:.2f} KB"


def _year(bytes_per_poll: float, sources: int = 1) -> str:
    total = bytes_per_poll * POLLS_PER_YEAR * sources
    return f"{total / 1024**3:.2f} GB" if total >= 1024**3 else f"{total / 1024**2:.0f} MB"


def alternatives(bodies: list[bytes], train_on: int) -> list[tuple[str, float, float]]:
    """(name, bytes per poll, compress ms per poll) for the one-body-at-a-time encodings."""
    rows = []
    start = time.perf_counter()
    size = sum(len(zlib.compress(b, archive.ZLIB_LEVEL)) for b in bodies)
    rows.append(("zlib -6, one body at a time (before)", size / len(bodies),
                 (time.perf_counter() - start) * 1000 / len(bodies)))  # fmt: skip
    plain = zstd.ZstdCompressor(level=archive.KEYFRAME_LEVEL)
    start = time.perf_counter()
    size = sum(len(plain.compress(b)) for b in bodies)
    rows.append((f"zstd -{archive.KEYFRAME_LEVEL} alone", size / len(bodies),
                 (time.perf_counter() - start) * 1000 / len(bodies)))  # fmt: skip
    trained = zstd.train_dictionary(110 * 1024, bodies[:train_on])
    with_dict = zstd.ZstdCompressor(level=archive.KEYFRAME_LEVEL, dict_data=trained)
    start = time.perf_counter()
    size = sum(len(with_dict.compress(b)) for b in bodies) + len(trained.as_bytes())
    rows.append((f"zstd -{archive.KEYFRAME_LEVEL}, dictionary trained on day 1 (dictionary counted)",
                 size / len(bodies), (time.perf_counter() - start) * 1000 / len(bodies)))  # fmt: skip
    return rows


def delta_archive(path: Path, polls: int) -> dict:
    """Every body through archive_body, each in its fetch's transaction; sizes and times."""
    db = open_db(path)
    call_ms, cpu_ms, transaction_ms, digests = [], [], [], []
    for n in range(polls):
        body = page(n)
        at = to_iso(common.T0 + timedelta(seconds=n * POLL_S))
        started = time.perf_counter()
        with write_transaction(db):
            fetch_id = db.execute(
                "INSERT INTO fetches (source, channel, url, started_at, outcome, bytes, body_sha256) "
                "VALUES ('rbc', 'page', 'https://www.rbc.ru/', ?, 'ok', ?, ?)",
                [at, len(body), hashlib.sha256(body).hexdigest()],
            ).lastrowid
            before, cpu_before = time.perf_counter(), time.thread_time()
            digests.append(archive.archive_body(db, fetch_id=fetch_id, source="rbc", channel="page", body=body,
                                                content_type="text/html", at=at, keep=True))  # fmt: skip
            call_ms.append((time.perf_counter() - before) * 1000)
            cpu_ms.append((time.thread_time() - cpu_before) * 1000)
        transaction_ms.append((time.perf_counter() - started) * 1000)
    stored, raw, keyframes, deepest = db.execute(
        "SELECT sum(length(data)), sum(bytes), sum(base_sha256 IS NULL), max(chain_depth) FROM bodies"
    ).fetchone()
    decode_ms = []
    rng = random.Random(7)
    picks = [rng.randrange(polls) for _ in range(min(1000, polls))]
    depths = dict(db.execute("SELECT sha256, chain_depth FROM bodies").fetchall())
    picks.append(max(range(polls), key=lambda i: depths[digests[i]]))  # the deepest, for the max
    for index in picks:
        archive._DECODED = archive._Decoded()  # nothing cached: the whole chain is decoded
        started = time.perf_counter()
        body = archive.read_body(db, digests[index])
        decode_ms.append((time.perf_counter() - started) * 1000)
        assert body is not None and hashlib.sha256(body).hexdigest() == digests[index]
    archive._DECODED = archive._Decoded()
    started = time.perf_counter()
    for digest in digests:
        archive.read_body(db, digest)
    sequential_ms = (time.perf_counter() - started) * 1000 / polls
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    in_file = db.execute(
        "SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d JOIN sqlite_master m ON m.name = d.name "
        "WHERE m.tbl_name = 'bodies'"
    ).fetchone()[0]
    db.conn.close()
    return {
        "in_file": in_file,
        "stored": stored, "raw": raw, "keyframes": keyframes, "deepest": deepest, "call_ms": call_ms, "cpu_ms": cpu_ms,
        "transaction_ms": transaction_ms, "decode_ms": decode_ms, "sequential_ms": sequential_ms,
        "file": path.stat().st_size,
    }  # fmt: skip


def build_week(path: Path, polls: int) -> float:
    """The week's database through the real fetch path (poll(), keep = "all"); seconds taken."""
    import httpx

    from ticker.core.settings import ArchiveSettings
    from ticker.jobs.poll import poll
    from ticker.jobs.sources import SourceSpec
    from ticker.scraper.http import make_client

    state = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            stream=httpx.ByteStream(page(state["n"])),
            headers={"content-type": "text/html; charset=utf-8"},
        )

    db = open_db(path)
    spec = SourceSpec(name="rbc", kind="rbc", url="http://127.0.0.1:9/")
    settings = ArchiveSettings(keep="all")
    started = time.perf_counter()
    with make_client(transport=httpx.MockTransport(answer)) as client:
        for n in range(polls):
            state["n"] = n
            moment = common.T0 + timedelta(seconds=n * POLL_S)
            poll(db, client, spec, now=lambda moment=moment: moment, archive=settings)
    took = time.perf_counter() - started
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return took


def show_runs(path: Path, runs: int = 7) -> list[list[object]]:
    """`ticker archive show` of a keyframe and of the deepest delta, as whole processes."""
    db = open_db(path)
    picks, depths = {}, {}
    for name, order in (("a keyframe", "ASC"), ("the deepest delta", "DESC")):
        digest, depth = db.execute(
            f"SELECT sha256, chain_depth FROM bodies ORDER BY chain_depth {order} LIMIT 1"
        ).fetchone()
        picks[name], depths[name] = digest, depth + 1
    db.conn.close()
    times: dict[str, list[float]] = {name: [] for name in picks}
    for _ in range(runs):
        for name, digest in picks.items():
            started = time.perf_counter()
            subprocess.run([common.venv_bin("ticker"), "archive", "show", digest, "--db", str(path)],
                           stdout=subprocess.DEVNULL, check=True)  # fmt: skip
            times[name].append(time.perf_counter() - started)
    return [[name, depths[name], f"{statistics_median(values):.3f}"] for name, values in times.items()]


def reparse_runs(path: Path, runs: int) -> list[float]:
    """Whole-process `ticker reparse --into` times (a fresh target each run)."""
    times = []
    for run in range(runs):
        target = path.with_name(f"reparsed-{run}.db")
        started = time.perf_counter()
        result = subprocess.run(
            [common.venv_bin("ticker"), "reparse", "--db", str(path), "--into", str(target), "--json"],
            capture_output=True, text=True,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"ticker reparse failed: {result.stderr.strip()}")
    return times


def reparse_profile(path: Path) -> list[list[str]]:
    """Where an in-process re-parse of the database spends its time (cProfile, cumulative)."""
    import cProfile
    import pstats

    from ticker.jobs import reparse

    target = path.with_name("profiled.db")
    profiler = cProfile.Profile()
    profiler.enable()
    reparse.reparse_into(path, target)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[3] for key, row in stats.stats.items() if key[2] == "reparse_into")
    parts = {
        "parse the body (parse_body: Lexbor + item extraction)": ("fetching.py", "parse_body"),
        "write the history (save_attempt)": ("writes.py", "save_attempt"),
        "read the body from the archive (read_body: chain + SHA-256)": ("archive.py", "read_body"),
        "of which the SHA-256 check": ("archive.py", "sha256_hex"),
    }
    rows = []
    for label, (file, name) in parts.items():
        spent = sum(row[3] for key, row in stats.stats.items() if key[0].endswith(file) and key[2] == name)
        rows.append([label, f"{spent:.2f} s", f"{spent / total:.0%}" if total else "-"])
    rows.append(["the whole re-parse, in-process", f"{total:.2f} s", "100%"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a simulated day (720 polls) instead of a week")
    parser.add_argument("--runs", type=int, default=3, help="whole-process reparse runs (median)")
    args = parser.parse_args()
    polls = 720 if args.quick else 7 * 720
    print(common.machine())
    print(f"\n{polls} polls every {POLL_S} s ({'a day' if args.quick else 'a week'}), every body kept.")
    started = time.perf_counter()
    bodies = [page(n) for n in range(polls)]
    raw = sum(map(len, bodies)) / polls
    print(f"Pages: {raw / 1024:.0f} KB on average, built in {time.perf_counter() - started:.0f} s.")
    rows = alternatives(bodies, train_on=min(200, polls))
    zlib_per_poll = rows[0][1]
    del bodies
    with tempfile.TemporaryDirectory() as folder:
        delta = delta_archive(Path(folder) / "delta.db", polls)
        per_poll = delta["stored"] / polls
        rows.append(("zstd delta chains (ticker.db.archive), in SQLite", per_poll,
                     statistics_median(delta["call_ms"])))  # fmt: skip
        print(common.table(
            ["encoding", "bytes per poll", "vs zlib", "compress ms/poll (median)", "a year, RBC", "a year, 20 sources"],
            [[name, _kb(size), f"{zlib_per_poll / size:.1f}x smaller" if size != zlib_per_poll else "1x",
              f"{ms:.2f}", _year(size), _year(size, 20)] for name, size, ms in rows],
            "Bytes per poll, every body kept",
        ))  # fmt: skip
        decode = delta["decode_ms"]
        print(common.table(
            ["measure", "median", "p99", "max", "goal"],
            [["decode a random body (cache empty, whole chain)", f"{statistics_median(decode):.2f} ms",
              f"{_percentile(decode, 0.99):.2f} ms", f"{max(decode):.2f} ms", f"<= {GOAL_DECODE_MS} ms"],
             ["decode in order (reparse's pattern), per body", f"{delta['sequential_ms']:.2f} ms", "", "", ""],
             ["archive_body per poll (in the fetch's transaction)", f"{statistics_median(delta['call_ms']):.2f} ms",
              f"{_percentile(delta['call_ms'], 0.99):.2f} ms", f"{max(delta['call_ms']):.2f} ms",
              f"<= {GOAL_WRITE_MS} ms"],
             ["archive_body CPU time per poll (this thread: what the machine's load cannot inflate)",
              f"{statistics_median(delta['cpu_ms']):.2f} ms", f"{_percentile(delta['cpu_ms'], 0.99):.2f} ms",
              f"{max(delta['cpu_ms']):.2f} ms", f"<= {GOAL_WRITE_MS} ms"],
             ["whole transaction (fetch row + body + commit)", f"{statistics_median(delta['transaction_ms']):.2f} ms",
              f"{_percentile(delta['transaction_ms'], 0.99):.2f} ms", f"{max(delta['transaction_ms']):.2f} ms", ""]],
            "Decode and write time",
        ))  # fmt: skip
        mean_write = sum(delta["call_ms"]) / polls
        print(
            f"\nMean archive_body time {mean_write:.2f} ms/poll (keyframes included). Chains: "
            f"{delta['keyframes']} keyframes, deepest {delta['deepest']} (at most {archive.KEYFRAME_EVERY} "
            f"steps to decode). Raw {delta['raw'] / 1024**2:.0f} MB stored in {delta['stored'] / 1024**2:.2f} MB "
            f"({delta['raw'] / delta['stored']:.0f}x). In the SQLite file (dbstat: pages of `bodies` and "
            f"its indexes, page slack included) {delta['in_file'] / 1024**2:.2f} MB, "
            f"{delta['in_file'] / polls / 1024:.2f} KB per poll; the whole file with the fetch rows "
            f"{delta['file'] / 1024**2:.2f} MB."
        )
        goal = per_poll <= GOAL_BYTES_PER_POLL and zlib_per_poll / per_poll >= 10
        print(f"Goal <= 2 KB per poll and >= 10x under zlib: {'met' if goal else 'NOT met'}.")
        week = Path(folder) / "week.db"
        took = build_week(week, polls)
        print(f"\nThe database built by poll() (keep = \"all\"): {polls / took:.0f} polls/s in-process, "
              f"{week.stat().st_size / 1024**2:.1f} MB.")  # fmt: skip
        shown = subprocess.run([common.venv_bin("ticker"), "archive", "stats", "--db", str(week)],
                               capture_output=True, text=True, check=True)  # fmt: skip
        print("\n`ticker archive stats` on that database:\n\n```\n" + shown.stdout.rstrip() + "\n```")
        print(common.table(["body", "chain steps", "`ticker archive show`, median of 7 (s)"], show_runs(week),
                           "Whole process: `ticker archive show` (start-up included), interleaved runs"))  # fmt: skip
        times = reparse_runs(week, args.runs)
        rate = polls / statistics_median(times)
        print(common.table(
            ["runs", "median s", "min s", "polls/s (median)", "goal"],
            [[len(times), f"{statistics_median(times):.1f}", f"{min(times):.1f}", f"{rate:.0f}",
              f">= {GOAL_REPARSE_PER_S} polls/s"]],
            "`ticker reparse --into` over the whole database, whole process",
        ))  # fmt: skip
        print(f"A year of RBC ({POLLS_PER_YEAR:,} polls) at that rate: {POLLS_PER_YEAR / rate / 60:.0f} min.")
        print(
            common.table(["part", "time", "share"], reparse_profile(week), "Where the re-parse's time goes")
        )


def statistics_median(values: list[float]) -> float:
    return common.median(values)


if __name__ == "__main__":
    main()
