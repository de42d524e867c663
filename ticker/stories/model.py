"""The matcher's fitted model: the IDF table of lemmas, the logistic weights with and without the
embedder, and the learned similarity of two sentence vectors, as `benchmarks/stories_match.py --write`
derived them from ParaPhraser's train split."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

try:  # with the embedder only (numpy comes with it)
    import numpy
except ImportError:  # pragma: no cover - depends on the platform
    numpy = None

MODEL_FILE = "matcher.json.gz"


@dataclass(frozen=True)
class Model:
    """The IDF table, the two sets of logistic weights (bias shifted so that 0.5 is the cut-off) and the
    projection of a sentence vector for the learned similarity (none: the feature is left out)."""

    documents: int
    frequencies: dict[str, int]  # lemma -> in how many training headlines it occurs
    with_embedding: dict[str, float]
    lexical: dict[str, float]
    # (dimensions x 2k): a pair's learned similarity is the first k projected coordinates' dot product
    # minus the last k's (a low-rank symmetric bilinear form, fitted with the weights)
    projection: Any = field(default=None, repr=False)
    learned_mean: float = (
        0.0  # the learned similarity's mean over the training pairs (the explanation's zero)
    )

    def idf(self, lemma: str) -> float:
        """Smoothed inverse document frequency; an unseen lemma weighs as one seen nowhere."""
        return math.log((self.documents + 1) / (self.frequencies.get(lemma, 0) + 1)) + 1.0

    def coefficients(self, embedded: bool) -> dict[str, float]:
        """The weights for a pair: with the embedding features if both sides have a vector."""
        return self.with_embedding if embedded else self.lexical

    def project(self, vector: Any) -> tuple[float, ...] | None:
        """A sentence vector's coordinates for the learned similarity (None without a projection): a
        few plain floats, cheap to keep and to compare."""
        if vector is None or self.projection is None:
            return None
        return tuple(float(v) for v in vector @ self.projection)


def from_dict(data: dict) -> Model:
    """A model from its JSON form."""
    projection = data.get("projection")
    if projection is not None and numpy is not None:
        projection = numpy.asarray(projection, dtype=numpy.float32)
    else:
        projection = None
    return Model(
        data["documents"],
        data["frequencies"],
        data.get("with_embedding", data["lexical"]),
        data["lexical"],
        projection,
        data.get("learned_mean", 0.0),
    )


@cache
def model() -> Model:
    """The shipped model (read once)."""
    raw = resources.files("ticker.stories").joinpath(MODEL_FILE).read_bytes()
    return from_dict(json.loads(gzip.decompress(raw)))
