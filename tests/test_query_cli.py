"""`ticker at`, `ticker changes`, `ticker rates` through Click's runner and as a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_ticker
from helpers_front import (
    BACKFILLED,
    IMPORTED,
    XSS_TITLE,
    add_backfill_and_import,
    add_feed_source,
    build_history,
    build_long_ticker,
    hid,
    tass_id,
)
from rbc_markup import render_page, standard_items

from ticker.db.queries import short_id


@pytest.fixture
def history(db_path: Path) -> Path:
    build_history(db_path)
    return db_path


def test_at_text_shows_the_ticker_in_moscow_time(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T13:05", "--db", history)  # no zone: Moscow time
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "rbc ticker as of 2024-11-25 13:04:00 MSK (fetch 4, ok; asked for 2024-11-25 13:05:00 MSK)"
    )
    assert lines[1] == "EUR for 2024-11-26: 108.87 (+1.45)  [rate:3]"
    assert lines[2] == "USD for 2024-11-26: 103.79 (+1.21)  [rate:4]"
    assert lines[3].split()[:4] == ["#", "id", "published", "(MSK)"]
    # each item's short id to cite, its shown date and time (not a bare HH:MM)
    assert lines[4].split() == [
        "1",
        short_id(hid(5)),
        "2024-11-25",
        "12:55",
        "Экономика",
        "ЦБ",
        "сохранил",
        "ключевую",
        "ставку",
    ]
    assert "Путин провел совещание с Совбезом" in lines[5]
    assert len(lines) == 7


def test_at_marks_new_reworded_and_pulled_later(cli, history: Path) -> None:
    lines = cli("at", "2024-11-25T10:02:30Z", "--db", history).output.splitlines()
    rows = {line.split()[0]: line for line in lines[4:]}
    assert rows["1"].endswith("new")  # ЦБ: first shown at this poll
    assert rows["2"].endswith("reworded")  # Путин: the new title first shown at this poll
    assert rows["3"].endswith("pulled later")  # Курс евро: pulled at 10:04
    assert rows["4"].endswith("В Москве выпал снег")  # no mark
    before = json.loads(cli("at", "2024-11-25T10:01:00Z", "--json", "--db", history).output)
    putin = before["headlines"][0]
    assert (putin["title"], putin["new"], putin["reworded_later"]) == ("Путин провел совещание", True, True)


def test_at_notes_failed_polls_and_reads_titles_as_they_were(cli, history: Path) -> None:
    during = cli("at", "2024-11-25T10:09:00Z", "--db", history)
    assert "note: failed polls between that poll and 2024-11-25 13:09:00 MSK: 1 network_error, 1 blocked" in (
        during.output
    )
    before = cli("at", "2024-11-25T10:01:00+00:00", "--json", "--db", history)
    data = json.loads(before.output)
    assert data["shown_at"] == "2024-11-25T10:00:00Z"
    assert data["asked_at"] == "2024-11-25T10:01:00Z"
    assert (data["source"], data["fetch_id"], data["outcome"]) == ("rbc", 2, "ok")
    assert data["headlines"][0]["title"] == "Путин провел совещание"
    assert [h["position"] for h in data["headlines"]] == [1, 2, 3, 4]
    assert [(r["currency"], r["value"]) for r in data["rates"]] == [("EUR", "108.87"), ("USD", "103.79")]


def test_at_csv(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T13:11", "--csv", "--db", history)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["type"] for r in rows] == ["rate", "rate"] + ["headline"] * 5
    assert rows[2]["title"] == XSS_TITLE
    assert rows[2]["headline_id"] == hid(6)
    assert rows[0]["value"] == "108.87"
    assert {r["shown_at"] for r in rows} == {"2024-11-25T10:10:00Z"}
    assert {r["fetch_id"] for r in rows} == {"7"}
    assert rows[2]["new"] == "true" and rows[3]["new"] == "false"


def test_at_unchanged_poll_shows_the_same_snapshot(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T10:13:00Z", "--json", "--db", history)
    data = json.loads(result.output)
    assert data["outcome"] == "unchanged"
    assert [h["headline_id"] for h in data["headlines"]] == [hid(6), hid(5), hid(1), hid(2), hid(3)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["at", "tomorrow"], "Error: cannot read time 'tomorrow'"),
        (
            ["at", "2024-11-25T09:00:00Z"],
            "Error: no successful poll of 'rbc' at or before 2024-11-25 12:00:00 MSK",
        ),
        (["changes", "--since", "2024-13-01"], "Error: cannot read time '2024-13-01'"),
        (
            ["changes", "--since", "2024-11-26", "--until", "2024-11-25"],
            "Error: --since (2024-11-26 00:00:00 MSK)",
        ),
        (["rates", "--since", "soon"], "Error: cannot read time 'soon'"),
        (["at", "now", "--source", "cbr"], "Error: source cbr has no ticker (it publishes rates only)"),
        (["at", "now", "--source", "rbk"], "Error: unknown source 'rbk' (known: cbr, rbc)"),
        (["changes", "--source", "rbk"], "Error: unknown source 'rbk'"),
        (["rates", "--source", "cbrr"], "Error: unknown source 'cbrr'"),
        (["rates", "--currency", "EUR "], None),
        (["rates", "--currency", "EUD"], "Error: unknown currency 'EUD' (recorded: EUR, USD)"),
        (
            ["rates", "--since", "2024-11-27", "--until", "2024-11-26"],
            "Error: --since (2024-11-27 00:00:00 MSK)",
        ),
        (["at", "0001-01-01"], "Error: time '0001-01-01' is outside the years 1990..2100"),
        (["at", "9999-12-31T23:59:59-12:00"], "Error: time '9999-12-31T23:59:59-12:00' is outside"),
        (["changes", "--since", "1000000d"], "Error: age '1000000d' is more than 50 years"),
        (["rates", "--since", "0001-01-01"], "Error: time '0001-01-01' is outside the years"),
        (["changes", "--since", "1e400d"], "Error: cannot read time '1e400d'"),
    ],
)
def test_bad_input_is_one_error_line(cli, history: Path, args: list[str], message: str | None) -> None:
    result = cli(*args, "--db", history)
    if message is None:  # a variation that is fine: no error
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code != 0
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_database_is_a_clear_error(cli, tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    for command in (["at", "1h"], ["changes"], ["rates"]):
        result = cli(*command, "--db", missing)
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: no database at {missing}")
    assert not missing.exists()  # never created by a query


def test_outdated_database_is_refused_not_changed(cli, history: Path) -> None:
    from ticker.db.schema import connect

    db = connect(history)
    db.execute("DROP VIEW rate_history")
    db.close()
    result = cli("rates", "--db", history)
    assert result.exit_code == 1
    assert "made by another version of ticker" in result.output
    db = connect(history, read_only=True)
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'rate_history'").fetchone()[0] == 0


def test_queries_work_on_a_read_only_file(cli, history: Path) -> None:
    os.chmod(history, stat.S_IRUSR)
    try:
        result = cli("rates", "--currency", "EUR", "--db", history)
        assert result.exit_code == 0, result.output
    finally:
        os.chmod(history, stat.S_IRUSR | stat.S_IWUSR)


def test_changes_in_a_window(cli, history: Path) -> None:
    result = cli(
        "changes", "--since", "2024-11-25T13:01", "--until", "2024-11-25T13:09", "--json", "--db", history
    )
    events = json.loads(result.output)
    assert [(e["at"], e["event"], e["headline_id"], e["fetch_id"]) for e in events] == [
        ("2024-11-25T10:02:00Z", "new", hid(5), 3),
        ("2024-11-25T10:02:00Z", "reworded", hid(1), 3),
        ("2024-11-25T10:02:00Z", "scrolled_off", hid(4), 3),
        ("2024-11-25T10:04:00Z", "pulled", hid(2), 4),
        ("2024-11-25T10:06:00Z", "failed", None, 5),
        ("2024-11-25T10:08:00Z", "failed", None, 6),
    ]
    assert events[2]["detail"] == "scrolled_off from position 4"
    assert events[2]["exit_reason"] == "scrolled_off"
    assert events[1]["detail"] == "was: Путин провел совещание"
    assert events[3]["detail"] == "pulled from position 3"
    assert events[4]["title"] == "page: network_error"
    text = cli("changes", "--since", "2024-11-26", "--until", "2024-11-27", "--db", history).output
    assert "2024-11-26 13:00:00 MSK  rate" in text
    assert "EUR 2024-11-27: 109.12" in text and "(move +0.25 from 108.87)" in text
    empty = cli("changes", "--since", "2024-01-01", "--until", "2024-01-02", "--db", history)
    assert empty.output.startswith("nothing recorded between 2024-01-01 00:00:00 MSK")


def test_changes_shows_an_item_coming_back_after_a_pull(cli, history: Path) -> None:
    events = json.loads(cli("changes", "--since", "2024-11-25T13:09", "--until", "2024-11-25T13:11",
                            "--json", "--db", history).output)  # fmt: skip
    back = [e for e in events if e["event"] == "back"]
    assert [(e["headline_id"], e["at"], e["detail"]) for e in back] == [
        (hid(2), "2024-11-25T10:10:00Z", "back at position 4 after pulled")
    ]
    assert [e["headline_id"] for e in events if e["event"] == "new"] == [hid(6)]  # not "new" again


def test_changes_marks_backfilled_and_imported_items(cli, history: Path) -> None:
    add_backfill_and_import(history)
    events = json.loads(cli("changes", "--since", "2024-11-26T13:10", "--until", "2024-11-27",
                            "--source", "rbc", "--json", "--db", history).output)  # fmt: skip
    new = {e["headline_id"]: e for e in events if e["event"] == "new"}
    assert (new[BACKFILLED]["origin"], new[BACKFILLED]["published_at"]) == (
        "backfill",
        "2024-11-26T09:58:00Z",
    )
    assert new[IMPORTED]["origin"] == "wayback"
    text = cli("changes", "--since", "2024-11-26T13:10", "--until", "2024-11-27", "--db", history).output
    assert "(Финансы; backfilled: not seen live, published 2024-11-26 12:58:00 MSK)" in text
    assert "(Общество; imported (wayback): not seen live, published 2024-11-26 13:50:00 MSK)" in text
    live = json.loads(cli("changes", "--since", "2024-11-25", "--until", "2024-11-25T13:01", "--json",
                          "--db", history).output)  # fmt: skip
    assert {e["origin"] for e in live if e["event"] == "new"} == {None}


def test_changes_of_one_source(cli, history: Path) -> None:
    only_cbr = json.loads(cli("changes", "--since", "2024-11-25", "--until", "2024-11-27", "--source", "cbr",
                              "--json", "--db", history).output)  # fmt: skip
    assert {e["source"] for e in only_cbr} == {"cbr"}
    assert [e["event"] for e in only_cbr] == ["rate", "rate", "rate"]


def test_changes_csv(cli, history: Path) -> None:
    result = cli("changes", "--since", "2024-11-25", "--until", "2024-11-27", "--csv", "--db", history)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    from ticker.cli.commands.query import CHANGE_COLUMNS

    assert list(rows[0]) == CHANGE_COLUMNS
    assert {"headline_id", "exit_reason", "first_poll", "seen_live"} <= set(rows[0])
    kinds = [r["event"] for r in rows]
    exits = kinds.count("pulled") + kinds.count("scrolled_off") + kinds.count("exit")
    # exits: 5, and the two items shown again after the night's gap end a presence (issue 19)
    assert kinds.count("new") == 6 and exits == 7 and kinds.count("failed") == 2
    assert {r["first_poll"] for r in rows} == {"true", "false"}  # booleans as in JSON
    assert kinds.count("rate") == 7 and kinds.count("reworded") == 1 and kinds.count("back") == 3


def test_now_is_a_time_everywhere(cli, history: Path) -> None:
    assert cli("at", "now", "--db", history).exit_code == 0
    assert cli("changes", "--since", "2024-11-25", "--until", "now", "--json", "--db", history).exit_code == 0
    assert cli("rates", "--until", "NOW", "--json", "--db", history).exit_code == 0


def test_same_keys_for_the_same_things(cli, history: Path) -> None:
    """`id`, `title`, `source`, `fetch_id`, `published_at` mean one thing in every command's JSON."""
    at = json.loads(cli("at", "2024-11-25T10:05:00Z", "--json", "--db", history).output)
    changed = json.loads(cli("changes", "--since", "2024-11-25", "--until", "2024-11-27", "--json",
                             "--db", history).output)  # fmt: skip
    rates = json.loads(cli("rates", "--json", "--db", history).output)
    item = at["headlines"][0]
    new = next(e for e in changed if e["event"] == "new" and e["headline_id"] == item["headline_id"])
    assert {"headline_id", "short_id", "title", "published_at"} <= set(item) & set(new)
    assert item["published_at"] == new["published_at"]
    assert {"source", "fetch_id"} <= set(at) & set(new)
    assert {"rate_id", "source", "currency", "rate_date", "value", "change"} <= set(rates[0])
    assert {"rate_id", "currency", "rate_date", "value", "change"} <= set(at["rates"][0])


def test_rates_filters_and_formats(cli, history: Path) -> None:
    data = json.loads(cli("rates", "--currency", "eur", "--source", "rbc", "--json", "--db", history).output)
    assert [(r["rate_date"], r["value"], r["move"]) for r in data] == [
        ("2024-11-26", "108.87", None),
        ("2024-11-27", "109.12", "+0.25"),
    ]
    since = json.loads(cli("rates", "--since", "2024-11-27", "--json", "--db", history).output)
    assert {r["rate_date"] for r in since} == {"2024-11-27"}
    assert len(since) == 3
    until = json.loads(
        cli("rates", "--until", "2024-11-26T12:00", "--source", "cbr", "--json", "--db", history).output
    )
    assert [(r["currency"], r["value"]) for r in until] == [("EUR", "108.8652"), ("USD", "103.7631")]
    table = cli("rates", "--currency", "USD", "--db", history).output.splitlines()
    assert table[0].split()[:5] == ["id", "date", "source", "currency", "value"]
    assert table[1].split()[:5] == ["rate:2", "2024-11-26", "cbr", "USD", "103.7631"]
    rows = list(
        csv.DictReader(io.StringIO(cli("rates", "--csv", "--currency", "eur", "--db", history).output))
    )
    assert [(r["source"], r["value"], r["change"]) for r in rows] == [
        ("cbr", "108.8652", ""),
        ("rbc", "108.87", "+1.45"),
        ("cbr", "109.1234", ""),
        ("rbc", "109.12", "+0.25"),
    ]
    both = cli("rates", "--json", "--csv", "--db", history)
    assert both.exit_code == 2


def test_subprocess_at_after_a_real_fetch(httpserver, db_path: Path) -> None:
    """The whole path: `ticker fetch` against a local server, then `ticker at` and `changes`."""
    items = standard_items(6)
    httpserver.expect_request("/").respond_with_data(
        render_page(items), content_type="text/html; charset=utf-8"
    )
    fetched = run_ticker("fetch", "rbc", "--url", httpserver.url_for("/"), "--db", db_path)
    assert fetched.returncode == 0, fetched.stderr
    shown = run_ticker("at", "0s", "--db", db_path)
    assert shown.returncode == 0, shown.stderr
    assert "EUR for 2024-11-26: 108.87 (+1.45)" in shown.stdout
    # every item is new at the only poll: its title, then the mark
    assert [line.rsplit("  ", 1)[0].split("  ")[-1].strip() for line in shown.stdout.splitlines()[4:]] == [
        i.title for i in items
    ]
    changed = run_ticker("changes", "--since", "1h", "--json", "--db", db_path)
    assert [e["event"] for e in json.loads(changed.stdout)].count("new") == 6
    bad = run_ticker("at", "not a time", "--db", db_path)
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: cannot read time")
    assert "Traceback" not in bad.stderr


def test_text_output_never_passes_terminal_controls(cli, db_path: Path) -> None:
    """A title with an escape sequence or a bidi override prints as visible escapes; --json keeps
    the stored text exactly."""
    from helpers_front import RBC_DAY1, _page, _row, add_source

    from ticker.db.schema import open_db
    from ticker.db.writes import save_ticker

    db = open_db(db_path)
    add_source(db, "rbc", "rbc", ["page"], "page")
    hostile = "Курс \x1b[2J\x1b]0;pwned\x07 евро \u202eвырос"
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:00:00Z"), _page([(1, hostile), (2, None)], RBC_DAY1))
    db.close()
    text = cli("at", "2024-11-25T10:05:00Z", "--db", db_path).output
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Курс \\u001b[2J\\u001b]0;pwned\\u0007 евро \\u202eвырос" in text
    data = json.loads(cli("at", "2024-11-25T10:05:00Z", "--json", "--db", db_path).output)
    assert data["headlines"][0]["title"] == hostile


@pytest.mark.parametrize(
    "args",
    [
        ["at", "2024-11-25T10:05:00Z"],
        ["at", "2024-11-25T10:05:00Z", "--csv"],
        ["changes", "--since", "2024-11-25", "--until", "2024-11-26", "--json"],
    ],
)
def test_a_closed_pipe_ends_quietly(db_path: Path, args: list[str]) -> None:
    """`ticker ... | head -1`: a real pipe whose reader goes away after one line."""
    build_long_ticker(db_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", *args, "--db", str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert first.strip()
    assert errors == ""  # no traceback, no "Exception ignored"


def test_data_to_stdout_diagnostics_to_stderr(history: Path) -> None:
    bad = run_ticker("rates", "--currency", "EUD", "--json", "--db", history)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == "Error: unknown currency 'EUD' (recorded: EUR, USD)\n"
    good = run_ticker("rates", "--currency", "EUR", "--json", "--db", history)
    assert good.stderr == "" and json.loads(good.stdout)


@pytest.mark.parametrize("command", ["at", "changes", "rates", "serve"])
def test_help_has_an_example(cli, command: str) -> None:
    text = cli(command, "--help").output
    assert "Examples:" in text
    assert f"  ticker {command} " in text


def test_top_level_summaries_are_not_cut_off(cli) -> None:
    text = cli("--help").output
    summaries = " ".join(text.split("Commands:")[1].split())
    assert "..." not in summaries
    assert "whether a daemon is running on the database." in summaries
    assert "Browse and query the history in Datasette (read-only):" in summaries


def test_every_question_works_for_a_feed_source(cli, history: Path) -> None:
    """A source whose ticker is its RSS feed (not RBC's page): at, changes, rates' source check."""
    add_feed_source(history)
    data = json.loads(cli("at", "2024-11-25T13:04", "--source", "tass", "--json", "--db", history).output)
    assert (data["channel"], data["shown_at"]) == ("rss", "2024-11-25T10:03:00Z")
    items = data["headlines"]
    assert [i["headline_id"] for i in items] == [tass_id(4), tass_id(1), tass_id(2), tass_id(3)]
    assert items[1]["title"] == "Лавров провел переговоры с Ваном" and items[1]["reworded_here"]
    assert items[2]["exit_reason"] == "pulled"
    events = json.loads(cli("changes", "--since", "2024-11-25T13:04", "--until", "2024-11-25T13:06",
                            "--source", "tass", "--json", "--db", history).output)  # fmt: skip
    assert [(e["event"], e["headline_id"], e["detail"]) for e in events] == [
        ("pulled", tass_id(2), "pulled from position 3")
    ]


def test_rates_limit_is_the_newest_in_date_order(cli, history: Path) -> None:
    """`--limit N` is the last N rows of the whole answer (newest first through an index, then
    in date order), stderr says when older ones were left out; each move and official value is
    the one computed here from the stored rates."""
    from ticker.db.queries import rates
    from ticker.db.schema import connect

    db = connect(history, read_only=True)
    everything = rates(db)
    assert len(everything) == 7
    for n in range(1, len(everything) + 2):
        assert rates(db, limit=n) == everything[-n:], n
    assert rates(db, currency="EUR", limit=2) == rates(db, currency="EUR")[-2:]
    stored = db.execute(
        "SELECT id, source, currency, rate_date, value, first_seen FROM rates ORDER BY rate_date, first_seen, id"
    ).fetchall()
    previous: dict[int, str | None] = {}
    last: dict[tuple[str, str], str] = {}
    for rate_id, source, currency, _day, value, _seen in stored:
        previous[rate_id] = last.get((source, currency))
        last[(source, currency)] = value
    official = {(c, d): v for _id, s, c, d, v, _seen in stored if s == "cbr"}
    for rate in everything:
        assert rate["previous_value"] == previous[rate["rate_id"]]
        key = (rate["currency"], rate["rate_date"])
        assert rate["official_value"] == (official.get(key) if rate["source"] == "rbc" else None)
    db.close()
    cut = cli("rates", "--limit", "3", "--json", "--db", history)
    assert [r["rate_id"] for r in json.loads(cut.stdout)] == [r["rate_id"] for r in everything[-3:]]
    assert "(the newest 3: --limit or --since shows more)" in cut.stderr
    whole = cli("rates", "--limit", "7", "--json", "--db", history)
    assert len(json.loads(whole.stdout)) == 7 and whole.stderr == ""
    assert cli("rates", "--limit", "0", "--db", history).exit_code == 2
