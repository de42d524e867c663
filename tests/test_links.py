"""safe_link: the one rule for every stored headline address (http(s) only, no control characters,
tracking parameters removed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from ticker.scraper.links import safe_link

BASE = "https://www.rbc.ru/"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("https://www.rbc.ru/rbcfreenews/abc?from=newsfeed", "https://www.rbc.ru/rbcfreenews/abc"),
        ("https://www.rbc.ru/a?x=1&from=newsfeed", "https://www.rbc.ru/a?x=1"),
        ("https://rt.rbc.ru/a?from=regional_newsfeed", "https://rt.rbc.ru/a"),
        (
            "https://pro.rbc.ru/d?from=newsfeed&utm_source=rbc.ru&UTM_Medium=m&utm_term=10.4Z",
            "https://pro.rbc.ru/d",
        ),
        ("/politics/26/11/2024/abc?from=newsfeed", "https://www.rbc.ru/politics/26/11/2024/abc"),
        # only the tracking keys go; other parameters stay exactly as written
        ("https://www.rbc.ru/a?fromage=1&q=a%20b&from=x", "https://www.rbc.ru/a?fromage=1&q=a%20b"),
        ("https://www.rbc.ru/a?from_date=2024-11-26", "https://www.rbc.ru/a?from_date=2024-11-26"),
        ("https://www.rbc.ru/a?utm_source=x#part", "https://www.rbc.ru/a#part"),
        ("https://www.rbc.ru/a?%75tm_source=x&b=1", "https://www.rbc.ru/a?b=1"),  # encoded key
        ("  https://www.rbc.ru/a  ", "https://www.rbc.ru/a"),
        ("\t\n https://www.rbc.ru/a\x00\x01 ", "https://www.rbc.ru/a"),  # surrounding C0 stripped
        ("//cdnimg.rg.ru/img/1.jpg", "https://cdnimg.rg.ru/img/1.jpg"),  # scheme-relative
        ("news/2022/01/30/x/", "https://www.rbc.ru/news/2022/01/30/x/"),
        ("HTTP://Example.ORG/Path", "HTTP://Example.ORG/Path"),  # the usual path: kept as written
        ("https://www.rbc.ru/новости/1", "https://www.rbc.ru/новости/1"),  # non-ASCII kept
        # tab/CR/LF inside are dropped, as a browser does; other white space is percent-encoded
        ("https://www.rbc.ru/a\n/b", "https://www.rbc.ru/a/b"),
        ("https://www.rbc.ru/a\r\nb?x=1", "https://www.rbc.ru/ab?x=1"),
        ("https://www.rbc.ru/a b", "https://www.rbc.ru/a%20b"),
        ("https://www.rbc.ru/a\u2028b", "https://www.rbc.ru/a%E2%80%A8b"),
        ("https://www.rbc.ru/a\u202eb", "https://www.rbc.ru/a%E2%80%AEb"),  # bidi override
    ],
)
def test_kept_links(href, expected):
    assert safe_link(href, BASE) == (expected, None)


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "   javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "DATA:text/html,<script>x</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "mailto:desk@example.org",
        "ftp://example.org/a",
        "https://www.rbc.ru/a\x00b",  # a control character inside
        "https://www.rbc.ru/a\x1bb",
        "https://www.rbc.ru/a\x85b",  # C1 (NEL)
        "https://www.rbc.ru/a\x7fb",
        "https:///no-host",
        "http://[::1/broken",
    ],
)
def test_refused_links(href):
    url, warning = safe_link(href, BASE)
    assert url is None and warning and "not stored" in warning
    assert "\n" not in warning and "\t" not in warning  # the link is quoted (repr)


def test_relative_link_on_a_non_http_base_is_refused():
    assert safe_link("/a", "file:///tmp/page.html")[0] is None


def test_missing_link_is_no_address_and_no_warning():
    assert safe_link(None, BASE) == (None, None)
    assert safe_link("  ", BASE) == (None, None)


def test_long_refused_link_is_cut_in_the_warning():
    _, warning = safe_link("javascript:" + "x" * 5000, BASE)
    assert warning is not None and len(warning) < 200


@pytest.mark.parametrize(
    "attribute",
    [
        "&#106;avascript:alert(1)",
        "&#x6A;&#x61;vascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "jav&NewLine;ascript:alert(1)",
        "&#32;javascript:alert(1)",
        "data&colon;text/html,x",
    ],
)
def test_entity_encoded_hrefs_in_html_are_refused(attribute):
    node = LexborHTMLParser(f'<a href="{attribute}">x</a>').css_first("a")
    assert safe_link(node.attrs.get("href"), BASE)[0] is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from([BASE, "http://lenta.ru/rss", "https://x.test/a/b?c=1"]))
def test_any_text_gives_an_http_address_without_control_or_space_or_a_warning(href, base):
    url, warning = safe_link(href, base)
    if url is None:
        return
    assert warning is None
    assert url.lower().startswith(("http://", "https://"))
    assert not any(char.isspace() or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in url)
