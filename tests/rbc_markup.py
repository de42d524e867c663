"""Builds RBC-shaped pages for tests, following the real markup (see docs/sources.md):
the `news-feed` banner with both rate widgets, the `newsfeed.timeLastUpdate` script, and
`.js-news-feed-list` holding `a.news-feed__item` items with ads mixed in.

Tests describe a poll as a list of `Item`s and get the page a real server would send.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")
_RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря"]  # fmt: skip


def item_id(n: int, stamp: int = 0x68385B7B) -> str:
    """A 24-hex id like RBC's: 8 hex digits of creation time, then 16 more."""
    return f"{stamp:08x}9a7947{n:010x}"


@dataclass
class Item:
    id: str
    title: str
    rubric: str = "Политика"
    published: datetime = field(default_factory=lambda: datetime(2024, 11, 25, 15, 54, tzinfo=UTC))
    document_type: str | None = "short_news"
    project: str | None = "rbcnews"
    href: str | None = None
    paid: bool = False
    show_date: bool = False  # "Рубрика, 25 ноя, 18:54" for an item of an earlier day
    modif: bool = True  # older markup has no data-modif / data-rm-data-element

    def url(self) -> str:
        return self.href or f"https://www.rbc.ru/rbcfreenews/{self.id}?from=newsfeed"


@dataclass
class Widget:
    currency: str  # EUR / USD
    rate_day: str  # "26 ноября"
    value: str  # "108,87"
    change: str | None  # "+1,45" / "-0,56"
    published: datetime = field(default_factory=lambda: datetime(2024, 11, 25, 14, 44, tzinfo=UTC))


def _shown_time(moment: datetime, with_date: bool) -> str:
    local = moment.astimezone(MOSCOW)
    prefix = f"{local.day} {_RU_MONTHS[local.month - 1][:3]}, " if with_date else ""
    return f"{prefix}{local:%H:%M}"


def render_item(item: Item, position: int) -> str:
    attrs = [
        f'href="{html.escape(item.url())}"',
        f'id="id_newsfeed_{item.id}"',
    ]
    if item.modif:
        attrs.append(f'data-modif="{int(item.published.timestamp())}"')
    attrs.append('class="news-feed__item js-visited js-news-feed-item js-yandex-counter"')
    attrs.append('data-yandex-name="from_news_feed"')
    if item.modif:
        attrs.append(f'data-rm-position="{position}"')
        element = {"documentType": item.document_type, "documentId": item.id, "projectNick": item.project}
        attrs.append(f"data-rm-data-element='{json.dumps(element)}'")
    shown = _shown_time(item.published, item.show_date)
    if item.paid:
        date_text = (
            '<span class="pro-shield "><img class="pro-shield__img" src="https://s0.rbk.ru/x.svg" alt=""><!--\n'
            ' --><!--\n    --><span class="pro-shield__text">'
            f"{html.escape(item.rubric).replace(' ', '&nbsp;')},&nbsp;</span><!--\n --><!--\n--></span>"
            f"{shown}"
        )
    else:
        date_text = f"\n        {html.escape(item.rubric)},&nbsp;{shown}"
    return (
        f"                        <a {' '.join(attrs)}    >"
        '<div class="news-feed__item__grid"><div class="news-feed__item__grid__content">'
        '<span class="news-feed__item__title\n                                                        ">'
        f"{html.escape(item.title)}</span>"
        f'<span class="news-feed__item__date"><span class="news-feed__item__date-text">{date_text}'
        "</span></span></div></div></a>\n"
    )


def render_widget(widget: Widget) -> str:
    name = {"EUR": "евро", "USD": "доллара"}[widget.currency]
    change = ""
    if widget.change is not None:
        css = "item__change_fall" if widget.change.startswith("-") else "item__change_rise"
        change = f'\n        <span class="news-feed__item__change {css}">\n                        ({widget.change})\n        </span>'
    local = widget.published.astimezone(MOSCOW)
    return (
        f'<a href="https://quote.ru/ticker/72383" id="id_newsfeed_currencycb{widget.currency.lower()}" '
        'class="news-feed__item g-hidden js-news-feed-currency js-news-feed-item" '
        f'data-modif="{int(widget.published.timestamp())}" data-rm-position="1">\n'
        '    <span class="news-feed__item__title news-feed__item_bold">\n'
        f"        Курс {name} на {widget.rate_day}<br/>\n"
        f"        {widget.currency} ЦБ: {widget.value}{change}\n    </span>\n"
        '    <span class="news-feed__item__date">\n'
        '        <span class="news-feed__item__date-text">'
        f"Инвестиции, {local.day} {_RU_MONTHS[local.month - 1]}, {local:%H:%M}</span>\n    </span>\n</a>\n"
    )


AD_BLOCK = """
                        <div class="fox-tail g-border-bottom" data-role="fox-tail" data-unit="in_newsline">
                            <a href="https://rbc.group/advertisers/" rel="nofollow" target="_blank"
                               class="banner__container__link"><span>rbc.group</span></a>
                        </div>
                        <div class="fox-fallback js-fox-tail-fallback g-border-bottom">
                            <a class="fox-fallback__link" href="https://example.org/promo?utm_source=rbc.ru">Реклама</a>
                        </div>
"""


def default_widgets() -> list[Widget]:
    return [Widget("EUR", "26 ноября", "108,87", "+1,45"), Widget("USD", "26 ноября", "103,79", "+1,21")]


def render_page(
    items: list[Item],
    *,
    widgets: list[Widget] | None = None,
    updated: datetime | None = None,
    region: str | None = None,
    ads_after: int = 3,
    header: str = "Новости",
) -> str:
    """A whole RBC main page around the ticker (head, navigation links that are not headlines)."""
    updated = updated or datetime(2024, 11, 25, 15, 57, tzinfo=UTC)
    widgets = default_widgets() if widgets is None else widgets
    body_items = []
    for position, item in enumerate(items, start=1):
        body_items.append(render_item(item, position))
        if position == ads_after:
            body_items.append(AD_BLOCK)
    toggle = ""
    if region:
        toggle = (
            '<div class="news-feed__toggle"><div class="news-feed__toggle__inner">'
            '<span class="news-feed__toggle__link js-news-feed-region active" data-group="rbcnews" '
            f'data-load-nick="rbcnews.{region}">Все новости</span>'
            f'<span class="news-feed__toggle__link js-news-feed-region" data-group="{region}" '
            f'data-load-nick="{region}">Регион</span></div></div>'
        )
    return f"""<!DOCTYPE html>
<html lang="ru" >
<head>
    <meta http-equiv="Content-Type" content="text/html; charset=utf-8">
    <title>Главные новости дня — РБК</title>
    <script>RA.config.set('newsfeed.loadTabNick', 'rbcnews.uploaded');</script>
</head>
<body>
<div class="topline"><a href="https://www.rbc.ru/politics/?utm_source=topline" class="topline__item">Политика</a>
<a href="https://www.rbc.ru/economics/25/11/2024/674400009a79470000000001" class="main__feed__link">
<span class="main__feed__title">Главная новость, которая не в ленте</span></a></div>
            <div class="news-feed__wrapper js-news-feed">
                <div id="js_news_feed_banner" class="news-feed" data-fox-tail-cropper>
                    <div class="news-feed__header">            <h1>{header}</h1>
                    </div>
{"".join(render_widget(w) for w in widgets)}
                    {toggle}
                    <script>
                        RA.config.set('newsfeed.timeLastUpdate', {int(updated.timestamp())});
                    </script>
                    <div class="js-news-feed-list">
{"".join(body_items)}
                    </div>
                </div>
            </div>
<footer><a href="https://www.rbc.ru/rbcfreenews/674400009a79470000000002">Не заголовок ленты</a></footer>
</body>
</html>
"""


def standard_items(count: int = 14, *, start: int = 0, newest: datetime | None = None) -> list[Item]:
    """`count` plain news items, newest first, five minutes apart."""
    newest = newest or datetime(2024, 11, 25, 15, 54, tzinfo=UTC)
    return [
        Item(
            id=item_id(start + n),
            title=f"Заголовок новости номер {start + n}",
            published=newest - timedelta(minutes=5 * n),
        )
        for n in range(count)
    ]
