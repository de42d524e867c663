"""Moscow time is one definition (zoneinfo's Europe/Moscow) for every date ticker stores: UTC+4
from 2011 to 2014, summer time before 2011, UTC+3 since; the same in the views' SQL, the
Python helpers and the pages."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers_front import _page, _row, add_source

from ticker.cli.commands.serve import canned_sql
from ticker.core.base import from_moscow_wall, moscow_offsets, moscow_wall, to_iso, to_moscow_text
from ticker.db.schema import connect, open_db
from ticker.db.views import VIEWS, moscow_sql
from ticker.db.writes import save_failure, save_ticker
from ticker.web.plugins import ticker_pages
from ticker.web.plugins.ticker_sql import ticker_msk

# (instant, its Moscow wall time): 2011-14 at UTC+4, summer 2010 at +4, winter 2010 at +3, 2020 at +3
CASES = [
    ("2013-07-01T12:00:00Z", "2013-07-01 16:00:00"),
    ("2010-07-01T12:00:00Z", "2010-07-01 16:00:00"),
    ("2010-01-15T12:00:00Z", "2010-01-15 15:00:00"),
    ("2020-07-01T12:00:00Z", "2020-07-01 15:00:00"),
]


def _shift(iso: str, minutes: int) -> str:
    return to_iso(datetime.fromisoformat(iso.replace("Z", "+00:00")) + timedelta(minutes=minutes))


def _history_at(path: Path, instant: str) -> None:
    """Real writes that put `instant` in every view's UTC column: a rewording and an exit seen by
    the poll at `instant`, an outage starting then, and its hour in fetch_health."""
    db = open_db(path)
    add_source(db, "rbc", "rbc", ["page"], "page")
    add_source(db, "cbr", "cbr", ["xml_daily"], None)
    save_ticker(db, _row("rbc", "page", _shift(instant, -2)), _page([(1, None), (2, None), (3, None)], ()))
    save_ticker(
        db, _row("rbc", "page", instant), _page([(1, "Путин провел совещание с Совбезом"), (3, None)], ())
    )
    save_failure(db, _row("cbr", "xml_daily", instant, "network_error", "connect timeout"))
    db.close()


@pytest.mark.parametrize(("instant", "wall"), CASES)
def test_every_view_msk_column_shows_moscow_time_of_its_date(tmp_path: Path, instant: str, wall: str) -> None:
    _history_at(tmp_path / "t.db", instant)
    db = connect(tmp_path / "t.db", read_only=True)
    checked = []
    for view in VIEWS:
        columns = [c[1] for c in db.execute(f"PRAGMA table_info({view})").fetchall()]
        for column in (c for c in columns if c.endswith("_msk")):
            base = column[: -len("_msk")]
            assert base in columns, f"{view}.{column} has no UTC column {base}"
            pairs = db.execute(f"SELECT {base}, {column} FROM {view} WHERE {base} = ?", [instant]).fetchall()
            assert pairs, f"{view} has no row at {instant}"
            assert {shown for _, shown in pairs} == {wall}, f"{view}.{column}"
            checked.append(f"{view}.{column}")
    assert len(checked) == 4  # changed_at_msk, hour_msk, started_at_msk, exited_at_msk


@pytest.mark.parametrize(("instant", "wall"), CASES)
def test_python_and_page_helpers_agree(instant: str, wall: str) -> None:
    assert moscow_wall(instant) == wall
    assert to_moscow_text(instant) == f"{wall} MSK"
    assert ticker_msk(instant) == f"{wall} MSK"
    assert to_iso(from_moscow_wall(wall)) == instant
    assert ticker_pages._moscow_input(instant) == wall[:16].replace(" ", "T")
    assert f">{wall} MSK</time>" in ticker_pages._moscow_html(instant)
    assert f'datetime="{instant}"' in ticker_pages._moscow_text_html(wall)


def test_canned_queries_moscow_placeholder_reads_as_ticker_msk(tmp_path: Path) -> None:
    """`{msk:COLUMN}` (canned queries that sort every row) gives ticker_msk's text, in every era."""
    db = open_db(tmp_path / "p.db")
    query = canned_sql("SELECT {msk:at} FROM (SELECT :at AS at)")
    for instant, _wall in [*CASES, ("2014-10-25T21:59:59Z", None), ("2014-10-25T22:00:00Z", None)]:
        assert db.execute(query, {"at": instant}).fetchone()[0] == ticker_msk(instant), instant
    assert db.execute(query, {"at": None}).fetchone()[0] is None


def test_sql_offsets_equal_zoneinfo_from_1990_to_2100(tmp_path: Path) -> None:
    """The migration's table gives the zoneinfo answer at every change (and a second before it)
    and at random instants of the whole span."""
    db = open_db(tmp_path / "o.db")
    changes = [at for at, _ in moscow_offsets()]
    assert len(changes) > 40 and "2011-03-26T23:00:00Z" in changes and "2014-10-25T22:00:00Z" in changes
    rng = random.Random(7)
    span = (datetime(2101, 1, 1, tzinfo=UTC) - datetime(1990, 1, 1, tzinfo=UTC)).total_seconds()
    instants = [
        to_iso(datetime(1990, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, span))) for _ in range(400)
    ]
    instants += changes + [_shift(at, -1) for at in changes[1:]] + ["2100-12-31T23:59:59Z"]
    query = f"SELECT {moscow_sql(':at')}"
    for at in instants:
        assert db.execute(query, {"at": at}).fetchone()[0] == moscow_wall(at), at
    assert db.execute(query, {"at": None}).fetchone()[0] is None


def test_no_fixed_offset_left_in_views_or_charts() -> None:
    metadata = (Path(__file__).resolve().parents[1] / "ticker" / "web" / "metadata.yml").read_text()
    for text in [*VIEWS.values(), metadata]:
        assert not re.search(r"[+-]\s*3 hours|10800 seconds", text)


def test_offset_scan_finds_every_change_a_daily_scan_finds() -> None:
    """moscow_offsets steps 30 days at a time: no change of the zone's rules is missed between
    two steps (two changes less than 30 days apart would cancel out)."""
    moment, end = datetime(1990, 1, 1, tzinfo=UTC), datetime(2101, 1, 1, tzinfo=UTC)
    days_with_a_change = []
    before = moment.astimezone(ZoneInfo("Europe/Moscow")).utcoffset()
    while moment < end:
        moment += timedelta(days=1)
        now = moment.astimezone(ZoneInfo("Europe/Moscow")).utcoffset()
        if now != before:
            days_with_a_change.append(moment)
        before = now
    changes = [datetime.fromisoformat(at.replace("Z", "+00:00")) for at, _ in moscow_offsets()[1:]]
    assert len(changes) == len(days_with_a_change)
    for found, day in zip(changes, days_with_a_change, strict=True):
        assert day - timedelta(days=1) < found <= day
