"""The stories of the last two windows, kept in memory between polls, so that grouping a poll
reads only the stories its headlines could join (those sharing a blocking term with them) and
not every story of the last 24 hours from the database.

The cache is a copy of what the database holds: it is used only while the database's
`story_state.generation` is the one it saw written (any other writer, a rebuild, another
process, sets a new random generation, and the next call reloads from the database).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from ticker.core.base import from_iso, to_iso
from ticker.stories.group import WINDOW_S, Item, Story, block_keys

KEEP_S = 2 * WINDOW_S  # stories begun this long before the newest are let go


def _copy(story: Story, before: str) -> Story:
    """A story with its members first seen before `before` (the pass appends to the copy)."""
    return Story(story.key, story.first_seen, [m for m in story.members if m.item.first_seen < before])


@dataclass
class Window:
    """Stories begun at or after `cover_from`, complete, and an index of their blocking terms."""

    path: str | None = None
    generation: int | None = None
    cover_from: str | None = None
    stories: dict[str, Story] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)  # story key -> its blocking terms
    index: dict[str, set[str]] = field(default_factory=dict)  # blocking term -> story keys
    holder: dict[str, str] = field(default_factory=dict)  # headline id -> its story's key
    lock: threading.Lock = field(default_factory=threading.Lock)

    def usable(self, path: str, generation: int, start: str) -> bool:
        """Whether the cache holds every story a pass from `start` may need."""
        return (
            self.path == path
            and self.generation == generation
            and self.cover_from is not None
            and to_iso(from_iso(start) - timedelta(seconds=WINDOW_S)) >= self.cover_from
        )

    def prior(self, start: str, items: list[Item]) -> list[Story]:
        """Copies of the stories begun within WINDOW_S before `start` that share a term with
        `items` or hold one of them (no other story can take part in the pass)."""
        window_from = to_iso(from_iso(start) - timedelta(seconds=WINDOW_S))
        wanted = {k for item in items for term in block_keys(item.title) for k in self.index.get(term, ())}
        wanted |= {self.holder[item.headline_id] for item in items if item.headline_id in self.holder}
        found = [self.stories[k] for k in wanted]
        return [_copy(s, start) for s in found if window_from <= s.first_seen < start]

    def clear(self) -> None:
        self.path = self.generation = self.cover_from = None
        self.stories, self.keys, self.index, self.holder = {}, {}, {}, {}

    def _drop(self, key: str) -> None:
        story = self.stories.pop(key, None)
        for member in story.members if story else ():
            if self.holder.get(member.item.headline_id) == key:
                del self.holder[member.item.headline_id]
        for term in self.keys.pop(key, ()):
            holders = self.index.get(term)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del self.index[term]

    def _put(self, story: Story) -> None:
        self._drop(story.key)
        self.stories[story.key] = story
        for member in story.members:
            self.holder[member.item.headline_id] = story.key
        terms = {t for m in story.members for t in block_keys(m.item.title)}
        self.keys[story.key] = terms
        for term in terms:
            self.index.setdefault(term, set()).add(story.key)

    def load(self, path: str, cover_from: str, stories: list[Story]) -> None:
        """Start over from `stories`: every story begun at or after `cover_from`, complete."""
        self.clear()
        self.path, self.cover_from = path, cover_from
        for story in stories:
            self._put(story)

    def apply(self, start: str, passed: list[Story], generation: int) -> None:
        """What a committed pass from `start` wrote: the stories it was given and made (as they
        are now) replace those begun since `start`."""
        for key in [k for k, s in self.stories.items() if s.first_seen >= start]:
            self._drop(key)
        for story in passed:
            if story.members:
                self._put(story)
        self.generation = generation
        newest = max((s.first_seen for s in self.stories.values()), default=None)
        if newest is not None:
            horizon = to_iso(from_iso(newest) - timedelta(seconds=KEEP_S))
            if self.cover_from is None or horizon > self.cover_from:
                for key in [k for k, s in self.stories.items() if s.first_seen < horizon]:
                    self._drop(key)
                self.cover_from = horizon


WINDOW = Window()
