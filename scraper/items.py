"""Rules every parser applies to an item's fields: its text folded the same way, its link made
absolute the same way (through `links.safe_link`, the one place a link becomes an address).

Pure per-item rules are memoised with `item_cache`: a parse worker lives for many polls and a
ticker shows the same items poll after poll (13 of 14 on RBC's page between two polls), so their
links, JSON data, "rubric, time" labels, shown times and feed dates are read once, keyed on the
raw strings (never on the fetch time: what depends on it is worked out per parse).
`clear_item_caches` empties them (benchmarks time the cold case too)."""

from __future__ import annotations

import re
from dataclasses import fields
from functools import lru_cache
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from ticker.core.base import Headline
from ticker.scraper.links import safe_link

_caches: list = []


def item_cache(function):
    """`function` (pure, hashable arguments, an immutable result) memoised for 4,096 items."""
    cached = lru_cache(maxsize=4096)(function)
    _caches.append(cached)
    return cached


def clear_item_caches() -> None:
    """Forget every memoised item rule."""
    for cached in _caches:
        cached.cache_clear()


_PLAIN = re.compile(r"[!-\"$-:<-~]+")  # printable ASCII but "#" and ";" (urljoin drops empty params)


def clean_text(text: str) -> str:
    """No-break spaces to spaces, runs of white space folded, ends stripped (str.split's white
    space is the regular expressions' \\s: the same rule as a regex fold, at a fraction of its cost)."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # already folded: the one white space printable text may hold is U+0020
    return " ".join(text.split())


def node_text(node: LexborNode | None) -> str:
    """An element's text, folded by `clean_text` ("" for no element)."""
    if node is None:
        return ""
    return clean_text(node.text(separator=" ", strip=False))


@lru_cache(maxsize=256)
def _origin(base_url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) base address, None for anything else."""
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc}"


@item_cache
def item_link(href: str | None, base_url: str) -> tuple[str | None, str | None]:
    """`safe_link(href, base_url)`, with the common relative case (`/news/2022/01/30/slug/`)
    joined to the base's origin first, so that it takes safe_link's no-parsing path: the same
    address `urljoin` gives (no dot segments, no fragment, no space to encode)."""
    if href and href[0] == "/" and href[1:2] != "/" and "/." not in href and _PLAIN.fullmatch(href):
        origin = _origin(base_url)
        if origin is not None:
            return safe_link(origin + href, base_url)
    return safe_link(href, base_url)


_HEADLINE_FIELDS = ("id", "url", "title", "rubric", "kind", "published_at", "position", "project", "paid")
assert tuple(f.name for f in fields(Headline)) == _HEADLINE_FIELDS, "new_headline must set every field"
(
    _SET_ID,
    _SET_URL,
    _SET_TITLE,
    _SET_RUBRIC,
    _SET_KIND,
    _SET_PUBLISHED,
    _SET_POSITION,
    _SET_PROJECT,
    _SET_PAID,
) = (getattr(Headline, name).__set__ for name in _HEADLINE_FIELDS)
_new = object.__new__


def new_headline(
    id: str,
    url: str | None,
    title: str,
    rubric: str | None,
    kind: str | None,
    published_at: str | None,
    position: int,
    project: str | None = None,
    paid: bool = False,
) -> Headline:
    """`Headline(...)`, the same record, at half the cost (a parser builds one per item): the
    frozen dataclass's `__init__` sets each field through `object.__setattr__`; this sets its
    slots directly (Headline has no `__post_init__` to skip; the assert above keeps the fields)."""
    headline = _new(Headline)
    _SET_ID(headline, id)
    _SET_URL(headline, url)
    _SET_TITLE(headline, title)
    _SET_RUBRIC(headline, rubric)
    _SET_KIND(headline, kind)
    _SET_PUBLISHED(headline, published_at)
    _SET_POSITION(headline, position)
    _SET_PROJECT(headline, project)
    _SET_PAID(headline, paid)
    return headline
