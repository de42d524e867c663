"""The raw archive: bodies kept once by SHA-256, retention modes, keep_days, stats/show/prune."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import Item, item_id, render_page, standard_items

from ticker.core.settings import ArchiveSettings
from ticker.db import archive
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 25, 16, 0, tzinfo=UTC)


class Poller:
    """Serves one body at a time and polls it with a controllable clock."""

    def __init__(self, httpserver, db_path, settings: ArchiveSettings) -> None:
        self.server, self.settings = httpserver, settings
        self.db = open_db(db_path)
        self.spec = SourceSpec(name="rbc", kind="rbc", url=httpserver.url_for("/"))
        self.now = T0
        self.client = make_client()

    def __call__(self, body: str | bytes, status: int = 200, *, after: timedelta = timedelta(minutes=2)):
        self.server.clear_all_handlers()
        data = body.encode() if isinstance(body, str) else body
        self.server.expect_request("/").respond_with_data(
            data, status=status, content_type="text/html; charset=utf-8"
        )
        self.now += after
        return poll(self.db, self.client, self.spec, now=lambda: self.now, archive=self.settings)

    def kept(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT sha256 FROM bodies").fetchall()}


def sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


PAGE_A = render_page(standard_items(8))
# Same items, another update time: a new body that changes nothing.
PAGE_A2 = render_page(standard_items(8), updated=datetime(2024, 11, 25, 16, 1, tzinfo=UTC))
PAGE_TOO_FEW = render_page(standard_items(2))  # parse_error: under the 5 items the page needs
PAGE_NO_RATES = render_page(standard_items(8), widgets=[])  # ok but suspicious (warning)


@pytest.fixture
def poller_for(httpserver, tmp_path):
    made = []

    def make(settings: ArchiveSettings):
        made.append(Poller(httpserver, tmp_path / f"t{len(made)}.db", settings))
        return made[-1]

    yield make
    for poller in made:
        poller.client.close()


def test_identical_bodies_are_stored_once(poller_for):
    p = poller_for(ArchiveSettings(keep="all"))
    first = p(PAGE_A)
    p(PAGE_A2)
    third = p(PAGE_A)  # not "unchanged": the previous body differs; same bytes as the first
    assert p.db.execute("SELECT count(*) FROM bodies").fetchone()[0] == 2
    rows = p.db.execute("SELECT id, body_sha256 FROM fetches ORDER BY id").fetchall()
    assert rows[0][1] == rows[2][1] == sha(PAGE_A)
    assert p.db.execute("SELECT first_fetch_id FROM bodies WHERE sha256 = ?", [sha(PAGE_A)]).fetchone()[
        0
    ] == (first.fetch_id)
    assert third.fetch_id == 3
    assert archive.read_body(p.db, sha(PAGE_A)) == PAGE_A.encode()
    assert archive.read_body(p.db, sha(PAGE_A)[:10]) == PAGE_A.encode()
    raw, packed = p.db.execute(
        "SELECT bytes, length(data) FROM bodies WHERE sha256 = ?", [sha(PAGE_A)]
    ).fetchone()
    assert raw == len(PAGE_A.encode()) and packed < raw / 3


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        ("all", {"A", "A2", "few", "norates"}),
        ("changed", {"A", "few", "norates"}),
        ("failed", {"few", "norates"}),
        ("none", set()),
    ],
)
def test_keep_modes(poller_for, keep, expected):
    p = poller_for(ArchiveSettings(keep=keep))
    outcomes = [p(PAGE_A).outcome, p(PAGE_A2).outcome, p(PAGE_TOO_FEW).outcome, p(PAGE_NO_RATES).outcome]
    assert outcomes == ["ok", "ok", "parse_error", "ok"]
    warning = p.db.execute("SELECT warning FROM fetches WHERE id = 4").fetchone()[0]
    assert "no rate widgets" in warning
    names = {"A": PAGE_A, "A2": PAGE_A2, "few": PAGE_TOO_FEW, "norates": PAGE_NO_RATES}
    assert p.kept() == {sha(names[name]) for name in expected}
    # Every fetch records its body's hash, archived or not.
    assert p.db.execute("SELECT count(*) FROM fetches WHERE body_sha256 IS NULL").fetchone()[0] == 0


def test_blocked_body_is_evidence(poller_for):
    p = poller_for(ArchiveSettings(keep="failed"))
    stub = "<html><script src='/__qrator/qauth.js'></script></html>"
    saved = p(stub, status=403)
    assert saved.outcome == "blocked"
    assert p.kept() == {sha(stub)}


def test_keep_days_prunes_old_bodies_but_not_fetches(poller_for):
    p = poller_for(ArchiveSettings(keep="all", keep_days=2))
    p(PAGE_A)
    p(PAGE_A2, after=timedelta(days=1))
    assert len(p.kept()) == 2
    p(PAGE_NO_RATES, after=timedelta(days=1, hours=12))  # 2.5 days after the first
    for _ in range(3):  # retention measures age by the fetches' own clock: the median of the latest
        p(PAGE_NO_RATES)
    assert len(p.kept()) == 3  # retention is not applied per fetch: the daemon prunes hourly
    assert archive.prune(p.db, p.settings, now=p.now).by_age == 1
    assert p.kept() == {sha(PAGE_A2), sha(PAGE_NO_RATES)}
    assert (
        p.db.execute("SELECT count(*) FROM fetches WHERE body_sha256 = ?", [sha(PAGE_A)]).fetchone()[0] == 1
    )


def test_prune_applies_a_stricter_mode(poller_for):
    p = poller_for(ArchiveSettings(keep="all"))
    for page in (PAGE_A, PAGE_A2, PAGE_TOO_FEW):
        p(page)
    result = archive.prune(p.db, ArchiveSettings(keep="changed"))
    assert (result.by_age, result.by_mode) == (0, 1)
    assert p.kept() == {sha(PAGE_A), sha(PAGE_TOO_FEW)}
    archive.prune(p.db, ArchiveSettings(keep="failed"))
    assert p.kept() == {sha(PAGE_TOO_FEW)}


def test_archive_failure_rolls_back_its_fetch(poller_for, monkeypatch):
    """A fetch and its body are one transaction: a body that cannot be written (a full disk)
    leaves no fetch claiming history it did not keep evidence for; the next poll retries it."""

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(archive, "archive_body", broken)
    p = poller_for(ArchiveSettings(keep="all"))
    with pytest.raises(sqlite3.OperationalError):
        p(PAGE_A)
    assert p.kept() == set()
    assert p.db.execute("SELECT count(*) FROM fetches").fetchone()[0] == 0
    assert p.db.execute("SELECT count(*) FROM headlines").fetchone()[0] == 0
    monkeypatch.undo()
    assert p(PAGE_A).items_new == 8
    assert p.kept() == {sha(PAGE_A)}


def test_cli_stats_show_prune(poller_for, cli, tmp_path):
    p = poller_for(ArchiveSettings(keep="all"))
    paid = [Item(id=item_id(99), title="Платная новость", paid=True), *standard_items(7)]
    for page in (PAGE_A, render_page(paid), PAGE_TOO_FEW):
        p(page)
    db = str(tmp_path / "t0.db")
    result = cli("archive", "stats", "--db", db, "--json")
    assert result.exit_code == 0
    stats = json.loads(result.output)
    assert stats["bodies"] == 3 and stats["fetches_archived"] == 3
    assert stats["by_outcome"]["ok"]["bodies"] == 2 and stats["by_outcome"]["parse_error"]["bodies"] == 1
    assert stats["bytes_raw"] == sum(len(x.encode()) for x in (PAGE_A, render_page(paid), PAGE_TOO_FEW))
    text = cli("archive", "stats", "--db", db).output
    assert text.startswith("3 bodies") and "parse_error" in text

    shown = cli("archive", "show", sha(PAGE_TOO_FEW), "--db", db)
    assert shown.exit_code == 0 and shown.stdout_bytes == PAGE_TOO_FEW.encode()
    missing = cli("archive", "show", "0" * 64, "--db", db)
    assert missing.exit_code == 1 and missing.output.startswith("Error: no archived body")
    bad = cli("archive", "show", "xyz", "--db", db)
    assert bad.exit_code == 1 and "Error: bad body hash" in bad.output

    pruned = cli("archive", "prune", "--db", db, "--keep", "failed")
    assert pruned.exit_code == 0 and "2 not kept" in pruned.output
    assert p.kept() == {sha(PAGE_TOO_FEW)}
    nodb = cli("archive", "stats", "--db", str(tmp_path / "nope.db"))
    assert nodb.exit_code == 1 and nodb.output.startswith("Error: no database")
