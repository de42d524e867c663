"""`ticker import warc`: WARC files written with warcio (response, request, revisit, warcinfo;
gzip and plain)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers_import import WarcFile, history
from rbc_markup import item_id, render_page, standard_items

from ticker.db.schema import open_db

T = datetime(2022, 3, 2, 9, 15, 0, tzinfo=UTC)


def page(start: int) -> bytes:
    return render_page(standard_items(14, start=start, newest=T)).encode()


def imported(db):
    return db.execute(
        "SELECT started_at, channel, outcome, origin, origin_ref, url FROM fetches ORDER BY started_at"
    ).fetchall()


@pytest.mark.parametrize("gzip", [True, False], ids=["warc.gz", "warc"])
def test_responses_and_a_revisit_become_fetches_at_their_warc_dates(cli, tmp_path, db_path, gzip):
    path = tmp_path / ("crawl.warc.gz" if gzip else "crawl.warc")
    warc = WarcFile(path, gzip=gzip)
    first_id, digest = warc.response("https://www.rbc.ru/", page(0), T)
    warc.response("https://www.rbc.ru/static/main.css", b"body{}", T, content_type="text/css")
    revisit_id = warc.revisit("https://www.rbc.ru/", digest, "https://www.rbc.ru/", T, T + timedelta(hours=1))
    query_id, _ = warc.response("https://www.rbc.ru/?utm_source=tg", page(2), T + timedelta(hours=2))
    warc.close()

    result = cli("import", "warc", path, "--db", db_path, "--json")
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.stdout)
    assert (summary["source"], summary["found"], summary["fetched"], summary["outcomes"]) == (
        "rbc", 3, 3, {"ok": 3}
    )  # fmt: skip
    db = open_db(db_path)
    rows = imported(db)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("2022-03-02T09:15:00Z", "page", "ok", "warc"),
        ("2022-03-02T10:15:00Z", "page", "ok", "warc"),  # the revisit: the same payload, its own date
        ("2022-03-02T11:15:00Z", "page", "ok", "warc"),
    ]
    assert [r[4] for r in rows] == [f"{path.name}#{i.strip('<>')}" for i in (first_id, revisit_id, query_id)]
    first_seen = db.execute(
        "SELECT first_seen, last_seen FROM headlines WHERE id = ?", [item_id(2)]
    ).fetchone()
    assert first_seen == ("2022-03-02T09:15:00Z", "2022-03-02T11:15:00Z")
    before = history(db)
    cited = cli("cite", item_id(2), "--db", db_path).output
    assert f"WARC record {first_id.strip('<>')} in {path.name} (WARC-Date 2022-03-02T09:15:00Z)" in cited

    again = cli("import", "warc", path, "--db", db_path, "--json")
    assert json.loads(again.stdout)[0]["skipped"] == 3
    assert history(open_db(db_path)) == before


def test_a_revisit_whose_payload_is_elsewhere_is_reported_not_stored(cli, tmp_path, db_path):
    path = tmp_path / "later.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.revisit("https://www.rbc.ru/", "sha1:AAAA", "https://www.rbc.ru/", T, T + timedelta(days=1))
    warc.close()
    result = cli("import", "warc", path, "--db", db_path, "--json")
    [summary] = json.loads(result.stdout)
    assert (summary["fetched"], summary["not_captures"]) == (0, {"revisit_unresolved": 1})
    assert imported(open_db(db_path)) == []


def test_a_revisit_resolved_from_an_earlier_file(cli, tmp_path, db_path):
    first, second = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    warc = WarcFile(first, gzip=True)
    _, digest = warc.response("https://www.rbc.ru/", page(0), T)
    warc.close()
    warc = WarcFile(second, gzip=True)
    warc.revisit("https://www.rbc.ru/", digest, "https://www.rbc.ru/", T, T + timedelta(minutes=30))
    warc.close()
    result = cli("import", "warc", first, second, "--db", db_path, "--json")
    assert json.loads(result.stdout)[0]["outcomes"] == {"ok": 2}


def test_a_blocked_record_and_a_page_without_ticker(cli, tmp_path, db_path, fixture_bytes):
    path = tmp_path / "crawl.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.response("https://www.rbc.ru/", fixture_bytes("qrator_401.html"), T, status="401 Unauthorized")
    warc.response("https://www.rbc.ru/", fixture_bytes("rbc_no_ticker.html"), T + timedelta(hours=1))
    warc.close()
    result = cli("import", "warc", path, "--db", db_path, "--json")
    assert json.loads(result.stdout)[0]["outcomes"] == {"blocked": 1, "parse_error": 1}
    db = open_db(db_path)
    kept = db.execute(
        "SELECT count(*) FROM fetches f JOIN bodies b ON b.sha256 = f.body_sha256 WHERE f.origin = 'warc'"
    ).fetchone()[0]
    assert kept == 2  # the evidence is kept, for `ticker reparse` later


def test_bad_files_and_no_matching_record_are_one_error_line(cli, tmp_path, db_path):
    bogus = tmp_path / "x.warc.gz"
    bogus.write_bytes(b"not a warc at all\n")
    result = cli("import", "warc", bogus, "--db", db_path)
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1
    other = tmp_path / "other.warc"
    warc = WarcFile(other, gzip=False)
    warc.response("https://example.org/", b"<html></html>", T)
    warc.close()
    result = cli("import", "warc", other, "--db", db_path)
    assert result.output.strip() == "Error: no record in 1 file(s) is an address of rbc, cbr"


def test_a_body_over_the_live_cap_is_reported_not_read(tmp_path):
    from ticker.scraper.warc_reader import Reader

    path = tmp_path / "big.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.response("https://www.rbc.ru/", page(0), T)
    warc.close()
    [record] = list(Reader(max_bytes=1000).records(path))
    assert record.body is None and "larger than 1000 bytes" in record.problem
    [record] = list(Reader().records(path))
    assert record.body == page(0)


def test_a_whole_file_gzip_is_one_error_line(cli, tmp_path, db_path):
    import gzip

    plain = tmp_path / "crawl.warc"
    warc = WarcFile(plain, gzip=False)
    warc.response("https://www.rbc.ru/", page(0), T)
    warc.response("https://www.rbc.ru/", page(1), T + timedelta(hours=1))
    warc.close()
    squashed = tmp_path / "squashed.warc.gz"  # one gzip stream for the whole file: not a WARC.gz
    squashed.write_bytes(gzip.compress(plain.read_bytes()))
    result = cli("import", "warc", squashed, "--db", db_path)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: {squashed}: not a readable WARC file") and "warcio recompress" in line


def test_the_same_records_in_a_renamed_file_are_not_imported_twice(cli, tmp_path, db_path):
    path = tmp_path / "crawl.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.response("https://www.rbc.ru/", page(0), T)
    warc.close()
    cli("import", "warc", path, "--db", db_path)
    copy = tmp_path / "copy-of-crawl.warc.gz"
    copy.write_bytes(path.read_bytes())
    result = cli("import", "warc", copy, "--db", db_path, "--json")
    assert json.loads(result.stdout)[0]["skipped"] == 1
    assert len(imported(open_db(db_path))) == 1


def test_another_outlet_from_the_config(cli, tmp_path, db_path):
    """Any kind whose channel has an address: an RSS source named in a config file."""
    config = tmp_path / "ticker.toml"
    config.write_text('[sources.lenta]\nkind = "rss"\npreset = "lenta"\n', encoding="utf-8")
    items = "".join(
        f"<item><title>Новость {n}</title><link>https://lenta.ru/news/2013/11/01/n{n}/</link>"
        f"<guid>https://lenta.ru/news/2013/11/01/n{n}/</guid>"
        f"<pubDate>Fri, 01 Nov 2013 {16 - n:02d}:00:05 +0400</pubDate></item>"
        for n in range(5)
    )
    feed = f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Lenta.ru</title>{items}</channel></rss>'
    path = tmp_path / "lenta.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.response("https://lenta.ru/rss", feed.encode(), datetime(2013, 11, 1, 13, 0, tzinfo=UTC),
                  content_type="application/rss+xml")  # fmt: skip
    warc.close()
    result = cli("import", "warc", path, "--config", config, "--db", db_path, "--json")
    assert result.exit_code == 0, result.output
    [summary] = json.loads(result.stdout)
    assert (summary["source"], summary["outcomes"], summary["items_new"]) == ("lenta", {"ok": 1}, 5)
    db = open_db(db_path)
    assert db.execute("SELECT min(first_seen) FROM headlines").fetchone()[0] == "2013-11-01T13:00:00Z"


def test_records_dated_outside_the_time_bounds_are_skipped_and_said(cli, tmp_path, db_path):
    """Was: WARC-Dates of 9999-12-31T23:59:59Z and 1970 were stored, and `status`, `cite` and
    `serve` failed on them for good (OverflowError showing them in Moscow time)."""
    path = tmp_path / "crawl.warc.gz"
    warc = WarcFile(path, gzip=True)
    warc.response("https://www.rbc.ru/", page(0), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    warc.response("https://www.rbc.ru/", page(1), datetime(1970, 1, 1, tzinfo=UTC))
    warc.response("https://www.rbc.ru/", page(2), T)
    warc.close()
    result = cli("import", "warc", path, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert (
        "1 fetched (1 ok)" in result.output
        and "not captures (nothing stored): 2 out of range" in result.output
    )
    warnings = [
        line for line in result.output.splitlines() if line.startswith("warning: skipped WARC record")
    ]
    assert len(warnings) == 2
    assert "dated 9999-12-31T23:59:59Z, outside the years 1990..2100" in warnings[0]
    assert [r[0] for r in imported(open_db(db_path))] == ["2022-03-02T09:15:00Z"]
    assert cli("status", "--db", db_path).exit_code == 0
    assert cli("cite", item_id(2), "--db", db_path).exit_code == 0
    [summary] = json.loads(cli("import", "warc", path, "--db", db_path, "--json").stdout)
    assert (summary["skipped"], summary["not_captures"]) == (1, {"out_of_range": 2})


def _two_pages(path, *, gzip: bool) -> None:
    import os

    warc = WarcFile(path, gzip=gzip)
    warc.response("https://www.rbc.ru/", page(0), T)
    noise = os.urandom(6000).hex().encode()  # a body that gzip cannot shrink to nothing
    warc.response("https://www.rbc.ru/", page(1) + b"<!--" + noise + b"-->", T + timedelta(hours=1))
    warc.close()


@pytest.mark.parametrize("gzip", [True, False], ids=["warc.gz", "warc"])
def test_a_truncated_file_imports_its_whole_records_and_says_it_is_truncated(cli, tmp_path, db_path, gzip):
    """Was: the record cut short was stored as the site's answer (parse_error "page truncated"),
    exit 0 and no warning."""
    whole = tmp_path / ("whole.warc.gz" if gzip else "whole.warc")
    _two_pages(whole, gzip=gzip)
    cut = tmp_path / ("cut.warc.gz" if gzip else "cut.warc")
    cut.write_bytes(whole.read_bytes()[:-3000])
    result = cli("import", "warc", cut, "--db", db_path)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith("rbc/page: 2 captures found") and "1 fetched (1 ok)" in line for line in lines)
    assert "not captures (nothing stored): 1 truncated" in result.output
    assert any(line.startswith(f"warning: {cut}: the file is truncated: record ") for line in lines)
    assert lines[-1].startswith(f"Error: {cut}: the file is truncated: ")
    assert lines[-1].endswith("the whole records before the cut were imported")
    assert [(r[0], r[2]) for r in imported(open_db(db_path))] == [("2022-03-02T09:15:00Z", "ok")]


@pytest.mark.parametrize(
    "gzip, cut_bytes, expected",
    [
        (True, 4, "its gzip member ends early"),  # the gzip trailer cut: every payload byte is there
        (True, 3000, "bytes are in the file"),
        (False, 3000, "bytes are in the file"),
    ],
)
def test_the_reader_never_yields_a_cut_record_as_whole(tmp_path, gzip, cut_bytes, expected):
    from ticker.scraper.warc_reader import Reader

    whole = tmp_path / "whole.warc"
    _two_pages(whole, gzip=gzip)
    data = whole.read_bytes()
    cut = tmp_path / "cut.warc"
    cut.write_bytes(data[:-cut_bytes])
    reader = Reader()
    first, second = reader.records(cut)
    assert (first.body, first.truncated) == (page(0), False)
    assert (second.body, second.truncated) == (None, True) and expected in second.problem
    [line] = reader.truncated
    assert line.startswith(f"{cut}: the file is truncated: ")
    # cut inside the second record's headers: the first is whole, the file is still said truncated
    if not gzip:
        start = data.index(b"WARC/1", data.index(b"WARC-Type: response") + 1)
        for extra in (10, 200):  # warcio reads the first as a record of no type, the second not at all
            header_cut = tmp_path / f"header-cut-{extra}.warc"
            header_cut.write_bytes(data[: start + extra])
            reader = Reader()
            assert [r.truncated for r in reader.records(header_cut)] == [False]
            assert "ends inside a record's headers" in reader.truncated[0]
    whole_reader = Reader()
    assert [r.truncated for r in whole_reader.records(whole)] == [False, False]
    assert whole_reader.truncated == []


def test_a_file_that_fails_creates_no_database(cli, tmp_path, db_path):
    """Was: `import warc text.warc` created a full ticker database, then said "not a readable WARC"."""
    text = tmp_path / "text.warc"
    text.write_text("just some text\n" * 20, encoding="utf-8")
    result = cli("import", "warc", text, "--db", db_path)
    assert result.exit_code == 1 and "not a" in result.output
    assert not db_path.exists()
    other = tmp_path / "other.warc"
    warc = WarcFile(other, gzip=False)
    warc.response("https://example.org/", b"<html></html>", T)
    warc.close()
    assert cli("import", "warc", other, "--db", db_path).exit_code == 1
    assert not db_path.exists()


def test_help_of_import_has_examples_and_whole_summaries(cli):
    group = cli("import", "--help").output
    assert "ticker import warc crawl.warc.gz" in group
    summaries = [line for line in group.splitlines() if line.startswith(("  warc ", "  wayback "))]
    assert len(summaries) == 2 and not any(line.endswith("...") for line in summaries)
    for command in ("wayback", "warc"):
        assert f"ticker import {command} " in cli("import", command, "--help").output


def test_a_warc_date_no_datetime_can_hold_is_skipped_not_a_traceback(cli, tmp_path, db_path):
    """`9999-12-31T23:59:59-05:00` is past year 9999 in UTC: was an OverflowError traceback."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders

    path = tmp_path / "crawl.warc.gz"
    warc = WarcFile(path, gzip=True)
    for date in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = warc.writer.create_warc_record(
            "https://www.rbc.ru/", "response", payload=BytesIO(page(0)), http_headers=headers,
            warc_headers_dict={"WARC-Date": date},
        )  # fmt: skip
        warc.writer.write_record(record)
    warc.response("https://www.rbc.ru/", page(1), T)
    warc.close()
    result = cli("import", "warc", path, "--db", db_path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["fetched"] == 1
