"""Russian day-and-month text ("28 мая", "26 ноября", "25 ноя") and the year it must belong to."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from ticker.base import MOSCOW

_MONTHS = {
    "янв": 1,
    "фев": 2,
    "мар": 3,
    "апр": 4,
    "май": 5,
    "мая": 5,
    "июн": 6,
    "июл": 7,
    "авг": 8,
    "сен": 9,
    "окт": 10,
    "ноя": 11,
    "дек": 12,
}
DAY_MONTH = re.compile(r"(\d{1,2})\s+([А-Яа-яЁё]{3,})\.?(?:\s+(\d{4}))?")


def month_number(word: str) -> int | None:
    """1..12 for a Russian month name in any case or its 3-letter abbreviation."""
    return _MONTHS.get(word.lower().replace("ё", "е")[:3])


def nearest_date(day: int, month: int, around: date) -> date:
    """The date with this day and month closest to `around` (the year is not shown).

    "на 1 января" published on 31 December is next year's; "28 мая" on a page of 2 June is
    this year's. Raises ValueError for a day the month does not have ("31 февраля").
    """
    best: date | None = None
    for year in (around.year - 1, around.year, around.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if best is None or abs(candidate - around) < abs(best - around):
            best = candidate
    if best is None:
        raise ValueError(f"no such day: {day}.{month:02d}")
    return best


def past_date(day: int, month: int, reference: date) -> date:
    """The latest date with this day and month not after `reference` (plus a day of slack)."""
    for year in (reference.year, reference.year - 1, reference.year - 2):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= reference + timedelta(days=1):
            return candidate
    raise ValueError(f"no such day: {day}.{month:02d}")


def shown_moscow_time(hour: int, minute: int, reference: datetime, day: date | None = None) -> datetime:
    """An aware datetime for a Moscow HH:MM shown on a page.

    With `day`, on that day. Without, on the Moscow day of `reference` (the page's own update
    time or the fetch time), stepping back a day when that would put it well after `reference`
    (an item from 23:58 on a page of 00:05).
    """
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"no such time: {hour:02d}:{minute:02d}")
    local_reference = reference.astimezone(MOSCOW)
    on_day = day or local_reference.date()
    moment = datetime(on_day.year, on_day.month, on_day.day, hour, minute, tzinfo=MOSCOW)
    if day is None and moment > local_reference + timedelta(minutes=10):
        moment -= timedelta(days=1)
    return moment
