"""How values read to a person, in the browser and the terminal: durations, flags, word-level
title diffs, links that are safe to follow."""

from __future__ import annotations

import difflib
import re
from urllib.parse import urlsplit

_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def duration_text(seconds: float | int | None) -> str:
    """`1 h 20 min`, `3 d 2 h`, `45 s`: the two largest non-zero units; empty for None."""
    if seconds is None:
        return ""
    left = round(abs(float(seconds)))
    if left == 0:
        return "0 s"
    parts = []
    for unit, size in _UNITS:
        amount, left = divmod(left, size)
        if amount:
            parts.append(f"{amount} {unit}")
    return ("-" if float(seconds) < 0 else "") + " ".join(parts[:2])


def flag_text(value: object) -> str:
    """1/0 (or true/false) as yes/no; empty for None."""
    if value is None or value == "":
        return ""
    return "yes" if value not in (0, "0", False) else "no"


def safe_href(url: str | None) -> str | None:
    """The URL if it is an http(s) address with a host, else None (never `javascript:`, `data:`)."""
    if not url:
        return None
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


_TOKENS = re.compile(r"\s+|[^\s]+")
# The word diff compares every word of one title with every word of the other: past this many
# pairs (about 250 words each; a real title has under 40) the titles are shown as one replaced by
# the other, so no title can hold a server thread for long (8,000 words each: a minute before;
# benchmarks/word_diff.py).
MAX_DIFF_PAIRS = 250_000


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Segments turning `old` into `new` word by word: ("same" | "del" | "ins", text). Titles too
    long to compare word by word (`MAX_DIFF_PAIRS`) are one deletion and one insertion."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    if len(a) * len(b) > MAX_DIFF_PAIRS:
        return [segment for segment in (("del", old), ("ins", new)) if segment[1]]
    segments: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(("same", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            segments.append(("del", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            segments.append(("ins", "".join(b[j1:j2])))
    return segments
