"""Whether two headlines report the same event (one story), with a score and the terms behind it.

Pure: text in, verdict out. The grouping and the CLI (`ticker stories match`) call only `match`,
`fingerprint`, `fingerprints` and `compare`; everything else here is free to change.

The score is a logistic model over a few features of the pair (`ticker.stories.features`): the
cosine of the sentence embeddings when the embedder is installed, IDF-weighted lemma overlap with
aliases folded, agreement and conflict of figures and of names, a comment or a denial on one side
only, how much of each side the other covers; with the embedder also a term of the two vectors learned
from the training pairs (a rank-1 bilinear form; the explanation shows it in log-odds against its mean
over those pairs: above 0 adds to the score, below takes away). Its weights, the IDF table and the
cut-off were fitted on ParaPhraser's train split (`benchmarks/stories_match.py --write`) and ship in
`matcher.json.gz`. The score is shifted so that the cut-off is 0.5 whichever model (with or without the
embedder) is in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ticker.stories import embed
from ticker.stories.features import STEM, Features, features, weigh
from ticker.stories.model import Model, model
from ticker.stories.text import Number, read

CUT_OFF = 0.5  # `same` when the score is at least this
LEAD_WEIGHT = 0.5  # a lead's words count half a title's


@dataclass(frozen=True)
class Report:
    """One headline as an outlet showed it, with the feed's lead/description when it gave one."""

    title: str
    lead: str | None = None


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What `compare` needs of one report, computed once per title version (cheap to keep: a few
    dozen lemmas and, with the embedder, 384 floats)."""

    words: frozenset[str]  # the title's content lemmas, aliases folded
    weights: dict[str, float] = field(repr=False)  # lemma -> IDF weight (title and lead)
    norm: float = field(repr=False)
    total: float = field(repr=False)  # the weights' sum
    names: frozenset[str] = frozenset()
    numbers: frozenset[Number] = frozenset()
    comment: bool = False
    denial: bool = False
    negation: bool = False
    vector: Any = field(default=None, repr=False)  # unit embedding, or None without the embedder
    stems: frozenset[str] = frozenset()  # the lemmas' first STEM letters: "казанский" meets "Казань"
    projected: tuple[float, ...] | None = None  # the vector projected for the learned similarity
    update: bool = False  # the title updates a count ("число погибших выросло до 7")


@dataclass(frozen=True)
class Match:
    """The verdict on a pair: `same` story or not, the score in [0, 1], and what matched."""

    same: bool
    score: float
    terms: tuple[str, ...]  # the shared terms (lemmas, numbers, entities) that carried the score
    explanation: str  # one line a user can read: what matched, what differed
    features: Features | None = None


def _fingerprint(report: Report, vector: Any, fitted: Model) -> Fingerprint:
    title = read(report.title)
    idf = fitted.idf
    weights = {lemma: idf(lemma) for lemma in title.lemmas}
    if report.lead:
        for lemma in read(report.lead).lemmas:
            weights.setdefault(lemma, idf(lemma) * LEAD_WEIGHT)
    norm = sum(w * w for w in weights.values()) ** 0.5
    return Fingerprint(
        frozenset(title.lemmas),
        weights,
        norm,
        sum(weights.values()),
        title.names,
        title.numbers,
        title.comment,
        title.denial,
        title.negation,
        vector,
        frozenset(lemma[:STEM] for lemma in title.lemmas if not lemma[0].isdigit()),
        fitted.project(vector),
        title.update,
    )


def fingerprints(
    reports: Sequence[Report], fitted: Model | None = None, vectors: Sequence[Any] | None = None
) -> list[Fingerprint]:
    """The comparable form of many reports, embedding them in batches (faster than one by one).
    `fitted` and `vectors` are for fitting the model (the benchmark): the shipped model, and the
    embedder's vectors (none without the embedder), by default."""
    if vectors is None:
        vectors = embed.embed([r.title for r in reports]) if embed.available() else [None] * len(reports)
    fitted = fitted or model()
    return [_fingerprint(r, v, fitted) for r, v in zip(reports, vectors, strict=True)]


def fingerprint(report: Report) -> Fingerprint:
    """The comparable form of one report."""
    return fingerprints([report])[0]


def compare(a: Fingerprint, b: Fingerprint, fitted: Model | None = None) -> Match:
    """The verdict on two fingerprints (by the shipped model unless `fitted` is given)."""
    if not a.words or not b.words:
        return Match(False, 0.0, (), "nothing to compare: a headline without words")
    fitted = fitted or model()
    f = features(a, b)
    score = weigh(f, fitted.coefficients(a.vector is not None and b.vector is not None))
    terms = f.shared
    parts = [f"shared: {', '.join(terms) if terms else 'nothing'}"]
    if f.differing:
        parts.append(f"differ: {'; '.join(f.differing)}")
    if f.embedding is not None:
        parts.append(f"embedding cosine {f.embedding:.2f}")
    if f.learned is not None:
        parts.append(f"learned vector term {f.learned - fitted.learned_mean:+.2f}")
    parts.append(f"lemma overlap {f.overlap:.2f}")
    explanation = " | ".join(parts).replace("\t", " ").replace("\n", " ")
    return Match(score >= CUT_OFF, score, terms, explanation, f)


def match(a: Report, b: Report) -> Match:
    """The verdict on two reports."""
    fa, fb = fingerprints([a, b])
    return compare(fa, fb)
