"""The features of a pair of fingerprints that the matcher's logistic model weighs, and the weighing.

Every feature is in [0, 1] but `learned` (a similarity of the two sentence vectors learned from the
training pairs, about -5..5). `FEATURES` fixes their order; the fitted weights in `matcher.json.gz`
are named the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticker.stories.text import Number

if TYPE_CHECKING:
    from ticker.stories.match import Fingerprint

FEATURES = (
    "embedding",  # cosine of the sentence embeddings (absent without the embedder)
    "learned",  # the learned similarity of the sentence embeddings (absent without the embedder)
    "cosine",  # cosine of the IDF-weighted lemma sets
    "overlap",  # IDF weight of the shared lemmas over the lighter side's
    "stems",  # Jaccard of the lemmas' first letters (catches what lemmas miss: "казанский"/"Казань")
    "names_shared",  # IDF weight of the shared names over the lighter side's names
    "names_conflict",  # both name someone or something, and no name is shared
    "key_conflict",  # both give a key figure (%, money, a rate), and none is the same
    "count_conflict",  # both give a count, none is the same, and neither says its count has risen
    "number_shared",  # a figure is on both sides
    "number_one_side",  # figures on one side only
    "comment_xor",  # one is a comment on the event ("объяснила"), the other is not
    "denial_xor",  # one is a denial ("опроверг"), the other is not
    "negation_xor",  # one says "не", the other does not
    "length_ratio",  # the shorter's lemma count over the longer's
    "coverage_min",  # the side less covered: IDF weight of its lemmas found on the other side, over its own
    "soft_min",  # the same, a lemma also found when the other's title has a lemma of the same first STEM letters
    "soft_max",  # the side more covered that way
    "unmatched_min",  # the lighter of the two sides' heaviest lemmas not found on the other side (/10)
    "unmatched_max",  # the heavier of them: a heavy word on one side only speaks against
)
EMBEDDING_FEATURES = ("embedding", "learned")
UNMATCHED_SCALE = 10.0  # an IDF weight over this is about 1 (the rarest lemma weighs ~10.4)
SHOWN_TERMS = 8
STEM = 4  # letters of a lemma kept for the "stems" and "soft" features (measured: 4 > 5 > 6)


@dataclass(frozen=True)
class Features:
    """The feature values of one pair, and the words behind them (for the explanation)."""

    values: dict[str, float]
    shared: tuple[str, ...]  # shared lemmas, the most telling first
    differing: tuple[str, ...]  # what differs in a way that counts: figures, names, comment, denial

    @property
    def embedding(self) -> float | None:
        return self.values.get("embedding")

    @property
    def learned(self) -> float | None:
        return self.values.get("learned")

    @property
    def overlap(self) -> float:
        return self.values["overlap"]


def _same_number(a: Number, b: Number) -> bool:
    return a.agrees(b)


def _figure(n: Number) -> str:
    return str(n)


def _numbers(
    a: frozenset[Number], b: frozenset[Number], update: bool = False
) -> tuple[dict[str, float], list[str]]:
    """Agreement and conflict of the figures, and what to say about a conflict. With `update` (a side
    says its count has risen) other counts are the event's earlier figures, not a conflict."""
    shared = any(_same_number(x, y) for x in a for y in b)
    key_a = [n for n in a if n.key]
    key_b = [n for n in b if n.key]
    count_a = [n for n in a if not n.key]
    count_b = [n for n in b if not n.key]
    key_conflict = bool(key_a and key_b) and not any(_same_number(x, y) for x in key_a for y in key_b)
    counts_differ = bool(count_a and count_b) and not any(
        _same_number(x, y) for x in count_a for y in count_b
    )
    count_conflict = counts_differ and not update
    said = []
    if key_conflict:
        said.append(
            f"figure {'/'.join(sorted(_figure(n) for n in key_a))} vs "
            f"{'/'.join(sorted(_figure(n) for n in key_b))}"
        )
    if counts_differ:
        said.append(
            f"count {'/'.join(sorted(_figure(n) for n in count_a))} vs "
            f"{'/'.join(sorted(_figure(n) for n in count_b))}" + (" (an update)" if update else "")
        )
    values = {
        "key_conflict": float(key_conflict),
        "count_conflict": float(count_conflict),
        "number_shared": float(shared),
        "number_one_side": float(bool(a) != bool(b)),
    }
    return values, said


def _soft(a: Fingerprint, b: Fingerprint, shared: float) -> tuple[float, float]:
    """How much of `a` (IDF weight, over its total) `b` has counting a shared prefix (`b`'s title's
    stems) besides the `shared` weight of exact matches, and the weight of `a`'s heaviest lemma that
    `b` lacks even by prefix."""
    if not a.total:
        return 0.0, 0.0
    soft, heaviest = shared, 0.0
    other, stems = b.weights, b.stems
    for lemma, weight in a.weights.items():
        if lemma in other:
            continue
        if lemma[:STEM] in stems:
            soft += weight
        elif weight > heaviest:
            heaviest = weight
    return soft / a.total, heaviest


def features(a: Fingerprint, b: Fingerprint) -> Features:
    """The features of a pair."""
    wa, wb = a.weights, b.weights
    if len(wb) < len(wa):
        wa, wb = wb, wa
    common = [lemma for lemma in wa if lemma in wb]
    dot = sum(wa[t] * wb[t] for t in common)
    cosine = dot / (a.norm * b.norm) if a.norm and b.norm else 0.0
    shared_a = sum(a.weights[t] for t in common)
    shared_b = sum(b.weights[t] for t in common)
    lighter = min(a.total, b.total)
    overlap = min(1.0, max(shared_a, shared_b) / lighter) if lighter else 0.0

    names_common = a.names & b.names
    name_w = {n: a.weights.get(n) or b.weights.get(n) or 1.0 for n in a.names | b.names}
    lighter_names = min(sum(name_w[n] for n in a.names), sum(name_w[n] for n in b.names))
    names_shared = sum(name_w[n] for n in names_common) / lighter_names if lighter_names else 0.0
    names_conflict = bool(a.names and b.names and not names_common)

    number_values, differing = _numbers(a.numbers, b.numbers, a.update or b.update)
    if names_conflict:
        differing.append(f"names {', '.join(sorted(a.names))} vs {', '.join(sorted(b.names))}")
    if a.comment != b.comment:
        differing.append(f"a comment on one side only ({'first' if a.comment else 'second'})")
    if a.denial != b.denial:
        differing.append(f"a denial on one side only ({'first' if a.denial else 'second'})")
    if a.negation != b.negation:
        differing.append(f"a negation on one side only ({'first' if a.negation else 'second'})")

    values = {
        "cosine": cosine,
        "overlap": overlap,
        "stems": len(a.stems & b.stems) / max(1, len(a.stems | b.stems)),
        "names_shared": min(1.0, names_shared),
        "names_conflict": float(names_conflict),
        **number_values,
        "comment_xor": float(a.comment != b.comment),
        "denial_xor": float(a.denial != b.denial),
        "negation_xor": float(a.negation != b.negation),
        "length_ratio": min(len(a.words), len(b.words)) / max(1, len(a.words), len(b.words)),
    }
    soft_a, heavy_a = _soft(a, b, shared_a)
    soft_b, heavy_b = _soft(b, a, shared_b)
    values["coverage_min"] = min(shared_a / a.total, shared_b / b.total) if lighter else 0.0
    values["soft_min"] = min(soft_a, soft_b)
    values["soft_max"] = max(soft_a, soft_b)
    values["unmatched_min"] = min(1.0, min(heavy_a, heavy_b) / UNMATCHED_SCALE)
    values["unmatched_max"] = min(1.0, max(heavy_a, heavy_b) / UNMATCHED_SCALE)
    if a.vector is not None and b.vector is not None:
        values["embedding"] = max(0.0, min(1.0, float(a.vector @ b.vector)))
        if a.projected is not None and b.projected is not None:
            values["learned"] = learned(a.projected, b.projected)
    shared = tuple(sorted(common, key=lambda t: (-wa[t], t))[:SHOWN_TERMS])
    return Features(values, shared, tuple(differing))


def learned(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """The learned similarity of two projected sentence vectors (`Model.project`): the first half's
    dot product minus the second half's."""
    k = len(a) // 2
    total = 0.0
    for i in range(k):
        total += a[i] * b[i] - a[k + i] * b[k + i]
    return total


def weigh(f: Features, coefficients: dict[str, float]) -> float:
    """The logistic score of a pair: the bias plus each feature times its weight, squashed to (0, 1)."""
    z = coefficients.get("bias", 0.0)
    for name, value in f.values.items():
        z += coefficients.get(name, 0.0) * value
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
