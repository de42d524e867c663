"""`ticker at`, `ticker changes`, `ticker rates` through Click's runner and as a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest
from conftest import run_ticker
from rbc_markup import render_page, standard_items
from test_views import XSS_TITLE, build_history, hid


@pytest.fixture
def history(db_path: Path) -> Path:
    build_history(db_path)
    return db_path


def test_at_text_shows_the_ticker_in_moscow_time(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T13:05", "--db", history)  # no zone: Moscow time
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "rbc ticker as of 2024-11-25 13:04:00 MSK (poll 4; asked for 2024-11-25 13:05:00 MSK)"
    assert lines[1] == "EUR for 2024-11-26: 108.87 (+1.45)"
    assert lines[2] == "USD for 2024-11-26: 103.79 (+1.21)"
    assert lines[3].split() == ["1", "12:55", "Экономика", "ЦБ", "сохранил", "ключевую", "ставку"]
    assert "Путин провел совещание с Совбезом" in lines[4]
    assert len(lines) == 6


def test_at_notes_failed_polls_and_reads_titles_as_they_were(cli, history: Path) -> None:
    during = cli("at", "2024-11-25T10:09:00Z", "--db", history)
    assert "note: 2 failed poll(s)" in during.output
    before = cli("at", "2024-11-25T10:01:00+00:00", "--json", "--db", history)
    data = json.loads(before.output)
    assert data["poll"]["started_at"] == "2024-11-25T10:00:00Z"
    assert data["asked_at"] == "2024-11-25T10:01:00Z"
    assert data["headlines"][0]["title"] == "Путин провел совещание"
    assert [h["position"] for h in data["headlines"]] == [1, 2, 3, 4]
    assert [(r["currency"], r["value"]) for r in data["rates"]] == [("EUR", "108.87"), ("USD", "103.79")]


def test_at_csv(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T13:11", "--csv", "--db", history)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["type"] for r in rows] == ["rate", "rate"] + ["headline"] * 5
    assert rows[2]["title"] == XSS_TITLE
    assert rows[2]["id"] == hid(6)
    assert rows[0]["value"] == "108.87"
    assert {r["shown_at"] for r in rows} == {"2024-11-25T10:10:00Z"}


def test_at_unchanged_poll_shows_the_same_snapshot(cli, history: Path) -> None:
    result = cli("at", "2024-11-25T10:13:00Z", "--json", "--db", history)
    data = json.loads(result.output)
    assert data["poll"]["outcome"] == "unchanged"
    assert [h["id"] for h in data["headlines"]] == [hid(6), hid(5), hid(1), hid(2), hid(3)]


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
    ],
)
def test_bad_input_is_one_error_line(cli, history: Path, args: list[str], message: str) -> None:
    result = cli(*args, "--db", history)
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
    assert [(e["at"], e["kind"], e["ref"]) for e in events] == [
        ("2024-11-25T10:02:00Z", "exit", hid(4)),
        ("2024-11-25T10:02:00Z", "new", hid(5)),
        ("2024-11-25T10:02:00Z", "rewrite", hid(1)),
        ("2024-11-25T10:04:00Z", "exit", hid(2)),
        ("2024-11-25T10:06:00Z", "failure", "5"),
        ("2024-11-25T10:08:00Z", "failure", "6"),
    ]
    assert events[0]["detail"] == "scrolled_off from position 4"
    assert events[2]["detail"] == "was: Путин провел совещание"
    assert events[3]["detail"] == "pulled from position 3"
    assert events[4]["text"] == "page: network_error"
    text = cli("changes", "--since", "2024-11-26", "--until", "2024-11-27", "--db", history).output
    assert "2024-11-26 13:00:00 MSK  rate" in text
    assert "EUR 2024-11-27: 109.12" in text and "(move +0.25 from 108.87)" in text
    empty = cli("changes", "--since", "2024-01-01", "--until", "2024-01-02", "--db", history)
    assert empty.output.startswith("nothing recorded between 2024-01-01 00:00:00 MSK")


def test_changes_csv(cli, history: Path) -> None:
    result = cli("changes", "--since", "2024-11-25", "--until", "2024-11-27", "--csv", "--db", history)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["at", "kind", "source", "ref", "text", "detail"]
    kinds = [r["kind"] for r in rows]
    assert kinds.count("new") == 6 and kinds.count("exit") == 5 and kinds.count("failure") == 2
    assert kinds.count("rate") == 7 and kinds.count("rewrite") == 1


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
    assert table[0].split()[:4] == ["date", "source", "currency", "value"]
    assert table[1].split()[:4] == ["2024-11-26", "cbr", "USD", "103.7631"]
    rows = list(
        csv.DictReader(io.StringIO(cli("rates", "--csv", "--currency", "XXX", "--db", history).output))
    )
    assert rows == []
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
    assert [line.split("  ")[-1].strip() for line in shown.stdout.splitlines()[3:]] == [
        i.title for i in items
    ]
    changed = run_ticker("changes", "--since", "1h", "--json", "--db", db_path)
    assert [e["kind"] for e in json.loads(changed.stdout)].count("new") == 6
    bad = run_ticker("at", "not a time", "--db", db_path)
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: cannot read time")
    assert "Traceback" not in bad.stderr


def test_text_output_never_passes_terminal_controls(cli, db_path: Path) -> None:
    """A title with an escape sequence or a bidi override prints as visible escapes; --json keeps
    the stored text exactly."""
    from test_views import RBC_DAY1, _page, _row

    from ticker.db.schema import open_db
    from ticker.db.writes import save_ticker

    db = open_db(db_path)
    hostile = "Курс \x1b[2J\x1b]0;pwned\x07 евро \u202eвырос"
    save_ticker(db, _row("rbc", "page", "2024-11-25T10:00:00Z"), _page([(1, hostile), (2, None)], RBC_DAY1))
    db.close()
    text = cli("at", "2024-11-25T10:05:00Z", "--db", db_path).output
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "Курс \\u001b[2J\\u001b]0;pwned\\u0007 евро \\u202eвырос" in text
    data = json.loads(cli("at", "2024-11-25T10:05:00Z", "--json", "--db", db_path).output)
    assert data["headlines"][0]["title"] == hostile
