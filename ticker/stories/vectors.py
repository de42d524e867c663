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
    injected one makes its own), and see that each title's vector is stored in this database
    (one made in memory for another database is stored too). Returns how many titles were
    embedded now (the rest were read)."""
    if model.fingerprint is not matcher.fingerprint:
        return 0
    titles = list(dict.fromkeys(titles))
    embedding = embed.available()
    # in memory without a vector while the embedder is on: made while it was off, made again
    missing = (
        [t for t in titles if getattr(FINGERPRINTS.get(model, t), "vector", None) is None]
        if embedding
        else [t for t in titles if not FINGERPRINTS.has(model, t)]
    )
    reports = [matcher.Report(t[:MAX_TITLE_CHARS]) for t in missing]
    if not embedding:
        if missing:
            FINGERPRINTS.put(model, missing, matcher.fingerprints(reports, vectors=[None] * len(reports)))
        return 0
    keys = {t: title_sha256(t) for t in titles}
    stored = store.title_vectors(db, sorted(set(keys.values())), embed.MODEL_ID)
    known = {}  # vectors in memory that this database lacks
    for title in titles:
        vector = getattr(FINGERPRINTS.get(model, title), "vector", None)
        if vector is not None and keys[title] not in stored:
            known[keys[title]] = embed.to_stored(vector)
    wanted = {keys[t]: r.title for t, r in zip(missing, reports, strict=True) if keys[t] not in stored}
    fresh = {}
    if wanted:
        fresh = dict(zip(wanted, map(embed.to_stored, embed.embed(list(wanted.values()))), strict=True))
    if known or fresh:
        store.save_title_vectors(db, list((known | fresh).items()), embed.MODEL_ID)
        stored.update(known | fresh)
    if missing:
        vectors = [embed.from_stored(stored[keys[t]]) for t in missing]
        FINGERPRINTS.put(model, missing, matcher.fingerprints(reports, vectors=vectors))
    return len(fresh)
