"""RBC page parser: pure, bytes in, records out (no server, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import Item, Widget, item_id, render_page, standard_items

from ticker.core.base import BlockedPage, ParseError
from ticker.scraper.rbc_page import (
    parse_decimal,
    parse_item_markup,
    parse_rbc_page,
    split_rubric_and_time,
)
from ticker.scraper.ru_dates import month_number, nearest_date

FETCHED = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)  # 10:00 Moscow


def parse(body: bytes | str, **kwargs):
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return parse_rbc_page(raw, fetched_at=kwargs.pop("fetched_at", FETCHED), **kwargs)


# --- the full, real-shaped page -------------------------------------------------------------


@pytest.fixture
def full_page(fixture_bytes):
    return parse(fixture_bytes("rbc_full_page.html"), min_items=5)


def test_full_page_has_the_14_headlines_in_order_and_nothing_else(full_page):
    ids = [h.id for h in full_page.headlines]
    assert len(ids) == 14
    assert [h.position for h in full_page.headlines] == list(range(1, 15))
    assert ids[0] == "674570279a7947c6045654e8"
    assert ids[-1] == "67449d379a79476f708192a3"
    # links elsewhere on the page (main news, footer) and the ads are not headlines
    assert "6745690b9a79470000000001" not in ids
    assert "6745690b9a79470000000002" not in ids
    titles = [h.title for h in full_page.headlines]
    assert not any("Реклама" in t or "Онлайн-курс" in t or "rbc.group" in t for t in titles)
    assert full_page.updated_at == "2024-11-26T06:57:00Z"
    assert full_page.warnings == ()


def test_full_page_plain_item(full_page):
    first = full_page.headlines[0]
    assert first.url == "https://www.rbc.ru/rbcfreenews/674570279a7947c6045654e8"
    assert first.title == "Лавров заявил о попытках НАТО милитаризировать Арктику"
    assert first.rubric == "Политика"
    assert first.kind == "news"
    assert first.project == "rbcnews"
    assert first.published_at == "2024-11-26T06:54:00Z"  # 09:54 Moscow
    assert first.paid is False


def test_full_page_paid_item_behind_the_pro_shield(full_page):
    paid = full_page.headlines[1]
    assert paid.paid is True
    assert paid.rubric == "Подписка на РБК"  # NBSPs and HTML comments inside the shield
    assert paid.kind == "article"
    assert paid.project == "rbcpro"
    assert paid.published_at == "2024-11-26T06:50:00Z"
    # from= and every utm_* removed; nothing else there
    assert paid.url == "https://pro.rbc.ru/demo/67456f379a7947b2fd195d1c"


def test_full_page_partner_items(full_page):
    partners = [h for h in full_page.headlines if h.kind == "partner"]
    assert [(h.position, h.rubric) for h in partners] == [(4, "РБК и ИВИ"), (8, "РБК и Мемини")]
    assert partners[0].url == "https://editorial.rbc.ru/ivic25sp-a2-fd-m"
    # a non-tracking parameter stays
    assert partners[1].url == "https://www.rbc.ru/life/news/674567039a794777e0c1d2e3?erid=2SDnjcSUZuP"
    assert all(h.project is None for h in partners)


def test_full_page_old_markup_and_regional_items(full_page):
    old = full_page.headlines[5]  # no data-modif, no data-rm-data-element
    assert old.kind is None and old.project is None
    assert old.published_at == "2024-11-26T06:30:00Z"  # shown 09:30 on the page's own day
    regional = full_page.headlines[6]
    assert regional.url == "https://rt.rbc.ru/tatarstan/freenews/6745682f9a794791c4206aaa"
    assert regional.rubric == "Татарстан"  # the geo icon after the date text is not part of it
    assert full_page.headlines[9].rubric == "Технологии и медиа"
    assert full_page.headlines[4].title == "Минфин разместил ОФЗ на 250 млрд руб. «с запасом»"


def test_full_page_items_from_an_earlier_day(full_page):
    with_modif, shown_only = full_page.headlines[12], full_page.headlines[13]
    assert with_modif.published_at == "2024-11-25T20:40:00Z"  # "25 ноя, 23:40" Moscow
    assert shown_only.published_at == "2024-11-25T15:54:00Z"  # "25 ноя, 18:54", no data-modif
    assert shown_only.rubric == "Политика"
    assert shown_only.title == "Госдума приняла закон о налоге на сверхприбыль"  # &nbsp; -> space


def test_full_page_both_rate_widgets(full_page):
    rates = {r.currency: r for r in full_page.rates}
    assert set(rates) == {"EUR", "USD"}
    assert (rates["EUR"].rate_date, rates["EUR"].value, rates["EUR"].change) == (
        "2024-11-26",
        "108.87",
        "+1.45",
    )
    assert (rates["USD"].rate_date, rates["USD"].value, rates["USD"].change) == (
        "2024-11-26",
        "103.79",
        "+1.21",
    )
    assert rates["EUR"].published_at == "2024-11-25T14:44:00Z"  # 17:44 Moscow, when RBC published it


def test_full_page_within_a_bigger_answer_charset(fixture_bytes):
    """The same page served as windows-1251 (header says so) reads the same."""
    text = (
        fixture_bytes("rbc_full_page.html").decode("utf-8").replace("charset=utf-8", "charset=windows-1251")
    )
    page = parse(text.encode("cp1251", errors="strict"), charset="windows-1251", min_items=5)
    assert len(page.headlines) == 14
    assert page.headlines[0].title == "Лавров заявил о попытках НАТО милитаризировать Арктику"


# --- pages that must not become a snapshot ------------------------------------------------


def test_page_without_ticker_is_a_parse_error(fixture_bytes):
    with pytest.raises(ParseError, match="no headline ticker"):
        parse(fixture_bytes("rbc_no_ticker.html"))


def test_truncated_page_is_a_parse_error(fixture_bytes):
    body = fixture_bytes("rbc_full_page.html")
    cut = body.index(b"674562539a79474d5e6f7081")  # inside the 12th item
    with pytest.raises(ParseError, match="truncated"):
        parse(body[:cut], min_items=5)
    with pytest.raises(ParseError, match="truncated"):
        parse(body[: body.index(b"</footer>")], min_items=5)


def test_too_few_items_is_a_parse_error():
    with pytest.raises(ParseError, match="fewer than the 5"):
        parse(render_page(standard_items(3)), min_items=5)
    with pytest.raises(ParseError):
        parse(render_page([]), min_items=1)


@pytest.mark.parametrize("name", ["qrator_401.html", "ddos_guard_200.html"])
def test_challenge_page_is_blocked(fixture_bytes, name):
    with pytest.raises(BlockedPage):
        parse(fixture_bytes(name))


# --- pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Политика,\u00a016:16", ("Политика", None, "16:16")),
        ("\n        Политика,&nbsp;16:16".replace("&nbsp;", "\u00a0"), ("Политика", None, "16:16")),
        ("Подписка на\u00a0РБК,\u00a0 08:02", ("Подписка на РБК", None, "08:02")),
        ("Инвестиции, 28 мая, 20:19", ("Инвестиции", "28 мая", "20:19")),
        ("Экономика, 25 ноя, 18:54", ("Экономика", "25 ноя", "18:54")),
        ("Экономика,\u00a025\u00a0ноября,\u00a018:54", ("Экономика", "25 ноября", "18:54")),
        ("РБК и Сбер Первый, 18:15", ("РБК и Сбер Первый", None, "18:15")),
        ("Политика", ("Политика", None, None)),
        ("", (None, None, None)),
    ],
)
def test_split_rubric_and_time(text, expected):
    assert split_rubric_and_time(text) == expected


@pytest.mark.parametrize(
    ("word", "month"),
    [("января", 1), ("янв", 1), ("февраля", 2), ("мая", 5), ("май", 5), ("июн", 6), ("июня", 6),
     ("сентября", 9), ("сен", 9), ("ноя", 11), ("Ноября", 11), ("декабря", 12), ("дек", 12), ("xyz", None)],
)  # fmt: skip
def test_month_names_full_and_short(word, month):
    assert month_number(word) == month


@pytest.mark.parametrize(
    ("text", "expected"),
    [("79,6", "79.6"), ("108,87", "108.87"), ("90,3400", "90.3400"), ("1,45", "1.45"), ("100", "100")],
)
def test_parse_decimal_exact(text, expected):
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1,2,3", "--1", "1e5"])
def test_parse_decimal_rejects(text):
    with pytest.raises(ValueError):
        parse_decimal(text)


def test_unsafe_item_link_is_kept_without_an_address():
    items = standard_items(5)
    items[1].href = " JaVaScRiPt:alert(1)"
    page = parse(render_page(items))
    assert page.headlines[1].id == items[1].id and page.headlines[1].url is None
    assert any("is not an http(s) address" in warning for warning in page.warnings)


# --- times -----------------------------------------------------------------------------------


def _one(item: Item, *, updated: datetime | None = None, fetched_at: datetime = FETCHED, drop_update=False):
    text = render_page([item, *standard_items(4, start=50)], updated=updated)
    if drop_update:
        text = text.replace("RA.config.set('newsfeed.timeLastUpdate'", "RA.config.set('newsfeed.other'")
    page = parse(text, fetched_at=fetched_at)
    return page.headlines[0], page


def test_bare_time_uses_the_pages_own_update_day_not_the_fetch_day():
    # page updated 23:50 Moscow on 25 Nov, fetched (e.g. from a stale cache) at 10:00 on 26 Nov
    item = Item(item_id(1), "t", published=datetime(2024, 11, 25, 20, 40, tzinfo=UTC), modif=False)
    headline, page = _one(item, updated=datetime(2024, 11, 25, 20, 50, tzinfo=UTC))
    assert page.updated_at == "2024-11-25T20:50:00Z"
    assert headline.published_at == "2024-11-25T20:40:00Z"


def test_bare_time_without_update_stamp_uses_the_fetch_moscow_day():
    # 23:30 UTC on 25 Nov is already 02:30 on 26 Nov in Moscow
    item = Item(item_id(1), "t", published=datetime(2024, 11, 25, 23, 10, tzinfo=UTC), modif=False)
    headline, page = _one(item, fetched_at=datetime(2024, 11, 25, 23, 30, tzinfo=UTC), drop_update=True)
    assert page.updated_at is None
    assert headline.published_at == "2024-11-25T23:10:00Z"  # 02:10 Moscow on 26 Nov


def test_bare_time_just_before_moscow_midnight_on_a_page_just_after():
    item = Item(item_id(1), "t", published=datetime(2024, 11, 25, 20, 58, tzinfo=UTC), modif=False)
    headline, _ = _one(item, updated=datetime(2024, 11, 25, 21, 5, tzinfo=UTC))  # 00:05 Moscow, 26 Nov
    assert headline.published_at == "2024-11-25T20:58:00Z"  # 23:58 Moscow on 25 Nov


@pytest.mark.parametrize("month", ["дек", "декабря"])
def test_shown_date_across_the_year_turn(month):
    item = Item(
        item_id(1), "t", published=datetime(2024, 12, 31, 20, 40, tzinfo=UTC), modif=False, show_date=True
    )
    text = render_page([item, *standard_items(4, start=50)], updated=datetime(2025, 1, 1, 8, 55, tzinfo=UTC))
    assert "31 дек, 23:40" in text
    text = text.replace("31 дек, 23:40", f"31 {month}, 23:40")
    page = parse(text, fetched_at=datetime(2025, 1, 1, 9, 0, tzinfo=UTC))
    assert page.headlines[0].published_at == "2024-12-31T20:40:00Z"


def test_data_modif_is_preferred_to_the_shown_time():
    item = Item(item_id(1), "t", published=datetime(2024, 11, 26, 6, 54, 30, tzinfo=UTC))
    headline, _ = _one(item)
    assert headline.published_at == "2024-11-26T06:54:30Z"


# --- rate widgets ----------------------------------------------------------------------------


def _rates(widgets: list[Widget]):
    return parse(render_page(standard_items(5), widgets=widgets))


def test_rate_value_without_trailing_zero_and_falling_change():
    page = _rates([Widget("EUR", "29 мая", "79,6", "-0,56", datetime(2025, 5, 28, 17, 19, tzinfo=UTC))])
    (rate,) = page.rates
    assert (rate.currency, rate.rate_date, rate.value, rate.change) == ("EUR", "2025-05-29", "79.6", "-0.56")
    assert rate.published_at == "2025-05-28T17:19:00Z"


def test_rate_change_sign_is_read_from_the_text():
    page = _rates(
        [
            Widget("EUR", "26 ноября", "108,87", "+1,45"),
            Widget("USD", "26 ноября", "103,79", "\u22120,27"),  # a real minus sign
        ]
    )
    assert [(r.currency, r.change) for r in page.rates] == [("EUR", "+1.45"), ("USD", "-0.27")]


def test_unsigned_change_takes_the_sign_from_the_falling_class():
    text = render_page(standard_items(5), widgets=[Widget("EUR", "29 мая", "90,34", "-0,56")])
    (rate,) = parse(text.replace("(-0,56)", "(0,56)")).rates
    assert rate.change == "-0.56"


def test_rate_without_change():
    (rate,) = _rates([Widget("USD", "26 ноября", "103,79", None)]).rates
    assert rate.change is None
    assert rate.value == "103.79"


def test_rate_date_year_turn_december_to_january():
    published = datetime(2024, 12, 31, 12, 30, tzinfo=UTC)  # 15:30 Moscow, 31 Dec 2024
    (rate,) = _rates([Widget("EUR", "1 января", "106,1", "+0,2", published)]).rates
    assert rate.rate_date == "2025-01-01"
    (rate,) = _rates(
        [Widget("EUR", "31 декабря", "106,1", "+0,2", datetime(2025, 1, 1, 9, tzinfo=UTC))]
    ).rates
    assert rate.rate_date == "2024-12-31"


def test_invalid_rate_date_skips_that_widget_with_a_warning():
    page = _rates(
        [Widget("EUR", "31 февраля", "99,9", "+0,1"), Widget("USD", "26 ноября", "103,79", "+1,21")]
    )
    assert [r.currency for r in page.rates] == ["USD"]
    assert any("EUR" in w and "31" in w for w in page.warnings)
    assert len(page.headlines) == 5


def test_malformed_rate_value_skips_the_widget():
    page = _rates([Widget("EUR", "26 ноября", "н/д", None), Widget("USD", "26 ноября", "103,79", "+1,21")])
    assert [r.currency for r in page.rates] == ["USD"]
    assert any(w.startswith("EUR rate widget skipped") for w in page.warnings)


def test_no_widgets_is_a_warning_not_an_error():
    page = _rates([])
    assert page.rates == ()
    assert "no rate widgets on the page" in page.warnings


def test_nearest_date():
    assert nearest_date(1, 1, datetime(2024, 12, 31).date()).isoformat() == "2025-01-01"
    assert nearest_date(28, 5, datetime(2025, 6, 2).date()).isoformat() == "2025-05-28"
    with pytest.raises(ValueError):
        nearest_date(31, 2, datetime(2024, 2, 1).date())


# --- edges of the item list -----------------------------------------------------------------


def test_duplicate_item_is_kept_once_with_a_warning():
    items = standard_items(6)
    page = parse(render_page([*items, items[2]]))
    assert [h.id for h in page.headlines] == [i.id for i in items]
    assert any("appears twice" in w for w in page.warnings)


def test_item_without_id_or_title_is_skipped_with_a_warning():
    items = standard_items(6)
    text = render_page(items).replace(f'id="id_newsfeed_{items[1].id}"', 'id="something_else"', 1)
    text = text.replace("Заголовок новости номер 3<", "<", 1)
    text = text.replace(f'"documentId": "{items[1].id}"', '"documentId": "x"', 1)
    page = parse(text)
    assert [h.id for h in page.headlines] == [items[0].id, items[2].id, items[4].id, items[5].id]
    assert [h.position for h in page.headlines] == [1, 2, 3, 4]
    assert len(page.warnings) == 2


def test_feed_json_item_markup_parses_like_the_page():
    item = Item(item_id(7), "Заголовок", published=datetime(2024, 11, 26, 6, 0, tzinfo=UTC))
    markup = render_page([item]).split('<div class="js-news-feed-list">')[1].split("</a>")[0] + "</a>"
    headline, warnings = parse_item_markup(markup, reference=FETCHED + timedelta(hours=1))
    assert warnings == []
    assert headline is not None
    assert (headline.id, headline.title, headline.published_at) == (
        item.id,
        "Заголовок",
        "2024-11-26T06:00:00Z",
    )
