"""Dates as Russian sites write them: day-and-month text ("28 мая", "26 ноября", "25 ноя") and the
year it must belong to, shown Moscow times, and feed dates (RFC 822, MSK, ISO 8601)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from ticker.core.base import MOSCOW, OUT_OF_TIME_BOUNDS, in_time_bounds, to_iso
from ticker.scraper.items import item_cache

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
    if day is not None and not in_time_bounds(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
        raise ValueError(f"day {day.isoformat()} is {OUT_OF_TIME_BOUNDS}")
    local_reference = reference.astimezone(MOSCOW)
    on_day = day or local_reference.date()
    moment = datetime(on_day.year, on_day.month, on_day.day, hour, minute, tzinfo=MOSCOW)
    if day is None and moment > local_reference + timedelta(minutes=10):
        moment -= timedelta(days=1)
    return moment


_CLOCK = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")
_COLON_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_MOSCOW_ZONES = {"MSK": None, "MSD": timedelta(hours=4)}  # None: Moscow's offset on that day


def _bounded(moment: datetime, raw: str) -> datetime:
    """The instant, or ValueError when it lies outside the years ticker's times may take (a feed
    saying 9999 keeps its item, without the impossible time)."""
    if not in_time_bounds(moment):
        raise ValueError(f"date {raw[:60]!r} is {OUT_OF_TIME_BOUNDS}")
    return moment


def feed_instant(text: str) -> datetime:
    """An aware datetime for a feed's date: RFC 822 (with or without the weekday, any numeric
    offset taken as given, GMT/UT/EST...), Moscow's own zone names (MSK: Moscow's offset on that
    day, +0400 from 2011 to 2014; MSD: +0400), or ISO 8601 (Atom). A time without a zone is
    Moscow time, the sites' clock. ValueError when it cannot be read or lies outside the years
    ticker's times may take.
    """
    raw = " ".join(text.split())
    return _bounded(_feed_instant(raw), raw)


def _feed_instant(raw: str) -> datetime:
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is not None:
        if moment.tzinfo is not None:
            return moment
        zone = raw.rsplit(" ", 1)[-1].upper()
        if zone in _MOSCOW_ZONES:
            offset = _MOSCOW_ZONES[zone]
            return moment.replace(tzinfo=MOSCOW if offset is None else timezone(offset))
        if zone == "-0000":  # RFC 5322: UTC, the sender's zone unknown
            return moment.replace(tzinfo=UTC)
        numeric = _COLON_OFFSET.match(zone)
        if numeric:  # "+03:00", which RFC 822 parsing does not read
            sign = -1 if numeric.group(1) == "-" else 1
            minutes = int(numeric.group(2)) * 60 + int(numeric.group(3))
            return moment.replace(tzinfo=timezone(sign * timedelta(minutes=minutes)))
        if _CLOCK.match(zone):
            return moment.replace(tzinfo=MOSCOW)
        raise ValueError(f"unknown time zone {zone[:10]!r} in {raw[:60]!r}")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"unreadable date {raw[:60]!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=MOSCOW)


_SHOWN_CLOCK = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)")
_NUMERIC_DAY = re.compile(r"(?<!\d)(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)")
_RELATIVE_DAY = {"сегодня": 0, "вчера": -1}


def shown_instant_text(text: str, reference: datetime, day: date | None = None) -> datetime:
    """The instant a page's shown time stands for, Moscow time: "14:05" (on `day`, else the
    Moscow day of `reference`, a day back when that would be well after it), "30 января 2022,
    14:05", "30 января, 14:05" (the latest such date not after `reference`), "14:05, 30.01.2022",
    "вчера, 14:05". ValueError when there is no time of day or the date cannot be.
    """
    hour, minute, form = _shown_form(text)
    return shown_moscow_time(hour, minute, reference, _named_day(form, reference, day))


def _named_day(form: tuple | None, reference: datetime, day: date | None) -> date | None:
    """The day a shown time's form (`_shown_form`) names; `day` when it names none."""
    if form is None:
        return day
    if form[0] == "numeric":
        return date(form[1], form[2], form[3])
    if form[0] == "named":
        if form[3] is not None:
            return date(form[3], form[2], form[1])
        return past_date(form[1], form[2], reference.astimezone(MOSCOW).date())
    return reference.astimezone(MOSCOW).date() + timedelta(days=form[1])


# ---- the same, as a stored instant, for a list page's every item: the text's reading and each
# Moscow wall time's UTC form are pure, so they are memoised (a kept parse worker sees the same
# labels poll after poll); what depends on the fetch time is worked out per call.


@item_cache
def _shown_form(text: str) -> tuple[int, int, tuple | None]:
    """(hour, minute, day) as `shown_instant_text` reads `text`: day is ("numeric", y, m, d),
    ("named", d, month, year or None), ("relative", days) or None (the text names no day)."""
    clock = _SHOWN_CLOCK.search(text)
    if clock is None:
        raise ValueError(f"no time of day in {text[:60]!r}")
    rest = (text[: clock.start()] + " " + text[clock.end() :]).lower()
    numeric = _NUMERIC_DAY.search(rest)
    named = DAY_MONTH.search(rest)
    form: tuple | None = None
    if numeric:
        form = ("numeric", int(numeric.group(3)), int(numeric.group(2)), int(numeric.group(1)))
    elif named and month_number(named.group(2)):
        year = int(named.group(3)) if named.group(3) else None
        form = ("named", int(named.group(1)), month_number(named.group(2)), year)
    else:
        for word, shift in _RELATIVE_DAY.items():
            if word in rest:
                form = ("relative", shift)
                break
    return int(clock.group(1)), int(clock.group(2)), form


@item_cache
def _wall_iso(day: date, hour: int, minute: int) -> str:
    """The stored (UTC) form of a Moscow wall time."""
    return to_iso(datetime(day.year, day.month, day.day, hour, minute, tzinfo=MOSCOW))


@item_cache
def _day_wall_iso(day: date, hour: int, minute: int) -> str:
    if not in_time_bounds(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
        raise ValueError(f"day {day.isoformat()} is {OUT_OF_TIME_BOUNDS}")
    return _wall_iso(day, hour, minute)


_ANY_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)  # read by neither once the day is known


def fixed_shown_iso(text: str, day: date | None) -> str | None:
    """`shown_iso_text(text, any reference, day)` when the fetch time does not count (the text
    names a full date, or names no day and `day` is given), else None; the same errors."""
    hour, minute, form = _shown_form(text)
    full_date = form is not None and (form[0] == "numeric" or (form[0] == "named" and form[3] is not None))
    if not full_date and (form is not None or day is None):
        return None
    return moscow_time_iso(hour, minute, _ANY_REFERENCE, _named_day(form, _ANY_REFERENCE, day))


def shown_iso_text(text: str, reference: datetime, day: date | None = None) -> str:
    """`to_iso(shown_instant_text(text, reference, day))`, the same rules and errors, memoised
    where the fetch time does not count."""
    hour, minute, form = _shown_form(text)
    return moscow_time_iso(hour, minute, reference, _named_day(form, reference, day))


def moscow_time_iso(hour: int, minute: int, reference: datetime, day: date | None = None) -> str:
    """`to_iso(shown_moscow_time(hour, minute, reference, day))`, the same rules and errors,
    each Moscow wall time's UTC form memoised."""
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"no such time: {hour:02d}:{minute:02d}")
    if day is not None:
        return _day_wall_iso(day, hour, minute)
    local_reference = reference.astimezone(MOSCOW)  # as shown_moscow_time: the day of the page
    on_day = local_reference.date()
    moment = datetime(on_day.year, on_day.month, on_day.day, hour, minute, tzinfo=MOSCOW)
    if moment > local_reference + timedelta(minutes=10):
        on_day -= timedelta(days=1)
    return _wall_iso(on_day, hour, minute)
