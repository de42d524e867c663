"""Delta-compressed bodies: chains and keyframes, exact round trips, corruption named, pruning
that re-keys, compaction of zlib archives (crash-safe), retention bounded by the fetches' clock,
and a body that shares its fetch's transaction (a full disk rolls both back)."""

from __future__ import annotations

import base64
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_ticker
from helpers_archive import (
    T0,
    add_fetch,
    archive_polls,
    challenge_page,
    fetch_and_archive,
    fresh_reads,
    poll_page,
    sha,
    store_zlib,
)

from ticker.core.settings import ArchiveSettings
from ticker.db import archive
from ticker.db.schema import open_db, write_transaction


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "ticker.db")
    yield database
    database.conn.close()


def _rows(db) -> dict[str, tuple]:
    return {
        row[0]: row[1:]
        for row in db.execute("SELECT sha256, compression, base_sha256, chain_depth FROM bodies").fetchall()
    }


def test_every_body_of_long_chains_reads_back_exactly(db):
    n = 2 * archive.KEYFRAME_EVERY + 20
    digests = archive_polls(db, n)
    rows = _rows(db)
    keyframes = [d for d in digests if rows[d][0] == archive.ZSTD]
    # a keyframe starts every chain of KEYFRAME_EVERY bodies, and only then (every delta pays here)
    assert [digests.index(d) for d in keyframes] == [0, archive.KEYFRAME_EVERY, 2 * archive.KEYFRAME_EVERY]
    assert all(rows[d][0] == archive.ZSTD_DELTA and rows[d][1] == digests[i - 1]
               for i, d in enumerate(digests) if d not in keyframes)  # fmt: skip
    assert max(depth for _, _, depth in rows.values()) == archive.KEYFRAME_EVERY - 1
    expected = [poll_page(i) for i in range(n)]
    assert fresh_reads(db, digests) == expected  # in order
    order = [*range(n - 1, -1, -7), n - 1, archive.KEYFRAME_EVERY - 1, 0]
    assert fresh_reads(db, [digests[i] for i in order]) == [expected[i] for i in order]  # any order
    stored = db.execute("SELECT sum(length(data)), sum(bytes) FROM bodies").fetchone()
    assert stored[0] * 50 < stored[1]
    assert archive.stats(db).longest_chain == archive.KEYFRAME_EVERY


def test_sequential_reads_decode_each_link_once(db, monkeypatch):
    """Reading a chain in order (what reparse does) decodes one link per body, not the chain."""
    digests = archive_polls(db, archive.KEYFRAME_EVERY)
    calls = []
    real = archive._decode_one
    monkeypatch.setattr(archive, "_decode_one", lambda *a: calls.append(a[0]) or real(*a))
    fresh_reads(db, digests)
    assert len(calls) == len(digests)


def test_a_body_identical_to_an_earlier_one_is_stored_once(db):
    a, b = poll_page(0), poll_page(1)
    first = fetch_and_archive(db, a)
    fetch_and_archive(db, b)
    again = fetch_and_archive(db, a, at=T0 + timedelta(minutes=4))
    fetch_and_archive(db, a, channel="rss")  # same bytes from another channel: still one body
    assert first == again == sha(a)
    assert db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 2
    assert fresh_reads(db, [sha(a), sha(b)]) == [a, b]


def test_a_challenge_page_between_two_pages_is_no_base(db):
    before, after = poll_page(0), poll_page(1)
    digests = [fetch_and_archive(db, body) for body in (before, challenge_page(), after)]
    rows = _rows(db)
    assert rows[digests[1]][:2] == (archive.ZSTD, None)  # unrelated: a keyframe of its own
    assert rows[digests[2]][:2] == (archive.ZSTD_DELTA, digests[0])  # built on the page before it
    assert fresh_reads(db, digests) == [before, challenge_page(), after]


def test_an_unrelated_body_of_the_same_size_becomes_a_keyframe(db):
    noise = os.urandom(len(poll_page(0)))  # nothing in common with the page before it
    digests = [fetch_and_archive(db, body) for body in (poll_page(0), noise, poll_page(1))]
    rows = _rows(db)
    assert rows[digests[1]][:2] == (archive.ZSTD, None)
    assert fresh_reads(db, digests) == [poll_page(0), noise, poll_page(1)]


def test_pruning_in_the_middle_of_a_chain_rekeys_what_depends_on_it(db):
    digests = archive_polls(db, 30)
    # bodies 10..19 were brought by failed fetches: keep = "failed" keeps those only...
    for n in range(10, 20):
        add_fetch(db, outcome="parse_error", body=poll_page(n))
    archive.prune(db, ArchiveSettings(keep="failed"))
    kept = [d for d in digests if archive.is_archived(db, d)]
    assert kept == digests[10:20]
    assert fresh_reads(db, kept) == [poll_page(n) for n in range(10, 20)]
    rows = _rows(db)
    assert rows[digests[10]][:2] == (archive.ZSTD, None)  # its base went: now a keyframe
    assert all(rows[d][2] < archive.KEYFRAME_EVERY for d in kept)


def test_pruning_holes_in_a_chain_keeps_every_other_body_readable(db):
    digests = archive_polls(db, 40)
    for n in range(0, 40, 3):  # every third body is kept by keep = "failed"
        add_fetch(db, outcome="blocked", body=poll_page(n))
    result = archive.prune(db, ArchiveSettings(keep="failed"))
    assert result.by_mode == 40 - len(range(0, 40, 3))
    kept = [digests[n] for n in range(0, 40, 3)]
    assert fresh_reads(db, kept) == [poll_page(n) for n in range(0, 40, 3)]
    rows = _rows(db)
    assert all(rows[d][1] is None or rows[d][1] in kept for d in kept)  # no base left dangling


def test_a_corrupt_delta_names_the_body_and_spares_the_others(db, cli, tmp_path):
    digests = archive_polls(db, 10)
    victim = digests[4]
    data = bytearray(db.execute("SELECT data FROM bodies WHERE sha256 = ?", [victim]).fetchone()[0])
    data[len(data) // 2] ^= 0xFF
    with write_transaction(db):
        db.execute("UPDATE bodies SET data = ? WHERE sha256 = ?", [bytes(data), victim])
    archive._DECODED = archive._Decoded()
    with pytest.raises(archive.CorruptBody, match=victim):
        archive.read_body(db, victim)
    with pytest.raises(archive.CorruptBody, match=digests[6]):  # built on it: named, its base too
        archive.read_body(db, digests[6])
    assert fresh_reads(db, digests[:4]) == [poll_page(n) for n in range(4)]
    result = cli("archive", "show", victim, "--db", tmp_path / "ticker.db")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and victim in result.output and "corrupt" in result.output


def test_a_valid_encoding_of_other_bytes_is_refused_by_its_hash(db):
    """A well-formed frame that decodes to the wrong bytes (same size) is never returned."""
    a = poll_page(0)
    fetch_and_archive(db, a)
    other = bytearray(a)
    other[100:104] = b"XXXX"
    forged = archive.encode(bytes(other), None).data
    with write_transaction(db):
        db.execute("UPDATE bodies SET data = ? WHERE sha256 = ?", [forged, sha(a)])
    with pytest.raises(archive.CorruptBody, match=sha(a)):
        fresh_reads(db, [sha(a)])


def test_compact_turns_a_zlib_archive_into_chains(db, cli, tmp_path):
    bodies = [poll_page(n) for n in range(50)]
    digests = [store_zlib(db, body, at=T0 + timedelta(minutes=2 * n)) for n, body in enumerate(bodies)]
    digests.insert(25, store_zlib(db, challenge_page(), at=T0))
    bodies.insert(25, challenge_page())
    before = db.execute("SELECT sum(length(data)) FROM bodies").fetchone()[0]
    result = cli("archive", "compact", "--db", tmp_path / "ticker.db", "--json")
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT count(*) FROM bodies WHERE compression = 'zlib'").fetchone()[0] == 0
    after = db.execute("SELECT sum(length(data)) FROM bodies").fetchone()[0]
    assert after * 8 < before
    assert fresh_reads(db, digests) == bodies
    again = cli("archive", "compact", "--db", tmp_path / "ticker.db")
    assert again.output.startswith("nothing to compact")


def test_compact_keeps_bodies_built_on_zlib_ones_readable(db):
    """A delta written after the upgrade may be built on a zlib body: re-encoding that base must
    not lengthen the chain beyond its bound, nor break the delta."""
    old = store_zlib(db, poll_page(0))
    new = [fetch_and_archive(db, poll_page(n)) for n in range(1, 5)]
    assert _rows(db)[new[0]][1] == old
    archive.compact(db)
    rows = _rows(db)
    assert rows[old] == (archive.ZSTD, None, 0)
    assert fresh_reads(db, [old, *new]) == [poll_page(n) for n in range(5)]


def test_kill_during_compaction_leaves_every_body_readable(tmp_path):
    path = tmp_path / "ticker.db"
    db = open_db(path)
    bodies = [poll_page(n) for n in range(400)]
    digests = [store_zlib(db, body) for body in bodies]
    db.conn.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "ticker", "archive", "compact", "--db", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            done = _count(path, "SELECT count(*) FROM bodies WHERE compression != 'zlib'")
            if done >= archive.COMPACT_BATCH:
                break
            time.sleep(0.01)
        assert process.poll() is None, "compaction finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    db = open_db(path)
    left = db.execute("SELECT count(*) FROM bodies WHERE compression = 'zlib'").fetchone()[0]
    assert 0 < left < len(bodies)  # killed half-way
    assert fresh_reads(db, digests) == bodies
    archive.compact(db)
    assert fresh_reads(db, digests) == bodies
    db.conn.close()


def _count(path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def test_a_forward_clock_jump_does_not_empty_the_archive(db):
    settings = ArchiveSettings(keep="all", keep_days=30)
    digests = archive_polls(db, 60)
    jumped = T0 + timedelta(days=400)
    digests.append(fetch_and_archive(db, poll_page(60), at=jumped))  # one poll with the clock a year ahead
    assert archive.prune(db, settings, now=jumped).by_age == 0
    assert archive.prune(db, settings, now=jumped + timedelta(days=1)).by_age == 0
    assert fresh_reads(db, digests) == [poll_page(n) for n in range(61)]


def test_many_polls_with_the_clock_a_year_ahead_then_a_prune_on_the_true_clock_delete_nothing(db):
    """Issue 19: 55 polls with the host clock 400 days ahead, then `prune --keep-days 30` once the
    clock is right again, deleted 11 of the 12 bodies recorded before the jump. Ages are measured
    from the retention clock (the median of the latest live polls, never later than the host's),
    so the true clock wins and nothing recent is old."""
    settings = ArchiveSettings(keep="all", keep_days=30)
    recent = archive_polls(db, 12)
    jumped = T0 + timedelta(days=400)
    ahead = [fetch_and_archive(db, poll_page(n), at=jumped + timedelta(minutes=2 * n)) for n in range(12, 67)]
    assert archive.prune(db, settings, now=T0 + timedelta(hours=1)).by_age == 0
    assert fresh_reads(db, recent + ahead) == [poll_page(n) for n in range(67)]


def test_age_pruning_never_deletes_the_newest_body_of_a_channel(db):
    """Ages come from the fetches' own times; even when a whole channel is old by that clock, its
    newest body stays (the only evidence of what it last showed)."""
    page = archive_polls(db, 5)
    later = T0 + timedelta(days=60)
    rates = [
        fetch_and_archive(db, f"<ValCurs Date='{n}'/>".encode() * 40, source="cbr", channel="xml_daily",
                          at=later + timedelta(hours=n))
        for n in range(10)
    ]  # fmt: skip
    result = archive.prune(db, ArchiveSettings(keep="all", keep_days=30), now=later + timedelta(days=1))
    assert result.by_age == 4
    assert [archive.is_archived(db, d) for d in page] == [False] * 4 + [True]
    assert fresh_reads(db, [page[-1], *rates]) == [poll_page(4)] + [
        f"<ValCurs Date='{n}'/>".encode() * 40 for n in range(10)
    ]


def test_a_full_disk_rolls_back_the_fetch_with_its_body(db):
    """The body is written in its fetch's transaction: when it does not fit, neither does the fetch."""
    archive_polls(db, 2)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is full: SQLITE_FULL past this
    big = os.urandom(200_000)  # incompressible: no encoding fits in two pages
    with pytest.raises(sqlite3.OperationalError, match="full"):
        fetch_and_archive(db, big, at=T0 + timedelta(hours=1))
    assert db.execute("SELECT count(*) FROM fetches").fetchone()[0] == 2
    assert not archive.is_archived(db, sha(big))
    db.execute("PRAGMA max_page_count = 1073741823")
    fetch_and_archive(db, big, at=T0 + timedelta(hours=1))  # retried with space: both are there
    assert fresh_reads(db, [sha(big)]) == [big]
    assert db.execute("SELECT count(*) FROM fetches").fetchone()[0] == 3


def test_archive_body_respects_keep_and_the_callers_transaction(db):
    with write_transaction(db):
        assert archive.archive_body(db, fetch_id=None, source="rbc", channel="page", body=b"x",
                                    content_type=None, at="2025-05-29T06:00:00Z", keep=False) is None  # fmt: skip
        assert db.conn.in_transaction  # it never commits on the caller's behalf
    assert not archive.is_archived(db, sha(b"x"))


def _damage(db, digest: str) -> None:
    data = bytearray(db.execute("SELECT data FROM bodies WHERE sha256 = ?", [digest]).fetchone()[0])
    data[len(data) // 2] ^= 0xFF
    with write_transaction(db):
        db.execute("UPDATE bodies SET data = ? WHERE sha256 = ?", [bytes(data), digest])
    archive._DECODED = archive._Decoded()


def test_a_damaged_latest_body_does_not_stop_archiving(db):
    """The next body cannot be a delta on a body that no longer decodes: it becomes a keyframe,
    and its fetch is recorded as usual."""
    digests = archive_polls(db, 3)
    _damage(db, digests[-1])
    after = fetch_and_archive(db, poll_page(3), at=T0 + timedelta(minutes=6))
    assert _rows(db)[after][:2] == (archive.ZSTD, None)
    assert fresh_reads(db, [after]) == [poll_page(3)]


def test_compact_leaves_a_corrupt_zlib_body_as_it_was_and_does_the_rest(db, cli, tmp_path):
    digests = [store_zlib(db, poll_page(n)) for n in range(6)]
    _damage(db, digests[2])
    result = cli("archive", "compact", "--db", tmp_path / "ticker.db", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unreadable"] == [digests[2]] and report["bodies"] == 5
    assert _rows(db)[digests[2]][0] == archive.ZLIB
    good = [d for d in digests if d != digests[2]]
    assert fresh_reads(db, good) == [poll_page(n) for n in (0, 1, 3, 4, 5)]
    with pytest.raises(archive.CorruptBody, match=digests[2]):
        fresh_reads(db, [digests[2]])


def _fsize_limit(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return apply


def test_a_full_disk_under_ticker_fetch_never_leaves_a_fetch_without_its_body(httpserver, tmp_path):
    """The issue's case, whole process: the fetch that first shows a page must not be recorded
    without its body (the next identical answer would be `unchanged` and never archived)."""
    path = tmp_path / "ticker.db"
    httpserver.expect_request("/").respond_with_data(poll_page(0), content_type="text/html; charset=utf-8")
    assert run_ticker("fetch", "rbc", "--url", httpserver.url_for("/"), "--db", path).returncode == 0
    noise = base64.b64encode(os.urandom(450_000))  # ~600 KB that no compressor shrinks much
    big = poll_page(1).replace(b"</body>", b"<!-- " + noise + b" --></body>")
    httpserver.expect_request("/big").respond_with_data(big, content_type="text/html; charset=utf-8")
    url = httpserver.url_for("/big")
    size = sum(p.stat().st_size for p in tmp_path.glob("ticker.db*"))
    full = subprocess.run(
        [sys.executable, "-m", "ticker", "fetch", "rbc", "--url", url, "--db", str(path)],
        capture_output=True, text=True, timeout=60, preexec_fn=_fsize_limit(size + 64 * 1024),
    )  # fmt: skip
    assert full.returncode == 1 and full.stderr.startswith("Error: ") and "Traceback" not in full.stderr
    again = run_ticker("fetch", "rbc", "--url", url, "--db", path)  # space again: the same answer
    assert again.returncode == 0, again.stderr
    conn = sqlite3.connect(path)
    try:
        missing = conn.execute(
            "SELECT f.id, f.outcome FROM fetches f LEFT JOIN bodies b ON b.sha256 = f.body_sha256 "
            "WHERE f.body_sha256 IS NOT NULL AND b.sha256 IS NULL"
        ).fetchall()
        outcomes = [row[0] for row in conn.execute("SELECT outcome FROM fetches ORDER BY id")]
    finally:
        conn.close()
    assert missing == []
    assert outcomes == ["ok", "ok"]


def test_an_absurd_recorded_size_is_refused_before_any_allocation(db):
    digests = archive_polls(db, 2)
    with write_transaction(db):
        db.execute("UPDATE bodies SET bytes = ? WHERE sha256 = ?", [10**12, digests[0]])
    with pytest.raises(archive.CorruptBody, match="beyond any body"):
        fresh_reads(db, [digests[0]])
    with pytest.raises(archive.CorruptBody, match=digests[1]):  # built on it: named, never guessed
        fresh_reads(db, [digests[1]])


@pytest.mark.parametrize("seed", range(4))
def test_random_archives_and_prunes_keep_every_kept_body_exact(db, seed):
    """Bodies of every kind in random order (pages, repeats, challenge pages, noise, two channels),
    pruned at random by mode and by age, compacted after some zlib bodies: what stays reads back."""
    rng = random.Random(seed)
    expected: dict[str, bytes] = {}
    when = T0
    for step in range(120):
        when += timedelta(minutes=2)
        kind = rng.random()
        if kind < 0.6:
            body = poll_page(rng.randrange(60))
        elif kind < 0.7:
            body = challenge_page(rng.randrange(3))
        elif kind < 0.75:
            body = os.urandom(rng.randrange(100, 5000))
        elif kind < 0.85:
            body = store_zlib_body(db, poll_page(rng.randrange(60)), when, expected)
            continue
        else:
            body = poll_page(rng.randrange(60)) + b"<!-- rss -->"
        channel = "rss" if body.endswith(b"<!-- rss -->") else "page"
        outcome = rng.choice(["ok", "ok", "ok", "parse_error", "blocked"])
        expected[fetch_and_archive(db, body, channel=channel, at=when, outcome=outcome)] = body
        if step % 40 == 39:
            mode = rng.choice(["failed", "changed", "all"])
            archive.prune(db, ArchiveSettings(keep=mode, keep_days=rng.choice([0, 0.05])), now=when)
            if rng.random() < 0.5:
                archive.compact(db)
    kept = [d for d in expected if archive.is_archived(db, d)]
    assert kept, "the test should keep something"
    assert fresh_reads(db, kept) == [expected[d] for d in kept]
    rows = _rows(db)
    assert all(base is None or base in rows for _, base, _ in rows.values())
    assert archive.stats(db).longest_chain <= archive.KEYFRAME_EVERY


def store_zlib_body(db, body: bytes, when, expected: dict[str, bytes]) -> bytes:
    if not archive.is_archived(db, sha(body)):
        expected[store_zlib(db, body, at=when)] = body
    return body


def test_the_retention_clock_reads_live_polls_not_imported_captures(tmp_path):
    from ticker.db.archive import reference_now
    from ticker.db.schema import open_db
    from ticker.db.writes import FetchRow, save_failure

    db = open_db(tmp_path / "clock.db")
    live_at = datetime(2024, 11, 25, 12, 0, tzinfo=UTC)
    for minute in range(20):
        save_failure(db, FetchRow("rbc", "page", "u", f"2024-11-25T12:{minute:02d}:00Z", "network_error"))
    for day in range(1, 29):  # an import of February 2022, stored after the live polls
        row = FetchRow("rbc", "page", "m", f"2022-02-{day:02d}T08:00:00Z", "parse_error", origin="wayback")
        save_failure(db, row)
    assert reference_now(db, host_now=live_at + timedelta(hours=1)) == live_at + timedelta(minutes=9)
