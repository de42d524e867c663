"""What a story is made of, as the grouping (ticker.stories.group) builds it and the database
(ticker.db.stories) keeps it: headlines as items, their places as members, the stories."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One headline as the grouping sees it: its outlet, first sighting and current title."""

    headline_id: str
    source: str
    first_seen: str  # UTC ISO
    title: str
    title_id: int | None = None
    title_seen: str | None = None  # when the current title was first seen


@dataclass
class Member:
    """A headline's place in its story: how it got there."""

    item: Item
    score: float | None = None  # mean score against the members before it; None for the first
    matched: str | None = None  # the member before it that matched best
    terms: tuple[str, ...] = ()
    explanation: str = ""
    follow_up_of: str | None = None  # its outlet's item in the story it would have joined


@dataclass
class Story:
    """A story as the pass builds it: keyed by its first member's headline id."""

    key: str
    first_seen: str
    members: list[Member] = field(default_factory=list)

    @property
    def sources(self) -> set[str]:
        return {m.item.source for m in self.members}
