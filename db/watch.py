"""The watch words' SQL: the titles a poll showed for the first time (a new headline's title,
or a rewording), so each can be matched against `[alerts] watch` once (schedules/watch.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class ShownTitle:
    """A title a poll showed for the first time."""

    headline_id: str
    source: str
    title: str
    url: str | None
    reworded: bool  # a rewording of a headline shown before (else: a new headline)


# Both halves read an index on the time (`headlines_first_seen`, `title_changes_changed_at`):
# a poll costs a few rows whatever the size of the history.
TITLES_FIRST_SHOWN_SQL = """
SELECT h.id, h.source, h.title, h.url, 0 FROM headlines h
WHERE h.first_seen = :at AND h.first_fetch_id = :fetch_id
UNION ALL
SELECT tc.headline_id, h.source, n.title, h.url, 1
FROM title_changes tc JOIN headline_titles n ON n.id = tc.new_title_id JOIN headlines h ON h.id = tc.headline_id
WHERE tc.changed_at = :at AND tc.fetch_id = :fetch_id
"""


def titles_first_shown(db: Database, fetch_id: int) -> list[ShownTitle]:
    """The new headlines and rewordings a fetch recorded, in headline id order."""
    found = db.execute("SELECT started_at FROM fetches WHERE id = ?", [fetch_id]).fetchone()
    if found is None:
        return []
    rows = db.execute(TITLES_FIRST_SHOWN_SQL, {"at": found[0], "fetch_id": fetch_id}).fetchall()
    return sorted(
        (ShownTitle(id, source, title, url, bool(reworded)) for id, source, title, url, reworded in rows),
        key=lambda shown: (shown.headline_id, shown.reworded),
    )
