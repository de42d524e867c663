"""Public news feeds of major Russian outlets, for `kind = "rss"` plus `preset = "<name>"`.

Data only: name -> (address, description). A preset's address that stops working shows as a
failing source like any other; nothing here is checked at import time.
"""

from __future__ import annotations

PRESETS: dict[str, tuple[str, str]] = {
    "tass": ("https://tass.ru/rss/v2.xml", "ТАСС: all news (RSS 2.0, about 100 items)"),
    "lenta": ("https://lenta.ru/rss", "Lenta.ru: news (RSS 2.0, about 200 items, a day)"),
    "rg": ("https://rg.ru/xml/index.xml", "Российская газета: news (RSS 2.0, not sorted by date)"),
    "vedomosti": ("https://www.vedomosti.ru/rss/news", "Ведомости: news (RSS 2.0)"),
    "interfax": ("https://www.interfax.ru/rss.asp", "Интерфакс: news (RSS 2.0)"),
    "kommersant": ("https://www.kommersant.ru/RSS/news.xml", "Коммерсантъ: news (RSS 2.0)"),
    "ria": ("https://ria.ru/export/rss2/archive/index.xml", "РИА Новости: news (RSS 2.0)"),
}
