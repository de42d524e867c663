"""The parse's hard bound (`scraper/bounded.py`): what it costs on real pages, what it stops.

1. Hostile markup, through every HTML parser ticker has (the RBC page kind, the `html` kind with
   Lenta's selectors, the `html` kind with a backtracking selector): the time until the bounded
   parse gives up (limit 1 s here), and (with --unbounded) how long the parse takes in-process,
   holding the interpreter: minutes for some shapes.
2. Real pages (../shared/reference/pages and outlets): each kind's parse in-process, through the
   kept worker (`parse_bounded`), and in a fork made for each parse, INTERLEAVED round by round;
   the ratios are medians of per-round ratios. The load average is printed: on a loaded machine
   the worker's wake-ups wait for a core, which the in-process parse does not. Then the CPU
   each costs (this process's and the worker's, from /proc/PID/schedstat), which waiting does
   not inflate.

    .venv/bin/python benchmarks/parse_bounds.py [--rounds 40] [--unbounded]
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

from ticker.core.base import ParseError
from ticker.kinds import ParseContext, get_kind, parse_bounded, parse_channel
from ticker.scraper import bounded

LIMIT_S = 1.0
FETCHED_AT = datetime(2025, 5, 29, 7, 0, tzinfo=UTC)
OUTLETS = common.ROOT.parent / "shared" / "reference" / "outlets"
LENTA = {"item": "a.card-mini", "title": ".card-mini__title", "link": "@href", "time": "time.card-mini__date"}
INTERFAX = {"item": "div.dNewsCont div.text", "title": "h3", "link": "h3 a@href", "time": "time@datetime"}
BACKTRACKING = {**LENTA, "item": "div:has(a) span"}


def _b_open(count: int) -> bytes:
    return b"".join(b"<b class=c%d>" % i for i in range(count)) + b"x"


SHAPES = {
    "50,000 nested <div>": b"<html><body>" + b"<div>" * 50_000,
    "100,000 nested <div>": b"<html><body>" + b"<div>" * 100_000,
    "<b> + 20,000 <div> + </b>s (adoption agency)": b"<b>" + b"<div>" * 20_000 + b"</b>" * 20_000,
    "20,000 open <b class=N>": _b_open(20_000),
    "20,000 <option> in one <select>": b"<select>" + b"<option>x" * 20_000,
    "one tag with 40,000 attributes": b"<div " + b" ".join(b"a%d=1" % i for i in range(40_000)) + b">",
    "400 nested <div>, 3,000 <span> (shallow; for the selector)": (
        b"<html><body>" + b"<div>" * 400 + b"<span>x</span>" * 3_000
    ),
}
PARSERS = {  # name -> (kind, channel options)
    "rbc page": ("rbc", {}),
    "html, Lenta's selectors": ("html", {"select": LENTA}),
    "html, item 'div:has(a) span'": ("html", {"select": BACKTRACKING}),
}


def _context(url: str, options: dict) -> ParseContext:
    return ParseContext(
        url=url, content_type="text/html", fetched_at=FETCHED_AT, min_items=1, options=options, source="bench"
    )


def _timed(call) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        call()
        verdict = "parsed"
    except ParseError as error:
        verdict = str(error)
    return time.perf_counter() - started, verdict


def hostile(unbounded: bool) -> None:
    rows = []
    for shape, body in SHAPES.items():
        for name, (kind, options) in PARSERS.items():
            channel, context = get_kind(kind).main, _context("https://example.ru/", options)
            took, verdict = _timed(
                lambda c=channel, b=body, x=context: parse_bounded(c, b, x, timeout_s=LIMIT_S)
            )
            row = [shape, name, f"{len(body) // 1024}", f"{took:.2f}", verdict[:60]]
            if unbounded:
                row.append(f"{_timed(lambda c=channel, b=body, x=context: parse_channel(c, b, x))[0]:.2f}")
            rows.append(row)
    headers = ["markup", "parser", "KB", f"bounded s (limit {LIMIT_S:g} s)", "recorded"]
    if unbounded:
        headers.append("in-process s (holds the interpreter)")
    print(common.table(headers, rows, title="Hostile markup: every parser stopped at the limit"))


def _fork_per_parse(function, *args):
    """The alternative to a kept worker: one fork per parse (the child inherits everything)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            with os.fdopen(writer, "wb") as out:
                out.write(pickle.dumps(function(*args)))
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        data = answer.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def _pages() -> list[tuple[str, bytes, str, dict, str]]:
    pages = [("built RBC page", common.rbc_page(0), "rbc", {}, "https://www.rbc.ru/")]
    pages += [(name, body, "rbc", {}, "https://www.rbc.ru/") for name, body in common.reference_pages()]
    for name, select, url in (
        ("lenta_html_2022-01-30_main_KainSt.html", LENTA, "https://lenta.ru/"),
        ("interfax_html_2015-08-19_main_kirpich.cp1251.html", INTERFAX, "https://www.interfax.ru/"),
    ):
        if (OUTLETS / name).is_file():
            pages.append((name, (OUTLETS / name).read_bytes(), "html", {"select": select}, url))
    for name in ("lenta_rss_2022-12-03_StombieIT.xml", "rg_rss_2017-01-24_getArtemUsername.xml"):
        if (OUTLETS / name).is_file():
            pages.append((name, (OUTLETS / name).read_bytes(), "rss", {}, "https://example.ru/rss"))
    return pages


def real_pages(rounds: int) -> None:
    rows = []
    for name, body, kind, options, url in _pages():
        channel, context = get_kind(kind).main, _context(url, options)
        if kind == "rbc":
            context = ParseContext(
                url=url, content_type="text/html; charset=utf-8", fetched_at=FETCHED_AT, min_items=1
            )

        def verdict(parse, channel=channel, body=body, context=context):
            try:
                return parse(channel, body, context)
            except ParseError as error:  # a page without a ticker is a verdict too
                return str(error)

        variants = {
            "in-process": lambda: verdict(parse_channel),
            "kept worker": lambda: verdict(parse_bounded),
            "fork per parse": lambda: _fork_per_parse(verdict, parse_channel),
        }
        for run in variants.values():
            run()
        times = {key: [] for key in variants}
        gc.collect()
        gc.disable()
        try:
            for number in range(rounds):
                order = list(variants)
                order = order[number % 3 :] + order[: number % 3]
                for key in order:
                    started = time.perf_counter()
                    variants[key]()
                    times[key].append(time.perf_counter() - started)
        finally:
            gc.enable()

        def ratio(key: str, times: dict = times) -> str:
            per_round = (a / b for a, b in zip(times[key], times["in-process"], strict=True))
            return f"{statistics.median(per_round):.2f}x"

        rows.append(
            [
                f"{kind}: {name}",
                f"{len(body) // 1024}",
                common.ms(statistics.median(times["in-process"])),
                common.ms(statistics.median(times["kept worker"])),
                ratio("kept worker"),
                common.ms(statistics.median(times["fork per parse"])),
                ratio("fork per parse"),
            ]
        )
    print(
        common.table(
            ["page", "KB", "in-process ms", "kept worker ms", "ratio", "fork per parse ms", "ratio"],
            rows,
            title=f"Real pages: what the bound costs ({rounds} interleaved rounds, medians of per-round ratios)",
        )
    )


def _cpu_ns(pid: int) -> int:
    """CPU time a process has run, in ns: this one's from the clock, another's (sleeping, so up
    to date) from /proc/PID/schedstat. Neither is inflated by waiting for a core."""
    if pid == os.getpid():
        return time.process_time_ns()
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def cpu_cost(rounds: int) -> None:
    """CPU per parse, in-process against the kept worker (this process's CPU plus the worker's):
    what the bound costs a daemon's cores, whatever the machine's load does to wall time."""
    rows = []
    for name, body, kind, options, url in _pages():
        channel, context = get_kind(kind).main, _context(url, options)

        def verdict(parse, channel=channel, body=body, context=context):
            try:
                return parse(channel, body, context)
            except ParseError as error:
                return str(error)

        verdict(parse_bounded)  # the worker exists and is warm
        (worker,) = [w for w in bounded._pool.idle]
        spent = {"in-process": 0, "kept worker": 0}
        for _ in range(rounds):
            started = _cpu_ns(os.getpid())
            verdict(parse_channel)
            spent["in-process"] += _cpu_ns(os.getpid()) - started
            started, started_worker = _cpu_ns(os.getpid()), _cpu_ns(worker.pid)
            verdict(parse_bounded)
            spent["kept worker"] += _cpu_ns(os.getpid()) - started + _cpu_ns(worker.pid) - started_worker
        inline, kept = spent["in-process"] / rounds / 1e6, spent["kept worker"] / rounds / 1e6
        rows.append(
            [
                f"{kind}: {name}",
                f"{inline:.2f}",
                f"{kept:.2f}",
                f"{kept - inline:+.2f}",
                f"{kept / inline:.2f}x",
            ]
        )
    print(
        common.table(
            ["page", "in-process CPU ms", "kept worker CPU ms (both processes)", "difference", "ratio"],
            rows,
            title=f"CPU per parse ({rounds} parses each; the worker's from /proc/PID/schedstat)",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--unbounded", action="store_true", help="also parse hostile shapes in-process (minutes)"
    )
    args = parser.parse_args()
    print(common.machine())
    real_pages(args.rounds)
    cpu_cost(args.rounds)
    hostile(args.unbounded)
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
