"""Word diff of two titles (`ticker.core.display.word_diff`, the headline page's diff): time by title
length, the bounded helper against the unbounded SequenceMatcher it falls back from.

    .venv/bin/python benchmarks/word_diff.py [ROUNDS]

Titles are random words from a small vocabulary (many equal words: SequenceMatcher's worst case
is many candidate matches). Variants are interleaved within each round; the table gives the
median of the rounds and the per-round ratio.
"""

from __future__ import annotations

import difflib
import random
import statistics
import sys
import time

from ticker.core.display import _TOKENS, MAX_DIFF_PAIRS, word_diff

SIZES = (30, 250, 1000, 2000, 8000)
CAP_UNBOUNDED_S = 5.0  # the unbounded variant is not run where one call would take longer


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(("Путин", "ЦБ", "курс", "рубля", "новость", "в", "на")) for _ in range(words))


def _unbounded(old: str, new: str) -> None:
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()


def _time(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(rounds: int = 3) -> None:
    rng = random.Random(19)
    print(f"MAX_DIFF_PAIRS = {MAX_DIFF_PAIRS:,}")
    print("| words each | bounded (s) | unbounded (s) | unbounded / bounded |")
    print("|---|---|---|---|")
    for words in SIZES:
        old, new = _title(rng, words), _title(rng, words)
        bounded, unbounded, ratios = [], [], []
        skip_unbounded = False
        for _ in range(rounds):
            b = _time(word_diff, old, new)
            bounded.append(b)
            if not skip_unbounded:
                u = _time(_unbounded, old, new)
                unbounded.append(u)
                ratios.append(u / b if b else float("inf"))
                skip_unbounded = u > CAP_UNBOUNDED_S
        shown_u = f"{statistics.median(unbounded):.3f}" + (" (1 round)" if len(unbounded) == 1 else "")
        print(
            f"| {words:,} | {statistics.median(bounded):.4f} | {shown_u} | {statistics.median(ratios):,.0f}× |"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
