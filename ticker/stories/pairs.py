"""The pairs file of `ticker stories match --pairs`: UTF-8, TAB-separated, no header; per line
title_a, title_b and optionally lead_a, lead_b. Validated whole before any matching."""

from __future__ import annotations

from dataclasses import dataclass


class PairsError(ValueError):
    """A pairs file that cannot be read as pairs; the message names the line."""


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file."""

    title_a: str
    title_b: str
    lead_a: str | None = None
    lead_b: str | None = None


def parse_pairs(data: bytes) -> list[Pair]:
    """The pairs in a file's bytes, in order, or a PairsError naming the first bad line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PairsError(f"line {line}: not valid UTF-8 (byte {e.start + 1})") from None
    text = text.removeprefix("\ufeff")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise PairsError("line 1: the file is empty (expected title_a TAB title_b per line)")
    pairs = []
    for number, line in enumerate(lines, start=1):
        fields = line.removesuffix("\r").split("\t")
        if not 2 <= len(fields) <= 4:
            raise PairsError(
                f"line {number}: {len(fields)} column{'s' if len(fields) != 1 else ''}, expected 2 to 4 "
                "(title_a, title_b, optionally lead_a, lead_b, separated by TABs)"
            )
        fields = [f.strip() for f in fields]
        if not fields[0] or not fields[1]:
            raise PairsError(f"line {number}: an empty title")
        leads = [f or None for f in fields[2:]] + [None] * (4 - len(fields))
        pairs.append(Pair(fields[0], fields[1], leads[0], leads[1]))
    return pairs
