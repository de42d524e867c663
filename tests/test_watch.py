"""Watch words: `[alerts] watch` is checked at load (one line per mistake); a headline on any
outlet whose title contains a term alerts once, through the alert queue, on a real database
written by the real writers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_front import _row, add_source

from ticker.core.base import Headline, TickerPage
from ticker.core.settings import AlertSettings
from ticker.db.schema import open_db
from ticker.db.writes import save_ticker
from ticker.schedules.alerts import Alerter
from ticker.schedules.config import ConfigError, load_config
from ticker.schedules.watch import matching_terms

HOOK = "json://127.0.0.1:9/hook"  # never called: the tests deliver through a recording notifier
NOW = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)
MANY_WORDS = ", ".join(['"w"'] * 101)


def _config(tmp_path: Path, alerts: str) -> Path:
    path = tmp_path / "ticker.toml"
    path.write_text(f'[sources.cbr]\nkind = "cbr"\n[alerts]\n{alerts}\n', encoding="utf-8")
    return path


def test_watch_words_load_trimmed_and_once(tmp_path: Path) -> None:
    config = load_config(
        _config(tmp_path, f'urls = ["{HOOK}"]\nwatch = ["Набиуллина", " ставк ", "НАБИУЛЛИНА"]')
    )
    assert config.settings.alerts.watch == ("Набиуллина", "ставк")
    assert load_config(_config(tmp_path, f'urls = ["{HOOK}"]')).settings.alerts.watch == ()


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        (f'urls = ["{HOOK}"]\nwatch = "ставк"', "alerts.watch = 'ставк': must be a list of words"),
        (
            f'urls = ["{HOOK}"]\nwatch = ["ставк", ""]',
            "alerts.watch #2 = '': must be a word or phrase (text, not empty)",
        ),
        (f'urls = ["{HOOK}"]\nwatch = ["  "]', "alerts.watch #1 = '  ': must be a word or phrase"),
        (f'urls = ["{HOOK}"]\nwatch = [1]', "alerts.watch #1 = 1: must be a word or phrase"),
        (f'urls = ["{HOOK}"]\nwatch = ["{"я" * 101}"]', "alerts.watch #1: 101 characters, at most 100"),
        (f'urls = ["{HOOK}"]\nwatch = [{MANY_WORDS}]', "alerts.watch: 101 words, at most 100"),
        ('watch = ["ставк"]', "alerts.watch: needs alerts.urls"),
    ],
)
def test_bad_watch_words_are_one_line(tmp_path: Path, alerts: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, alerts))
    assert f"ticker.toml: {expected}" in str(error.value)
    assert "\n" not in str(error.value)


def test_matching_ignores_case_and_yo() -> None:
    terms = ("Набиуллина", "ставк", "ёлк")
    assert matching_terms("НАБИУЛЛИНА назвала СТАВКУ", terms) == ("Набиуллина", "ставк")
    assert matching_terms("На выставке поставили елку", terms) == ("ставк", "ёлк")
    assert matching_terms("В Москве выпал снег", terms) == ()


def _headline(n: int, title: str, source: str = "rbc") -> Headline:
    return Headline(id=f"{source}-{n}", url=f"https://{source}.example/{n}", title=title, rubric=None,
                    kind=None, published_at=None, position=n)  # fmt: skip


class Sent:
    """A notifier that records what it was given (and delivers it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, title: str, body: str, kind: str) -> tuple[bool, str | None]:
        self.calls.append((title, body, kind))
        return True, None


def test_a_matching_headline_alerts_once_on_any_outlet(tmp_path: Path) -> None:
    db = open_db(tmp_path / "ticker.db")
    add_source(db, "rbc", "rbc", ["page"], "page")
    add_source(db, "tass", "rss", ["rss"], "rss")
    sent = Sent()
    settings = AlertSettings(urls=(HOOK,), watch=("Набиуллина", "ставк"))

    def poll(source: str, at: str, *titles: str, alerter: Alerter | None = None) -> list[str]:
        before = len(sent.calls)
        channel = "page" if source == "rbc" else "rss"
        page = TickerPage(headlines=tuple(_headline(n, t, source) for n, t in enumerate(titles, start=1)))
        saved = save_ticker(db, _row(source, channel, at), page)
        (alerter or Alerter(settings, notify=sent, now=lambda: NOW)).after_poll(db, None, saved)
        return [body for _title, body, _kind in sent.calls[before:]]

    first = poll("rbc", "2024-11-25T15:00:00Z", "Набиуллина выступила в Госдуме", "ЦБ сохранил ключевую ставку",
                 "В Москве выпал снег")  # fmt: skip
    assert len(first) == 2
    assert first[0].startswith(
        "Набиуллина on rbc at 2024-11-25 18:00:00 MSK (fetch 1), new: «Набиуллина выступила"
    )
    assert "https://rbc.example/1" in first[0] and "`ticker cite rbc-1`" in first[0]
    assert first[1].startswith("ставк on rbc")
    assert sent.calls[0][0] == "ticker: a watched word in a headline" and sent.calls[0][2] == "info"
    # shown again, by a new process: nothing repeats
    assert poll("rbc", "2024-11-25T15:02:00Z", "Набиуллина выступила в Госдуме", "ЦБ сохранил ключевую ставку",
                "В Москве выпал снег") == []  # fmt: skip
    # a rewording that makes a headline match alerts; one of a headline that already alerted does not
    reworded = poll("rbc", "2024-11-25T15:04:00Z", "НАБИУЛЛИНА: СТАВКА останется", "ЦБ сохранил ключевую ставку",
                    "В Москве выпал снег, ставки такси выросли")  # fmt: skip
    assert len(reworded) == 1 and "reworded to: «В Москве выпал снег, ставки такси выросли»" in reworded[0]
    # another outlet: its own headlines alert too
    other = poll("tass", "2024-11-25T15:05:00Z", "Эльвира Набиуллина ответила на вопросы", "Курс юаня вырос")
    assert len(other) == 1 and other[0].startswith("Набиуллина on tass")
    logged = db.execute("SELECT condition, delivered FROM alerts ORDER BY id").fetchall()
    assert logged == [("watch:rbc-1", 1), ("watch:rbc-2", 1), ("watch:rbc-3", 1), ("watch:tass-1", 1)]
    db.close()


def test_without_watch_words_nothing_is_matched(tmp_path: Path) -> None:
    db = open_db(tmp_path / "ticker.db")
    add_source(db, "rbc", "rbc", ["page"], "page")
    sent = Sent()
    saved = save_ticker(db, _row("rbc", "page", "2024-11-25T15:00:00Z"),
                        TickerPage(headlines=(_headline(1, "Набиуллина выступила"),)))  # fmt: skip
    Alerter(AlertSettings(urls=(HOOK,)), notify=sent, now=lambda: NOW).after_poll(db, None, saved)
    assert sent.calls == [] and db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0
    db.close()
