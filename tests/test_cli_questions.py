"""The newsroom's questions through the CLI, run as a user would: in the config's folder, ids to
cite, the event filter, search, outages, staleness, the RSS fallback, pipes and Ctrl-C."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import run_ticker
from helpers_front import _page, _row, build_history, hid
from rbc_markup import render_page, standard_items

from ticker.cli import main
from ticker.cli.commands.serve import make_datasette
from ticker.db.queries import short_id
from ticker.db.schema import open_db
from ticker.db.writes import save_failure, save_ticker
from ticker.schedules.lock import DaemonLock


def invoke(*args, env: dict | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def newsroom(tmp_path: Path, monkeypatch) -> Path:
    """A folder with a ticker.toml whose db is data/news.db, the history beside it; the current
    folder is that folder and no $TICKER_CONFIG is set."""
    (tmp_path / "data").mkdir()
    build_history(tmp_path / "data" / "news.db")
    (tmp_path / "ticker.toml").write_text(
        'db = "data/news.db"\n[sources.rbc]\nkind = "rbc"\n', encoding="utf-8"
    )
    monkeypatch.delenv("TICKER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---- one config, everywhere -------------------------------------------------------------------


def test_every_command_finds_the_config_in_the_current_folder(newsroom: Path) -> None:
    status = run_ticker("status", cwd=newsroom, env={"TICKER_CONFIG": ""})
    assert status.returncode == 0, status.stderr
    assert "database: data/news.db" in status.stdout.replace(str(newsroom) + "/", "")
    assert "(config ticker.toml, found in the current folder)" in status.stdout
    for args in (["at", "2024-11-25T13:05"], ["changes", "--since", "2024-11-25"], ["rates"],
                 ["search", "снег"], ["outages", "--since", "2024-11-01"], ["cite", hid(3)],
                 ["archive", "stats"]):  # fmt: skip
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    listed = invoke("sources").output  # what `run`, `fetch` and `import` load too
    assert listed.startswith(f"# config ticker.toml; database {newsroom / 'data' / 'news.db'}")
    assert not (newsroom / "ticker.db").exists()  # nothing went to the default


def test_ticker_config_names_the_file_and_db_wins(newsroom: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)
    assert invoke("rates").output.startswith("Error: no database at ticker.db")
    named = invoke("rates", env={"TICKER_CONFIG": str(newsroom / "ticker.toml")})
    assert named.exit_code == 0 and "108.87" in named.output
    other = elsewhere / "other.db"
    build_history(other)
    assert invoke("status", "--db", other).output.splitlines()[1] == f"database: {other} (from --db)"
    gone = invoke(
        "rates", "--db", elsewhere / "none.db", env={"TICKER_CONFIG": str(newsroom / "ticker.toml")}
    )
    assert gone.output.startswith(f"Error: no database at {elsewhere / 'none.db'}")  # --db wins


def test_a_broken_ticker_toml_is_one_error_line_naming_it(newsroom: Path) -> None:
    (newsroom / "ticker.toml").write_text('db = "data/news.db"\n[sources.rbc\n', encoding="utf-8")
    for args in (["status"], ["at", "now"], ["changes"], ["run"], ["backfill"]):
        result = invoke(*args)
        assert result.exit_code == 1, args
        [line] = result.output.splitlines()
        assert line.startswith("Error: config file ticker.toml: not valid TOML") and "./ticker.toml" in line


def test_backfill_every_configured_source(httpserver, tmp_path: Path, monkeypatch) -> None:
    """`ticker backfill` (no name) reads every source whose kind can backfill; a named one takes
    --config; the Bank of Russia (rates only) is left to backfill-rates."""
    feed = (Path(__file__).parent / "fixtures" / "feed_tass_2020.xml").read_bytes()
    httpserver.expect_request("/tass.xml").respond_with_data(feed, content_type="application/rss+xml")
    config = tmp_path / "ticker.toml"
    config.write_text(
        f'db = "news.db"\n[sources.tass]\nkind = "rss"\nurl = "{httpserver.url_for("/tass.xml")}"\n'
        '[sources.cbr]\nkind = "cbr"\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKER_CONFIG", raising=False)
    result = invoke("backfill", "--pause", "0")
    assert result.exit_code == 0, result.output
    assert "tass backfill via feed" in result.output and "cbr backfill" not in result.output
    assert open_db(tmp_path / "news.db").execute("SELECT count(*) FROM headlines").fetchone()[0] > 0
    named = invoke("backfill", "tass", "--config", config, "--pause", "0")
    assert named.exit_code == 0 and "(0 new)" in named.output
    assert invoke("backfill", "tass", "--all").exit_code == 2


# ---- ids to cite --------------------------------------------------------------------------------


def test_text_shows_short_ids_that_cite_accepts(newsroom: Path) -> None:
    lines = invoke("at", "2024-11-25T13:05").output.splitlines()
    shown = [line.split()[1] for line in lines[4:]]
    assert shown == [short_id(hid(n)) for n in (5, 1, 3)]
    cited = invoke("cite", shown[1])
    assert cited.exit_code == 0 and cited.output.startswith(f"Headline {hid(1)} [{shown[1]}]")
    assert invoke("cite", shown[1][:6]).output == cited.output  # a 6-digit prefix is enough
    changed = invoke("changes", "--since", "2024-11-25T13:03", "--until", "2024-11-25T13:05").output
    assert [line.split()[3:6] for line in changed.splitlines()] == [["pulled", "rbc", short_id(hid(2))]]
    rates = invoke("rates", "--currency", "USD").output
    assert "rate:4" in rates and invoke("cite", "rate:4").exit_code == 0


def test_an_ambiguous_prefix_lists_the_candidates(newsroom: Path) -> None:
    result = invoke("cite", "674400")  # every test headline's id starts so
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: '674400' is ambiguous: 6 headlines match: ")
    assert hid(1) in line and "Путин" in line


# ---- changes filters ---------------------------------------------------------------------------


def test_changes_filters_by_event_source_and_text(newsroom: Path) -> None:
    window = ("--since", "2024-11-25", "--until", "2024-11-27")

    def events(*args: str) -> list[dict]:
        return json.loads(invoke("changes", *window, *args, "--json").output)

    assert {e["event"] for e in events("--event", "pulled")} == {"pulled"}
    assert {e["event"] for e in events("--event", "new,reworded", "--event", "back")} == {
        "new",
        "reworded",
        "back",
    }
    assert {e["event"] for e in events("--event", "exit")} == {"pulled", "scrolled_off", "exit"}
    assert [e["outcome"] if "outcome" in e else e["title"] for e in events("--event", "failed")] == [
        "page: network_error",
        "page: blocked",
    ]
    assert {e["source"] for e in events("--source", "cbr")} == {"cbr"}
    assert {e["source"] for e in events("--source", "cbr", "--source", "rbc")} == {"cbr", "rbc"}
    putin = events("--grep", "ПУТИН ПРОВЁЛ".replace("Ё", "Е"))  # any case, Cyrillic
    assert putin and all("путин провел" in (e["title"] + (e["detail"] or "")).lower() for e in putin)
    bad = invoke("changes", "--event", "deleted")
    assert bad.exit_code == 1 and bad.output.startswith("Error: unknown event 'deleted' (use: new, back,")


def test_a_first_poll_is_one_line(newsroom: Path) -> None:
    text = invoke("changes", "--since", "2024-11-25T12:59", "--until", "2024-11-25T13:01").output
    assert "first poll of rbc (page): 4 items" in text
    assert not any(hid(n) in text or short_id(hid(n)) in text for n in (1, 2, 3, 4))
    data = json.loads(invoke("changes", "--since", "2024-11-25T12:59", "--until", "2024-11-25T13:01",
                             "--json").output)  # fmt: skip
    firsts = [e for e in data if e["event"] == "new"]
    assert len(firsts) == 4 and all(e["first_poll"] for e in firsts)
    later = json.loads(invoke("changes", "--since", "2024-11-25T13:02", "--until", "2024-11-25T13:02",
                              "--event", "new", "--json").output)  # fmt: skip
    assert [(e["headline_id"], e["first_poll"]) for e in later] == [(hid(5), False)]


# ---- search ------------------------------------------------------------------------------------


def test_search_every_title_ever_shown(newsroom: Path) -> None:
    hits = json.loads(invoke("search", "совещание", "--json").output)
    assert [(h["headline_id"], h["title"]) for h in hits] == [
        (hid(1), "Путин провел совещание с Совбезом"),  # most recently shown first
        (hid(1), "Путин провел совещание"),
    ]
    assert hits[0]["source"] == "rbc" and hits[0]["short_id"] == short_id(hid(1))
    text = invoke("search", "ОФЗ").output.splitlines()
    assert text[0].split() == ["id", "source", "first", "shown", "(MSK)", "last", "shown", "(MSK)", "title"]
    assert (
        text[1].split()[:3] == [short_id(hid(4)), "rbc", "2024-11-25"] and "Минфин разместил ОФЗ" in text[1]
    )
    rows = list(csv.DictReader(io.StringIO(invoke("search", "снег", "--csv").output)))
    assert [r["headline_id"] for r in rows] == [hid(3)]
    assert json.loads(invoke("search", "снег", "--source", "cbr", "--json").output) == []
    assert json.loads(invoke("search", "снег", "--since", "2024-11-27", "--json").output) == []


def test_any_text_searches_and_is_never_an_sqlite_error(newsroom: Path) -> None:
    for text in ('"', 'снег" OR "', "AND", "(снег", "снег*", "NEAR(a b)", "'; DROP", "^снег", "a:b снег"):
        result = invoke("search", text)
        assert "Traceback" not in result.output and "fts5" not in result.output.lower(), text
        assert result.exit_code in (0, 1), text
        if result.exit_code == 1:
            assert result.output.startswith("Error: search ") and result.output.count("\n") == 1, text
    assert json.loads(invoke("search", "(снег", "--json").output) == []  # the bracket is text to find
    assert [h["headline_id"] for h in json.loads(invoke("search", "снег)", "--json").output)] == []


def test_short_words_are_checked_after_the_index(newsroom: Path) -> None:
    assert [h["headline_id"] for h in json.loads(invoke("search", "В снег", "--json").output)] == [hid(3)]
    assert json.loads(invoke("search", "Я снег", "--json").output) == []


# ---- rates: agree or differ --------------------------------------------------------------------


def test_rates_and_cite_say_whether_shown_and_official_disagree(newsroom: Path) -> None:
    data = {
        (r["source"], r["currency"], r["rate_date"]): r for r in json.loads(invoke("rates", "--json").output)
    }
    usd = data[("rbc", "USD", "2024-11-26")]
    assert (usd["official_value"], usd["mismatch"]) == ("103.7631", True)  # 103.79 vs 103.7631
    eur = data[("rbc", "EUR", "2024-11-26")]
    assert (eur["official_value"], eur["mismatch"]) == ("108.8652", False)  # 108.87: a rounding of it
    assert data[("cbr", "EUR", "2024-11-26")]["mismatch"] is None
    text = invoke("rates", "--currency", "USD", "--source", "rbc").output
    assert "DIFFERS: 103.7631" in text
    cited = invoke("cite", f"rate:{usd['rate_id']}").output
    assert "Bank of Russia (cbr) for that day: 103.7631 (rate:2): rbc's 103.79 DIFFERS from it" in cited
    official = invoke("cite", "rate:2").output
    assert (
        f"shown by rbc for that day: 103.79 (rate:{usd['rate_id']}): DIFFERS from this official value"
        in official
    )


# ---- outages and staleness ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_outage_names_every_cause_and_its_evidence(httpserver, tmp_path: Path, monkeypatch) -> None:
    """A 403 challenge page, then a refused connection: one run, both causes, the body to open."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKER_CONFIG", raising=False)
    httpserver.expect_request("/").respond_with_data(render_page(standard_items(6)), content_type="text/html")
    assert invoke("fetch", "rbc", "--url", httpserver.url_for("/")).exit_code == 0
    httpserver.clear_all_handlers()
    httpserver.expect_request("/").respond_with_data("<html>Access denied: captcha</html>", status=403)
    assert invoke("fetch", "rbc", "--url", httpserver.url_for("/")).exit_code == 1
    assert invoke("fetch", "rbc", "--url", f"http://127.0.0.1:{_closed_port()}/").exit_code == 1
    [run] = json.loads(invoke("outages", "--json").output)
    assert run["ongoing"] and run["failures"] == 2 and run["outcomes"] == ["blocked", "network_error"]
    blocked, refused = run["causes"]
    assert blocked["status"] == 403 and blocked["body_sha256"] and blocked["archived_fetch_id"] == 2
    assert refused["outcome"] == "network_error" and refused["body_sha256"] is None
    text = invoke("outages").output
    assert "ongoing" in text and "2 failed attempts" in text and "network_error" in text
    show = f"ticker archive show {blocked['body_sha256'][:12]}"
    assert show in text
    assert b"captcha" in CliRunner().invoke(main, show.split()[1:]).stdout_bytes
    status = invoke("status").output
    assert (
        "failing:          page since" in status
        and "blocked (HTTP 403" in status
        and "network_error" in status
    )
    assert "next attempt:     none (no daemon running on this database)" in status


def test_at_now_says_when_polling_stopped(newsroom: Path) -> None:
    lines = invoke("at", "now").output.splitlines()
    assert lines[0].startswith("rbc ticker as of 2024-11-26 13:00:00 MSK")
    assert (
        lines[1].startswith("note: last poll ") and " ago, at 2024-11-26 13:00:00 MSK; none since" in lines[1]
    )
    data = json.loads(invoke("at", "now", "--json").output)
    assert data["stale"] is True and data["last_attempt_at"] == "2024-11-26T10:00:00Z"
    fresh = json.loads(invoke("at", "2024-11-25T13:07", "--json").output)  # failing, not silent
    assert fresh["stale"] is False and fresh["last_attempt_at"] == "2024-11-25T10:06:00Z"


def test_status_shows_the_next_attempt_and_backoff(newsroom: Path) -> None:
    db_path = newsroom / "data" / "news.db"
    db = open_db(db_path)
    for minute in (2, 4, 6):
        save_failure(db, _row("rbc", "page", f"2024-11-26T10:{minute:02d}:00Z", "blocked", "HTTP 403"))
    db.close()
    with DaemonLock(db_path):
        text = invoke("status").output
        data = json.loads(invoke("status", "--json").output)
    rbc = next(s for s in data["sources"] if s["source"] == "rbc")
    # 3 failures in a row every 120 s: the daemon waits 120 * 2**2 = 480 s after the last one
    assert (rbc["next_attempt_at"], rbc["backoff_s"]) == ("2024-11-26T10:14:00Z", 480.0)
    assert (
        "next attempt:     about 2024-11-26 13:14:00 MSK (backing off: 3 failures in a row; waits 8 min"
        in text
    )


# ---- the RSS fallback ---------------------------------------------------------------------------


def test_at_answers_from_the_rss_fallback_while_the_page_is_blocked(newsroom: Path) -> None:
    db = open_db(newsroom / "data" / "news.db")
    save_failure(db, _row("rbc", "page", "2024-11-26T10:02:00Z", "blocked", "HTTP 403: challenge"))
    save_ticker(db, _row("rbc", "rss", "2024-11-26T10:02:05Z"), _page([(4, None), (5, None)], ()))
    db.close()
    data = json.loads(invoke("at", "2024-11-26T10:03Z", "--json").output)
    assert (data["fallback"], data["channel"], data["shown_at"]) == (True, "rss", "2024-11-26T10:02:05Z")
    assert [h["headline_id"] for h in data["headlines"]] == [hid(4), hid(5)]
    assert data["ticker_poll_at"] == "2024-11-26T10:00:00Z"
    assert [f["outcome"] for f in data["failed_since"]] == ["blocked"]
    text = invoke("at", "2024-11-26T10:03Z").output
    assert "note: from the RSS fallback: the feed's items, not the page's order" in text
    before = json.loads(invoke("at", "2024-11-26T10:01Z", "--json").output)
    assert (before["fallback"], before["channel"]) == (False, "page")
    db = open_db(newsroom / "data" / "news.db")  # a later RSS poll while the page works: the page's list
    save_ticker(db, _row("rbc", "rss", "2024-11-25T10:05:00Z"), _page([(4, None)], ()))
    db.close()
    working = json.loads(invoke("at", "2024-11-25T10:05:30Z", "--json").output)
    assert (working["fallback"], working["channel"], working["fetch_id"]) == (False, "page", 4)

    ds = make_datasette(newsroom / "data" / "news.db")
    page = asyncio.run(ds.client.get("/-/ticker?source=rbc&at=2024-11-26T10:03Z"))
    assert page.status_code == 200
    assert "from the RSS fallback: the feed&#39;s items, not the page&#39;s order" in page.text
    assert f'data-id="{hid(4)}"' in page.text


# ---- pipes, Ctrl-C, help -----------------------------------------------------------------------


def test_reparse_into_a_closed_pipe_ends_quietly(httpserver, tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    httpserver.expect_request("/").respond_with_data(
        render_page(standard_items(400)), content_type="text/html"
    )
    assert invoke("fetch", "rbc", "--url", httpserver.url_for("/"), "--db", db_path).exit_code == 0
    process = subprocess.Popen([sys.executable, "-m", "ticker", "reparse", "--fetch", "1", "--db", str(db_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    first = process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert first.startswith(b"# fetch 1 rbc/page")
    assert errors == ""  # no "Error: Broken pipe", and --fetch re-derives nothing
    assert not (tmp_path / "news.reparsed.db").exists()


def test_serve_stops_quietly_on_ctrl_c(tmp_path: Path) -> None:
    db_path = tmp_path / "news.db"
    build_history(db_path)
    process = subprocess.Popen([sys.executable, "-m", "ticker", "serve", "--db", str(db_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        serving = process.stderr.readline()
        assert serving.startswith("Serving ")
        address = serving.split(" at ")[1].split()[0]
        assert urllib.request.urlopen(address + "-/versions.json", timeout=20).status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0  # as `ticker run`
    finally:
        process.kill()
    rest = process.stderr.read()
    assert "Aborted" not in rest and "Traceback" not in rest


def _commands(group=main, prefix=()):
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_help_says_examples_one_way_and_names_the_config() -> None:
    for path, command in _commands():
        text = invoke(*path, "--help").output
        assert "Example:" not in text, path
        params = {p.name for p in command.params}
        if "db_path" in params:
            assert "--config FILE" in text and "$TICKER_CONFIG" in text and "ticker.toml" in text, path
