"""Presets: the outlets the issue names, each an http(s) feed address that safe_link keeps as is."""

from __future__ import annotations

from ticker.scraper.links import safe_link
from ticker.scraper.presets import PRESETS


def test_the_named_outlets_have_their_addresses():
    assert PRESETS["tass"][0] == "https://tass.ru/rss/v2.xml"
    assert PRESETS["lenta"][0] == "https://lenta.ru/rss"
    assert PRESETS["rg"][0] == "https://rg.ru/xml/index.xml"
    assert PRESETS["vedomosti"][0] == "https://www.vedomosti.ru/rss/news"
    assert PRESETS["interfax"][0] == "https://www.interfax.ru/rss.asp"
    assert PRESETS["kommersant"][0] == "https://www.kommersant.ru/RSS/news.xml"
    assert PRESETS["ria"][0] == "https://ria.ru/export/rss2/archive/index.xml"


def test_every_preset_is_a_clean_https_address_with_a_description():
    for name, (address, description) in PRESETS.items():
        assert name.isascii() and name.islower() and name.isidentifier()
        assert address.startswith("https://") and safe_link(address, address) == (address, None)
        assert description.strip() == description and description
