"""`ticker import warc` parses records ahead and writes captures by batches: the same history,
summaries and skips as taking the records one by one, and a file's fault after whole records
still stores them."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest
from helpers_import import WarcFile, history
from rbc_markup import render_page, standard_items

from ticker.db.imports import Capture, save_captures
from ticker.db.schema import open_db
from ticker.jobs import importing
from ticker.jobs.fetching import from_recorded
from ticker.jobs.sources import SourceSpec
from ticker.scraper.warc_reader import WarcError

T = datetime(2022, 3, 2, 9, 15, 0, tzinfo=UTC)
SITE = "http://127.0.0.1:9/"  # the source's configured address: every capture is of it, offline

SOURCE = SourceSpec(name="rbc", kind="rbc", url=SITE)


def page(start: int) -> bytes:
    return render_page(standard_items(14, start=start, newest=T + timedelta(minutes=2 * start))).encode()


def crawl(path) -> None:
    """Seven captures with the ticker moving on, a stylesheet between them, the same instant
    recorded twice (skipped) and a capture recorded again in another record."""
    warc = WarcFile(path, gzip=True)
    for n in range(7):
        warc.response(SITE, page(n), T + timedelta(minutes=2 * n))
        warc.response(SITE + "static/main.css", b"body{}", T, content_type="text/css")
    warc.response(SITE, page(9), T + timedelta(minutes=4))  # an instant already recorded
    warc.response(SITE, b"<html><body>Access denied</body></html>", T + timedelta(minutes=20))
    warc.close()


def run(db_path, paths, monkeypatch, *, ahead: int, batch: int):
    monkeypatch.setattr(importing, "PARSE_AHEAD", ahead)
    monkeypatch.setattr(importing, "WRITE_BATCH", batch)
    match = importing.address_matcher([SOURCE])
    return importing.import_warc(lambda: open_db(db_path), paths, match)


@pytest.mark.parametrize(("ahead", "batch"), [(3, 2), (8, 32)])
def test_parsed_ahead_and_written_by_batches_is_the_record_by_record_import(
    tmp_path, monkeypatch, ahead, batch
):
    path = tmp_path / "crawl.warc.gz"
    crawl(path)
    [one_by_one] = run(tmp_path / "one.db", [path], monkeypatch, ahead=0, batch=1)
    [batched] = run(tmp_path / "batched.db", [path], monkeypatch, ahead=ahead, batch=batch)
    assert batched.as_dict() == one_by_one.as_dict()
    assert (batched.fetched, batched.skipped) == (8, 1)
    assert history(open_db(tmp_path / "batched.db")) == history(open_db(tmp_path / "one.db"))
    [again] = run(tmp_path / "batched.db", [path], monkeypatch, ahead=ahead, batch=batch)
    assert (again.fetched, again.skipped) == (0, 9)


def test_a_file_fault_after_whole_records_stores_the_records_read_before_it(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.warc.gz", tmp_path / "bad.warc.gz"
    crawl(good)
    plain = tmp_path / "plain.warc"
    squashed = WarcFile(plain, gzip=False)
    squashed.response(SITE, page(20), T + timedelta(hours=1))
    squashed.close()
    bad.write_bytes(gzip.compress(plain.read_bytes()))  # one gzip stream for the whole file: not a WARC.gz
    with pytest.raises(WarcError):
        run(tmp_path / "db.db", [good, bad], monkeypatch, ahead=8, batch=32)
    db = open_db(tmp_path / "db.db")
    assert db.execute("SELECT count(*) FROM fetches WHERE origin = 'warc'").fetchone()[0] == 8
    assert db.execute("SELECT count(*) FROM history_pending").fetchone()[0] == 0  # derived
    assert db.execute("SELECT count(*) FROM sightings").fetchone()[0] > 0


def test_the_same_capture_twice_in_one_batch_is_stored_once(tmp_path):
    db = open_db(tmp_path / "db.db")
    spec = SOURCE

    def capture(ref: str) -> Capture:
        attempt = from_recorded(
            spec, "page", url=SITE, status=200, reason="OK", headers={"content-type": "text/html"},
            body=page(0), started_at=T, origin="warc", origin_ref=ref,
        )  # fmt: skip
        return Capture(attempt.row, attempt.parsed, attempt.body, ref)

    first, second = save_captures(db, [capture("a.warc#1"), capture("b.warc#1")], origin="warc")
    assert first is not None and first.items_new == 14 and second is None
    assert db.execute("SELECT origin_ref FROM fetches").fetchall() == [("a.warc#1",)]
