"""Any RSS/Atom feed (`kind = "rss"`): ids, titles, links, times and order on fixtures modelled on
real feeds (Lenta.ru 2013 in two versions, RG 2017, TASS 2020, Vedomosti 2013 in windows-1251,
an Atom feed), a broken feed, and feed bombs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticker.core.base import BlockedPage, ParseError, TickerPage
from ticker.scraper.feed_rss import clean_title, parse_feed

FETCHED = datetime(2013, 11, 1, 14, 5, tzinfo=UTC)
RSS_TYPE = "application/rss+xml; charset=utf-8"


def parse(body: bytes, *, base_url: str = "http://lenta.ru/rss", content_type=RSS_TYPE, **kwargs):
    return parse_feed(body, base_url=base_url, content_type=content_type, fetched_at=FETCHED, **kwargs)


def slugs(page: TickerPage) -> list[str]:
    return [h.id.rstrip("/").rsplit("/", 1)[-1] for h in page.headlines]


def test_lenta_2013_ids_titles_links_times_rubrics(fixture_bytes):
    page = parse(fixture_bytes("feed_lenta_2013_1700.xml"))
    assert slugs(page) == ["yaiba", "kiev_rally", "ruble", "snow", "match", "museum"]
    assert [h.position for h in page.headlines] == [1, 2, 3, 4, 5, 6]
    first, second = page.headlines[:2]
    assert first.id == first.url == "http://lenta.ru/news/2013/11/01/yaiba/"
    assert first.published_at == "2013-11-01T13:00:05Z"  # +0400: Moscow's offset in 2011-2014
    assert first.rubric == "Наука и техника" and first.kind is None
    assert second.title == "В Киеве прошел митинг сторонников евроинтеграции"  # trailing space trimmed
    assert page.headlines[4].title == "«Зенит» сыграет с «Аустрией» без Халка"
    assert page.warnings == ()


def test_second_version_new_reworded_moved_pulled_and_scrolled_off(fixture_bytes):
    """The parser's side of history: the second list in feed order, the same ids, the new title."""
    before = parse(fixture_bytes("feed_lenta_2013_1700.xml"))
    after = parse(fixture_bytes("feed_lenta_2013_1802.xml"))
    # Feed order, not date order: "quake" (18:02:37) sits under "duma" (17:55:59).
    assert slugs(after) == ["duma", "quake", "kiev_rally", "yaiba", "ruble", "match"]
    assert after.headlines[1].published_at > after.headlines[0].published_at
    old = {h.id: h for h in before.headlines}
    new = {h.id: h for h in after.headlines}
    assert sorted(slugs_of(set(new) - set(old))) == ["duma", "quake"]
    assert sorted(slugs_of(set(old) - set(new))) == ["museum", "snow"]  # scrolled off / pulled
    ruble = "http://lenta.ru/news/2013/11/01/ruble/"
    assert (old[ruble].title, new[ruble].title) == (
        "Рубль подешевел к бивалютной корзине",
        "Рубль подешевел к доллару и евро",
    )
    assert old[ruble].published_at == new[ruble].published_at


def slugs_of(ids) -> list[str]:
    return [item_id.rstrip("/").rsplit("/", 1)[-1] for item_id in ids]


def test_lenta_2022_https_author_and_rubrics(fixture_bytes):
    page = parse(fixture_bytes("feed_lenta_2022.xml"), base_url="https://lenta.ru/rss")
    assert slugs(page) == ["freedman", "parallel69", "moyastrana", "sreda"]
    assert page.headlines[0].id == page.headlines[0].url == "https://lenta.ru/news/2022/12/03/freedman/"
    assert page.headlines[0].published_at == "2022-12-03T16:43:00Z"
    assert [h.rubric for h in page.headlines] == ["Мир", "69-я параллель", "Моя страна", "Среда обитания"]
    assert page.headlines[2].title == "В Казани открыли новый мост"
    assert page.warnings == ()


def test_rg_2017_no_weekday_gmt_unsorted(fixture_bytes):
    page = parse(fixture_bytes("feed_rg_2017.xml"), base_url="https://rg.ru/")
    times = [h.published_at for h in page.headlines]
    assert times == [
        "2017-01-24T08:02:11Z",
        "2017-01-24T07:35:40Z",
        "2017-01-24T07:58:02Z",
        "2017-01-24T07:21:41Z",
    ]
    assert times != sorted(times, reverse=True)  # kept as the feed lists them
    assert page.headlines[1].title == 'Фильм "Зеркала" покажут в прокате весной'
    assert page.headlines[2].rubric == "Происшествия"
    assert page.headlines[2].id == "https://rg.ru/2017/01/24/reg-urfo/vystavka.html"


def test_tass_cdata_links_and_first_of_several_categories(fixture_bytes):
    page = parse(fixture_bytes("feed_tass_2020.xml"), base_url="https://tass.ru/rss/v2.xml")
    assert [h.id for h in page.headlines] == [
        "https://tass.ru/obschestvo/10092321",
        "https://tass.ru/sport/10092305",
        "https://tass.ru/moskovskaya-oblast/10092290",
    ]
    assert [h.rubric for h in page.headlines] == ["Общество", "Спорт", "Московская область"]
    assert page.headlines[1].title == '"Спартак" обыграл "Зенит"'
    assert page.headlines[0].published_at == "2020-11-30T18:40:12Z"


def test_vedomosti_2013_windows_1251_bare_numeric_guid(fixture_bytes):
    body = fixture_bytes("feed_vedomosti_2013.cp1251.xml")
    page = parse(body, base_url="http://www.vedomosti.ru/rss", content_type="application/rss+xml")
    assert [h.id for h in page.headlines] == ["18984481", "18984470", "18984455"]
    assert page.headlines[0].title == "Сбербанк снизил ставки по ипотеке"
    assert page.headlines[0].url == "http://www.vedomosti.ru/finance/news/18984481/sberbank-snizil-stavki"
    assert page.headlines[1].url == "http://www.vedomosti.ru/companies/news/18984470/gazprom"  # utm_* gone
    assert all(h.rubric is None for h in page.headlines)


def test_windows_1251_label_on_utf8_bytes_is_read_as_utf8(fixture_bytes):
    text = fixture_bytes("feed_vedomosti_2013.cp1251.xml").decode("cp1251")
    page = parse(text.encode("utf-8"), content_type="application/rss+xml; charset=windows-1251")
    assert page.headlines[0].title == "Сбербанк снизил ставки по ипотеке"
    assert "body labelled cp1251 is valid utf-8: decoded as utf-8" in page.warnings


def test_utf8_label_on_windows_1251_bytes_is_read_as_windows_1251(fixture_bytes):
    text = fixture_bytes("feed_lenta_2013_1700.xml").decode("utf-8")
    page = parse(text.encode("cp1251"), content_type="application/rss+xml; charset=utf-8")
    assert page.headlines[0].title == "Зомби-ответвление Ninja Gaiden выпустят в марте"


def test_atom_feed(fixture_bytes):
    page = parse(fixture_bytes("feed_atom.xml"), base_url="https://news.example/atom.xml")
    first, second = page.headlines
    assert first.id == "tag:news.example,2022:1001"
    assert first.title == "Срочно: курс рубля вырос"  # type="html": tags stripped, spaces folded
    assert first.url == "https://news.example/news/1001"  # relative, tracking removed
    assert first.published_at == "2022-12-03T16:40:00Z" and first.rubric == "Экономика"
    assert second.published_at == "2022-12-03T16:10:00Z"  # only <updated>
    assert page.updated_at == "2022-12-03T16:43:00Z"


def feed(*items: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (
        prolog + '<rss version="2.0"><channel><title>t</title>' + "".join(items) + "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Fri, 01 Nov 2013 17:00:05 +0400", "2013-11-01T13:00:05Z"),
        ("01 Nov 2013 17:00:05 +0400", "2013-11-01T13:00:05Z"),
        ("Fri, 01 Nov 2013 17:00:05 MSK", "2013-11-01T13:00:05Z"),  # MSK was +0400 then
        ("Sat, 03 Dec 2022 19:43:00 MSK", "2022-12-03T16:43:00Z"),  # and +0300 since 2014
        ("Wed, 01 Jul 2009 12:00:00 MSD", "2009-07-01T08:00:00Z"),
        ("Sat, 03 Dec 2022 19:43:00 -0500", "2022-12-04T00:43:00Z"),
        ("Sat, 03 Dec 2022 19:43:00 EST", "2022-12-04T00:43:00Z"),
        ("Sat, 03 Dec 2022 19:43:00 +03:00", "2022-12-03T16:43:00Z"),
        ("Sat, 03 Dec 2022 19:43:00", "2022-12-03T16:43:00Z"),  # no zone: Moscow time
        ("2022-12-03T19:43:00+03:00", "2022-12-03T16:43:00Z"),
    ],
)
def test_published_time_forms(date, expected):
    page = parse(feed(f"<item><guid>1</guid><title>t</title><pubDate>{date}</pubDate></item>"))
    assert page.headlines[0].published_at == expected


@pytest.mark.parametrize(
    "date", ["Sat, 03 Dec 2022 19:43:00 XYZ", "вчера", "Sat, 32 Dec 2022 19:43:00 +0300"]
)
def test_unreadable_time_is_none_with_a_warning(date):
    page = parse(feed(f"<item><guid>1</guid><title>t</title><pubDate>{date}</pubDate></item>"))
    assert page.headlines[0].published_at is None
    assert any("unreadable date" in w for w in page.warnings)


def test_items_without_id_or_title_are_skipped_with_warnings():
    page = parse(
        feed(
            "<item><title>no guid, link gives the id</title><link>/news/1?utm_source=rss</link></item>",
            "<item><title>nothing to key it on</title></item>",
            "<item><guid>7</guid><title>   </title></item>",
            "<item><title>unsafe link, no guid</title><link>javascript:alert(1)</link></item>",
            "<item><guid>8</guid><title>unsafe link, guid</title><link>java\tscript:alert(1)</link></item>",
            "<item><guid>8</guid><title>the same guid again</title></item>",
        )
    )
    assert [(h.id, h.url) for h in page.headlines] == [
        ("http://lenta.ru/news/1", "http://lenta.ru/news/1"),
        ("8", None),
    ]
    assert [h.position for h in page.headlines] == [1, 2]
    text = "\n".join(page.warnings)
    assert "no guid and no link" in text
    assert "item 7 has no title: skipped" in text
    assert "not an http(s) address" in text and "appears twice" in text
    assert len(page.warnings) == 5


def test_guid_forms():
    page = parse(
        feed(
            "<item><guid>https://x.ru/a/1?utm_source=rss&amp;id=1</guid><title>url guid</title></item>",
            "<item><guid>  18984481 </guid><title>numeric guid</title><link>https://x.ru/b</link></item>",
            "<item><guid>" + "g" * 513 + "</guid><title>an overlong guid: the link is the id</title>"
            "<link>https://x.ru/c</link></item>",
        )
    )
    assert [h.id for h in page.headlines] == ["https://x.ru/a/1?id=1", "18984481", "https://x.ru/c"]


def test_bytes_that_fit_no_encoding_are_a_parse_error():
    body = feed("<item><guid>1</guid><title>x</title></item>").replace(b"<title>x", b"<title>\x98\xff\x98")
    with pytest.raises(ParseError, match="not valid text"):
        parse(body)


def test_titles_are_text():
    assert clean_title(" <i>Титаник</i>   &laquo;затонул&raquo;\n ") == "Титаник «затонул»"
    assert clean_title("<div>" * 20_000 + "глубоко" + "</div>" * 20_000) == "глубоко"  # no tree built
    assert clean_title("<!-- c --><b>жир</b>ный<br/>текст") == "жирный текст"
    assert clean_title("AT&T & Ко < 5") == "AT&T & Ко < 5"
    assert clean_title("Индекс 1 < 2 > 0, <3") == "Индекс 1 < 2 > 0, <3"
    assert clean_title("a&nbsp;b") == "a b"


# --- what is not a feed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!DOCTYPE html><html><head><title>Lenta.ru</title></head><body>news</body></html>", "HTML page"),
        (b"<html><body><p>moved</p></body></html>", "HTML page"),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x.dtd"><html/>',
            "HTML page",
        ),
        (b'<?xml version="1.0"?><data><row>1</row></data>', "not an RSS or Atom feed"),
        (b"just text, not XML", "not"),
    ],
)
def test_not_a_feed_is_a_parse_error(body, match):
    with pytest.raises(ParseError, match=match):
        parse(body)


def test_challenge_page_is_blocked():
    with pytest.raises(BlockedPage):
        parse(b'<html><head><script src="/__qrator/qauth.js"></script></head></html>')


def test_truncated_feed_is_a_parse_error_not_a_shorter_ticker(fixture_bytes):
    body = fixture_bytes("feed_lenta_2013_1802.xml")
    with pytest.raises(ParseError, match="not a well-formed feed"):
        parse(body[: len(body) // 2])


def test_broken_markup_is_a_parse_error(fixture_bytes):
    body = fixture_bytes("feed_lenta_2013_1700.xml").replace(b"</title>", b"</titel>", 3)
    with pytest.raises(ParseError, match="not a well-formed feed"):
        parse(body)


def test_fewer_than_min_items_is_a_parse_error(fixture_bytes):
    with pytest.raises(ParseError, match="fewer than the 1 expected"):
        parse(feed())
    with pytest.raises(ParseError, match="6 usable item"):
        parse(fixture_bytes("feed_lenta_2013_1700.xml"), min_items=7)
    assert parse(feed(), min_items=0).headlines == ()


def test_a_body_that_looks_like_a_path_is_never_opened(tmp_path):
    secret = tmp_path / "feed.xml"
    secret.write_bytes(feed("<item><guid>1</guid><title>from disk</title></item>"))
    with pytest.raises(ParseError):
        parse(str(secret).encode())


# --- feed bombs ---------------------------------------------------------------------------

BILLION_LAUGHS = b"".join(
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n',
        *(
            f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'.encode()
            for n in range(1, 10)
        ),
        b']>\n<rss version="2.0"><channel><item><guid>1</guid><title>&lol9;</title></item></channel></rss>',
    ]
)
QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"x" * 50_000 + b'">]>'
    b'<rss version="2.0"><channel><item><guid>1</guid><title>'
    + b"&a;" * 20_000
    + b"</title></item></channel></rss>"
)


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        QUADRATIC,
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY s SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><item><guid>1</guid><title>&s;</title></item></channel></rss>',
        b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">'
        b'<rss version="2.0"><channel><item><guid>1</guid><title>t</title></item></channel></rss>',
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'
        b'<rss version="2.0"><channel><item><guid>1</guid><title>t</title></item></channel></rss>',
        b'<!doctype rss [<!entity x "y">]><rss version="2.0"><channel></channel></rss>',
    ],
    ids=[
        "billion-laughs",
        "quadratic-blowup",
        "external-entity",
        "external-dtd",
        "parameter-entity",
        "lower",
    ],
)
def test_feed_bombs_are_refused_before_parsing(body):
    with pytest.raises(ParseError, match="unsafe XML refused"):
        parse(body)


def test_existing_bomb_fixtures_are_refused(fixture_bytes):
    for name in ("rss_billion_laughs.xml", "rss_external_entity.xml"):
        with pytest.raises(ParseError, match="unsafe XML refused"):
            parse(fixture_bytes(name))


def test_doctype_text_inside_an_item_is_only_text():
    page = parse(
        feed(
            "<item><guid>1</guid><title>t</title><description><![CDATA[<!DOCTYPE html>]]></description></item>"
        )
    )
    assert page.headlines[0].title == "t"


# --- any bytes: records or ParseError -------------------------------------------------------

FEED = feed(
    "<item><guid>a1</guid><title>Первая</title><link>https://x.ru/1</link>"
    "<pubDate>Fri, 01 Nov 2013 17:00:05 +0400</pubDate><category>Мир</category></item>",
    "<item><guid>a2</guid><title>Вторая</title><link>https://x.ru/2</link></item>",
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(FEED)), st.integers(0, 60), st.binary(max_size=48))
def test_damaged_feed_gives_records_or_a_parse_error(at, cut, junk):
    try:
        page = parse(FEED[:at] + junk + FEED[at + cut :], min_items=0)
    except ParseError:
        return
    for headline in page.headlines:
        assert headline.id and headline.title
        assert headline.url is None or headline.url.startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("Индекс a<b, c>d", "Индекс a<b, c>d"),  # text that looks like a tag but names none
        ("1 < 2 > 0", "1 < 2 > 0"),
        ("<b>Жирный</b> текст", "Жирный текст"),
        ('<a href="x">Ссылка</a>', "Ссылка"),
        ("до<br/>после", "до после"),
        ("x<!-- комментарий -->y", "xy"),
    ],
)
def test_only_real_tags_are_stripped_from_titles(raw, title):
    from ticker.scraper.feed_rss import clean_title

    assert clean_title(raw) == title
