"""Grouping headlines into stories: a deterministic pass over headlines in a fixed order.

Pure: items in, stories out (the database side is ticker.db.stories). The rule:

- headlines are taken in the order (first_seen, source, headline id): whatever order the polls
  arrived in, the stored history gives the same order, so the same stories;
- each headline is compared (by ticker.stories.match, its current title) with the members of the
  stories that began at most WINDOW_S before it and share a blocking term with it (a word stem or
  a number: a pair sharing none is never compared; a term in more than MAX_TERM_STORIES open
  stories is too common to count; at most MAX_CANDIDATES stories, those sharing the most terms);
- it may join a story when at least half of the story's members (and at least one) are `same` as
  it; among those it joins the one with the best mean score; a story holds at most one item per
  outlet, so a second item of an outlet on the same event starts its own story, marked as a
  follow-up of the first;
- otherwise it starts a story.

A story's members before an instant T never depend on headlines first seen at or after T, so the
online path (ticker.stories.update) re-runs this pass from the earliest changed headline and gets
what a rebuild from scratch gets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from ticker.core.story_records import Item, Member, Story
from ticker.stories import match as matcher

WINDOW_S = 24 * 3600  # a headline joins only stories that began at most this long before it
MAX_TITLE_CHARS = 500  # longer titles are compared by their first this-many characters
_CACHE_LIMIT = 200_000  # fingerprints kept in memory (one per distinct title)

_WORD = re.compile(r"\w+")
STEM_CHARS = 4  # blocking: words of 4+ letters by their first 4, numbers whole
MAX_TERM_STORIES = 500  # a term in more open stories than this is too common to find candidates by
MAX_CANDIDATES = 200  # stories compared per headline at most: those sharing the most terms with it


@dataclass(frozen=True)
class Matcher:
    """The matching model the pass uses (ticker.stories.match by default; tests inject others)."""

    fingerprint: Callable[[matcher.Report], object] = matcher.fingerprint
    compare: Callable[[object, object], matcher.Match] = matcher.compare


DEFAULT_MATCHER = Matcher()


@lru_cache(maxsize=_CACHE_LIMIT)
def block_keys(title: str) -> frozenset[str]:
    """The terms a pair must share to be compared at all: word stems and numbers."""
    keys = set()
    for word in _WORD.findall(title.lower()):
        if word.isdigit():
            keys.add(word)
        elif len(word) >= STEM_CHARS and not word.isdigit():
            keys.add(word[:STEM_CHARS])
    return frozenset(keys)


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def order_key(item: Item) -> tuple[str, str, str]:
    """The order the pass takes headlines in."""
    return (item.first_seen, item.source, item.headline_id)


class _Fingerprints:
    """One fingerprint per distinct title, kept across calls (a daemon compares the same titles
    poll after poll)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Callable, str], object] = {}

    def __call__(self, model: Matcher, title: str) -> object:
        key = (model.fingerprint, title)
        found = self.cache.get(key)
        if found is None:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            found = model.fingerprint(matcher.Report(title[:MAX_TITLE_CHARS]))
            self.cache[key] = found
        return found

    def has(self, model: Matcher, title: str) -> bool:
        """Whether the title's fingerprint is in memory."""
        return (model.fingerprint, title) in self.cache

    def get(self, model: Matcher, title: str) -> object | None:
        """The title's fingerprint if it is in memory."""
        return self.cache.get((model.fingerprint, title))

    def put(self, model: Matcher, titles: list[str], fingerprints: list[object]) -> None:
        """Keep fingerprints made elsewhere (ticker.stories.vectors: in a batch, vectors stored)."""
        if len(self.cache) + len(titles) >= _CACHE_LIMIT:
            self.cache.clear()
        for title, found in zip(titles, fingerprints, strict=True):
            self.cache[(model.fingerprint, title)] = found


FINGERPRINTS = _Fingerprints()


@dataclass
class _Verdict:
    position: int
    same: int
    mean: float
    best: matcher.Match
    best_member: Member


def _judge(position: int, story: Story, fp: object, model: Matcher) -> _Verdict | None:
    """How `fp` stands against a story's members; None when it may not join it."""
    verdicts = [(m, model.compare(fp, FINGERPRINTS(model, m.item.title))) for m in story.members]
    same = sum(1 for _, v in verdicts if v.same)
    if same == 0 or same * 2 < len(verdicts):
        return None
    mean = sum(v.score for _, v in verdicts) / len(verdicts)
    best_member, best = max(verdicts, key=lambda mv: (mv[1].same, mv[1].score))
    return _Verdict(position, same, mean, best, best_member)


class _Open:
    """The stories a headline may join: those begun within WINDOW_S, by blocking term."""

    def __init__(self, stories: list[Story]) -> None:
        self.stories = stories
        self.starts: list[float] = []
        self.keys: list[set[str]] = []
        self.index: dict[str, set[int]] = {}
        self.expired = 0  # stories before this position are out of every window from now on
        for story in stories:
            self._register(story)
            for member in story.members:
                self.add_keys(len(self.starts) - 1, block_keys(member.item.title))

    def _register(self, story: Story) -> int:
        self.starts.append(_seconds(story.first_seen))
        self.keys.append(set())
        return len(self.starts) - 1

    def add(self, story: Story) -> int:
        self.stories.append(story)
        return self._register(story)

    def add_keys(self, position: int, keys: frozenset[str]) -> None:
        self.keys[position] |= keys
        for key in keys:
            self.index.setdefault(key, set()).add(position)

    def candidates(self, at: float, keys: frozenset[str]) -> list[int]:
        while self.expired < len(self.starts) and at - self.starts[self.expired] > WINDOW_S:
            for key in self.keys[self.expired]:
                self.index[key].discard(self.expired)
            self.expired += 1
        shared: dict[int, int] = {}
        for key in keys:
            holders = self.index.get(key, ())
            if len(holders) > MAX_TERM_STORIES:
                continue
            for position in holders:
                shared[position] = shared.get(position, 0) + 1
        if len(shared) > MAX_CANDIDATES:
            return sorted(sorted(shared, key=lambda p: (-shared[p], p))[:MAX_CANDIDATES])
        return sorted(shared)


def group(
    items: Iterable[Item], prior: Iterable[Story] = (), model: Matcher = DEFAULT_MATCHER
) -> list[Story]:
    """Place `items` (any order: they are sorted) into the `prior` stories (those that began at
    most WINDOW_S before the first item, with their members first seen before it) or new ones.
    Returns every story that has a member among `items`, in order of their first member."""
    stories: list[Story] = sorted(prior, key=lambda s: (s.first_seen, s.key))
    open_stories = _Open(stories)
    touched: set[int] = set()
    for item in sorted(items, key=order_key):
        keys = block_keys(item.title)
        fp = FINGERPRINTS(model, item.title)
        joinable: list[_Verdict] = []
        same_outlet: list[_Verdict] = []
        for position in open_stories.candidates(_seconds(item.first_seen), keys):
            verdict = _judge(position, stories[position], fp, model)
            if verdict is None:
                continue
            (same_outlet if item.source in stories[position].sources else joinable).append(verdict)
        # Ties: the earlier story (max keeps the first of equals).
        chosen = max(joinable, key=lambda v: (v.mean, v.same), default=None)
        if chosen is not None:
            position = chosen.position
            member = Member(
                item,
                score=round(chosen.mean, 4),
                matched=chosen.best_member.item.headline_id,
                terms=tuple(chosen.best.terms),
                explanation=f"{chosen.same} of {len(stories[position].members)} members same; best "
                f"{chosen.best_member.item.source} {chosen.best.score:.3f}: {chosen.best.explanation}",
            )
        else:
            position = open_stories.add(Story(item.headline_id, item.first_seen))
            member = Member(item, explanation="first report")
            follow = max(same_outlet, key=lambda v: (v.mean, v.same), default=None)
            if follow is not None:
                earlier = next(m for m in stories[follow.position].members if m.item.source == item.source)
                member.follow_up_of = earlier.item.headline_id
                member.explanation = (
                    f"first report; {item.source} had an earlier item on the same event, in another "
                    f"story (one item per outlet per story): {follow.best.explanation}"
                )
        stories[position].members.append(member)
        open_stories.add_keys(position, keys)
        touched.add(position)
    return [stories[p] for p in sorted(touched)]
