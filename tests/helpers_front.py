"""A small, fully known history written by the real writers, shared by the view, query, serve
and browser tests."""

from __future__ import annotations

from pathlib import Path

from ticker.core.base import Headline, Rate, RatesDocument, TickerPage
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, register_source, save_failure, save_rates, save_ticker, save_unchanged

# Headline links point at reserved names (RFC 2606): the pages and the browser render them, and
# nothing could ever reach a real site through them.
RBC_SITE = "https://rbc.example"
TASS_SITE = "https://tass.example"
XSS_TITLE = "<script>window.__pwned = 1</script> Суд оштрафовал Telegram на 7 млн рублей"


def hid(n: int) -> str:
    return f"674400009a7947{n:010x}"


TITLES = {
    1: "Путин провел совещание",
    2: "Курс евро превысил 108 рублей",
    3: "В Москве выпал снег",
    4: "Минфин разместил ОФЗ",
    5: "ЦБ сохранил ключевую ставку",
    6: XSS_TITLE,
}
URLS = {6: "javascript:window.__pwned = 2"}
RUBRICS = {1: "Политика", 2: "Экономика", 3: "Общество", 4: "Финансы", 5: "Экономика", 6: "Технологии"}


def add_source(db, name: str, kind: str, channels: list[str], ticker_channel: str | None) -> None:
    """register_source, and the ticker channel the kind declares (set here while the writer does
    not fill `sources.ticker_channel` itself)."""
    register_source(db, name, kind, f"http://test/{name}", 120, channels, "2024-11-25T09:00:00Z")
    db.execute(
        "UPDATE sources SET ticker_channel = ? WHERE name = ? AND ticker_channel IS NULL",
        [ticker_channel, name],
    )


def _page(entries: list[tuple[int, str | None]], rates: tuple[Rate, ...]) -> TickerPage:
    headlines = tuple(
        Headline(
            id=hid(n),
            url=URLS.get(n, f"{RBC_SITE}/rbcfreenews/{hid(n)}"),
            title=title or TITLES[n],
            rubric=RUBRICS[n],
            kind="news",
            published_at="2024-11-25T09:55:00Z",
            position=position,
        )
        for position, (n, title) in enumerate(entries, start=1)
    )
    return TickerPage(headlines=headlines, rates=rates)


def _row(source: str, channel: str, at: str, outcome: str = "ok", error: str | None = None) -> FetchRow:
    return FetchRow(source=source, channel=channel, url=f"http://test/{source}", started_at=at,
                    outcome=outcome, error=error)  # fmt: skip


RBC_DAY1 = (
    Rate("EUR", "2024-11-26", "108.87", "+1.45"),
    Rate("USD", "2024-11-26", "103.79", "+1.21"),
)
RBC_DAY2 = (
    Rate("EUR", "2024-11-27", "109.12", "+0.25"),
    Rate("USD", "2024-11-27", "103.80", "+0.01"),
)


def build_history(path: Path) -> dict:
    """A small, fully known history (UTC times; Moscow = UTC+3):

    10:00 page A B C D, rates of 26 Nov | 10:02 E A' B C (D scrolled off, A reworded)
    10:04 E A' C (B pulled) | 10:06 network_error | 10:08 blocked
    10:10 F E A' B C (B back, F has a <script> title) | 10:12 unchanged
    next day 10:00 page E C, rates of 27 Nov (after a long gap: exits unknown)
    cbr: 26 Nov EUR 108.8652 (matches) USD 103.7631 (RBC's 103.79 does not), 27 Nov EUR 109.1234
    """
    db = open_db(path)
    add_source(db, "rbc", "rbc", ["page"], "page")
    add_source(db, "cbr", "cbr", ["xml_daily"], None)
    save_rates(
        db,
        _row("cbr", "xml_daily", "2024-11-25T09:00:00Z"),
        RatesDocument(
            "2024-11-26", (Rate("EUR", "2024-11-26", "108.8652"), Rate("USD", "2024-11-26", "103.7631"))
        ),
    )
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:00:00Z"),
                _page([(1, None), (2, None), (3, None), (4, None)], RBC_DAY1))  # fmt: skip
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:02:00Z"),
                _page([(5, None), (1, "Путин провел совещание с Совбезом"), (2, None), (3, None)], RBC_DAY1))  # fmt: skip
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:04:00Z"),
                _page([(5, None), (1, "Путин провел совещание с Совбезом"), (3, None)], RBC_DAY1))  # fmt: skip
    save_failure(db, _row("rbc", "page", "2024-11-25T10:06:00Z", "network_error", "connect timeout"))
    save_failure(db, _row("rbc", "page", "2024-11-25T10:08:00Z", "blocked", "HTTP 403: bot challenge"))
    recovered = save_ticker(db, _row("rbc", "page", "2024-11-25T10:10:00Z"),
                            _page([(6, None), (5, None), (1, "Путин провел совещание с Совбезом"), (2, None),
                                   (3, None)], RBC_DAY1))  # fmt: skip
    snapshot = db.execute("SELECT snapshot_id FROM fetches WHERE id = ?", [recovered.fetch_id]).fetchone()[0]
    save_unchanged(db, _row("rbc", "page", "2024-11-25T10:12:00Z", "unchanged"), snapshot)
    save_rates(
        db,
        _row("cbr", "xml_daily", "2024-11-26T09:00:00Z"),
        RatesDocument("2024-11-27", (Rate("EUR", "2024-11-27", "109.1234"),)),
    )
    save_ticker(db, _row("rbc", "page", "2024-11-26T10:00:00Z"), _page([(5, None), (3, None)], RBC_DAY2))
    db.close()
    return {"snapshot_at_1010": snapshot}


BACKFILLED = "674400009a79470000000b0f"
IMPORTED = "674400009a79470000000a11"


def _fetch_row(source: str, channel: str, at: str, origin: str) -> FetchRow:
    row = _row(source, channel, at)
    if hasattr(row, "origin"):
        row.origin = origin
    return row


def add_backfill_and_import(path: Path) -> None:
    """On top of build_history: a headline learned of by a backfill (published 2024-11-26 09:58Z,
    recorded 10:30Z) and one first seen in an imported (Wayback) capture of the RSS feed at 2024-11-26 11:00Z."""
    from ticker.db.backfill import save_backfill_page

    db = open_db(path)
    late = Headline(id=BACKFILLED, url=f"{RBC_SITE}/rbcfreenews/{BACKFILLED}", title="Сбер снизил ставки",
                    rubric="Финансы", kind="news", published_at="2024-11-26T09:58:00Z", position=1)  # fmt: skip
    save_backfill_page(db, _fetch_row("rbc", "feed_json", "2024-11-26T10:30:00Z", "backfill"), [late])
    archived = Headline(id=IMPORTED, url=f"{RBC_SITE}/rbcfreenews/{IMPORTED}", title="Из архива",
                        rubric="Общество", kind="news", published_at="2024-11-26T10:50:00Z", position=1)  # fmt: skip
    saved = save_ticker(db, _fetch_row("rbc", "rss", "2024-11-26T11:00:00Z", "wayback"),
                        TickerPage(headlines=(archived,)))  # fmt: skip
    # until FetchRow carries `origin` (LEAD's fetch path), mark the import the way it will
    db.execute("UPDATE fetches SET origin = 'wayback' WHERE id = ? AND origin IS NULL", [saved.fetch_id])
    db.close()


def build_long_ticker(path: Path, items: int = 600) -> None:
    """One poll of a page with `items` headlines: output far beyond a pipe's buffer."""
    db = open_db(path)
    add_source(db, "rbc", "rbc", ["page"], "page")
    headlines = tuple(
        Headline(id=f"{n:024x}", url=f"{RBC_SITE}/rbcfreenews/{n:024x}", title=f"Заголовок {n} " * 4,
                 rubric="Общество", kind="news", published_at="2024-11-25T09:00:00Z", position=n + 1)
        for n in range(items)
    )  # fmt: skip
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:00:00Z"), TickerPage(headlines=headlines))
    db.close()


def tass_id(n: int) -> str:
    # TASS's guids are bare numbers, stored scoped by source (ticker.kinds.scoped_ids)
    return f"tass:2276{n:04d}"


def add_feed_source(path: Path) -> None:
    """A second outlet whose ticker is a feed (kind rss, ticker channel `rss`), polled three times
    on 25 Nov (UTC 10:01, 10:03, 10:05): T1 T2 T3 | T4 T1 T2 T3 (T1 reworded) | T4 T1 T3 (T2 pulled)."""
    db = open_db(path)
    add_source(db, "tass", "rss", ["rss"], "rss")

    def feed(entries: list[tuple[int, str]]) -> TickerPage:
        return TickerPage(headlines=tuple(
            Headline(id=tass_id(n), url=f"{TASS_SITE}/politika/{tass_id(n)}", title=title, rubric="Политика",
                     kind=None, published_at="2024-11-25T09:50:00Z", position=position)
            for position, (n, title) in enumerate(entries, start=1)
        ))  # fmt: skip

    first = [(1, "Лавров провел переговоры"), (2, "В Казани открыли мост"), (3, "Курс юаня вырос")]
    save_ticker(db, _row("tass", "rss", "2024-11-25T10:01:00Z"), feed(first))
    reworded = [(4, "Мишустин подписал указ"), (1, "Лавров провел переговоры с Ваном"), *first[1:]]
    save_ticker(db, _row("tass", "rss", "2024-11-25T10:03:00Z"), feed(reworded))
    save_ticker(
        db, _row("tass", "rss", "2024-11-25T10:05:00Z"), feed([reworded[0], reworded[1], reworded[3]])
    )
    db.close()


STORY_ID = "6744c0a09a7947aa11b2c3d4"
STORY_TITLES = ("Курс доллара превысил 100 рублей", "Курс доллара превысил 100 рублей впервые с 2022 года")


def build_story(path: Path) -> None:
    """The evening of 25 Nov 2024 around 18:57 Moscow time: one headline reworded, then pulled.

    15:50Z S A B C D | 15:54Z S' A B C D (S reworded) | 15:58Z E A B C D (S pulled; A-D stayed)
    """
    db = open_db(path)
    add_source(db, "rbc", "rbc", ["page"], "page")
    add_source(db, "cbr", "cbr", ["xml_daily"], None)
    others = [
        ("6744c0a09a7947aa11b2c3e1", "Трамп назвал кандидата на пост министра", "Политика"),
        ("6744c0a09a7947aa11b2c3e2", "Мосбиржа приостановила торги юанем", "Финансы"),
        ("6744c0a09a7947aa11b2c3e3", "В Подмосковье выпал первый снег", "Общество"),
        ("6744c0a09a7947aa11b2c3e4", "Сбербанк повысил ставки по вкладам", "Экономика"),
        ("6744c0a09a7947aa11b2c3e5", "ЦБ объяснил ослабление рубля", "Экономика"),
    ]

    def page(first: tuple[str, str, str], rest: list[tuple[str, str, str]]) -> TickerPage:
        return TickerPage(headlines=tuple(
            Headline(id=hid_, url=f"{RBC_SITE}/economics/25/11/2024/{hid_}", title=title, rubric=rubric,
                     kind="news", published_at=f"2024-11-25T15:{45 - n:02d}:00Z", position=n + 1)
            for n, (hid_, title, rubric) in enumerate([first, *rest])
        ), rates=(Rate("EUR", "2024-11-26", "108.87", "+1.45"), Rate("USD", "2024-11-26", "103.79", "+1.21")))  # fmt: skip

    save_rates(db, _row("cbr", "xml_daily", "2024-11-25T15:40:00Z"),
               RatesDocument("2024-11-26", (Rate("EUR", "2024-11-26", "108.8652"),
                                            Rate("USD", "2024-11-26", "103.7631"))))  # fmt: skip
    story = (STORY_ID, STORY_TITLES[0], "Экономика")
    save_ticker(db, _row("rbc", "page", "2024-11-25T15:50:00Z"), page(story, others[:4]))
    save_ticker(db, _row("rbc", "page", "2024-11-25T15:54:00Z"), page((STORY_ID, STORY_TITLES[1], "Экономика"),
                                                                       others[:4]))  # fmt: skip
    save_ticker(db, _row("rbc", "page", "2024-11-25T15:58:00Z"), page(others[4], others[:4]))
    db.close()


def newsroom_datasette(path):
    """The front-end history plus a feed source, served by Datasette: what the newsroom pages read."""
    from ticker.cli.commands.serve import make_datasette  # Datasette only for the tests that serve

    build_history(path)
    add_feed_source(path)
    return make_datasette(path)
