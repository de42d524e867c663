"""A news list described by CSS selectors (`kind = "html"`): selectors checked as the config is
read; pages modelled on Lenta.ru's 2022 main page (two versions) and Interfax's 2015 windows-1251
page; a re-laid-out, a cut-short and a challenge page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticker.core.base import BlockedPage, ParseError, TickerPage
from ticker.scraper.html_list import Selectors, parse_html_list, split_selector

LENTA = {
    "item": "a.card-mini",
    "title": ".card-mini__title",
    "link": "@href",
    "time": "time.card-mini__date",
}
INTERFAX = {"item": "div.dNewsCont div.text", "title": "h3", "link": "h3 a@href", "time": "time@datetime"}
LENTA_FETCHED = datetime(2022, 1, 30, 13, 41, tzinfo=UTC)  # 16:41 Moscow
HTML_UTF8 = "text/html; charset=utf-8"


def selectors(table: dict, name: str = "lenta_page") -> Selectors:
    return Selectors.from_config(table, f"sources.{name}.select")


def lenta(body: bytes, **kwargs) -> TickerPage:
    options = {"base_url": "https://lenta.ru/", "content_type": HTML_UTF8, "fetched_at": LENTA_FETCHED}
    return parse_html_list(body, selectors=selectors(LENTA), **{**options, **kwargs})


def interfax(body: bytes, content_type: str | None = "text/html") -> TickerPage:
    return parse_html_list(
        body,
        selectors=selectors(INTERFAX, "interfax"),
        base_url="https://www.interfax.ru/",
        content_type=content_type,
        fetched_at=datetime(2015, 8, 18, 22, 30, tzinfo=UTC),
    )


def slug(item_id: str) -> str:
    return item_id.rstrip("/").rsplit("/", 1)[-1]


# --- Lenta.ru --------------------------------------------------------------------------------


def test_lenta_cards_in_page_order(fixture_bytes):
    page = lenta(fixture_bytes("html_lenta_2022_1640.html"))
    assert [slug(h.id) for h in page.headlines] == [
        "polzovateli-seti-osudili-postupok-30-01-2022.htm",
        "gen_migranta",
        "tea",
        "wooden_rifles",
        "hockey",
        "night_fire",
        "snow",
    ]
    assert [h.position for h in page.headlines] == list(range(1, 8))
    first, second = page.headlines[:2]
    assert first.url == first.id  # a partner site's absolute link
    assert second.id == second.url == "https://lenta.ru/news/2022/01/30/gen_migranta/"  # relative, resolved
    assert second.title == "В Москве предложили ввести геномную регистрацию мигрантов"
    assert second.published_at == "2022-01-30T13:37:00Z"  # 16:37 Moscow on the fetch's day
    assert page.headlines[4].title == "Сборная России по хоккею & её новый состав"
    assert all(h.rubric is None and h.kind is None for h in page.headlines)
    # The same card again lower down (tracking parameter aside) keeps its first place.
    assert page.warnings == (
        "item https://lenta.ru/news/2022/01/30/gen_migranta/ appears twice: later copy skipped",
    )


def test_shown_time_takes_its_day_from_the_address_or_the_fetch(fixture_bytes):
    page = lenta(fixture_bytes("html_lenta_2022_1640.html"))
    by_slug = {slug(h.id): h for h in page.headlines}
    assert by_slug["night_fire"].published_at == "2022-01-29T20:52:00Z"  # 23:52: later than the fetch
    assert by_slug["snow"].published_at == "2022-01-29T12:58:00Z"  # 15:58, but /2022/01/29/ says the 29th
    # A partner link has no day in its address: the fetch's Moscow day.
    assert by_slug["polzovateli-seti-osudili-postupok-30-01-2022.htm"].published_at == "2022-01-30T13:38:00Z"


def test_bare_time_after_the_fetch_is_the_day_before():
    body = page_of([card("https://partner.example/a", "Поздняя новость", "23:58")] * 1, extra=5)
    page = parse_html_list(
        body,
        selectors=selectors(LENTA),
        base_url="https://lenta.ru/",
        content_type=HTML_UTF8,
        fetched_at=datetime(2022, 1, 30, 21, 5, tzinfo=UTC),  # 00:05 Moscow on the 31st
    )
    assert page.headlines[0].published_at == "2022-01-30T20:58:00Z"


def test_second_version_new_reworded_pulled_scrolled_off(fixture_bytes):
    before = lenta(fixture_bytes("html_lenta_2022_1640.html"))
    after = lenta(
        fixture_bytes("html_lenta_2022_1650.html"), fetched_at=datetime(2022, 1, 30, 13, 51, tzinfo=UTC)
    )
    assert [slug(h.id) for h in after.headlines] == [
        "new_law",
        "polzovateli-seti-osudili-postupok-30-01-2022.htm",
        "gen_migranta",
        "tea",
        "hockey",
        "night_fire",
    ]
    old = {slug(h.id): h for h in before.headlines}
    new = {slug(h.id): h for h in after.headlines}
    assert set(new) - set(old) == {"new_law"}
    assert set(old) - set(new) == {"wooden_rifles", "snow"}  # pulled (older ones stay) / scrolled off
    assert (old["tea"].title, new["tea"].title) == (
        "Врач назвал напиток для здоровья",
        "Врач назвал напиток для снижения веса",
    )
    assert old["tea"].id == new["tea"].id and old["tea"].published_at == new["tea"].published_at


# --- Interfax, windows-1251 ----------------------------------------------------------------------


def test_interfax_windows_1251_page_by_its_meta(fixture_bytes):
    page = interfax(fixture_bytes("html_interfax_2015.cp1251.html"))
    assert [h.id for h in page.headlines] == [
        "https://www.interfax.ru/sport/461072",
        "https://www.interfax.ru/sport/461067",
        "https://www.interfax.ru/sport/461036",
        "https://www.interfax.ru/russia/461030",
        "https://www.interfax.ru/business/461025",
        "https://www.interfax.ru/world/461019",
    ]
    assert page.headlines[0].title == "ЦСКА проиграл первый матч плей-офф Лиги чемпионов"  # upper-case <H3>
    assert page.headlines[1].title == 'Допинг-проба гонщика "Катюши" дала положительный результат'
    assert page.headlines[0].published_at == "2015-08-18T20:37:00Z"  # datetime without a zone: Moscow
    assert page.warnings == ()


def test_interfax_served_with_a_wrong_utf8_header_is_still_read(fixture_bytes):
    page = interfax(fixture_bytes("html_interfax_2015.cp1251.html"), content_type="text/html; charset=utf-8")
    assert page.headlines[0].title == "ЦСКА проиграл первый матч плей-офф Лиги чемпионов"


def test_windows_1251_label_on_utf8_bytes_is_read_as_utf8(fixture_bytes):
    text = fixture_bytes("html_interfax_2015.cp1251.html").decode("cp1251")
    page = interfax(text.encode("utf-8"), content_type="text/html; charset=windows-1251")
    assert page.headlines[0].title == "ЦСКА проиграл первый матч плей-офф Лиги чемпионов"
    assert any("is valid utf-8" in w for w in page.warnings)


# --- what is not a news list -------------------------------------------------------------------


def test_re_laid_out_page_is_a_parse_error(fixture_bytes):
    body = fixture_bytes("html_lenta_2022_1640.html").replace(b"card-mini ", b"card-small ")
    with pytest.raises(ParseError, match=r"no element on the page matches item selector 'a\.card-mini'"):
        lenta(body)


def test_page_where_titles_moved_has_too_few_usable_items(fixture_bytes):
    body = fixture_bytes("html_lenta_2022_1640.html").replace(b"card-mini__title", b"card-mini__heading")
    with pytest.raises(ParseError, match=r"8 element.* but 0 usable item.*fewer than the 5 expected"):
        lenta(body)


def test_fewer_than_min_items(fixture_bytes):
    with pytest.raises(ParseError, match="fewer than the 8 expected"):
        lenta(fixture_bytes("html_lenta_2022_1640.html"), min_items=8)
    assert len(lenta(fixture_bytes("html_lenta_2022_1640.html"), min_items=7).headlines) == 7


def test_cut_short_page_is_a_parse_error(fixture_bytes):
    body = fixture_bytes("html_lenta_2022_1640.html")
    with pytest.raises(ParseError, match="truncated"):
        lenta(body[: body.index(b"night_fire")], min_items=1)


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b"", ParseError, "empty"),
        (b'<html><head><script src="/__qrator/qauth.js"></script></head></html>', BlockedPage, "challenge"),
        (b"<html><body><p>Service unavailable</p></body></html>", ParseError, "no element"),
    ],
)
def test_empty_blocked_or_other_pages(body, error, match):
    with pytest.raises(error, match=match):
        lenta(body)


# --- items: ids, links, times, rubrics ---------------------------------------------------------


def card(href: str, title: str, time: str = "16:00", *, data_id: str | None = None, rubric: str = "") -> str:
    data = f' data-id="{data_id}"' if data_id is not None else ""
    return (
        f'<a class="card-mini"{data} href="{href}"><span class="card-mini__title">{title}</span>'
        f'<span class="card-mini__rubric">{rubric}</span><time class="card-mini__date">{time}</time></a>'
    )


def page_of(cards: list[str], extra: int = 0) -> bytes:
    filler = [card(f"/news/2022/01/30/filler{n}/", f"Заполнитель {n}") for n in range(extra)]
    return (
        "<html><head><meta charset='utf-8'></head><body>" + "".join(cards + filler) + "</body></html>"
    ).encode()


def test_unsafe_links_without_an_id_selector_skip_the_item():
    body = page_of(
        [
            card(" JaVaScRiPt:alert(1)", "Скрипт"),
            card("&#106;avascript:alert(1)", "Скрипт в сущностях"),
            card("jav&#x09;ascript:alert(1)", "Скрипт с табуляцией"),
            card("data:text/html,x", "Данные"),
            card("//news.example/a?utm_medium=x", "Без схемы"),
        ],
        extra=5,
    )
    page = lenta(body)
    assert page.headlines[0].id == "https://news.example/a"
    assert len(page.headlines) == 6
    assert sum("not an http(s) address" in w and "skipped" in w for w in page.warnings) == 4


def test_id_selector_keeps_an_item_with_an_unsafe_link_without_an_address():
    table = {**LENTA, "id": "@data-id", "rubric": ".card-mini__rubric"}
    body = page_of(
        [
            card("vbscript:x", "Новость", data_id="1001", rubric=" Мир "),
            card("/news/1002/", "Другая", data_id="1002"),
            card("/news/1003/", "Без id"),
        ]
    )
    page = parse_html_list(
        body,
        selectors=selectors(table),
        base_url="https://lenta.ru/",
        content_type=HTML_UTF8,
        fetched_at=LENTA_FETCHED,
        min_items=2,
    )
    assert [(h.id, h.url, h.rubric) for h in page.headlines] == [
        ("1001", None, "Мир"),
        ("1002", "https://lenta.ru/news/1002/", None),
    ]
    assert any("1001" in w and "not an http(s) address" in w for w in page.warnings)
    assert any("no usable id" in w for w in page.warnings)


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("16:38", "2022-01-30T13:38:00Z"),
        ("30 января 2022, 14:05", "2022-01-30T11:05:00Z"),
        ("28 января, 14:05", "2022-01-28T11:05:00Z"),
        ("14:05, 29.01.2022", "2022-01-29T11:05:00Z"),
        ("вчера, 09:15", "2022-01-29T06:15:00Z"),
        ("2022-01-30T14:05:00+03:00", "2022-01-30T11:05:00Z"),
        ("2022-01-30T11:05:00Z", "2022-01-30T11:05:00Z"),
    ],
)
def test_shown_time_forms(shown, expected):
    body = page_of([card("https://partner.example/a", "Новость", shown)], extra=4)
    assert lenta(body).headlines[0].published_at == expected


@pytest.mark.parametrize("shown", ["31 февраля, 10:00", "25:61", "скоро", "2022-01-30"])
def test_unreadable_time_is_none_with_a_warning(shown):
    page = lenta(page_of([card("https://partner.example/a", "Новость", shown)], extra=4))
    assert page.headlines[0].published_at is None
    assert any(
        "partner.example/a" in w and ("unreadable time" in w or "no time of day" in w) for w in page.warnings
    )


def test_time_from_an_attribute():
    table = {**LENTA, "time": "time@datetime"}
    body = page_of(
        [
            '<a class="card-mini" href="/a/"><b class="card-mini__title">T</b><time datetime="2015-08-18T23:37">23:37</time></a>'
        ],
        extra=4,
    )
    page = parse_html_list(
        body,
        selectors=selectors(table),
        base_url="https://x.ru/",
        content_type=None,
        fetched_at=LENTA_FETCHED,
    )
    assert page.headlines[0].published_at == "2015-08-18T20:37:00Z"


# --- selectors as the config gives them -----------------------------------------------------------


def test_config_selectors_from_the_issue():
    table = {**LENTA, "id": "@data-id", "rubric": ".card-mini__rubric"}
    assert selectors(table) == Selectors(
        item="a.card-mini",
        title=".card-mini__title",
        link="@href",
        time="time.card-mini__date",
        id="@data-id",
        rubric=".card-mini__rubric",
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {**LENTA, "title": "a["},
            "sources.lenta_page.select.title: 'a[' is not a CSS selector Lexbor accepts",
        ),
        ({**LENTA, "time": "span:contains(x)@x"}, "sources.lenta_page.select.time: "),
        ({**LENTA, "item": "a.card-mini@href"}, "sources.lenta_page.select.item: the item is an element"),
        ({**LENTA, "titel": ".x"}, "sources.lenta_page.select.titel: unknown key"),
        ({"item": "a", "title": ".t"}, "sources.lenta_page.select.link: required"),
        ({**LENTA, "rubric": 5}, "sources.lenta_page.select.rubric: must be a CSS selector"),
        ({**LENTA, "rubric": "  "}, "sources.lenta_page.select.rubric: must be a CSS selector"),
        ({**LENTA, "link": "@"}, "sources.lenta_page.select.link: "),
    ],
)
def test_bad_selectors_name_their_key(table, message):
    with pytest.raises(ValueError) as error:
        selectors(table)
    assert str(error.value).startswith(message)


def test_selectors_must_be_a_table():
    with pytest.raises(ValueError, match=r"^sources.x.select: must be a table"):
        Selectors.from_config(["a.card-mini"], "sources.x.select")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "parts"),
    [
        ("@href", (None, "href")),
        ("h3 a@href", ("h3 a", "href")),
        ("time@datetime", ("time", "datetime")),
        (".card-mini__title", (".card-mini__title", None)),
        ('a[href*="@"]', ('a[href*="@"]', None)),
        ("a[data-x='@y']@href", ("a[data-x='@y']", "href")),
        ("@Data-ID", (None, "data-id")),
    ],
)
def test_split_selector(spec, parts):
    assert split_selector(spec) == parts


# --- any bytes: records or ParseError -------------------------------------------------------

PAGE = page_of([], extra=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(PAGE)), st.integers(0, 80), st.binary(max_size=48))
def test_damaged_page_gives_records_or_a_parse_error(at, cut, junk):
    try:
        page = lenta(PAGE[:at] + junk + PAGE[at + cut :], min_items=1)
    except ParseError:
        return
    for headline in page.headlines:
        assert headline.id and headline.title
        assert headline.url is None or headline.url.startswith(("http://", "https://"))


def test_undecodable_bytes_in_a_title_are_a_parse_error(fixture_bytes):
    body = fixture_bytes("html_lenta_2022_1640.html")
    start = body.index(b'card-mini__title">') + len(b'card-mini__title">')
    damaged = body[:start] + b"\xff\xfe" + body[start:]
    with pytest.raises(ParseError, match="undecodable bytes in 1 title"):
        lenta(damaged)
