"""Watch words: an alert when a headline on any outlet matches a term of `[alerts] watch`.

A term matches a title that contains it, ignoring case (`str.casefold`) and the ё/е difference
(`ставк` matches «ЦБ сохранил ключевую ставку», `Набиуллина` «НАБИУЛЛИНА»). Each headline alerts
once (the condition `watch:<headline id>` is raised and never cleared): when it is first
recorded with a matching title, or when a rewording first makes it match. The alert goes
through the same delivery queue as every other (schedules/alerts.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from ticker.core.base import to_moscow_text
from ticker.db.watch import titles_first_shown

CONDITION_PREFIX = "watch:"
MAX_TERMS = 100
MAX_TERM_CHARS = 100


@dataclass(frozen=True, slots=True)
class WatchHit:
    """A title that matched: the alert's condition, outlet and message."""

    condition: str
    source: str
    message: str
    terms: tuple[str, ...]


def folded(text: str) -> str:
    """Text as terms and titles are compared: case folded, ё read as е."""
    return text.casefold().replace("ё", "е")


def matching_terms(title: str, terms: tuple[str, ...]) -> tuple[str, ...]:
    """The terms the title contains (compared folded), in the order configured."""
    text = folded(title)
    return tuple(term for term in terms if folded(term) in text)


def watch_hits(db: Database, fetch_id: int, terms: tuple[str, ...], at: str) -> list[WatchHit]:
    """The titles this fetch showed for the first time that contain a watched term."""
    if not terms:
        return []
    hits = []
    for shown in titles_first_shown(db, fetch_id):
        matched = matching_terms(shown.title, terms)
        if not matched:
            continue
        what = "reworded to" if shown.reworded else "new"
        message = (
            f"{', '.join(matched)} on {shown.source} at {to_moscow_text(at)} (fetch {fetch_id}), {what}: "
            f"«{shown.title}»; {shown.url or shown.headline_id}. `ticker cite {shown.headline_id}`"
        )
        hits.append(WatchHit(f"{CONDITION_PREFIX}{shown.headline_id}", shown.source, message, matched))
    return hits
