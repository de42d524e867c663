"""Parse time of hostile markup, and what `scraper/markup_guard.py` says about it.

For each shape: the bytes, the guard's verdict and its own time, and Lexbor's parse time (only
for shapes the guard lets through, unless --unguarded: then every shape is parsed, which takes
minutes). Then the real pages under /work/shared/reference: their depth and the guard's time.

    .venv/bin/python benchmarks/parse_bounds.py [--unguarded]
"""

from __future__ import annotations

import argparse
import glob
import time

from selectolax.lexbor import LexborHTMLParser

from ticker.base import ParseError
from ticker.scraper import markup_guard

SHAPES = {
    "50,000 nested <div>": b"<div>" * 50_000,
    "40,000 nested <span>": b"<span>" * 40_000,
    "nested <ul><li>, 40,000 tags": b"<ul><li>" * 20_000,
    "<b> + 20,000 <div> + </b>s (adoption agency)": b"<b>" + b"<div>" * 20_000 + b"</b>" * 20_000,
    "<b><i></b>x x 40,000 (reconstructed <i>)": b"<b><i></b>x" * 40_000,
    "20,000 open <b class=N>": b"".join(b"<b class=c%d>" % i for i in range(20_000)) + b"x",
    "20,000 <option> in one <select>": b"<select>" + b"<option>x" * 20_000,
    "20,000 <optgroup><option> in one <select>": b"<select>" + b"<optgroup><option>x" * 20_000,
    "one tag with 40,000 attributes": b"<div " + b" ".join(b"a%d=1" % i for i in range(40_000)) + b">",
    # what the guard lets through, at its limits
    "passes: 7,000 <option> in one <select>": b"<select>" + b"<option>x" * 7_000,
    "passes: one tag with 9,900 attributes": b"<div " + b" ".join(b"a%d=1" % i for i in range(9_900)) + b">",
    "passes: <div> 500 deep, 49 times (49,000 tags)": (b"<div>" * 500 + b"</div>" * 500) * 49,
    "passes: 199 open <b class=N>, then <p>x</p> x 24,000": (
        b"".join(b"<b class=c%d>" % i for i in range(199)) + b"<p>x</p>" * 24_000
    ),
    "passes: 500-deep <div> + 99,000 <p> (each closes a <p> in scope)": b"<div>" * 500 + b"<p>" * 99_000,
    "passes: 511-deep <span> + 49,000 <div></div>": b"<span>" * 511 + b"<div></div>" * 24_500,
}
# The worst shapes a body may have and still skip the model (`refuse_costly_markup`): at most
# SMALL_DOCUMENT_TAGS "<" and no tag of LONG_TAG_BYTES or more.
_N = markup_guard.SMALL_DOCUMENT_TAGS
SMALL_SHAPES = {
    f"{_N:,} nested <div>": b"<div>" * _N,
    f"{_N // 2:,} nested <ul><li>": b"<ul><li>" * (_N // 2),
    f"{_N:,} <option> in one <select>": b"<select>" + b"<option>x" * (_N - 1),
    f"{_N:,} nested <a href>": b"<a href=x>" * _N,
    "200 open <b>, then <p>x": b"<b>" * 200 + b"<p>x" * (_N - 200),
    "one tag with 10,000 attributes (under 64 KB)": b"<div "
    + b" ".join(b"a%d" % i for i in range(10_000))
    + b">",
}


def seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unguarded", action="store_true", help="parse refused shapes too (slow)")
    args = parser.parse_args()
    print(f"{'shape':62} {'KB':>6} {'guard':>8} {'parse':>8}  verdict")
    for name, body in SHAPES.items():
        started = time.perf_counter()
        try:
            markup_guard.check_markup(body)
            verdict = "passes"
        except ParseError as error:
            verdict = str(error)
        guard = time.perf_counter() - started
        parse = seconds(LexborHTMLParser, body) if verdict == "passes" or args.unguarded else None
        shown = f"{parse:7.3f}s" if parse is not None else "       -"
        print(f"{name:62} {len(body) // 1024:>6} {guard:7.3f}s {shown}  {verdict[:90]}")
    print(f"\nBodies that skip the model (<= {_N:,} '<', no tag over {markup_guard.LONG_TAG_BYTES} bytes):")
    for name, body in SMALL_SHAPES.items():
        skips = body.count(b"<") <= _N and max(map(len, body.split(b">"))) < markup_guard.LONG_TAG_BYTES
        parse = sorted(seconds(LexborHTMLParser, body) for _ in range(5))[2]
        print(f"{name:62} {len(body) // 1024:>6} skips model: {skips}  parse median {parse * 1000:7.1f} ms")
    print()
    for path in sorted(
        glob.glob("/work/shared/reference/pages/*.html") + glob.glob("/work/shared/reference/outlets/*.html")
    ):
        with open(path, "rb") as file:
            body = file.read()
        guard = min(seconds(markup_guard.check_markup, body) for _ in range(5))
        first_step = min(seconds(markup_guard.refuse_costly_markup, body) for _ in range(5))
        shape = markup_guard.measure_markup(body)
        print(
            f"{path.rsplit('/', 1)[1][:50]:50} {len(body) // 1024:>5} KB depth {shape.depth:>3}"
            f" work {shape.work:>7} tags {shape.tags:>5} model {guard * 1000:5.1f} ms"
            f" parsers' first step {first_step * 1000:5.2f} ms"
            f" parse {min(seconds(LexborHTMLParser, body) for _ in range(5)) * 1000:5.1f} ms"
        )


if __name__ == "__main__":
    main()
