"""The shared item rules (scraper/items.py): the fast paths give exactly what the general rule gives."""

from __future__ import annotations

import random
import re

import pytest

from ticker.scraper.items import clean_text, item_link
from ticker.scraper.links import safe_link

BASES = [
    "https://lenta.ru/",
    "https://www.interfax.ru/news/",
    "http://Example.RU:8080/a/b?c=d",
    "HTTPS://rbc.ru",
]
HREFS = [
    "/news/2022/01/30/slug/",
    "/news/2022/01/30/slug/?utm_source=x&id=5",
    "/news/./x/",
    "/news/../x/",
    "/a/..",
    "/a#frag",
    "//other.ru/x",
    "/a b",
    "/a\tb",
    "/\u00e9t\u00e9",
    "/a?from=main",
    "/;params?x",
    "/%2e%2e/x",
    "/a\\b",
    "/",
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("href", HREFS)
def test_a_rooted_link_resolves_as_safe_link_does(href, base):
    assert item_link(href, base) == safe_link(href, base)


def test_random_rooted_links_resolve_as_safe_link_does():
    rng = random.Random(20)
    alphabet = "/./..?#&=%ab:@;~ -\\"
    for _ in range(20000):
        href = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        base = rng.choice(BASES)
        assert item_link(href, base) == safe_link(href, base), (href, base)


def test_a_base_that_is_not_http_takes_the_general_rule():
    assert item_link("/x", "ftp://host/") == safe_link("/x", "ftp://host/")
    assert item_link("/x", "not a url") == safe_link("/x", "not a url")


_FOLD = re.compile(r"\s+")


def test_clean_text_folds_every_white_space_a_regex_folds():
    for code in [*range(0x3100), 0xFEFF, 0x10FFFF]:
        text = f" a{chr(code)}\u00a0b{chr(code)}{chr(code)} "
        assert clean_text(text) == _FOLD.sub(" ", text.replace("\u00a0", " ")).strip(), hex(code)
        for text in (chr(code), f"a{chr(code)}b", f"a {chr(code)}", f"{chr(code)} b", f"a b{chr(code)}"):
            assert clean_text(text) == _FOLD.sub(" ", text).strip(), hex(code)  # the already-folded path
