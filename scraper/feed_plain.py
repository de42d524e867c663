"""The plain RSS 2.0 feed read from its XML tree, without feedparser, when nothing in it needs
feedparser: a quarter of the time of a feed's parse (feedparser is three quarters of it).

feedparser stays the reader of record (ticker.scraper.feed_rss). This reads only a feed whose
every field ticker uses is written the one obvious way, and answers None (feedparser reads it)
for anything else: another format or version, a namespaced or unknown element in an item, a
field given twice, or text that feedparser might read differently (empty, with markup or an
entity left after XML parsing, with line breaks or white space at its ends). What it returns
has the shape of feedparser's result for the keys ticker reads, with the same values
(tests/test_feed_plain.py compares both on every feed of the test fixtures and on variants).
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

ATOM_LINKS = ("{http://www.w3.org/2005/Atom}link", "{https://www.w3.org/2005/Atom}link")
# Channel elements that say nothing of its items or its time: read past.
_CHANNEL_OTHER = frozenset(
    ("title", "link", "description", "language", "copyright", "managingEditor", "webMaster", "category",
     "generator", "docs", "ttl", "image", "rating", "skipHours", "skipDays", *ATOM_LINKS)
)  # fmt: skip
_ITEM_FIELDS = frozenset(("title", "link", "guid", "pubDate"))  # at most one each
_ITEM_OTHER = frozenset(("description", "author", "comments", "enclosure"))


class _Unusual(Exception):
    """Something feedparser must read."""


def _text(element: Element) -> str:
    text = element.text
    if len(element) or not text or text != text.strip() or any(c in text for c in "<&\r\n\t"):
        raise _Unusual
    return text


def _item(element: Element) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    tags = []
    for child in element:
        tag = child.tag
        if tag in _ITEM_FIELDS:
            key = {"guid": "id", "pubDate": "published"}.get(tag, tag)
            if key in entry or (tag != "guid" and child.attrib):
                raise _Unusual
            entry[key] = _text(child)
        elif tag == "category":
            if child.attrib:
                raise _Unusual
            tags.append({"term": _text(child), "scheme": None, "label": None})
        elif tag not in _ITEM_OTHER:
            raise _Unusual
    if "link" not in entry or "id" not in entry or "title" not in entry:
        raise _Unusual  # feedparser fills one from another; let it
    if not entry["link"].startswith(("http://", "https://")):
        raise _Unusual  # relative: feedparser resolves it
    if tags:
        entry["tags"] = tags
    return entry


def read(root: Element) -> dict[str, Any] | None:
    """{"version", "feed": {"updated"?, "published"?}, "entries": [...]} for a plain RSS 2.0
    feed, the keys as feedparser names them; None when feedparser must read it."""
    if root.tag != "rss" or root.attrib.get("version") != "2.0" or set(root.attrib) - {"version"}:
        return None
    if len(root) != 1 or root[0].tag != "channel" or root[0].attrib:
        return None
    feed: dict[str, str] = {}
    entries = []
    try:
        for child in root[0]:
            tag = child.tag
            if tag == "item":
                if child.attrib:
                    return None
                entries.append(_item(child))
            elif tag in ("pubDate", "lastBuildDate"):
                key = "published" if tag == "pubDate" else "updated"
                if key in feed or child.attrib:
                    return None
                feed[key] = _text(child)
            elif tag not in _CHANNEL_OTHER:
                return None
    except _Unusual:
        return None
    return {"version": "rss20", "feed": feed, "entries": entries}
