"""What the `rss` kind's guards change: feedparser on its own against `scraper.feed_rss.parse_feed`
on feed bombs, a damaged feed and a Moscow zone name; and the time to parse a 200-item feed.

Run: `.venv/bin/python benchmarks/feed_guards.py` (prints a Markdown table).
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from selectolax.lexbor import LexborHTMLParser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_feed_rss import BILLION_LAUGHS, QUADRATIC  # noqa: E402

from ticker.core.base import ParseError  # noqa: E402
from ticker.scraper.feed_rss import parse_feed  # noqa: E402

EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY s SYSTEM "file:///etc/hostname">]>'
    b'<rss version="2.0"><channel><item><guid>1</guid><title>&s;</title></item></channel></rss>'
)
MSK = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item><guid>1</guid><title>t</title>'
    b"<pubDate>Fri, 01 Nov 2013 17:00:05 MSK</pubDate></item></channel></rss>"
)


def _item(n: int) -> str:
    return (
        f"<item><guid>https://lenta.ru/news/2022/12/03/n{n}/</guid><author>Автор {n}</author>"
        f"<title>Заголовок новости номер {n} о событиях дня</title><link>https://lenta.ru/news/2022/12/03/n{n}/</link>"
        f"<description><![CDATA[Анонс {n}, <br>с разметкой.]]></description>"
        f"<pubDate>Sat, 03 Dec 2022 19:{n % 60:02d}:00 +0300</pubDate>"
        f'<enclosure url="https://icdn.lenta.ru/images/{n}.jpg" type="image/jpeg" length="1"/>'
        f"<category>Россия</category></item>"
    )


FEED_200 = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
    "<title>Lenta.ru : Новости</title>" + "".join(_item(n) for n in range(200)) + "</channel></rss>"
).encode()


NESTED_TITLE = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item><guid>1</guid><title>'
    + "&lt;div&gt;" * 50_000
    + "x</title></item></channel></rss>"
).encode()


def _alone(body: bytes) -> str:
    start = time.perf_counter()
    result = feedparser.parse(io.BytesIO(body))
    took = (time.perf_counter() - start) * 1000
    titles = [entry.get("title", "") for entry in result.entries]
    dates = [entry.get("published_parsed") for entry in result.entries]
    shown = f"title of {len(titles[0])} chars" if titles else "no items"
    if dates and dates[0]:
        shown += f", published {time.strftime('%H:%M:%S', dates[0])} UTC"
    return f"bozo={int(bool(result.bozo))}, {shown}, {took:.1f} ms"


def _guarded(body: bytes) -> str:
    start = time.perf_counter()
    try:
        page = parse_feed(body, base_url="https://x.test/", content_type=None, fetched_at=datetime.now(UTC))
    except ParseError as error:
        return f"ParseError: {error} ({(time.perf_counter() - start) * 1000:.2f} ms)"
    took = (time.perf_counter() - start) * 1000
    return f"{len(page.headlines)} item(s), published {page.headlines[0].published_at}, {took:.1f} ms"


def main() -> None:
    cases = {
        "billion laughs (9 levels)": BILLION_LAUGHS,
        f"quadratic blowup ({len(QUADRATIC) // 1000} KB)": QUADRATIC,
        "external entity (file:///etc/hostname)": EXTERNAL,
        "pubDate `17:00:05 MSK` (2013: UTC+4)": MSK,
        "a title of 50,000 nested `<div>` (escaped)": NESTED_TITLE,
    }
    print("| input | feedparser alone | parse_feed |\n|---|---|---|")
    for name, body in cases.items():
        print(f"| {name} | {_alone(body)} | {_guarded(body)} |")
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        parse_feed(FEED_200, base_url="https://lenta.ru/rss", content_type=None, fetched_at=datetime.now(UTC))
        runs.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    LexborHTMLParser("<body>" + "<div>" * 50_000 + "x</body>")
    lexbor_ms = (time.perf_counter() - start) * 1000
    print(f"\nthat title through an HTML tree builder (Lexbor) instead: {lexbor_ms:.0f} ms")
    print(f"\n200-item feed ({len(FEED_200) // 1000} KB): parse_feed median {statistics.median(runs):.1f} ms")


if __name__ == "__main__":
    main()
