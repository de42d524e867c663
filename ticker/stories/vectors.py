"""Fingerprints for a grouping pass, made in one batch, with each title's sentence vector read
from the database or computed once and stored (`title_vectors`): a rebuild of a year compares
headlines instead of embedding them again, and a vector is always used as stored, so the stories
grouped online are the ones a rebuild gives."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlite_utils import Database

from ticker.db import stories as store
from ticker.stories import embed
from ticker.stories import match as matcher
from ticker.stories.group import DEFAULT_MATCHER, FINGERPRINTS, MAX_TITLE_CHARS, Matcher


def title_sha256(title: str) -> str:
    """The key of a title's vector: SHA-256 of the text compared."""
    return hashlib.sha256(title[:MAX_TITLE_CHARS].encode("utf-8")).hexdigest()


def warm(db: Database, titles: Iterable[str], model: Matcher = DEFAULT_MATCHER) -> int:
    """Put the fingerprints of `titles` not yet in memory there, for the shipped matcher (an
    injected one makes its own). Returns how many titles were embedded now (the rest were read)."""
    if model.fingerprint is not matcher.fingerprint:
        return 0
    missing = [t for t in dict.fromkeys(titles) if not FINGERPRINTS.has(model, t)]
    if not missing:
        return 0
    reports = [matcher.Report(t[:MAX_TITLE_CHARS]) for t in missing]
    if not embed.available():
        FINGERPRINTS.put(model, missing, matcher.fingerprints(reports, vectors=[None] * len(reports)))
        return 0
    keys = [title_sha256(t) for t in missing]
    stored = store.title_vectors(db, keys, embed.MODEL_ID)
    wanted = [(key, report.title) for key, report in zip(keys, reports, strict=True) if key not in stored]
    wanted = list(dict(wanted).items())  # two titles cut to the same text: one vector
    if wanted:
        fresh = [
            (key, embed.to_stored(v))
            for (key, _), v in zip(wanted, embed.embed([t for _, t in wanted]), strict=True)
        ]
        store.save_title_vectors(db, fresh, embed.MODEL_ID)
        stored.update(fresh)
    vectors = [embed.from_stored(stored[key]) for key in keys]
    FINGERPRINTS.put(model, missing, matcher.fingerprints(reports, vectors=vectors))
    return len(wanted)
