"""Any outlet by configuration (issue 13): an RSS feed and a "лента" page described by selectors
become sources with the same history, queries and citations as RBC, from a few lines of TOML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ticker.db.schema import open_db
from ticker.kinds import kinds
from ticker.schedules.config import ConfigError, load_config

LENTA_SELECT = """
[sources.lenta_page.select]
item = "a.card-mini"
title = ".card-mini__title"
link = "@href"
time = "time.card-mini__date"
"""


class Outlets:
    """A local server holding each outlet's current answer, and a config pointing at it."""

    def __init__(self, httpserver, tmp_path: Path, fixture_bytes):
        self.server, self.read = httpserver, fixture_bytes
        self.config = tmp_path / "ticker.toml"
        self.db = tmp_path / "ticker.db"
        self.config.write_text(
            f"""
db = "ticker.db"
[sources.tass]
kind = "rss"
preset = "tass"
url = "{httpserver.url_for("/tass.xml")}"
[sources.lenta_rss]
kind = "rss"
url = "{httpserver.url_for("/rss")}"
every = "2m"
[sources.lenta_page]
kind = "html"
url = "{httpserver.url_for("/lenta/")}"
every = "2m"
{LENTA_SELECT}
"""
        )

    def serve(self, path: str, fixture: str, content_type: str) -> None:
        self.server.clear()
        self.server.expect_request(path).respond_with_data(self.read(fixture), content_type=content_type)


@pytest.fixture
def outlets(httpserver, tmp_path, fixture_bytes):
    return Outlets(httpserver, tmp_path, fixture_bytes)


def test_a_feed_source_records_new_moved_and_gone_items(outlets, cli):
    outlets.serve("/rss", "feed_lenta_2013_1700.xml", "application/rss+xml; charset=utf-8")
    first = cli("fetch", "lenta_rss", "--config", outlets.config)
    assert first.exit_code == 0, first.output
    outlets.serve("/rss", "feed_lenta_2013_1802.xml", "application/rss+xml; charset=utf-8")
    second = cli("fetch", "lenta_rss", "--config", outlets.config)
    assert second.exit_code == 0, second.output
    assert "2 new" in second.output

    db = open_db(outlets.db)
    source = db.execute("SELECT kind, ticker_channel FROM sources WHERE name = 'lenta_rss'").fetchone()
    assert source == ("rss", "feed")
    exits = db.execute(
        "SELECT h.url, s.exit_reason FROM sightings s JOIN headlines h ON h.id = s.headline_id "
        "WHERE s.source = 'lenta_rss' AND s.exit_fetch_id IS NOT NULL ORDER BY h.url"
    ).fetchall()
    assert [url.rsplit("/", 2)[-2] for url, _ in exits] == ["museum", "snow"]
    assert all(reason in ("scrolled_off", "pulled") for _, reason in exits)  # an ordered list: a reason

    shown = cli("at", "now", "--source", "lenta_rss", "--json", "--db", outlets.db)
    assert shown.exit_code == 0, shown.output
    items = json.loads(shown.output)["headlines"]
    assert [item["url"].rsplit("/", 2)[-2] for item in items][:2] == ["duma", "quake"]


def test_a_list_page_described_by_selectors_is_a_source(outlets, cli):
    outlets.serve("/lenta/", "html_lenta_2022_1640.html", "text/html; charset=utf-8")
    result = cli("fetch", "lenta_page", "--config", outlets.config)
    assert result.exit_code == 0, result.output
    outlets.serve("/lenta/", "html_lenta_2022_1650.html", "text/html; charset=utf-8")
    result = cli("fetch", "lenta_page", "--config", outlets.config)
    assert result.exit_code == 0, result.output
    db = open_db(outlets.db)
    fetched = db.execute("SELECT outcome, items_found FROM fetches WHERE source = 'lenta_page'").fetchall()
    assert [outcome for outcome, _ in fetched] == ["ok", "ok"] and all(n >= 5 for _, n in fetched)
    options = json.loads(db.execute("SELECT options FROM sources WHERE name = 'lenta_page'").fetchone()[0])
    assert options["select"]["item"] == "a.card-mini"  # a re-parse reads the page as the poll did


def test_a_page_where_the_selectors_match_nothing_is_a_parse_error(outlets, cli):
    outlets.serve("/lenta/", "rbc_full_page.html", "text/html; charset=utf-8")
    result = cli("fetch", "lenta_page", "--config", outlets.config)
    assert result.exit_code == 1
    assert "parse_error" in result.output
    db = open_db(outlets.db)
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0  # never an empty ticker


def test_a_preset_fills_the_address(tmp_path):
    config = tmp_path / "t.toml"
    config.write_text(
        '[sources.tass]\nkind = "rss"\npreset = "tass"\n[sources.ria]\nkind = "rss"\npreset = "ria"\n'
    )
    loaded = load_config(config)
    addresses = {spec.name: spec.url_for(spec.main_channel) for spec in loaded.sources}
    assert addresses == {
        "tass": "https://tass.ru/rss/v2.xml",
        "ria": "https://ria.ru/export/rss2/archive/index.xml",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sources.x]\nkind = "rss"\npreset = "pravda"\n', "sources.x.preset = 'pravda': unknown preset"),
        ('[sources.x]\nkind = "rss"\n', "sources.x.url: missing"),
        ('[sources.x]\nkind = "html"\nurl = "https://lenta.ru/"\n', "sources.x.select: required"),
        (
            '[sources.x]\nkind = "html"\nurl = "https://lenta.ru/"\n[sources.x.select]\nitem = "a"\nlink = "@href"\n',
            "sources.x.select.title: required",
        ),
        (
            '[sources.x]\nkind = "html"\nurl = "https://lenta.ru/"\n[sources.x.select]\n'
            'item = "a[["\ntitle = "b"\nlink = "@href"\n',
            "sources.x.select.item",
        ),
        (
            '[sources.x]\nkind = "rss"\nurl = "https://tass.ru/rss/v2.xml"\nmin_items = 0\n',
            "sources.x.min_items",
        ),
        ('[sources.x]\nkind = "rss"\nurl = "https://tass.ru/rss/v2.xml"\nselect = {}\n', "sources.x.select"),
        ('[sources.x]\nkind = "cbr"\nchannels = ["xml_dynamic"]\n', "read by backfills only"),
    ],
)
def test_kind_settings_are_checked_when_the_config_is_read(tmp_path, text, message):
    config = tmp_path / "t.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_every_kind_declares_what_the_rest_of_ticker_reads():
    """The registry is the one place kinds are described: each has a main channel that is polled,
    a parser for every channel, and a ticker channel exactly when it carries headlines."""
    found = kinds()
    assert {"rbc", "cbr", "rss", "html"} <= set(found)
    for kind in found.values():
        assert kind.main.live and kind.every_s >= 30
        assert all(callable(channel.parse) for channel in kind.channels)
        has_headlines = any(c.headlines and c.ordered for c in kind.channels)
        assert (kind.ticker_channel is not None) == has_headlines


def feed_with_numbered_items(title_prefix: str) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">{n}</guid><title>{title_prefix} {n}</title>'
        f"<link>https://{title_prefix}.example/news/{n}</link>"
        f"<pubDate>Tue, 26 Nov 2024 10:0{n}:00 +0300</pubDate></item>"
        for n in range(1, 4)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>{items}</channel></rss>'.encode()
    )


def test_two_outlets_numbering_their_items_alike_never_share_a_headline(httpserver, tmp_path, cli):
    """A bare-number guid is unique within its outlet only: stored as `<source>:<guid>`; an id that
    is a web address stays as it is (the same story through two channels is one headline)."""
    for name in ("vedomosti", "interfax"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            feed_with_numbered_items(name), content_type="application/rss+xml"
        )
    config = tmp_path / "t.toml"
    config.write_text(
        "".join(
            f'[sources.{name}]\nkind = "rss"\nurl = "{httpserver.url_for(f"/{name}.xml")}"\n'
            for name in ("vedomosti", "interfax")
        )
    )
    for name in ("vedomosti", "interfax"):
        result = cli("fetch", name, "--config", config, "--db", tmp_path / "t.db")
        assert result.exit_code == 0, result.output
    db = open_db(tmp_path / "t.db")
    rows = db.execute("SELECT id, title FROM headlines ORDER BY id").fetchall()
    assert len(rows) == 6
    assert ("interfax:1", "interfax 1") in rows and ("vedomosti:1", "vedomosti 1") in rows


def test_sources_presets_lists_every_kind_and_preset(cli):
    from ticker.scraper.presets import PRESETS

    result = cli("sources", "--presets", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert {p["preset"]: p["url"] for p in listed["presets"]} == {k: v[0] for k, v in PRESETS.items()}
    assert {k["kind"] for k in listed["kinds"]} == set(kinds())
    assert "tass.ru/rss/v2.xml" in cli("sources", "--presets").output
