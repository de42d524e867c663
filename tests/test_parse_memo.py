"""The parsers' fast paths give the records the plain rules give: memoised shown times are
`shown_instant_text`'s, `new_headline` is `Headline(...)`, and a kept worker's warm parse (its
per-item caches full of earlier polls) is a cold parse, whatever the fetch time: on real-shaped
variations of RBC's ticker and of list pages (the older parsers' records on every real page are
compared by benchmarks/same_records.py); XML without a DTD read by the C parser is what
defusedxml reads, and what it refuses is refused in its words."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, date, datetime
from xml.etree import ElementTree

import pytest
from defusedxml.ElementTree import fromstring as defused_fromstring
from rbc_markup import Item, Widget, item_id, render_page, render_widget, standard_items
from selectolax.lexbor import LexborHTMLParser

from ticker.core.base import Headline, to_iso
from ticker.scraper import html_list
from ticker.scraper.decoding import has_replacement
from ticker.scraper.html_list import Selectors, parse_html_list
from ticker.scraper.items import clear_item_caches, new_headline
from ticker.scraper.rbc_page import parse_rbc_page, shown_instant, shown_iso
from ticker.scraper.ru_dates import fixed_shown_iso, shown_instant_text, shown_iso_text
from ticker.scraper.safe_xml import safe_fromstring

TEXTS = [
    "16:38",
    "9:05",
    "23:58",
    "00:05",
    "24:00",
    "12:60",
    "30 января 2022, 14:05",
    "30 января, 14:05",
    "1 января, 00:30",
    "29 февраля, 12:00",
    "31 февраля, 10:00",
    "14:05, 30.01.2022",
    "14:05, 31.02.2022",
    "вчера, 23:59",
    "Сегодня 00:01",
    "1 мая 1850, 10:00",
    "28 мар, 02:30",
    "скоро",
]
REFERENCES = [
    datetime(2022, 1, 30, 13, 41, tzinfo=UTC),
    datetime(2022, 1, 30, 21, 5, tzinfo=UTC),  # 00:05 Moscow on the 31st
    datetime(2011, 3, 27, 0, 30, tzinfo=UTC),  # Moscow's last clock change forward
    datetime(2014, 10, 25, 22, 10, tzinfo=UTC),  # 02:10 UTC+4, hours before the change back
    datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
]
DAYS = [None, date(2022, 1, 29), date(2014, 10, 26), date(1850, 1, 1)]


def outcome(run) -> str:
    try:
        return run()
    except (ValueError, OverflowError) as error:
        return f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("text", TEXTS)
def test_memoised_shown_times_are_the_plain_rule(text):
    for reference in REFERENCES:
        for day in DAYS:
            plain = outcome(lambda: to_iso(shown_instant_text(text, reference, day)))  # noqa: B023
            assert outcome(lambda: shown_iso_text(text, reference, day)) == plain, (reference, day)  # noqa: B023
            fixed = outcome(lambda: fixed_shown_iso(text, day))  # noqa: B023
            if fixed is not None:  # the fetch time does not count: the same for every reference
                assert fixed == plain, (reference, day)


@pytest.mark.parametrize("shown_date", [None, "28 мая", "29 февраля", "31 апреля", "1 января 2014", "5 мяу"])
@pytest.mark.parametrize("shown_time", ["16:16", "0:05", "23:59", "24:10"])
def test_rbc_memoised_shown_times_are_the_plain_rule(shown_date, shown_time):
    for reference in REFERENCES:
        plain = outcome(lambda: to_iso(shown_instant(shown_date, shown_time, reference)))  # noqa: B023
        assert outcome(lambda: shown_iso(shown_date, shown_time, reference)) == plain, reference  # noqa: B023


def test_a_bare_time_without_a_day_follows_the_fetch_time():
    assert fixed_shown_iso("23:58", None) is None
    assert fixed_shown_iso("вчера, 10:00", date(2022, 1, 30)) is None
    assert fixed_shown_iso("23:58", date(2022, 1, 30)) == "2022-01-30T20:58:00Z"


def test_new_headline_is_the_dataclass():
    assert [f.name for f in fields(Headline)] == [
        "id", "url", "title", "rubric", "kind", "published_at", "position", "project", "paid",
    ]  # fmt: skip
    for values in [
        ("a", "https://x.ru/a", "T", None, None, None, 1),
        ("b", None, "Т", "Мир", "news", "2022-01-30T13:38:00Z", 7, "rbcnews", True),
    ]:
        built, plain = new_headline(*values), Headline(*values)
        assert built == plain and repr(built) == repr(plain) and hash(built) == hash(plain)
        with pytest.raises(AttributeError):
            built.title = "changed"  # still frozen


def test_has_replacement_reads_titles_rubrics_and_warnings():
    clean = [Headline("a", None, "Т", None, None, None, 1), Headline("b", None, "Т", "Мир", None, None, 2)]
    assert not has_replacement(clean, ["a warning"])
    assert has_replacement([*clean, Headline("c", None, "Т", "М\ufffdр", None, None, 3)])
    assert has_replacement(clean, [], ["item x: \ufffd"])
    assert not has_replacement([])


# --- warm parses are cold parses ------------------------------------------------------------------


def rbc_variations() -> str:
    items = standard_items(10)
    items[1] = Item(id=item_id(101), title="  Заголовок\u00a0с   пробелами ", paid=True)
    items[2] = Item(id=item_id(102), title="Без data-modif", modif=False, show_date=True)
    items[3] = Item(id=item_id(103), title="Ссылка", href="/news/2024/11/25/slug/?utm_source=x&id=5")
    items[4] = Item(id=item_id(104), title="Опасная ссылка", href="javascript:alert(1)")
    items[5] = Item(id=item_id(105), title="Партнёр", document_type="anons", project=None)
    items.append(items[0])  # a repeated id: the later copy is skipped
    widgets = [Widget("EUR", "26 ноября", "108,87", "-0,56"), Widget("USD", "26 ноября", "103,79", "1,21")]
    # USD's change is unsigned (its sign comes from the change element's class); EUR's widget has
    # no data-modif (its time comes from its "Инвестиции, 25 ноября, 17:44" label).
    eur = render_widget(widgets[0])
    page = render_page(items, widgets=widgets, region="tatarstan")
    return page.replace(eur, re.sub(r' data-modif="\d+"', "", eur))


LIST_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
    + "".join(
        f'<a class="card" href="{href}"><span class="t">{title}</span><time class="d">{shown}</time>'
        f'<span class="r">{rubric}</span></a>'
        for href, title, shown, rubric in [
            ("/news/2022/01/30/a/", "С днём в адресе", "16:38", "Мир"),
            ("https://partner.example/b", "Без дня: по времени выборки", "23:58", ""),
            ("/news/2022/01/29/c/", " Вчерашняя\n новость ", "вчера, 10:00", "Россия"),
            ("/news/2022/01/30/d/", "С полной датой", "14:05, 29.01.2022", ""),
            ("/news/2022/01/30/e/", "Непонятное время", "скоро", ""),
            ("/news/2022/01/30/a/", "Повтор", "16:40", ""),
            ("javascript:alert(1)", "Опасная", "16:00", ""),
            ("/articles/f/", "Без времени", "", ""),
        ]
    )
    + "</body></html>"
).encode()
SELECT = Selectors.from_config(
    {"item": "a.card", "title": ".t", "link": "@href", "time": "time.d", "rubric": ".r"}, "select"
)


def parse_list(fetched_at: datetime):
    return parse_html_list(
        LIST_PAGE,
        selectors=SELECT,
        base_url="https://lenta.ru/",
        content_type="text/html",
        fetched_at=fetched_at,
        min_items=3,
    )


def parse_rbc(body: str, fetched_at: datetime):
    return parse_rbc_page(body.encode(), fetched_at=fetched_at, min_items=5)


@pytest.mark.parametrize("parse", ["rbc", "list"])
def test_a_warm_parse_is_a_cold_parse_at_any_fetch_time(parse):
    body = rbc_variations()
    run = (lambda at: parse_rbc(body, at)) if parse == "rbc" else parse_list
    # The second fetch time is 00:05 Moscow on the next day: bare times move with it.
    times = [datetime(2022, 1, 30, 13, 41, tzinfo=UTC), datetime(2022, 1, 30, 21, 5, tzinfo=UTC)]
    cold = []
    for at in times:
        clear_item_caches()
        cold.append(run(at))
    for at, expected in [*zip(times, cold, strict=True), *zip(reversed(times), reversed(cold), strict=True)]:
        assert run(at) == expected  # caches warm from the other fetch time
    assert cold[0].warnings and cold[0].headlines


def test_list_page_variations_pinned():
    clear_item_caches()
    page = parse_list(datetime(2022, 1, 30, 21, 5, tzinfo=UTC))  # 00:05 Moscow on the 31st
    assert [(h.url, h.title, h.rubric, h.published_at, h.position) for h in page.headlines] == [
        ("https://lenta.ru/news/2022/01/30/a/", "С днём в адресе", "Мир", "2022-01-30T13:38:00Z", 1),
        ("https://partner.example/b", "Без дня: по времени выборки", None, "2022-01-30T20:58:00Z", 2),
        ("https://lenta.ru/news/2022/01/29/c/", "Вчерашняя новость", "Россия", "2022-01-30T07:00:00Z", 3),
        ("https://lenta.ru/news/2022/01/30/d/", "С полной датой", None, "2022-01-29T11:05:00Z", 4),
        ("https://lenta.ru/news/2022/01/30/e/", "Непонятное время", None, None, 5),
        ("https://lenta.ru/articles/f/", "Без времени", None, None, 6),
    ]
    assert len(page.warnings) == 3  # the unreadable time, the repeated address, the unsafe link
    earlier = parse_list(datetime(2022, 1, 30, 13, 41, tzinfo=UTC))  # 16:41 Moscow on the 30th
    assert earlier.headlines[1].published_at == "2022-01-29T20:58:00Z"  # 23:58 is the day before
    assert earlier.headlines[2].published_at == "2022-01-29T07:00:00Z"  # "вчера" is the 29th


def test_rbc_variations_pinned():
    clear_item_caches()
    page = parse_rbc(rbc_variations(), datetime(2024, 11, 25, 13, 0, tzinfo=UTC))
    by_id = {h.id: h for h in page.headlines}
    assert len(page.headlines) == 10  # the repeated id skipped
    assert by_id[item_id(101)].title == "Заголовок с пробелами" and by_id[item_id(101)].paid
    assert by_id[item_id(102)].published_at is not None  # from "Рубрика, 25 ноя, 18:54"
    assert by_id[item_id(103)].url == "https://www.rbc.ru/news/2024/11/25/slug/?id=5"
    assert by_id[item_id(104)].url is None
    assert (by_id[item_id(105)].kind, by_id[item_id(105)].project) == ("partner", None)
    assert [(r.currency, r.value, r.change) for r in page.rates] == [
        ("EUR", "108.87", "-0.56"),
        ("USD", "103.79", "+1.21"),
    ]
    assert page.rates[0].published_at == "2024-11-25T14:44:00Z"  # from the label: 17:44 Moscow
    assert page.edition == "rbcnews.tatarstan"
    assert any("appears twice" in w for w in page.warnings)
    assert page.updated_at == "2024-11-25T15:57:00Z"


# --- XML: defusedxml's refusals at the C parser's speed ---------------------------------------------

XML_DOCUMENTS = [
    b'<?xml version="1.0" encoding="utf-8"?><ValCurs Date="26.11.2024" name="Foreign Currency Market">'
    b'<Valute ID="R01239"><CharCode>EUR</CharCode><Nominal>1</Nominal><Value>108,8740</Value></Valute>'
    b"<!-- a comment --><?pi data?></ValCurs>",
    '<rss version="2.0"><channel><title>Лента &amp; «новости»</title><item><title>A<![CDATA[<b>'
    "]]>tail</title></item></channel></rss>".encode(),
    b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id></entry></feed>',
    b"<a><!-- <!DOCTYPE inside a comment --><b x='1'>t</b>tail</a>",
]
XML_REFUSED = [
    b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]><v>&a;</v>',
    b'<!DOCTYPE v SYSTEM "file:///etc/passwd"><v/>',
    b"<v>&undefined;</v>",
    b"<v><unclosed></v>",
    b"",
    b"<v></v><second/>",
]


def refusal(parse, body: bytes) -> str:
    try:
        parse(body)
    except Exception as error:  # the type and the words are what is compared
        return f"{type(error).__name__}: {error}"
    return "accepted"


def test_safe_xml_reads_what_defusedxml_reads_and_refuses_what_it_refuses():
    def defused(body: bytes):
        return defused_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)

    for body in XML_DOCUMENTS:
        assert ElementTree.tostring(safe_fromstring(body)) == ElementTree.tostring(defused(body))
    for body in XML_REFUSED:
        assert refusal(safe_fromstring, body) == refusal(defused, body) != "accepted", body


# --- a list page's fields read page-wide are what each item's own query finds ------------------------


def many_cards(extra: str = "", count: int = 60) -> str:
    cards = []
    for n in range(count):
        title = f'<span class="t">Новость {n}</span>' if n % 7 else ""  # some without a title
        shown = f'<time class="d">{n % 24:02d}:{n % 60:02d}</time>' if n % 5 else ""
        cards.append(f'<div class="card" id="c{n}"><a href="/news/2022/01/30/n{n}/">{title}</a>{shown}</div>')
    return f"<!DOCTYPE html><html><body><h3 class=t>Вне ленты</h3>{''.join(cards)}{extra}</body></html>"


PAGE_WIDE_CASES = [
    ({"item": "div.card", "title": ".t", "link": "a@href", "time": "time.d"}, many_cards()),
    ({"item": "body div.card", "title": "a .t", "link": "a@href", "time": "div > time"}, many_cards()),
    # an item that is its own title, and titles outside every item
    (
        {"item": "div.card", "title": ".t", "link": "a@href"},
        many_cards('<div class="card t"><a href="/x/">X</a></div>'),
    ),
    # nested items: a title belongs to two items (read item by item)
    (
        {"item": "div.card", "title": ".t", "link": "a@href"},
        many_cards(
            '<div class="card"><a href="/o/">O</a><div class="card"><span class="t">In</span></div></div>'
        ),
    ),
    # selectors read item by item: a pseudo-class, a list
    ({"item": "div.card", "title": ".t:first-child", "link": "a@href"}, many_cards()),
    ({"item": "div.card", "title": ".t, time", "link": "a@href"}, many_cards()),
]


@pytest.mark.parametrize(("select", "html"), PAGE_WIDE_CASES)
def test_fields_read_page_wide_are_each_items_own_first_match(select, html, monkeypatch):
    selectors = Selectors.from_config(select, "select")
    tree = LexborHTMLParser(html)
    nodes = tree.css(selectors.item)
    plan = html_list._plan(selectors)
    firsts = html_list._page_wide_firsts(tree, nodes, selectors.item, plan)
    if firsts is not None:
        for css, found in firsts.items():
            own = [node.css_first(css) for node in nodes]
            assert [n.mem_id if n else None for n in found] == [n.mem_id if n else None for n in own], css
    page_wide = parse_html_list(
        html.encode(), selectors=selectors, base_url="https://lenta.ru/", content_type="text/html",
        fetched_at=datetime(2022, 1, 30, 13, 41, tzinfo=UTC), min_items=1,
    )  # fmt: skip
    monkeypatch.setattr(html_list, "_PAGE_WIDE_ITEMS", 10**9)
    item_by_item = parse_html_list(
        html.encode(), selectors=selectors, base_url="https://lenta.ru/", content_type="text/html",
        fetched_at=datetime(2022, 1, 30, 13, 41, tzinfo=UTC), min_items=1,
    )  # fmt: skip
    assert page_wide == item_by_item


def test_which_pages_are_read_page_wide():
    def firsts(select, html):
        selectors = Selectors.from_config(select, "select")
        tree = LexborHTMLParser(html)
        nodes = tree.css(selectors.item)
        return html_list._page_wide_firsts(tree, nodes, selectors.item, html_list._plan(selectors))

    assert firsts(*PAGE_WIDE_CASES[0]) is not None and firsts(*PAGE_WIDE_CASES[1]) is not None
    assert firsts(*PAGE_WIDE_CASES[2]) is not None  # an item that is its own title: still page-wide
    assert all(firsts(*case) is None for case in PAGE_WIDE_CASES[3:])  # item by item
    assert firsts(PAGE_WIDE_CASES[0][0], many_cards(count=10)) is None  # few items: item by item
