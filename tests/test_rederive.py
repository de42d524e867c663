"""Re-deriving a source's history in time order: a no-op on live history, and order independence
of imported captures (import-then-live and live-then-import give the same history)."""

from __future__ import annotations

import pytest
from helpers_import import GAP_LIMIT_S, at, headline, history, page, presence, row

from ticker.db.backfill import save_backfill_page
from ticker.db.history import rederive as rederive_source
from ticker.db.imports import save_capture
from ticker.db.schema import open_db
from ticker.db.writes import FetchRow, save_failure, save_ticker, save_unchanged


def rederive(db):
    return rederive_source(db, "rbc", "page", gap_limit_s=GAP_LIMIT_S, ordered=True)


def live(db, minutes, ticker=None, outcome="ok"):
    if outcome == "unchanged":
        previous = db.execute(
            "SELECT snapshot_id FROM fetches WHERE outcome IN ('ok', 'unchanged') ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        return save_unchanged(db, row(minutes, "unchanged"), previous)
    if ticker is None:
        return save_failure(db, row(minutes, outcome))
    return save_ticker(db, row(minutes), ticker, gap_limit_s=GAP_LIMIT_S)


def capture(db, minutes, ticker):
    fetch = row(minutes)
    fetch.url = f"http://127.0.0.1:9/web/{fetch.started_at[:4]}id_/https://rbc.example/"
    return save_capture(db, fetch, ticker, b"<html>", origin="wayback", origin_ref=f"memento-{minutes}")


# A live history with every kind of event: new items, a rewording and its return, a pulled item,
# items scrolling off, an unchanged poll, a failed poll and a long gap (unknown exits), rate moves.
LIVE = [
    (0, page("a", "b", "c", "d")),
    (2, page("e", "a", ("b", "Заголовок b, уточнено"), "c", "d")),
    (4, page("e", "a", "b", "d")),  # c pulled
    (6, "unchanged"),
    (8, None),  # failed
    (10, page("f", "e", "a", "b")),  # d gone after a failure: unknown
    (12, page("g", "f", "e", "a", eur="87.1")),  # b scrolled off
    (40, page("h", "g", "f", "e")),  # a gone across a long gap: unknown
]


def build_live(db, polls=LIVE):
    for minutes, ticker in polls:
        if ticker == "unchanged":
            live(db, minutes, outcome="unchanged")
        else:
            live(db, minutes, ticker, outcome="ok" if ticker is not None else "http_error")


def test_rederive_on_live_history_changes_nothing(db_path):
    db = open_db(db_path)
    build_live(db)
    backfill = FetchRow("rbc", "feed_json", "http://127.0.0.1:9/v10/ajax/x", at(41), "ok")
    save_backfill_page(db, backfill, [headline("z"), headline("h")])
    before = history(db)
    outages = db.execute("SELECT * FROM outage_runs").fetchall()
    assert {r[-1] for r in before["sightings"] if r[-1]} == {"pulled", "scrolled_off", "unknown"}
    assert before["title_changes"]
    done = rederive(db)
    assert done.fetches == 7 and done.title_changes == 2
    assert history(db) == before
    assert db.execute("SELECT * FROM outage_runs").fetchall() == outages


def test_a_capture_between_two_polls_merges_in_time_order(db_path, tmp_path):
    # live polls at 0 and 4; the capture at 2 shows what the page showed in between
    between = page("e", "a", ("b", "Заголовок b, уточнено"), "c", "d")
    reference = open_db(tmp_path / "reference.db")
    build_live(reference, [(0, LIVE[0][1]), (2, between), (4, LIVE[2][1])])

    db = open_db(db_path)
    build_live(db, [(0, LIVE[0][1]), (4, LIVE[2][1])])
    capture(db, 2, between)
    rederive(db)
    assert presence(db) == presence(reference)
    titles = db.execute("SELECT count(*) FROM title_changes").fetchone()[0]
    assert titles == 2  # b reworded at 2 and back at 4, as the reference saw it


@pytest.mark.parametrize("capture_first", [True, False])
def test_a_capture_before_all_polls_is_order_independent(db_path, tmp_path, capture_first):
    old = page("x", "a", ("b", "Старый заголовок b"), eur="86.5")
    reference = open_db(tmp_path / "reference.db")
    build_live(reference, [(-120, old), *LIVE])

    db = open_db(db_path)
    if capture_first:
        capture(db, -120, old)
        rederive(db)
        build_live(db)  # live polls after the import: the live writers alone
    else:
        build_live(db)
        capture(db, -120, old)
        rederive(db)
    assert presence(db) == presence(reference)
    x_exit = db.execute(
        "SELECT exit_reason FROM sightings WHERE headline_id = ?", [headline("x").id]
    ).fetchone()[0]
    assert x_exit == "unknown"  # two hours between the capture and the first poll: never pulled
    first_seen = db.execute("SELECT first_seen FROM headlines WHERE id = ?", [headline("a").id]).fetchone()
    assert first_seen[0] == at(-120)


def test_failed_capture_between_polls_changes_no_exit(db_path):
    # a capture that failed says nothing about what our two polls saw: as the live writer
    db = open_db(db_path)
    build_live(db, [(0, page("a", "b", "c")), (4, page("a", "c"))])
    assert (
        db.execute("SELECT exit_reason FROM sightings WHERE exit_reason IS NOT NULL").fetchone()[0]
        == "pulled"
    )
    failed = row(2, "parse_error")
    failed.error = "no ticker in page"
    save_capture(db, failed, None, b"<html>old</html>", origin="wayback", origin_ref="m2")
    before = history(db)
    rederive(db)
    assert history(db) == before
    # nor is it an outage of the site
    assert db.execute("SELECT count(*) FROM outage_runs").fetchone()[0] == 0
    # while a failed live poll between them does blind the comparison: one that started before
    # the poll of minute 4 finished (it raced it: its place was read at minute 0's poll), so it is
    # merged by its instant. (Written without that place, it would have started after everything
    # written: a host clock stepped back, placed after minute 4: issue 19.)
    racing = row(3, "network_error")
    racing.log_at = at(0)
    save_failure(db, racing)
    rederive(db)
    assert (
        db.execute("SELECT exit_reason FROM sightings WHERE exit_reason IS NOT NULL").fetchone()[0]
        == "unknown"
    )


def test_unordered_channel_gets_no_exit_reason(db_path):
    db = open_db(db_path)
    for minutes, ticker in [(0, page("a", "b")), (2, page("b"))]:
        save_ticker(db, row(minutes, channel="rss"), ticker, gap_limit_s=GAP_LIMIT_S, ordered=False)
    before = history(db)
    rederive_source(db, "rbc", "rss", gap_limit_s=GAP_LIMIT_S, ordered=False)
    assert history(db) == before
    assert db.execute(
        "SELECT exited_at, exit_reason FROM sightings WHERE exited_at IS NOT NULL"
    ).fetchall() == [(at(2), None)]


def test_a_backfilled_item_then_an_older_capture_is_stable_under_rederive(db_path):
    db = open_db(db_path)
    backfill = FetchRow("rbc", "feed_json", "http://127.0.0.1:9/v10/ajax/x", at(5), "ok")
    save_backfill_page(db, backfill, [headline("a")])
    build_live(db, [(10, page(("a", "Новый заголовок a"), "b"))])
    capture(db, -60, page("a", "c"))
    rederive(db)
    once = history(db)
    rederive(db)
    assert history(db) == once  # idempotent
    changes = [(c[1].split("/")[0], c[3][1], c[4][1]) for c in once["title_changes"]]
    assert changes == [(at(10), "Заголовок a", "Новый заголовок a")]
    first = db.execute("SELECT first_seen, first_channel FROM headlines WHERE id = ?", [headline("a").id])
    assert first.fetchone() == (at(-60), "page")


def _random_polls(rng, count: int) -> list:
    """A plausible random history: lists that scroll, items pulled, titles reworded and back,
    failed polls, long gaps, unchanged polls and rate moves (seeded: the same every run)."""
    polls, minute, newest, shown = [], 0, 10, list(range(10, 0, -1))
    titles: dict[int, str] = {}
    for _ in range(count):
        minute += rng.choice([2, 2, 2, 3, 30])
        roll = rng.random()
        if roll < 0.1:
            polls.append((minute, None))
            continue
        if roll < 0.2 and polls and polls[-1][1] not in (None, "unchanged"):
            polls.append((minute, "unchanged"))
            continue
        for _ in range(rng.choice([0, 1, 1, 2])):
            newest += 1
            shown.insert(0, newest)
        if rng.random() < 0.2:
            shown.pop(rng.randrange(len(shown)))
        shown = shown[:8]
        for key in rng.sample(shown, k=1) if rng.random() < 0.3 else []:
            titles[key] = rng.choice([f"Версия {key}", f"Заголовок {key}"])
        entries = [(f"{key:x}", titles.get(key, f"Заголовок {key}")) for key in shown]
        polls.append((minute, page(*entries, eur=rng.choice(["86.9", "87.1"]))))
    return polls


@pytest.mark.parametrize("seed", range(8))
def test_random_histories_rederive_unchanged_and_merge_in_any_order(db_path, tmp_path, seed):
    import random

    rng = random.Random(seed)
    polls = _random_polls(rng, 40)
    db = open_db(db_path)
    build_live(db, polls)
    before = history(db)
    rederive(db)
    assert history(db) == before

    # the first third arrive later, as captures (captures are successes: failed and unchanged
    # polls among them are left out of both): the same history as if they had been live polls
    cut = len(polls) // 3
    while polls[cut][1] == "unchanged":  # an unchanged poll repeats the poll before it: keep them together
        cut += 1
    early = [p for p in polls[:cut] if p[1] is not None and p[1] != "unchanged"]
    reference = open_db(tmp_path / "reference.db")
    build_live(reference, early + polls[cut:])
    merged = open_db(tmp_path / "merged.db")
    build_live(merged, polls[cut:])
    for minutes, ticker in early:
        capture(merged, minutes, ticker)
    rederive(merged)
    got, want = presence(merged), presence(reference)
    for table in ("headlines", "headline_titles", "title_changes", "sightings", "rates"):
        assert got[table] == want[table], table


@pytest.mark.parametrize("seed", range(6))
def test_random_captures_between_live_polls_give_the_all_live_history(db_path, tmp_path, seed):
    import random

    rng = random.Random(1000 + seed)
    polls = _random_polls(rng, 40)
    # a random fourth of the successful polls (not one an unchanged poll repeats) came as captures
    candidates = [
        i for i, (_, ticker) in enumerate(polls)
        if ticker not in (None, "unchanged") and (i + 1 == len(polls) or polls[i + 1][1] != "unchanged")
    ]  # fmt: skip
    as_captures = set(rng.sample(candidates, k=len(candidates) // 4))
    reference = open_db(tmp_path / "reference.db")
    build_live(reference, polls)
    merged = open_db(db_path)
    build_live(merged, [p for i, p in enumerate(polls) if i not in as_captures])
    for i in sorted(as_captures, key=lambda _: rng.random()):  # in any order
        capture(merged, *polls[i])
    rederive(merged)
    got, want = presence(merged), presence(reference)
    for table in ("headlines", "headline_titles", "title_changes", "sightings", "rates"):
        assert got[table] == want[table], table
