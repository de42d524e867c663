"""How values read to a person: durations, flags, safe links, word diffs; and the bounds on
typed times (every accepted time is representable and sane)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticker.core.base import BadTime, parse_user_time, to_iso
from ticker.core.display import duration_text, flag_text, safe_href, word_diff


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (120, "2 min"), (4800, "1 h 20 min"), (4805, "1 h 20 min"),
     (90061, "1 d 1 h"), (-60, "-1 min"), (None, "")],
)  # fmt: skip
def test_durations(seconds, text: str) -> None:
    assert duration_text(seconds) == text


def test_flags() -> None:
    assert [flag_text(v) for v in (1, 0, True, False, "1", "0", None)] == ["yes", "no", "yes", "no", "yes",
                                                                          "no", ""]  # fmt: skip


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>", "vbscript:x", "//evil.example/x",
     "http:///nohost", "", None, "http://[::1"],
)  # fmt: skip
def test_unsafe_links_are_not_links(url) -> None:
    assert safe_href(url) is None


def test_safe_links() -> None:
    assert safe_href("https://www.rbc.ru/rbcfreenews/1") == "https://www.rbc.ru/rbcfreenews/1"
    assert safe_href("HTTP://lenta.ru/news/") == "HTTP://lenta.ru/news/"


def test_word_diff_keeps_every_word_in_order() -> None:
    old, new = "Путин провел совещание", "Путин провел экстренное совещание с Совбезом"
    segments = word_diff(old, new)
    assert "".join(t for op, t in segments if op != "ins") == old
    assert "".join(t for op, t in segments if op != "del") == new
    assert [t.strip() for op, t in segments if op == "ins" and t.strip()] == ["экстренное", "с Совбезом"]
    replaced = word_diff("Курс евро превысил 108 рублей", "Курс евро превысил 110 рублей")
    assert ("del", "108") in replaced and ("ins", "110") in replaced
    assert word_diff("same", "same") == [("same", "same")]


NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["0001-01-01", "9999-12-31T23:59:59-12:00", "1989-12-31T23:00:00Z", "2101-01-01", "1000000d",
     "18301d", "3000w", "99999999999999999999s"],
)  # fmt: skip
def test_times_out_of_bounds_are_refused(text: str) -> None:
    with pytest.raises(BadTime):
        parse_user_time(text, now=NOW)


def test_times_at_the_bounds_and_now() -> None:
    assert to_iso(parse_user_time("1990-01-01T00:00:00Z", now=NOW)) == "1990-01-01T00:00:00Z"
    assert to_iso(parse_user_time("2100-12-31T23:59:59-12:00", now=NOW)) == "2101-01-01T11:59:59Z"
    assert to_iso(parse_user_time("18000d", now=NOW)) == "1977-08-20T07:00:00Z"  # ~49 years: fine
    assert parse_user_time("now", now=NOW) == NOW
    assert parse_user_time(" NOW ", now=NOW) == NOW
    assert to_iso(parse_user_time("2024-11-25 18:57", now=NOW)) == "2024-11-25T15:57:00Z"  # Moscow


def test_titles_too_long_to_compare_word_by_word_are_replaced_whole() -> None:
    """Issue 19: an 8,000-word title diff took a minute of CPU in a server thread. Past
    MAX_DIFF_PAIRS the diff is one deletion and one insertion, which still reads back exactly."""
    old = " ".join(["Путин", "ЦБ", "курс"] * 2700)
    new = " ".join(["ЦБ", "курс", "Путин"] * 2700)
    assert word_diff(old, new) == [("del", old), ("ins", new)]
    assert word_diff("", new) == [("ins", new)]
    short = word_diff("ЦБ сохранил ставку", "ЦБ снизил ставку")
    assert short == [("same", "ЦБ "), ("del", "сохранил"), ("ins", "снизил"), ("same", " ставку")]
    words = 240  # under the bound: still word by word
    assert len(word_diff(" ".join(["а"] * words), " ".join(["а"] * (words - 1) + ["б"]))) == 3
