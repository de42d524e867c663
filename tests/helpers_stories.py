"""Outlets' RSS feeds served from a local HTTP server, polled in turn with `ticker fetch`: the
scenario the stories tests (and the browser test) share. Hand-written, modelled on real Russian
outlets' feeds (TASS, Interfax, RBC, Lenta): guid, link, title, description, pubDate."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

import ticker.jobs.poll
from ticker.core.base import from_iso
from ticker.stories.update import catch_up

OUTLETS = ("rbc_feed", "tass", "interfax", "lenta")

# The event, as three outlets worded it (near-identical wording: any matcher calls it one story).
EVENT = {
    "rbc_feed": "Банк России повысил ключевую ставку до 21% годовых",
    "tass": "Банк России повысил ключевую ставку до 21%",
    "interfax": "Банк России повысил ключевую ставку до 21% годовых с 28 октября",
}
INTERFAX_REWORDED = "Банк России неожиданно повысил ключевую ставку до 21% годовых"
# Another event with another key figure, a comment on the event, and unrelated items.
OTHER_EVENT = "Нацбанк Белоруссии сохранил ставку рефинансирования на уровне 9,5%"
COMMENT = "Набиуллина объяснила решение о ставке на пресс-конференции"
UNRELATED = {
    "rbc_feed": ["В Москве выпал первый снег", "Автоваз остановил конвейер на две недели"],
    "tass": ["Сборная России по хоккею обыграла Финляндию", "В Якутии открыли новый мост через Лену"],
    "interfax": [
        "Суд арестовал бывшего замминистра энергетики",
        "Аэрофлот отменил рейсы в Сочи из-за тумана",
    ],
    "lenta": ["Ученые нашли в Антарктиде неизвестный вид рыб", "Музей Эрмитаж открыл выставку Караваджо"],
}


def rss(outlet: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed: items as (slug, title, published UTC ISO), newest first."""
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>https://{outlet}.example/news/{slug}</link>"
        f"<guid>https://{outlet}.example/news/{slug}</guid><description>{escape(title)}.</description>"
        f"<pubDate>{format_datetime(from_iso(published))}</pubDate></item>"
        for slug, title, published in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{outlet}</title>'
        f"<link>https://{outlet}.example/</link><description>{outlet} news</description>{entries}</channel></rss>"
    ).encode()


def config_text(server_url) -> str:
    sections = "".join(
        f'[sources.{name}]\nkind = "rss"\nurl = "{server_url(f"/{name}.xml")}"\n' for name in OUTLETS
    )
    return f'db = "ticker.db"\n{sections}'


START = "2026-10-25T10:30:00Z"  # the scenario's first poll: 13:30 MSK
STEP = timedelta(minutes=2)  # between two polls of the scenario
_POLL = ticker.jobs.poll.poll  # the real one, given the scenario's clock below


class Feeds:
    """Each outlet's current feed on the local server; `poll(name)` runs `ticker fetch` at the
    scenario's clock (two minutes after the poll before: ticker.jobs.poll.poll is given that clock),
    then groups what it recorded as the daemon does (unless `group_each_poll=False`: one-off
    fetches, grouped by whoever shows the stories next)."""

    def __init__(self, httpserver, tmp_path: Path, cli, monkeypatch, *, group_each_poll: bool = True) -> None:
        self.server, self.cli = httpserver, cli
        self.group_each_poll = group_each_poll
        self.clock = from_iso(START)
        tmp_path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(ticker.jobs.poll, "poll", lambda *a, **k: _POLL(*a, **k, now=lambda: self.clock))
        self.config = tmp_path / "ticker.toml"
        self.db = tmp_path / "ticker.db"
        self.config.write_text(config_text(httpserver.url_for))
        self.items: dict[str, list[tuple[str, str, str]]] = {name: [] for name in OUTLETS}

    def set(self, outlet: str, items: list[tuple[str, str, str]]) -> None:
        self.items[outlet] = items
        body = rss(outlet, items)
        self.server.expect_request(f"/{outlet}.xml").respond_with_data(
            body, content_type="application/rss+xml"
        )

    def poll(self, outlet: str) -> None:
        self.server.clear()
        self.set(outlet, self.items[outlet])
        result = self.cli("fetch", outlet, "--config", self.config)
        assert result.exit_code == 0, result.output
        if self.group_each_poll:  # as the daemon does after each poll (`ticker fetch` only records)
            assert catch_up(self.db) is None
        self.clock += STEP


def run_scenario(feeds: Feeds) -> None:
    """Polls in turn: unrelated items first, then the event reported by three outlets in their
    own words (RBC first), another event and a comment, a pull (TASS) and a rewording (Interfax)."""
    pub = "2026-10-25T10:{:02d}:00Z".format  # the feeds' own times: earlier than the polls
    for outlet in OUTLETS:
        feeds.set(outlet, [(f"u{n}", title, pub(n)) for n, title in enumerate(UNRELATED[outlet])])
        feeds.poll(outlet)
    base = {o: list(feeds.items[o]) for o in OUTLETS}
    feeds.set("rbc_feed", [("rate", EVENT["rbc_feed"], pub(30)), *base["rbc_feed"]])
    feeds.poll("rbc_feed")
    feeds.set("tass", [("rate21", EVENT["tass"], pub(31)), *base["tass"]])
    feeds.poll("tass")
    feeds.set("lenta", [("belarus", OTHER_EVENT, pub(32)), *base["lenta"]])
    feeds.poll("lenta")
    feeds.set(
        "interfax", [("cbr", EVENT["interfax"], pub(33)), ("comment", COMMENT, pub(34)), *base["interfax"]]
    )
    feeds.poll("interfax")
    feeds.set("tass", base["tass"])  # TASS pulls its item while the items below stay
    feeds.poll("tass")
    feeds.set(
        "interfax", [("cbr", INTERFAX_REWORDED, pub(33)), ("comment", COMMENT, pub(34)), *base["interfax"]]
    )
    feeds.poll("interfax")
    feeds.poll("rbc_feed")
