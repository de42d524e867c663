"""`ticker archive stats|show|prune|compact`: validated input (one `Error:` line), `--json`,
examples in `--help`, and read-only commands that leave a foreign SQLite file alone."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from conftest import run_ticker
from helpers_archive import archive_polls, poll_page, store_zlib

from ticker.db import archive
from ticker.db.schema import open_db, write_transaction


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "ticker.db"
    db = open_db(path)
    digests = archive_polls(db, 70)
    store_zlib(db, b"<html>an old zlib body</html>" * 50, source="rbc", channel="rss")
    db.conn.close()
    return path, digests


@pytest.mark.parametrize("days", ["inf", "nan", "-1", "1e9", "abc", "-inf"])
def test_prune_refuses_bad_keep_days_with_one_line(cli, filled, days):
    path, _ = filled
    result = run_ticker("archive", "prune", "--keep-days", days, "--db", path)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: --keep-days") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM bodies").fetchone()[0] == 71
    conn.close()


def test_stats_json_shows_chains_and_the_zlib_comparison(cli, filled):
    path, _ = filled
    result = cli("archive", "stats", "--db", path, "--json")
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["bodies"] == 71
    assert stats["keyframes"] == 3  # two chain starts (64 links each at most) and the zlib body
    assert stats["longest_chain"] == 64
    assert set(stats["by_compression"]) == {"zlib", "zstd", "zstd-delta"}
    assert stats["ratio_to_zlib"] < 0.1 and stats["zlib_sample"] > 0
    assert stats["bytes_per_body"] == pytest.approx(stats["bytes_compressed"] / 71, abs=0.1)
    text = cli("archive", "stats", "--db", path).output
    assert "keyframes" in text and "longest chain 64 steps" in text and "under zlib" in text


def test_show_reads_through_the_chain(cli, filled):
    path, digests = filled
    result = run_ticker("archive", "show", digests[50][:12], "--db", path)
    assert result.returncode == 0
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == digests[50]
    assert result.stdout.encode() == poll_page(50)


def test_prune_json(cli, filled):
    path, _ = filled
    result = cli("archive", "prune", "--keep", "none", "--db", path, "--json")
    assert json.loads(result.output) == {"by_age": 0, "by_mode": 71, "keep": "none", "keep_days": 0.0}


@pytest.mark.parametrize("command", ["stats", "show", "prune", "compact"])
def test_help_has_an_example(cli, command):
    result = cli("archive", command, "--help")
    assert "Example" in result.output and f"ticker archive {command}" in result.output


@pytest.mark.parametrize("args", [["stats"], ["show", "0123456789abcdef"]])
def test_read_only_commands_leave_a_foreign_sqlite_file_alone(tmp_path, args):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    result = run_ticker("archive", *args, "--db", path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"Error: {path} is not a ticker database (it has other tables): nothing was changed"
    )
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_stats_and_show_read_an_archive_from_before_delta_chains_without_migrating(tmp_path):
    """A database whose last migration predates 0008 (zlib bodies only) is read as it is."""
    path = tmp_path / "ticker.db"
    db = open_db(path)
    digest = store_zlib(db, b"<html>kept before delta chains</html>" * 30)
    for statement in (
        "DROP INDEX bodies_source_channel",
        "DROP INDEX bodies_base",
        *(f"ALTER TABLE bodies DROP COLUMN {c}" for c in ("source", "channel", "base_sha256", "chain_depth")),
        "DELETE FROM _sqlite_migrations WHERE name IN ('0008_archive_delta', '0009_alert_delivery')",
    ):
        db.execute(statement)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    before = path.read_bytes()
    stats = json.loads(run_ticker("archive", "stats", "--db", path, "--json").stdout)
    assert (stats["bodies"], stats["keyframes"], stats["longest_chain"]) == (1, 1, 1)
    shown = run_ticker("archive", "show", digest, "--db", path)
    assert shown.stdout.encode() == b"<html>kept before delta chains</html>" * 30
    assert path.read_bytes() == before


async def test_the_body_page_names_a_corrupt_body_instead_of_serving_it(tmp_path):
    from ticker.cli.commands.serve import make_datasette

    path = tmp_path / "ticker.db"
    db = open_db(path)
    digests = archive_polls(db, 3)
    with write_transaction(db):
        db.execute("UPDATE bodies SET data = zeroblob(length(data)) WHERE sha256 = ?", [digests[1]])
    db.conn.close()
    archive._DECODED = archive._Decoded()  # as in the server's own process: nothing decoded yet
    ds = make_datasette(path)
    response = await ds.client.get(f"/-/body/{digests[1]}")
    assert response.status_code == 500
    assert response.text.startswith(f"archived body {digests[1]} is corrupt: ")  # one plain line, no page
    assert response.headers["content-type"].startswith("text/plain")
    assert (await ds.client.get(f"/-/body/{digests[0]}")).content == poll_page(0)


def test_reparse_never_parses_a_corrupt_body(httpserver, tmp_path, cli):
    """A body that no longer decodes is replayed as recorded and listed, never parsed as wrong bytes."""
    path = tmp_path / "ticker.db"
    for n in range(3):
        httpserver.clear_all_handlers()
        httpserver.expect_request("/").respond_with_data(
            poll_page(2 * n), content_type="text/html; charset=utf-8"
        )
        assert cli("fetch", "rbc", "--url", httpserver.url_for("/"), "--db", path).exit_code == 0
    db = open_db(path)
    victim = db.execute("SELECT body_sha256 FROM fetches WHERE id = 2").fetchone()[0]
    with write_transaction(db):
        db.execute("UPDATE bodies SET data = zeroblob(length(data)) WHERE sha256 = ?", [victim])
    db.conn.close()
    archive._DECODED = archive._Decoded()
    result = cli("reparse", "--db", path, "--into", tmp_path / "new.db", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["not_archived"] == [2, 3] and report["reparsed"] == 1  # body 3 is a delta on body 2
    shown = cli("reparse", "--fetch", "2", "--db", path)
    assert shown.exit_code == 1 and victim in shown.output and shown.output.count("\n") == 1
