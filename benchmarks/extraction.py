"""Extraction speed: ticker's parsers against the same extraction written with other libraries.

RBC page (~250 KB, 14 items, both rate widgets): ticker.scraper.rbc_page.parse_rbc_page against
BeautifulSoup (html.parser, lxml back ends) and lxml.html + XPath, and against a bare Lexbor parse
of the page that extracts nothing. Bank of Russia XML_daily: ticker.scraper.cbr_xml.parse_daily
against lxml.etree + XPath, BeautifulSoup (lxml-xml) and bare parses.

Every alternative pulls the same fields out of its tree (ids, titles, rubric/time text, links,
kind/project data, the paid shield, both widgets, the edition) and hands them to the same
pure-Python finishing code; the script asserts that what comes out equals ticker's records.
Medians of many runs in one process, all in the same run.

    python benchmarks/extraction.py            # full run (about a minute)
    python benchmarks/extraction.py --quick    # smoke run
    python benchmarks/extraction.py --profile  # also where ticker's parse spends its time
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import xml.etree.ElementTree as StdET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from bs4 import BeautifulSoup
from lxml import etree as lxml_etree
from lxml import html as lxml_html
from selectolax.lexbor import LexborHTMLParser

from ticker.base import MOSCOW, Headline, Rate, RatesDocument, from_unix, to_iso
from ticker.scraper import cbr_xml, rbc_page
from ticker.scraper.links import safe_link
from ticker.scraper.ru_dates import DAY_MONTH, month_number, nearest_date

FETCHED_AT = datetime(2025, 5, 29, 7, 0, tzinfo=UTC)
BASE_URL = rbc_page.DEFAULT_URL
GOALS = {"bs4_html_parser": 35.0, "lxml_xpath": 2.0, "bare_lexbor": 1.5}


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


# --- RBC: the runners -------------------------------------------------------------------------


def rbc_runners(body: bytes) -> dict[str, tuple[str, object]]:
    """name -> (description, zero-argument function returning comparable output or None)."""

    def ticker():
        page = rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, base_url=BASE_URL, min_items=5)
        return page.headlines, page.rates, page.edition

    def alternative(extract):
        def run():
            text = body.decode("utf-8")
            return finish(extract(text), text)

        return run

    return {
        "ticker": ("ticker: parse_rbc_page (selectolax/Lexbor), bytes in", ticker),
        "bare_lexbor": ("bare Lexbor parse of the bytes, no extraction", lambda: LexborHTMLParser(body)),
        "bare_lexbor_str": (
            "bare Lexbor parse after decoding to str",
            lambda: LexborHTMLParser(body.decode("utf-8")),
        ),
        "lxml_xpath": ("lxml.html + XPath", alternative(extract_lxml)),
        "bs4_lxml": ("BeautifulSoup(lxml) + select", alternative(lambda t: extract_bs4(t, "lxml"))),
        "bs4_html_parser": (
            "BeautifulSoup(html.parser) + select",
            alternative(lambda t: extract_bs4(t, "html.parser")),
        ),
        "bare_lxml": ("bare lxml.html parse, no extraction", lambda: lxml_html.fromstring(body)),
    }


def check_agreement(runners: dict[str, tuple[str, object]], label: str) -> None:
    expected = runners["ticker"][1]()
    assert len(expected[0]) >= 5 and expected[1], f"{label}: ticker found too little: {expected}"
    for name, (_, run) in runners.items():
        if name == "ticker" or name.startswith("bare"):
            continue
        got = run()
        if got != expected:
            for ours, theirs in zip(expected[0], got[0], strict=False):
                if ours != theirs:
                    print(f"  first difference ({name}):\n    ticker: {ours}\n    {name}: {theirs}")
                    break
            raise AssertionError(f"{label}: {name} does not extract what ticker does")


def bench_rbc(label: str, body: bytes, runs: int) -> list[list[object]]:
    runners = rbc_runners(body)
    check_agreement(runners, label)
    times = {}
    for name, (_, run) in runners.items():
        slow = name.startswith("bs4")
        times[name] = common.median(common.timed_runs(run, max(5, runs // 8) if slow else runs))
    ours = times["ticker"]
    rows = []
    for name, (description, _) in runners.items():
        goal = ""
        if name in GOALS:
            if name == "bare_lexbor":
                goal = f"ticker <= {GOALS[name]}x bare: {'met' if ours / times[name] <= GOALS[name] else 'MISSED'}"
            else:
                met = times[name] / ours >= GOALS[name]
                goal = f"ticker >= {GOALS[name]:.0f}x faster: {'met' if met else 'MISSED'}"
        rows.append([description, common.ms(times[name]), common.ratio(times[name], ours), goal])
    print(
        common.table(
            ["extraction", "median ms", "time vs ticker", "goal"],
            rows,
            title=f"RBC page: {label} ({len(body) / 1000:.0f} KB)",
        )
    )
    return rows


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


def bench_cbr(body: bytes, runs: int) -> None:
    runners = {
        "ticker": ("ticker: parse_daily (defusedxml ElementTree)", lambda: cbr_xml.parse_daily(body)),
        "stdlib": ("xml.etree.ElementTree, no defusedxml guard", lambda: cbr_stdlib(body)),
        "lxml": ("lxml.etree + XPath", lambda: cbr_lxml(body)),
        "bs4": ("BeautifulSoup(xml) (lxml-xml back end)", lambda: cbr_bs4(body)),
        "bare_expat": ("bare xml.etree parse, no extraction", lambda: StdET.fromstring(body)),
        "bare_lxml": ("bare lxml.etree parse, no extraction", lambda: lxml_etree.fromstring(body)),
    }
    expected = runners["ticker"][1]()
    for name in ("stdlib", "lxml", "bs4"):
        got = runners[name][1]()
        assert got == expected, f"CBR: {name} gives {got}, ticker {expected}"
    times = {name: common.median(common.timed_runs(run, runs)) for name, (_, run) in runners.items()}
    ours = times["ticker"]
    rows = [[d, common.ms(times[n]), common.ratio(times[n], ours)] for n, (d, _) in runners.items()]
    print(
        common.table(
            ["extraction", "median ms", "time vs ticker"],
            rows,
            title=f"Bank of Russia XML_daily ({len(body) / 1000:.1f} KB, 43 currencies, EUR+USD extracted)",
        )
    )


# --- where ticker's RBC parse spends its time --------------------------------------------------


def stage_breakdown(body: bytes, runs: int) -> None:
    """ticker's parse_rbc_page, step by step (the same calls it makes, timed one by one)."""
    tree = LexborHTMLParser(body)
    feed = tree.css_first(".js-news-feed-list")
    banner = feed.parent
    nodes = feed.css("a.news-feed__item")
    steps = {
        "charset labels (HTTP, <meta>) say UTF-8?": lambda: rbc_page._utf8_labelled(body, None),
        "LexborHTMLParser(bytes)": lambda: LexborHTMLParser(body),
        "css_first('.js-news-feed-list')": lambda: tree.css_first(".js-news-feed-list"),
        "</html> in the last 4 KB (cut short?)": lambda: re.search(
            r"</html\s*>", body[-4096:].decode("latin-1"), re.I
        ),
        "timeLastUpdate from the banner's script": lambda: rbc_page._time_last_update(banner, tree),
        "feed.css('a.news-feed__item')": lambda: feed.css("a.news-feed__item"),
        "parse_items (14 items: one CSS pass, text, json, url)": lambda: rbc_page.parse_items(
            nodes, FETCHED_AT, BASE_URL
        ),
        "parse_rate_widgets(banner)": lambda: rbc_page.parse_rate_widgets(banner, FETCHED_AT),
        "edition (toggle in the banner)": lambda: rbc_page._edition(banner),
    }
    whole = common.median(
        common.timed_runs(lambda: rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, min_items=5), runs)
    )
    rows = []
    for name, step in steps.items():
        t = common.median(common.timed_runs(step, runs))
        rows.append([name, common.ms(t), f"{100 * t / whole:.0f}%"])
    rows.append(["whole parse_rbc_page", common.ms(whole), "100%"])
    print(common.table(["step of parse_rbc_page", "median ms", "share"], rows, title="Where the time goes"))

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, min_items=5)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
    print("\ncProfile, top functions by own time:\n" + "\n".join(out.getvalue().splitlines()[4:24]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few runs: a smoke test")
    parser.add_argument("--profile", action="store_true", help="also break ticker's parse down")
    parser.add_argument("--runs", type=int, help="runs per fast extraction (default 300, quick 20)")
    args = parser.parse_args()
    runs = args.runs or (20 if args.quick else 300)
    print(common.machine())
    print(f"Runs: {runs} per fast extraction, {max(5, runs // 8)} per BeautifulSoup one; medians.")

    bench_rbc("built realistic page (benchmarks/common.py)", common.rbc_page(0), runs)
    for name, body in common.reference_pages():
        try:
            rbc_page.parse_rbc_page(body, fetched_at=FETCHED_AT, min_items=5)
        except Exception as error:  # a saved page without a ticker: nothing to extract
            print(f"\n(skipped real page {name}: {error})")
            continue
        bench_rbc(f"real saved page {name}", body, runs)
    bench_cbr(common.cbr_daily(), runs)
    if args.profile:
        stage_breakdown(common.rbc_page(0), runs)


if __name__ == "__main__":
    main()
