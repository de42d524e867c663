"""History across polls: titles, presence runs and their exits, rates, snapshots, and polls that
change nothing. Real pages from a local server, a real SQLite file, a controlled clock."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from rbc_markup import Item, Widget, item_id, render_page, standard_items

from ticker.db.history import classify_exit
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import builtin_source
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
TABLES = ("headlines", "headline_titles", "title_changes", "sightings", "rates", "snapshots", "sources")
# `bodies` (the raw archive, ticker.db.archive) keeps failed and changing bodies by design: it is
# counted where nothing may grow, and left out where a body may rightly be kept.


class Site:
    """A local RBC: serves whatever page the test sets, and polls it at a chosen instant."""

    def __init__(self, httpserver, db, client):
        self.server, self.db, self.client = httpserver, db, client
        self.spec = builtin_source("rbc")

    def poll(self, body: str | bytes, at: datetime, *, status=200, headers=None):
        self.server.clear()
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.server.expect_request("/").respond_with_data(
            data, status=status, content_type=HTML, headers=headers
        )
        return poll(self.db, self.client, self.spec, url=self.server.url_for("/"), now=lambda: at)


@pytest.fixture
def site(tmp_path, httpserver):
    db = open_db(tmp_path / "ticker.db")
    with make_client(read_timeout_s=5) as client:
        yield Site(httpserver, db, client)


def counts(db, *, with_bodies: bool = True) -> dict[str, int]:
    tables = (*TABLES, "fetches", "bodies") if with_bodies else (*TABLES, "fetches")
    return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def all_counts(db) -> dict[str, int]:
    """Row counts of every table in the file, whoever added it (FTS shadow tables included)."""
    names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
    return {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def dump(db) -> dict[str, list]:
    """Every row of every history table (all but fetches)."""
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in TABLES}


def sightings(db, headline_id):
    return db.execute(
        "SELECT first_fetch_id, last_fetch_id, first_position, last_position, exit_fetch_id, exited_at, "
        "exit_reason FROM sightings WHERE headline_id = ? ORDER BY id",
        [headline_id],
    ).fetchall()


def exits(db) -> dict[str, str | None]:
    return dict(
        db.execute(
            "SELECT headline_id, exit_reason FROM sightings WHERE exit_fetch_id IS NOT NULL"
        ).fetchall()
    )


def newer(count: int, start: int) -> list[Item]:
    """Items published after the standard ones (newest first)."""
    base = datetime(2024, 11, 25, 16, 10, tzinfo=UTC)
    return [
        Item(
            id=item_id(start + n), title=f"Свежая новость {start + n}", published=base - timedelta(minutes=n)
        )
        for n in range(count)
    ]


# --- the first poll of a full page ----------------------------------------------------------


def test_full_page_first_poll_stores_everything_once(site, fixture_bytes):
    saved = site.poll(fixture_bytes("rbc_full_page.html"), T0)
    assert (saved.outcome, saved.items_found, saved.items_new, saved.rates_found, saved.rates_new) == (
        "ok", 14, 14, 2, 2,
    )  # fmt: skip
    db = site.db
    assert counts(db, with_bodies=False) == {
        "headlines": 14, "headline_titles": 14, "title_changes": 0, "sightings": 14, "rates": 2,
        "snapshots": 1, "sources": 0, "fetches": 1,
    }  # fmt: skip
    fetch = db.execute(
        "SELECT outcome, status, items_found, items_new, rates_found, rates_new, snapshot_id, started_at, "
        "warning, error FROM fetches"
    ).fetchone()
    assert fetch == ("ok", 200, 14, 14, 2, 2, 1, "2024-11-26T07:00:00Z", None, None)
    paid = db.execute(
        "SELECT url, rubric, kind, paid, project, published_at, first_seen, first_channel FROM headlines "
        "WHERE id = '67456f379a7947b2fd195d1c'"
    ).fetchone()
    assert paid == (
        "https://pro.rbc.ru/demo/67456f379a7947b2fd195d1c", "Подписка на РБК", "article", 1, "rbcpro",
        "2024-11-26T06:50:00Z", "2024-11-26T07:00:00Z", "page",
    )  # fmt: skip
    kinds = db.execute("SELECT kind, count(*) FROM headlines GROUP BY kind ORDER BY kind").fetchall()
    assert kinds == [(None, 2), ("article", 4), ("news", 6), ("partner", 2)]
    earlier = db.execute(
        "SELECT published_at FROM headlines WHERE id = '67449d379a79476f708192a3'"
    ).fetchone()
    assert earlier == ("2024-11-25T15:54:00Z",)
    positions = db.execute("SELECT first_position FROM sightings ORDER BY first_position").fetchall()
    assert [p[0] for p in positions] == list(range(1, 15))
    assert db.execute("SELECT count(*) FROM sightings WHERE exit_fetch_id IS NULL").fetchone()[0] == 14
    rates = db.execute(
        "SELECT source, channel, currency, rate_date, value, change, published_at FROM rates ORDER BY currency"
    ).fetchall()
    assert rates == [
        ("rbc", "page", "EUR", "2024-11-26", "108.87", "+1.45", "2024-11-25T14:44:00Z"),
        ("rbc", "page", "USD", "2024-11-26", "103.79", "+1.21", "2024-11-25T14:44:00Z"),
    ]
    assert db.execute("SELECT id FROM headlines WHERE id LIKE '6745690b%'").fetchall() == []


# --- the next poll: new items, a reworded title, items scrolled off -----------------------


def test_next_poll_new_items_reworded_title_and_scrolled_off(site):
    first = standard_items(14)
    site.poll(render_page(first), T0)
    second = [*newer(2, start=100), *first[:12]]
    second[5] = Item(**{**second[5].__dict__, "title": "Заголовок новости номер 3 (обновлено)"})
    retitled = second[5].id
    saved = site.poll(render_page(second), T0 + timedelta(minutes=2))
    assert (saved.outcome, saved.items_new, saved.titles_changed, saved.exits) == (
        "ok",
        2,
        1,
        {"scrolled_off": 2},
    )
    db = site.db
    assert db.execute("SELECT title FROM headlines WHERE id = ?", [retitled]).fetchone()[0] == (
        "Заголовок новости номер 3 (обновлено)"
    )
    titles = db.execute(
        "SELECT id, title, first_seen, last_seen, first_fetch_id, last_fetch_id FROM headline_titles "
        "WHERE headline_id = ? ORDER BY id",
        [retitled],
    ).fetchall()
    assert [t[1:] for t in titles] == [
        ("Заголовок новости номер 3", "2024-11-26T07:00:00Z", "2024-11-26T07:00:00Z", 1, 1),
        ("Заголовок новости номер 3 (обновлено)", "2024-11-26T07:02:00Z", "2024-11-26T07:02:00Z", 2, 2),
    ]
    change = db.execute(
        "SELECT headline_id, fetch_id, changed_at, old_title_id, new_title_id FROM title_changes"
    ).fetchall()
    assert change == [(retitled, 2, "2024-11-26T07:02:00Z", titles[0][0], titles[1][0])]
    # still one presence run for the reworded item, now at position 6
    assert sightings(db, retitled) == [(1, 2, 4, 6, None, None, None)]
    assert exits(db) == {first[12].id: "scrolled_off", first[13].id: "scrolled_off"}
    assert sightings(db, first[13].id) == [(1, 1, 14, 14, 2, "2024-11-26T07:02:00Z", "scrolled_off")]
    assert counts(db)["headlines"] == 16 and counts(db)["headline_titles"] == 17
    assert db.execute(
        "SELECT titles_changed, items_new, items_found FROM fetches WHERE id = 2"
    ).fetchone() == (1, 2, 14)
    # the snapshot holds the on-page order with each item's title at that poll
    items = db.execute("SELECT items FROM snapshots WHERE id = 2").fetchone()[0]
    assert items.startswith(f'[["{second[0].id}",')
    assert f'["{retitled}",{titles[1][0]}]' in items


def test_title_going_back_reuses_the_old_title_row(site):
    items = standard_items(6)
    site.poll(render_page(items), T0)
    items[0].title = "Другой заголовок"
    site.poll(render_page(items), T0 + timedelta(minutes=2))
    items[0].title = "Заголовок новости номер 0"
    saved = site.poll(render_page(items), T0 + timedelta(minutes=4))
    assert saved.titles_changed == 1
    db = site.db
    assert (
        db.execute("SELECT count(*) FROM headline_titles WHERE headline_id = ?", [items[0].id]).fetchone()[0]
        == 2
    )
    assert db.execute("SELECT count(*) FROM title_changes").fetchone()[0] == 2
    assert (
        db.execute("SELECT title FROM headlines WHERE id = ?", [items[0].id]).fetchone()[0] == items[0].title
    )


# --- exits -------------------------------------------------------------------------------


def test_pulled_item_vanishes_while_items_below_it_stay(site):
    first = standard_items(14)
    site.poll(render_page(first), T0)
    second = [*newer(1, start=100), *first[:5], *first[6:13]]  # item 5 removed, bottom one scrolled
    saved = site.poll(render_page(second), T0 + timedelta(minutes=2))
    assert saved.exits == {"pulled": 1, "scrolled_off": 1}
    assert exits(site.db) == {first[5].id: "pulled", first[13].id: "scrolled_off"}


def test_item_gone_with_nothing_new_is_pulled(site):
    first = standard_items(10)
    site.poll(render_page(first), T0)
    saved = site.poll(render_page(first[:9]), T0 + timedelta(minutes=2))
    assert saved.exits == {"pulled": 1}


def test_exit_after_a_failed_poll_in_between_is_unknown(site):
    first = standard_items(14)
    site.poll(render_page(first), T0)
    failed = site.poll("oops", T0 + timedelta(minutes=2), status=500)
    assert failed.outcome == "http_error"
    saved = site.poll(render_page([*newer(1, start=100), *first[:13]]), T0 + timedelta(minutes=4))
    assert saved.exits == {"unknown": 1}
    assert sightings(site.db, first[13].id) == [(1, 1, 14, 14, 3, "2024-11-26T07:04:00Z", "unknown")]


def test_exit_after_too_long_a_gap_is_unknown(site):
    first = standard_items(14)
    site.poll(render_page(first), T0)
    saved = site.poll(render_page([*newer(1, start=100), *first[:13]]), T0 + timedelta(hours=3))
    # Issue 19: not observed for longer than the gap limit, every presence ends (unknown) and
    # what the next poll shows is a new presence (before, the 13 still shown ran on across 3 h).
    assert saved.exits == {"unknown": 14}
    assert [row[4:] for row in sightings(site.db, first[0].id)] == [
        (2, "2024-11-26T10:00:00Z", "unknown"),
        (None, None, None),
    ]


def test_exits_across_a_change_of_edition_are_unknown(site):
    """A geo-targeted page served as another edition shows another list: what is missing did not
    leave the ticker, so no exit is called pulled or scrolled off."""
    first = standard_items(14)
    site.poll(render_page(first), T0)
    regional = [*newer(3, start=200), *first[:4], *first[8:14]]  # a regional list: items 4..7 not in it
    saved = site.poll(render_page(regional, region="tatarstan"), T0 + timedelta(minutes=2))
    assert saved.exits == {"unknown": 4}
    assert site.db.execute("SELECT edition FROM fetches ORDER BY id").fetchall() == [
        (None,),
        ("rbcnews.tatarstan",),
    ]
    back = site.poll(render_page(regional[1:], region="tatarstan"), T0 + timedelta(minutes=4))
    assert back.exits == {"pulled": 1}  # the same edition again: comparable


def test_item_that_leaves_and_comes_back_has_two_runs(site):
    items = standard_items(10)
    site.poll(render_page(items), T0)
    site.poll(render_page(items[:4] + items[5:]), T0 + timedelta(minutes=2))
    saved = site.poll(render_page(items), T0 + timedelta(minutes=4))
    assert (saved.items_new, saved.exits) == (0, {})
    assert sightings(site.db, items[4].id) == [
        (1, 1, 5, 5, 2, "2024-11-26T07:02:00Z", "pulled"),
        (3, 3, 5, 5, None, None, None),
    ]
    assert site.db.execute("SELECT count(*) FROM headlines WHERE id = ?", [items[4].id]).fetchone()[0] == 1


@pytest.mark.parametrize(
    ("gone", "current", "blind", "reason"),
    [
        (3, {"new", "a", "b"}, False, "scrolled_off"),  # pushed out by a newcomer
        (2, {"a", "c"}, False, "pulled"),  # c, below it, is still shown
        (3, {"a", "b"}, False, "pulled"),  # nothing came in to push it out
        (3, {"new", "a", "b"}, True, "unknown"),  # failed polls or a long gap in between
    ],
)
def test_classify_exit(gone, current, blind, reason):
    assert classify_exit(gone, {"a": 1, "b": 2, "c": 3}, current, blind_gap=blind) == reason


def test_a_fetch_is_saved_whole_or_not_at_all(site):
    """One transaction per fetch: a write failing half-way leaves no trace, not even the fetch row."""
    site.db.execute(
        "CREATE TRIGGER fail_rates BEFORE INSERT ON rates BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        site.poll(render_page(standard_items(6)), T0)
    assert counts(site.db, with_bodies=False) == dict.fromkeys((*TABLES, "fetches"), 0)
    site.db.execute("DROP TRIGGER fail_rates")
    saved = site.poll(render_page(standard_items(6)), T0 + timedelta(minutes=2))
    assert (saved.outcome, saved.items_new, saved.rates_new) == ("ok", 6, 2)


# --- rates on the page ----------------------------------------------------------------------


def test_next_days_widgets_add_rows_and_leave_the_old_ones(site):
    items = standard_items(6)
    site.poll(render_page(items), T0)
    old = site.db.execute("SELECT * FROM rates ORDER BY id").fetchall()
    published = datetime(2024, 11, 26, 14, 40, tzinfo=UTC)
    widgets = [
        Widget("EUR", "27 ноября", "110", "+1,13", published),
        Widget("USD", "27 ноября", "105,13", "+1,34", published),
    ]
    saved = site.poll(render_page(items, widgets=widgets), T0 + timedelta(minutes=2))
    assert (saved.rates_found, saved.rates_new) == (2, 2)
    rows = site.db.execute("SELECT * FROM rates ORDER BY id").fetchall()
    assert rows[:2] == old
    new = site.db.execute(
        "SELECT currency, rate_date, value, change FROM rates WHERE id > 2 ORDER BY id"
    ).fetchall()
    assert new == [("EUR", "2024-11-27", "110", "+1.13"), ("USD", "2024-11-27", "105.13", "+1.34")]


# --- polls that bring nothing new -----------------------------------------------------------


def test_new_body_with_nothing_new_is_ok_and_only_adds_a_fetch(site):
    items = standard_items(14)
    site.poll(render_page(items), T0)
    before_counts, before = all_counts(site.db), dump(site.db)
    later = T0 + timedelta(minutes=2)
    saved = site.poll(render_page(items, updated=datetime(2024, 11, 26, 6, 59, tzinfo=UTC)), later)
    assert (saved.outcome, saved.items_new, saved.titles_changed, saved.rates_new, saved.exits) == (
        "ok",
        0,
        0,
        0,
        {},
    )
    assert all_counts(site.db) == before_counts | {"fetches": 2, "bodies": 2}  # keep = "all": its body too
    after = dump(site.db)
    assert after["snapshots"] == before["snapshots"] and after["title_changes"] == []
    assert site.db.execute("SELECT snapshot_id FROM fetches ORDER BY id").fetchall() == [(1,), (1,)]
    stamp = "2024-11-26T07:02:00Z"
    for table in ("headlines", "headline_titles", "sightings", "rates"):
        assert site.db.execute(f"SELECT DISTINCT last_seen, last_fetch_id FROM {table}").fetchall() == [
            (stamp, 2)
        ]
    assert site.db.execute("SELECT DISTINCT first_seen FROM headlines").fetchall() == [
        ("2024-11-26T07:00:00Z",)
    ]


def test_identical_body_is_unchanged(site):
    page = render_page(standard_items(14))
    site.poll(page, T0)
    before_counts = all_counts(site.db)
    saved = site.poll(page, T0 + timedelta(minutes=2))
    assert (saved.outcome, saved.items_found, saved.rates_found) == ("unchanged", 14, 2)
    assert all_counts(site.db) == before_counts | {"fetches": 2}
    fetch = site.db.execute(
        "SELECT outcome, status, snapshot_id, items_found, items_new, rates_found, body_sha256 = "
        "(SELECT body_sha256 FROM fetches WHERE id = 1) FROM fetches WHERE id = 2"
    ).fetchone()
    assert fetch == ("unchanged", 200, 1, 14, 0, 2, 1)
    for table in ("headlines", "headline_titles", "sightings", "rates"):
        assert site.db.execute(f"SELECT DISTINCT last_seen FROM {table}").fetchall() == [
            ("2024-11-26T07:02:00Z",)
        ]


def test_304_with_etag_is_unchanged_and_sends_if_none_match(site):
    page = render_page(standard_items(14))
    site.poll(page, T0, headers={"ETag": '"v1"'})
    before_counts = all_counts(site.db)
    saved = site.poll(b"", T0 + timedelta(minutes=2), status=304, headers={"ETag": '"v1"'})
    assert saved.outcome == "unchanged"
    request = site.server.log[-1][0]
    assert request.headers.get("If-None-Match") == '"v1"'
    assert all_counts(site.db) == before_counts | {"fetches": 2}
    assert site.db.execute("SELECT outcome, status, etag, snapshot_id, items_found FROM fetches WHERE id = 2").fetchone() == (
        "unchanged", 304, '"v1"', 1, 14,
    )  # fmt: skip
    assert site.db.execute("SELECT DISTINCT last_seen FROM sightings").fetchall() == [
        ("2024-11-26T07:02:00Z",)
    ]
    # after the 304 the same body again (a server that dropped ETags) is still "unchanged"
    saved = site.poll(page, T0 + timedelta(minutes=4))
    assert saved.outcome == "unchanged"
    assert site.server.log[-1][0].headers.get("If-None-Match") == '"v1"'
    assert all_counts(site.db) == before_counts | {"fetches": 3}


# --- failures never touch history -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "outcome"),
    [
        ("qrator_401.html", 401, "blocked"),
        ("qrator_401.html", 200, "blocked"),
        ("ddos_guard_200.html", 403, "blocked"),
        ("rbc_no_ticker.html", 200, "parse_error"),
        ("truncated", 200, "parse_error"),
        ("three", 200, "parse_error"),
        ("boom", 500, "http_error"),
        ("boom", 429, "http_error"),
    ],
)
def test_failed_poll_adds_only_a_fetch_row(site, fixture_bytes, body, status, outcome):
    full = fixture_bytes("rbc_full_page.html")
    site.poll(full, T0)
    before_counts, before = counts(site.db, with_bodies=False), dump(site.db)
    payload = {
        "truncated": full[: len(full) // 2],
        "three": render_page(standard_items(3)),
        "boom": "Internal error",
    }.get(body) or fixture_bytes(body)
    saved = site.poll(payload, T0 + timedelta(minutes=2), status=status)
    assert saved.outcome == outcome
    assert counts(site.db, with_bodies=False) == before_counts | {"fetches": 2}
    assert dump(site.db) == before
    row = site.db.execute("SELECT outcome, status, error, snapshot_id FROM fetches WHERE id = 2").fetchone()
    assert row[0:2] == (outcome, status) and row[2] and "\n" not in row[2] and row[3] is None
    # and the next good poll carries on as if the failed one had not been there, but knows it was blind
    saved = site.poll(full, T0 + timedelta(minutes=4))
    assert saved.outcome == "unchanged"


def test_304_with_a_new_etag_keeps_the_new_one(site):
    site.poll(render_page(standard_items(6)), T0, headers={"ETag": '"v1"'})
    site.poll(b"", T0 + timedelta(minutes=2), status=304, headers={"ETag": '"v2"'})
    assert site.db.execute("SELECT etag FROM fetches ORDER BY id").fetchall() == [('"v1"',), ('"v2"',)]
    site.poll(b"", T0 + timedelta(minutes=4), status=304)
    assert site.server.log[-1][0].headers.get("If-None-Match") == '"v2"'
