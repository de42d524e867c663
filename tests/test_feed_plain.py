"""The plain RSS 2.0 reader (scraper/feed_plain.py) gives what feedparser gives, or steps aside:
every feed fixture and variants of one feed that feedparser alone must read, each parsed both
ways."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ticker.core.base import BlockedPage, ParseError
from ticker.scraper import feed_plain, feed_rss

FIXTURES = Path(__file__).parent / "fixtures"
READ = feed_plain.read
ITEM = (
    "<item><title>T {k}</title><link>https://e.example/{k}</link><guid>https://e.example/{k}</guid>"
    "<pubDate>Mon, 30 Nov 2020 21:40:12 +0300</pubDate><category>C</category></item>"
)
ITEMS = [ITEM.format(k=k) for k in range(3)]
RSS = '<rss version="2.0">'


def feed(items: list[str], channel: str = "", root: str = RSS) -> bytes:
    head = f'<?xml version="1.0" encoding="utf-8"?>{root}<channel><title>f</title><link>https://e.example/</link>'
    return f"{head}<description>d</description>{channel}{''.join(items)}</channel></rss>".encode()


def first(old: str, new: str, root: str = RSS) -> bytes:
    return feed([ITEMS[0].replace(old, new), *ITEMS[1:]], root=root)


# (name, body, whether the plain reader reads it)
VARIANTS = [
    ("plain", feed(ITEMS), True),
    ("an entity in a title", first("T 0", "A &amp; B"), False),
    ("markup in a title", first("T 0", "A &lt;b&gt;bold&lt;/b&gt;"), False),
    ("CDATA markup in a title", first("T 0", "<![CDATA[<b>x</b> y]]>"), False),
    ("white space around a title", first("<title>T 0", "<title> T 0 "), False),
    ("a line break in a title", first("T 0", "T\n 0"), False),
    ("a guid before a different link", feed(["<item><guid>https://e.example/g</guid><title>T</title><link>https://e.example/l</link></item>"]), True),
    ("a guid that is no permalink", feed(['<item><title>T</title><link>https://e.example/l</link><guid isPermaLink="false">123</guid></item>']), True),
    ("no guid", feed(["<item><title>T</title><link>https://e.example/l</link></item>", *ITEMS]), False),
    ("no link", feed(["<item><title>T</title><guid>https://e.example/g</guid></item>", *ITEMS]), False),
    ("a relative link", feed(["<item><title>T</title><link>/rel/1</link><guid>x1</guid></item>", *ITEMS]), False),
    ("a category with a domain", first("<category>", '<category domain="d">'), False),
    ("two categories", first("<category>C</category>", "<category>C1</category><category>C2</category>"), True),
    ("white space in a date", first("<pubDate>", "<pubDate> "), False),
    ("an unreadable date", first("Mon, 30 Nov 2020 21:40:12 +0300", "yesterday"), True),
    ("a date of 1800", first("Mon, 30 Nov 2020", "Mon, 30 Nov 1800"), True),
    ("dc:date", first("<category>", "<dc:date>2020-11-30T21:40:12Z</dc:date><category>",
                      root='<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'), False),
    ("content:encoded", first("<category>", "<content:encoded>&lt;p&gt;x</content:encoded><category>",
                              root='<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'), False),
    ("two titles", first("<link>", "<title>Other</title><link>"), False),
    ("an empty title", first("<title>T 0</title>", "<title></title>"), False),
    ("lastBuildDate", feed(ITEMS, "<lastBuildDate>Mon, 30 Nov 2020 21:40:12 +0300</lastBuildDate>"), True),
    ("the channel's pubDate", feed(ITEMS, "<pubDate>Mon, 30 Nov 2020 21:40:12 +0300</pubDate>"), True),
    ("an atom:link", feed(ITEMS, '<atom:link href="https://e.example/rss" rel="self"/>',
                          root='<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'), True),
    ("RSS 0.91", feed(ITEMS, root='<rss version="0.91">'), False),
    ("HTML in a description", first("<category>", "<description><![CDATA[<p>hi</p>]]></description><category>"), True),
    ("an item twice", feed([*ITEMS, ITEMS[0]]), True),
    ("an item with an attribute", first("<item>", '<item id="1">'), False),
    ("no items", feed([]), True),
]  # fmt: skip


def both(body: bytes, monkeypatch) -> tuple[object, object, bool]:
    """(the result with the plain reader, the result with feedparser alone, whether it read it)."""

    def parse():
        try:
            return feed_rss.parse_feed(
                body, base_url="https://x.example/a/", content_type="application/rss+xml",
                fetched_at=datetime(2026, 12, 7, tzinfo=UTC),
            )  # fmt: skip
        except (ParseError, BlockedPage) as error:
            return type(error).__name__, str(error)

    taken = []
    monkeypatch.setattr(feed_plain, "read", lambda root: taken.append(READ(root)) or taken[-1])
    plain = parse()
    monkeypatch.setattr(feed_plain, "read", lambda root: None)
    return plain, parse(), bool(taken) and taken[0] is not None


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml") if "cbr" not in p.name))
def test_every_feed_fixture_reads_the_same_both_ways(name, monkeypatch):
    plain, feedparser_only, _ = both((FIXTURES / name).read_bytes(), monkeypatch)
    assert plain == feedparser_only


def test_real_feeds_take_the_plain_path(monkeypatch):
    for name in ("feed_rg_2017.xml", "feed_tass_2020.xml"):
        assert both((FIXTURES / name).read_bytes(), monkeypatch)[2], name


@pytest.mark.parametrize(("name", "body", "plain"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variants_read_the_same_and_the_unusual_go_to_feedparser(name, body, plain, monkeypatch):
    with_plain, feedparser_only, taken = both(body, monkeypatch)
    assert with_plain == feedparser_only
    assert taken == plain
