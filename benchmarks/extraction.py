"""Extraction speed on real pages: ticker's parsers against bare Lexbor doing the same minimal
extraction, against BeautifulSoup(html.parser), through the bounded worker, and (with --old)
against an older version of ticker's parsers.

Pages: the built RBC page (benchmarks/common.py), every saved page under ../shared/reference/pages
that carries RBC's ticker, the Lenta.ru and Interfax list pages under ../shared/reference/outlets
(read by the `html` kind with the selectors docs/sources.md gives), and the feeds there and in
tests/fixtures (Lenta, RG, TASS: the `rss` kind). No Kommersant page or feed is in the reference set.

Variants of one page are INTERLEAVED: every round times each variant once, in a fresh random
order (seeded), and the ratios are taken within the round; the tables give the median of the
per-round ratios (and median times). "bare" is Lexbor parsing the same bytes (decoded by the
page's known codec, inside the timing, when it is not UTF-8) plus the minimal extraction: the item
nodes, each one's title text, link and time strings (RBC: id, link, data, `data-modif`, title and
date text, the paid shield; its rate widgets' id, title and `data-modif`), as found, with no
cleaning, no link resolution, no date reading; a list page's selectors are split once per parse,
as ticker does. Not in "bare": the page-level reads ticker adds (RBC's update time, edition and
the `</html>` check; the charset detection). For RBC pages BeautifulSoup, lxml
and ticker produce identical records (the script asserts it); for list pages BeautifulSoup does
only the minimal extraction (so its ratio flatters it).

    python benchmarks/extraction.py                 # full run (a minute or two)
    python benchmarks/extraction.py --quick         # smoke run
    python benchmarks/extraction.py --profile       # also where ticker's parse spends its time
    python benchmarks/extraction.py --make-old REV DIR   # copy ticker at git REV to DIR (not committed)
    python benchmarks/extraction.py --old DIR       # ... and time that copy's parsers side by side
"""

from __future__ import annotations

import argparse
import codecs
import cProfile
import gc
import importlib
import io
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as StdET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import feedparser
from bs4 import BeautifulSoup
from lxml import etree as lxml_etree
from lxml import html as lxml_html
from selectolax.lexbor import LexborHTMLParser

from ticker.core.base import MOSCOW, Headline, Rate, RatesDocument, from_unix, to_iso
from ticker.kinds import ParseContext, get_kind, parse_bounded
from ticker.scraper import cbr_xml, rbc_page
from ticker.scraper.decoding import charset_from_content_type, decode_html, meta_charset
from ticker.scraper.feed_rss import parse_feed
from ticker.scraper.html_list import Selectors, parse_html_list, split_selector
from ticker.scraper.items import clear_item_caches
from ticker.scraper.links import safe_link
from ticker.scraper.ru_dates import DAY_MONTH, month_number, nearest_date

FETCHED_AT = datetime(2025, 5, 29, 7, 0, tzinfo=UTC)
BASE_URL = rbc_page.DEFAULT_URL
OUTLETS = common.ROOT.parent / "shared" / "reference" / "outlets"
FIXTURES = common.ROOT / "tests" / "fixtures"
GOAL_BARE, GOAL_BS4 = 1.3, 35.0  # ticker <= 1.3x bare Lexbor + minimal extraction; >= 35x faster than bs4
LIST_PAGES = {  # file under OUTLETS -> (address, selectors as docs/sources.md gives them)
    "lenta_html_2022-01-30_main_KainSt.html": (
        "https://lenta.ru/",
        {
            "item": "a.card-mini",
            "title": ".card-mini__title",
            "link": "@href",
            "time": "time.card-mini__date",
        },
    ),
    "interfax_html_2015-08-19_main_kirpich.cp1251.html": (
        "https://www.interfax.ru/",
        {"item": "div.dNewsCont div.text", "title": "h3", "link": "h3 a@href", "time": "time@datetime"},
    ),
}
FEEDS = [
    OUTLETS / "lenta_rss_2022-12-03_StombieIT.xml",
    OUTLETS / "rg_rss_2017-01-24_getArtemUsername.xml",
    FIXTURES / "feed_tass_2020.xml",
]


# --- what every alternative pulls out of its tree --------------------------------------------


@dataclass
class RawItem:
    id_attr: str
    href: str
    modif: str
    element: str | None
    title: str
    date_text: str
    paid: bool


@dataclass
class RawWidget:
    id_attr: str
    title: str
    change_class: str
    modif: str
    date_text: str


@dataclass
class RawPage:
    items: list[RawItem] = field(default_factory=list)
    widgets: list[RawWidget] = field(default_factory=list)
    edition: str | None = None


# --- the shared finishing code (pure Python, identical for every alternative) ----------------

_ID = re.compile(r"^id_newsfeed_([0-9a-f]{24})$")
_UPDATE = re.compile(r"newsfeed\.timeLastUpdate['\"]\s*,\s*(\d{9,11})")
_CLOSING = re.compile(r"</html\s*>", re.I)
_RATE_DATE = re.compile(r"на\s+" + DAY_MONTH.pattern)
_RATE_VALUE = re.compile(r"ЦБ\s*:\s*([^\s(]+)")
_RATE_CHANGE = re.compile(r"\(\s*([+\-\u2212\u2013]?)\s*([^\s)]*)\s*\)")


def _instant(modif: str) -> datetime | None:
    modif = (modif or "").strip()
    return from_unix(int(modif)) if modif.isdigit() and 9 <= len(modif) <= 11 else None


def _headline(raw: RawItem, position: int, reference: datetime) -> Headline | None:
    match = _ID.match(raw.id_attr.strip())
    document_id, kind, project = rbc_page.document_info(raw.element)  # the same JSON read
    headline_id = match.group(1) if match else document_id
    title = rbc_page.clean_text(raw.title)
    if not headline_id or not title:
        return None
    rubric, shown_date, shown_time = rbc_page.split_rubric_and_time(raw.date_text)
    published = _instant(raw.modif)
    if published is None and shown_time:
        published = rbc_page.shown_instant(shown_date, shown_time, reference)
    return Headline(
        id=headline_id,
        url=safe_link(raw.href, BASE_URL)[0],
        title=title,
        rubric=rubric,
        kind=kind,
        published_at=to_iso(published) if published else None,
        position=position,
        project=project,
        paid=raw.paid,
    )


def _rate(raw: RawWidget, reference: datetime) -> Rate:
    currency = raw.id_attr[len("id_newsfeed_currencycb") :].upper()
    text = rbc_page.clean_text(raw.title)
    published = _instant(raw.modif)
    if published is None:
        _, shown_date, shown_time = rbc_page.split_rubric_and_time(raw.date_text)
        published = rbc_page.shown_instant(shown_date, shown_time, reference) if shown_time else None
    published = published or reference
    date_match = _RATE_DATE.search(text)
    assert date_match is not None
    month = month_number(date_match.group(2))
    assert month is not None
    day = nearest_date(int(date_match.group(1)), month, published.astimezone(MOSCOW).date())
    value_match = _RATE_VALUE.search(text)
    assert value_match is not None
    value = rbc_page.parse_decimal(value_match.group(1))
    change = None
    change_match = _RATE_CHANGE.search(text[value_match.end() :])
    if change_match and change_match.group(2):
        magnitude = rbc_page.parse_decimal(change_match.group(2))
        sign = change_match.group(1)
        if sign in ("-", "\u2212", "\u2013") or (not sign and "fall" in raw.change_class):
            change = "-" + magnitude
        else:
            change = "+" + magnitude
    return Rate(currency, day.isoformat(), value, change, to_iso(published))


def finish(raw: RawPage, text: str) -> tuple[tuple[Headline, ...], tuple[Rate, ...], str | None]:
    """The page-level checks and field parsing ticker's parser also does, on extracted strings."""
    if not _CLOSING.search(text[-4096:]):
        raise ValueError("truncated")
    update = _UPDATE.search(text)
    reference = from_unix(int(update.group(1))) if update else FETCHED_AT
    headlines: list[Headline] = []
    seen: set[str] = set()
    for raw_item in raw.items:
        if raw_item.id_attr.startswith("id_newsfeed_currency"):
            continue
        headline = _headline(raw_item, len(headlines) + 1, reference)
        if headline is not None and headline.id not in seen:
            seen.add(headline.id)
            headlines.append(headline)
    rates, currencies = [], set()
    for widget in raw.widgets:
        currency = widget.id_attr[len("id_newsfeed_currencycb") :].upper()
        if currency not in currencies:
            currencies.add(currency)
            rates.append(_rate(widget, reference))
    return tuple(headlines), tuple(rates), raw.edition


# --- the alternatives: tree work only --------------------------------------------------------


def _bs4_text(node) -> str:
    return node.get_text(" ") if node is not None else ""


def extract_bs4(text: str, backend: str) -> RawPage:
    soup = BeautifulSoup(text, backend)
    page = RawPage()
    feed = soup.select_one(".js-news-feed-list")
    for node in feed.select("a.news-feed__item"):
        page.items.append(
            RawItem(
                id_attr=node.get("id") or "",
                href=node.get("href") or "",
                modif=node.get("data-modif") or "",
                element=node.get("data-rm-data-element"),
                title=_bs4_text(node.select_one(".news-feed__item__title")),
                date_text=_bs4_text(node.select_one(".news-feed__item__date-text")),
                paid=node.select_one(".pro-shield") is not None,
            )
        )
    container = soup.select_one(".js-news-feed") or soup
    for node in container.select('a[id^="id_newsfeed_currencycb"]'):
        change = node.select_one(".news-feed__item__change")
        page.widgets.append(
            RawWidget(
                id_attr=node.get("id") or "",
                title=_bs4_text(node.select_one(".news-feed__item__title")),
                change_class=" ".join(change.get("class") or []) if change is not None else "",
                modif=node.get("data-modif") or "",
                date_text=_bs4_text(node.select_one(".news-feed__item__date-text")),
            )
        )
    active = soup.select_one(".news-feed__toggle .js-news-feed-region.active")
    if active is not None:
        page.edition = active.get("data-load-nick") or active.get("data-group")
    return page


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


_X_FEED = lxml_etree.XPath(f"//div[{_has_class('js-news-feed-list')}]")
_X_ITEMS = lxml_etree.XPath(f".//a[{_has_class('news-feed__item')}]")
_X_TITLE = lxml_etree.XPath(f".//*[{_has_class('news-feed__item__title')}]")
_X_DATE = lxml_etree.XPath(f".//*[{_has_class('news-feed__item__date-text')}]")
_X_SHIELD = lxml_etree.XPath(f"boolean(.//*[{_has_class('pro-shield')}])")
_X_CHANGE = lxml_etree.XPath(f".//*[{_has_class('news-feed__item__change')}]/@class")
_X_CONTAINER = lxml_etree.XPath(f"//*[{_has_class('js-news-feed')}]")
_X_WIDGETS = lxml_etree.XPath(".//a[starts-with(@id, 'id_newsfeed_currencycb')]")
_X_EDITION = lxml_etree.XPath(
    f"//*[{_has_class('news-feed__toggle')}]//*[{_has_class('js-news-feed-region')} and {_has_class('active')}]"
)


def _lxml_text(nodes: list) -> str:
    return " ".join(nodes[0].itertext()) if nodes else ""


def extract_lxml(text: str) -> RawPage:
    root = lxml_html.fromstring(text)
    page = RawPage()
    for node in _X_ITEMS(_X_FEED(root)[0]):
        get = node.get
        page.items.append(
            RawItem(
                id_attr=get("id") or "",
                href=get("href") or "",
                modif=get("data-modif") or "",
                element=get("data-rm-data-element"),
                title=_lxml_text(_X_TITLE(node)),
                date_text=_lxml_text(_X_DATE(node)),
                paid=bool(_X_SHIELD(node)),
            )
        )
    containers = _X_CONTAINER(root)
    for node in _X_WIDGETS(containers[0] if containers else root):
        change = _X_CHANGE(node)
        page.widgets.append(
            RawWidget(
                id_attr=node.get("id") or "",
                title=_lxml_text(_X_TITLE(node)),
                change_class=change[0] if change else "",
                modif=node.get("data-modif") or "",
                date_text=_lxml_text(_X_DATE(node)),
            )
        )
    active = _X_EDITION(root)
    if active:
        page.edition = active[0].get("data-load-nick") or active[0].get("data-group")
    return page


def extract_lexbor(body: bytes) -> RawPage:
    """The minimal extraction with selectolax/Lexbor: the same strings the others pull out."""
    tree = LexborHTMLParser(body)
    page = RawPage()
    feed = tree.css_first(".js-news-feed-list")
    for node in feed.css("a.news-feed__item"):
        attrs = node.attrs
        title = node.css_first(".news-feed__item__title")
        date = node.css_first(".news-feed__item__date-text")
        page.items.append(
            RawItem(
                id_attr=attrs.get("id") or "",
                href=attrs.get("href") or "",
                modif=attrs.get("data-modif") or "",
                element=attrs.get("data-rm-data-element"),
                title=title.text() if title is not None else "",
                date_text=date.text() if date is not None else "",
                paid=node.css_first(".pro-shield") is not None,
            )
        )
    for node in (feed.parent or tree.root).css('a[id^="id_newsfeed_currencycb"]'):
        title = node.css_first(".news-feed__item__title")
        attrs = node.attrs
        page.widgets.append(
            RawWidget(
                attrs.get("id") or "", title.text() if title else "", "", attrs.get("data-modif") or "", ""
            )
        )
    return page


# --- list pages (`html` kind) and feeds (`rss` kind): the minimal extractions -----------------


def _fields(select: dict) -> list[tuple[str | None, str | None] | None]:
    """The title, link and time specs split into (css, attribute): once per parse."""
    return [split_selector(select[key]) if select.get(key) else None for key in ("title", "link", "time")]


def minimal_lexbor(body: bytes, select: dict, codec: str | None) -> list[tuple]:
    """Lexbor on the page (decoded first by its known codec when it is not UTF-8), then each
    item's title text, link and time strings as found."""
    tree = LexborHTMLParser(body.decode(codec) if codec else body)
    fields = _fields(select)
    out = []
    for node in tree.css(select["item"]):
        row = []
        for spec in fields:
            target = None
            if spec is not None:
                css, attribute = spec
                target = node.css_first(css) if css else node
            if target is None:
                row.append(None)
            else:
                row.append(target.attrs.get(attribute) if attribute else target.text())
        out.append(tuple(row))
    return out


def minimal_bs4(text: str, select: dict) -> list[tuple]:
    soup = BeautifulSoup(text, "html.parser")
    fields = _fields(select)
    out = []
    for node in soup.select(select["item"]):
        row = []
        for spec in fields:
            target = None
            if spec is not None:
                css, attribute = spec
                target = node.select_one(css) if css else node
            if target is None:
                row.append(None)
            else:
                row.append(target.get(attribute) if attribute else target.get_text())
        out.append(tuple(row))
    return out


def minimal_feedparser(body: bytes) -> list[tuple]:
    return [
        (e.get("id"), e.get("title"), e.get("link"), e.get("published"))
        for e in feedparser.parse(body).entries
    ]


# --- interleaved timing -------------------------------------------------------------------------


def interleaved(variants: dict[str, object], rounds: int) -> dict[str, list[float]]:
    """Each round times every variant once, in a fresh random order (seeded); GC off. A rotated
    order would put each variant after the same neighbour in nearly every round: the one after
    BeautifulSoup (which leaves the CPU caches cold) measured 1.2-1.3x slower than the same code
    placed elsewhere."""
    names = list(variants)
    shuffle = random.Random(20).shuffle
    for name in names:  # warm-up
        variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            order = names[:]
            shuffle(order)
            for name in order:
                started = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - started)
    finally:
        gc.enable()
    return times


def round_ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    """The median over rounds of top/bottom measured in the same round."""
    return statistics.median(a / b for a, b in zip(times[top], times[bottom], strict=True))


def low_ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    """top/bottom of their 10th-percentile times: on a loaded machine a preemption only ever
    adds time, so the low end of each variant's times is the least disturbed estimate."""

    def low(values: list[float]) -> float:
        return sorted(values)[len(values) // 10]

    return low(times[top]) / low(times[bottom])


def report(label: str, size: int, times: dict[str, list[float]], descriptions: dict[str, str]) -> dict:
    ours = "ticker"
    rows = []
    for name, description in descriptions.items():
        vs = "1.00x" if name == ours else f"{round_ratio(times, name, ours):.2f}x"
        rows.append([description, common.ms(statistics.median(times[name])), vs])
    print(common.table(["variant", "median ms", "time vs ticker (median of per-round ratios)"], rows,
                       title=f"{label} ({size / 1000:.0f} KB)"))  # fmt: skip
    figures = {"page": label}
    if "bare" in times:
        figures["vs_bare"] = round_ratio(times, ours, "bare")
        figures["vs_bare_low"] = low_ratio(times, ours, "bare")
    if "bs4" in times:
        figures["bs4_faster"] = round_ratio(times, "bs4", ours)
        figures["bs4_faster_low"] = low_ratio(times, "bs4", ours)
    if "bs4" in times and "bare_parse" in times:  # the most any Lexbor parser can be faster than bs4
        figures["bs4_ceiling"] = round_ratio(times, "bs4", "bare_parse")
    if "cold" in times:
        figures["cold_vs_bare"] = round_ratio(times, "cold", "bare")
        figures["cold_vs_bare_low"] = low_ratio(times, "cold", "bare")
    if "bounded" in times:
        figures["bounded"] = round_ratio(times, "bounded", ours)
    if "old" in times:
        figures["old_vs_bare"] = round_ratio(times, "old", "bare")
        figures["old_vs_bare_low"] = low_ratio(times, "old", "bare")
        figures["old_bs4_faster"] = round_ratio(times, "bs4", "old") if "bs4" in times else None
        figures["old_bs4_faster_low"] = low_ratio(times, "bs4", "old") if "bs4" in times else None
    return figures


# --- the pages -----------------------------------------------------------------------------------


def _context(url: str, content_type: str, select: dict | None = None, source: str = "bench") -> ParseContext:
    options = {"select": select} if select else {}
    return ParseContext(url=url, content_type=content_type, fetched_at=FETCHED_AT, min_items=1, options=options,
                        source=source)  # fmt: skip


def rbc_variants(body: bytes, old) -> tuple[dict, dict]:
    channel = get_kind("rbc").main
    context = _context(BASE_URL, "text/html; charset=utf-8")

    def ticker():
        page = rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, base_url=BASE_URL, min_items=5)
        return page.headlines, page.rates, page.edition

    def alternative(extract, decode=True):
        def run():
            text = body.decode("utf-8")
            return finish(extract(text if decode else body), text)

        return run

    variants = {
        "ticker": ("ticker: parse_rbc_page", ticker),
        "cold": ("ticker, per-item caches emptied first", lambda: (clear_item_caches(), ticker())),
        "bare": ("bare Lexbor + minimal extraction", lambda: extract_lexbor(body)),
        "bare_parse": ("bare Lexbor parse alone", lambda: LexborHTMLParser(body)),
        "bounded": (
            "ticker through the bounded worker (parse_bounded)",
            lambda: parse_bounded(channel, body, context),
        ),
        "lxml": ("lxml.html + XPath, same records", alternative(extract_lxml)),
        "bs4": (
            "BeautifulSoup(html.parser), same records",
            alternative(lambda t: extract_bs4(t, "html.parser")),
        ),
    }
    if old is not None:
        variants["old"] = ("older ticker: parse_rbc_page", lambda: old.rbc_page.parse_rbc_page(
            body, fetched_at=FETCHED_AT, base_url=BASE_URL, min_items=5))  # fmt: skip
    expected = ticker()
    assert len(expected[0]) >= 5 and expected[1], f"ticker found too little: {expected}"
    for name in ("lxml", "bs4"):
        got = variants[name][1]()
        assert got == expected, f"{name} does not extract what ticker does: {got[0][:1]} vs {expected[0][:1]}"
    return {k: v[1] for k, v in variants.items()}, {k: v[0] for k, v in variants.items()}


def list_variants(body: bytes, url: str, select: dict, old) -> tuple[dict, dict]:
    selectors = Selectors.from_config(select, "select")
    channel = get_kind("html").main
    context = _context(url, "text/html", select)
    text, _ = decode_html(body, charset_from_content_type("text/html"))
    # bare Lexbor reads UTF-8 bytes as they are, other pages decoded by their known codec (timed)
    codec = None if text.encode("utf-8") == body else codecs.lookup(meta_charset(body) or "utf-8").name

    def ticker():
        return parse_html_list(body, selectors=selectors, base_url=url, content_type="text/html",
                               fetched_at=FETCHED_AT, min_items=5)  # fmt: skip

    variants = {
        "ticker": ("ticker: parse_html_list", ticker),
        "cold": ("ticker, per-item caches emptied first", lambda: (clear_item_caches(), ticker())),
        "bare": ("bare Lexbor + minimal extraction", lambda: minimal_lexbor(body, select, codec)),
        "bare_parse": (
            "bare Lexbor parse alone",
            lambda: LexborHTMLParser(body.decode(codec) if codec else body),
        ),
        "bounded": (
            "ticker through the bounded worker (parse_bounded)",
            lambda: parse_bounded(channel, body, context),
        ),
        "bs4": ("BeautifulSoup(html.parser) + minimal extraction", lambda: minimal_bs4(text, select)),
    }
    if old is not None:
        old_selectors = old.html_list.Selectors.from_config(select, "select")
        variants["old"] = ("older ticker: parse_html_list", lambda: old.html_list.parse_html_list(
            body, selectors=old_selectors, base_url=url, content_type="text/html", fetched_at=FETCHED_AT,
            min_items=5))  # fmt: skip
    assert len(ticker().headlines) == len(minimal_lexbor(body, select, codec)) >= 5
    return {k: v[1] for k, v in variants.items()}, {k: v[0] for k, v in variants.items()}


def feed_variants(body: bytes, old) -> tuple[dict, dict]:
    channel = get_kind("rss").main
    context = _context("https://example.ru/rss", "application/rss+xml")

    def ticker():
        return parse_feed(body, base_url="https://example.ru/rss", content_type="application/rss+xml",
                          fetched_at=FETCHED_AT, min_items=1)  # fmt: skip

    variants = {
        "ticker": ("ticker: parse_feed (safe_xml check + feedparser)", ticker),
        "bare": ("bare feedparser + minimal extraction", lambda: minimal_feedparser(body)),
        "bounded": (
            "ticker through the bounded worker (parse_bounded)",
            lambda: parse_bounded(channel, body, context),
        ),
    }
    return {k: v[1] for k, v in variants.items()}, {k: v[0] for k, v in variants.items()}


# --- an older ticker, for side-by-side figures --------------------------------------------------


def make_old(rev: str, target: Path) -> None:
    """Copy ticker as of git `rev` to `target`/ticker_old (imports renamed), for --old."""
    package = target / "ticker_old"
    package.mkdir(parents=True, exist_ok=False)
    archive = subprocess.run(["git", "-C", str(common.ROOT), "archive", rev], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive.stdout, check=True)
    for folder in ("scraper", "db", "schedules"):
        (package / folder).rename(package / "ticker" / folder)
    for path in (package / "ticker").rglob("*.py"):
        code = path.read_text()
        code = re.sub(r"\b(from|import) ticker\b", r"\1 ticker_old", code)
        path.write_text(code)
    inner = package / "ticker"
    for item in inner.iterdir():
        item.rename(package / item.name)
    inner.rmdir()
    print(f"older ticker ({rev}) copied to {package}: run with --old {target}")


class _Old:
    def __init__(self, folder: Path) -> None:
        sys.path.insert(0, str(folder))
        self.rbc_page = importlib.import_module("ticker_old.scraper.rbc_page")
        self.html_list = importlib.import_module("ticker_old.scraper.html_list")


# --- CBR XML -----------------------------------------------------------------------------------


def _cbr_document(rate_date: str, found: dict[str, tuple[str, str]]) -> RatesDocument:
    rates = []
    for currency in cbr_xml.DEFAULT_CURRENCIES:
        raw, nominal_text = found[currency]
        nominal = int(nominal_text)
        rates.append(
            Rate(
                currency=currency,
                rate_date=rate_date,
                value=cbr_xml.per_unit(raw, nominal),
                nominal=nominal,
                raw_value=raw.replace(",", "."),
            )
        )
    return RatesDocument(rate_date=rate_date, rates=tuple(rates), warnings=())


def _iso_day(text: str) -> str:
    return datetime.strptime(text.strip(), "%d.%m.%Y").date().isoformat()


_X_VALUTE = lxml_etree.XPath("/ValCurs/Valute[CharCode=$code]")


def cbr_lxml(body: bytes) -> RatesDocument:
    root = lxml_etree.fromstring(body, lxml_etree.XMLParser(resolve_entities=False, no_network=True))
    found = {}
    for code in cbr_xml.DEFAULT_CURRENCIES:
        node = _X_VALUTE(root, code=code)[0]
        found[code] = (node.findtext("Value").strip(), node.findtext("Nominal").strip())
    return _cbr_document(_iso_day(root.get("Date")), found)


def cbr_bs4(body: bytes) -> RatesDocument:
    soup = BeautifulSoup(body, "xml")
    found = {}
    for valute in soup.find_all("Valute"):
        code = valute.find("CharCode").get_text().strip()
        if code in cbr_xml.DEFAULT_CURRENCIES:
            found[code] = (valute.find("Value").get_text().strip(), valute.find("Nominal").get_text().strip())
    return _cbr_document(_iso_day(soup.find("ValCurs")["Date"]), found)


def cbr_stdlib(body: bytes) -> RatesDocument:
    root = StdET.fromstring(body)
    by_code = {v.findtext("CharCode").strip(): v for v in root.iter("Valute")}
    found = {
        code: (by_code[code].findtext("Value").strip(), by_code[code].findtext("Nominal").strip())
        for code in cbr_xml.DEFAULT_CURRENCIES
    }
    return _cbr_document(_iso_day(root.get("Date")), found)


def bench_cbr(body: bytes, rounds: int) -> None:
    variants = {
        "ticker": (
            "ticker: parse_daily (safe_xml: the C parser, defusedxml's refusals)",
            lambda: cbr_xml.parse_daily(body),
        ),
        "stdlib": ("xml.etree.ElementTree, no defusedxml guard", lambda: cbr_stdlib(body)),
        "lxml": ("lxml.etree + XPath", lambda: cbr_lxml(body)),
        "bs4": ("BeautifulSoup(xml) (lxml-xml back end)", lambda: cbr_bs4(body)),
        "bare": ("bare xml.etree parse, no extraction", lambda: StdET.fromstring(body)),
    }
    expected = variants["ticker"][1]()
    for name in ("stdlib", "lxml", "bs4"):
        got = variants[name][1]()
        assert got == expected, f"CBR: {name} gives {got}, ticker {expected}"
    times = interleaved({k: v[1] for k, v in variants.items()}, rounds)
    report("Bank of Russia XML_daily, 43 currencies, EUR+USD extracted", len(body), times,
           {k: v[0] for k, v in variants.items()})  # fmt: skip


def profile(run, label: str, calls: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(10)
    print(
        f"\ncProfile of ticker on {label}, top functions by own time:\n"
        + "\n".join(out.getvalue().splitlines()[4:20])
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke test")
    parser.add_argument("--profile", action="store_true", help="also profile ticker's parse of each page")
    parser.add_argument("--rounds", type=int, help="rounds per page (default 100, quick 5)")
    parser.add_argument("--pages", help="only the pages whose label contains this text (and no CBR)")
    parser.add_argument("--old", type=Path, help="a folder made by --make-old: time its parsers too")
    parser.add_argument(
        "--make-old", nargs=2, metavar=("REV", "DIR"), help="copy ticker at REV to DIR and stop"
    )
    args = parser.parse_args()
    if args.make_old:
        make_old(args.make_old[0], Path(args.make_old[1]))
        return
    rounds = args.rounds or (5 if args.quick else 100)
    old = _Old(args.old) if args.old else None
    print(common.machine())
    print(f"{rounds} rounds per page, variants interleaved; ratios are medians of per-round ratios.")

    pages = [("built RBC page (benchmarks/common.py)", common.rbc_page(0), "rbc", None)]
    for name, body in common.reference_pages():
        try:
            rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, min_items=5)
        except Exception as error:  # a saved page without a ticker: nothing to extract
            print(f"\n(skipped {name}: {error})")
            continue
        pages.append((f"RBC {name}", body, "rbc", None))
    for name, (url, select) in LIST_PAGES.items():
        if (OUTLETS / name).is_file():
            pages.append((f"html {name}", (OUTLETS / name).read_bytes(), "html", (url, select)))
    for path in FEEDS:
        if path.is_file():
            pages.append((f"rss {path.name}", path.read_bytes(), "rss", None))

    if args.pages:
        pages = [page for page in pages if args.pages in page[0]]
    summary = []
    for label, body, kind, extra in pages:
        if kind == "rbc":
            variants, descriptions = rbc_variants(body, old)
        elif kind == "html":
            variants, descriptions = list_variants(body, *extra, old)
        else:
            variants, descriptions = feed_variants(body, old)
        figures = report(label, len(body), interleaved(variants, rounds), descriptions)
        summary.append(figures)
        if args.profile:
            profile(variants["ticker"], label, 50)
    if not args.pages:
        bench_cbr(common.cbr_daily(), rounds)

    rows = []

    def pair(figures: dict, key: str, digits: int = 2) -> str:
        return f"{figures[key]:.{digits}f}x / {figures[key + '_low']:.{digits}f}x"

    for figures in summary:
        if "bs4_faster" not in figures:
            continue
        old_cells = (
            [pair(figures, "old_vs_bare"), pair(figures, "old_bs4_faster", 1)] if old is not None else []
        )
        met = figures["vs_bare_low"] <= GOAL_BARE and figures["bs4_faster_low"] >= GOAL_BS4
        rows.append([figures["page"], *old_cells, pair(figures, "vs_bare"), pair(figures, "cold_vs_bare"),
                     pair(figures, "bs4_faster", 1), f"{figures['bs4_ceiling']:.1f}x", f"{figures['bounded']:.2f}x",
                     "met" if met else "MISSED"])  # fmt: skip
    headers = ["page", "ticker vs bare Lexbor", "(caches cold)", "ticker faster than bs4",
               "Lexbor parse alone faster than bs4", "bounded vs in-process",
               "goals (low-end ratios)"]  # fmt: skip
    if old is not None:
        headers = [headers[0], "older: vs bare", "older: faster than bs4", *headers[1:]]
    print(
        common.table(
            headers, rows, title=f"Goals: <= {GOAL_BARE}x bare Lexbor, >= {GOAL_BS4:.0f}x faster than bs4"
        )
    )
    print("Each cell: median of per-round ratios / ratio of the 10th-percentile times.")


if __name__ == "__main__":
    main()
