"""ticker.core.base: what every command validates typed values with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticker.core.base import BadInput, BadTime, parse_number, parse_user_time, to_moscow_text


def test_the_time_ticker_prints_is_a_time_it_reads():
    shown = to_moscow_text("2024-11-25T15:57:00Z")
    assert shown == "2024-11-25 18:57:00 MSK"
    assert parse_user_time(shown) == datetime(2024, 11, 25, 15, 57, tzinfo=UTC)
    assert parse_user_time("2024-11-25 18:57 msk") == datetime(2024, 11, 25, 15, 57, tzinfo=UTC)
    with pytest.raises(BadTime):
        parse_user_time("2024-11-25T18:57+03:00 MSK")


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e309", "-1", "3601", "abc", ""])
def test_numbers_are_finite_and_in_range(text):
    with pytest.raises(BadInput):
        parse_number(text, "--pause", float, 0, 3600)


def test_a_number_in_range_is_read():
    assert parse_number(" 2.5 ", "--pause", float, 0, 3600) == 2.5
    assert parse_number("20", "--limit", int, 1, 1000) == 20
    with pytest.raises(BadInput):
        parse_number("2.5", "--limit", int, 1, 1000)
