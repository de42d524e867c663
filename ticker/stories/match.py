"""Whether two headlines report the same event (one story), with a score and the terms behind it.

Pure: text in, verdict out. The grouping and the CLI (`ticker stories match`) call only `match`,
`fingerprint` and `compare`; everything else here is free to change.

PLACEHOLDER: word overlap only, until the measured matcher lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CUT_OFF = 0.5  # `same` when the score is at least this


@dataclass(frozen=True)
class Report:
    """One headline as an outlet showed it, with the feed's lead/description when it gave one."""

    title: str
    lead: str | None = None


@dataclass(frozen=True)
class Fingerprint:
    """What `compare` needs of one report, computed once per title version (cheap to keep)."""

    words: frozenset[str]


@dataclass(frozen=True)
class Match:
    """The verdict on a pair: `same` story or not, the score in [0, 1], and what matched."""

    same: bool
    score: float
    terms: tuple[str, ...]  # the shared terms (lemmas, numbers, entities) that carried the score
    explanation: str  # one line a user can read: what matched, what differed


def fingerprint(report: Report) -> Fingerprint:
    """The comparable form of one report."""
    return Fingerprint(frozenset(re.findall(r"\w+", report.title.lower())))


def compare(a: Fingerprint, b: Fingerprint) -> Match:
    """The verdict on two fingerprints."""
    shared = a.words & b.words
    score = len(shared) / max(1, len(a.words | b.words))
    terms = tuple(sorted(shared))
    return Match(score >= CUT_OFF, score, terms, "shared: " + ", ".join(terms))


def match(a: Report, b: Report) -> Match:
    """The verdict on two reports."""
    return compare(fingerprint(a), fingerprint(b))
