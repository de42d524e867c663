"""The matcher's fitted model: the IDF table of lemmas and the logistic weights, with and without the
embedder, as `benchmarks/stories_match.py --write` derived them from ParaPhraser's train split."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

MODEL_FILE = "matcher.json.gz"


@dataclass(frozen=True)
class Model:
    """The IDF table and the two sets of logistic weights (bias shifted so that 0.5 is the cut-off)."""

    documents: int
    frequencies: dict[str, int]  # lemma -> in how many training headlines it occurs
    with_embedding: dict[str, float]
    lexical: dict[str, float]

    def idf(self, lemma: str) -> float:
        """Smoothed inverse document frequency; an unseen lemma weighs as one seen nowhere."""
        return math.log((self.documents + 1) / (self.frequencies.get(lemma, 0) + 1)) + 1.0

    def coefficients(self, embedded: bool) -> dict[str, float]:
        """The weights for a pair: with the embedding feature if both sides have a vector."""
        return self.with_embedding if embedded else self.lexical


def from_dict(data: dict) -> Model:
    """A model from its JSON form."""
    return Model(
        data["documents"], data["frequencies"], data.get("with_embedding", data["lexical"]), data["lexical"]
    )


@cache
def model() -> Model:
    """The shipped model (read once)."""
    raw = resources.files("ticker.stories").joinpath(MODEL_FILE).read_bytes()
    return from_dict(json.loads(gzip.decompress(raw)))
