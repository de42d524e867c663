"""Datasette in-process on a real history: every canned query with its parameters, the search
box, the charts page, metadata, escaping, and the `serve` command's checks."""

from __future__ import annotations

import html
import socket
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import run_ticker
from helpers_front import (
    XSS_TITLE,
    _row,
    add_backfill_and_import,
    add_feed_source,
    build_history,
    hid,
    tass_id,
)

from ticker.cli.commands.serve import load_metadata, make_datasette

CANNED = [
    "ticker_at",
    "headline_history",
    "title_rewrites",
    "pulled_headlines",
    "rate_series",
    "rbc_vs_cbr",
    "outages",
]


@pytest.fixture
def ds(db_path: Path):
    build_history(db_path)
    return make_datasette(db_path)


async def query(ds, name: str, **params) -> list[dict]:
    response = await ds.client.get(f"/ticker/{name}.json", params={**params, "_shape": "array"})
    assert response.status_code == 200, response.text
    return response.json()


def test_metadata_follows_the_database_name() -> None:
    metadata = load_metadata("history")
    assert set(metadata["databases"]) == {"history"}
    queries = metadata["databases"]["history"]["queries"]
    assert set(queries) == set(CANNED)
    assert all(query["hide_sql"] and query["summary"] and query["columns"] for query in queries.values())
    assert "{success_outcomes}" not in queries["ticker_at"]["sql"]
    assert "IN ('ok', 'unchanged')" in queries["ticker_at"]["sql"]
    assert "Apache" not in str(metadata.get("license"))
    for name, query in queries.items():  # no kind or channel named: sources.ticker_channel says
        assert "'rbc'" not in query["sql"] and "'page'" not in query["sql"] and "'cbr'" not in query["sql"], (
            name
        )
    charts = metadata["plugins"]["datasette-dashboards"]["ticker"]["charts"]
    assert {chart["db"] for chart in charts.values()} == {"history"}


async def test_database_is_opened_read_only_and_mutable(ds, db_path: Path) -> None:
    database = ds.get_database("ticker")
    assert database.is_mutable  # never immutable: new rows show at once

    def try_write(conn) -> None:
        try:
            conn.execute("DELETE FROM fetches")
        finally:
            conn.rollback()

    with pytest.raises(Exception, match="readonly"):
        await database.execute_fn(try_write)
    # rows written by the daemon after start show up without a restart
    from ticker.db.schema import connect
    from ticker.db.writes import save_failure

    before = (await database.execute("SELECT count(*) FROM fetches")).first()[0]
    save_failure(connect(db_path), _row("rbc", "page", "2024-11-26T10:04:00Z", "http_error", "HTTP 500"))
    assert (await database.execute("SELECT count(*) FROM fetches")).first()[0] == before + 1


async def test_ticker_at_moscow_time_and_other_forms(ds) -> None:
    rows = await query(ds, "ticker_at", at="2024-11-25T13:05")  # Moscow = 10:05Z: the 10:04 poll
    assert [r["what"] for r in rows] == ["rate", "rate", "headline", "headline", "headline"]
    assert rows[0]["title"] == "EUR for 2024-11-26: 108.87 (+1.45)"
    assert [r["headline_id"] for r in rows[2:]] == [hid(5), hid(1), hid(3)]
    assert rows[3]["title"] == "Путин провел совещание с Совбезом"
    assert rows[2]["shown_msk"] == "2024-11-25 13:04:00 MSK"
    # before the rewording, the title read as it did then
    earlier = await query(ds, "ticker_at", at="2024-11-25T10:01:00Z")
    assert next(r["title"] for r in earlier if r["what"] == "headline") == "Путин провел совещание"
    assert len([r for r in earlier if r["what"] == "headline"]) == 4
    same = await query(ds, "ticker_at", at="2024-11-25T13:01:30+03:00")
    assert same == earlier
    # a failed poll is skipped: the ticker at 10:07 is what 10:04 saw
    during_outage = await query(ds, "ticker_at", at="2024-11-25T10:07:00Z")
    assert [r["headline_id"] for r in during_outage if r["what"] == "headline"] == [hid(5), hid(1), hid(3)]
    # a bare date is Moscow midnight: nothing by then
    assert await query(ds, "ticker_at", at="2024-11-25") == []
    latest = await query(ds, "ticker_at", at="")  # empty = now
    assert [r["headline_id"] for r in latest if r["what"] == "headline"] == [hid(5), hid(3)]


async def test_ticker_at_bad_time_says_why(ds) -> None:
    rows = await query(ds, "ticker_at", at="yesterday-ish")
    assert len(rows) == 1
    assert rows[0]["what"] == "error"
    assert "cannot read time" in rows[0]["title"]


async def test_headline_history(ds) -> None:
    rows = await query(ds, "headline_history", id=hid(2))
    events = [(r["at"], r["event"], r["position"]) for r in rows]
    assert events == [
        ("2024-11-25T10:00:00Z", "first seen", None),
        ("2024-11-25T10:00:00Z", "on page", 2),
        ("2024-11-25T10:04:00Z", "left page", 3),
        ("2024-11-25T10:10:00Z", "on page", 4),
        ("2024-11-26T10:00:00Z", "left page", 4),
    ]
    assert [r["detail"] for r in rows if r["event"] == "left page"] == ["pulled", "unknown"]
    reworded = await query(ds, "headline_history", id=hid(1))
    assert [r["title"] for r in reworded if r["event"] == "reworded"] == ["Путин провел совещание с Совбезом"]
    assert await query(ds, "headline_history", id="nope") == []


async def test_title_rewrites_and_pulled(ds) -> None:
    rewrites = await query(ds, "title_rewrites")
    assert [(r["old_title"], r["new_title"]) for r in rewrites] == [
        ("Путин провел совещание", "Путин провел совещание с Совбезом")
    ]
    assert rewrites[0]["changed_at_msk"] == "2024-11-25 13:02:00"
    pulled = await query(ds, "pulled_headlines")
    assert [(r["headline_id"], r["title"], r["last_position"]) for r in pulled] == [(hid(2), TITLES_2, 3)]


TITLES_2 = "Курс евро превысил 108 рублей"


async def test_rate_series_rbc_vs_cbr_outages(ds) -> None:
    eur = await query(ds, "rate_series", currency="eur")
    assert [(r["rate_date"], r["source"], r["value"], r["move"]) for r in eur] == [
        ("2024-11-26", "cbr", "108.8652", None),
        ("2024-11-26", "rbc", "108.87", None),
        ("2024-11-27", "cbr", "109.1234", "+0.2582"),
        ("2024-11-27", "rbc", "109.12", "+0.25"),
    ]
    assert len(await query(ds, "rate_series", currency="")) == 7
    versus = await query(ds, "rbc_vs_cbr")
    assert (versus[0]["currency"], versus[0]["mismatch"], versus[0]["difference"]) == ("USD", 1, "+0.0269")
    outages = await query(ds, "outages")
    assert [(r["source"], r["failures"], r["duration_s"], r["ongoing"]) for r in outages] == [
        ("rbc", 2, 240, 0)
    ]
    assert outages[0]["started_at_msk"] == "2024-11-25 13:06:00 MSK"
    assert outages[0]["ended_at_msk"] == "2024-11-25 13:10:00 MSK"


async def test_every_canned_query_renders_as_html(ds) -> None:
    for name in CANNED:
        response = await ds.client.get(
            f"/ticker/{name}", params={"at": "2024-11-25T13:11", "id": hid(6), "currency": "EUR"}
        )
        assert response.status_code == 200, name


async def test_search_box_finds_russian_and_escapes_script(ds) -> None:
    box = await ds.client.get("/ticker/headline_titles", params={"_search": "оштрафовал"})
    assert box.status_code == 302  # the plain search box: the search page, newest first by the index
    assert box.headers["location"] == "/-/search?q=" + quote("оштрафовал")
    found = await ds.client.get(box.headers["location"])
    assert html.escape("<script>window.__pwned = 1</script>", quote=False) in found.text
    form = "_filter_column=&_filter_op=exact&_filter_value=&_sort=first_seen&_sort_by_desc=on&_nocount=1"
    for query, redirected in [
        (form, True),  # what the page's form sends with the search box filled in
        ("_sort_desc=first_seen", True),
        ("_sort=first_seen", False),  # ascending
        ("_sort=id&_sort_by_desc=on", False),
        ("_filter_column=title&_filter_op=contains&_filter_value=Путин", False),
        ("headline_id=" + hid(1), False),
        ("_searchmode=raw", False),
    ]:
        response = await ds.client.get(
            f"/ticker/headline_titles?_search=%D0%BE%D1%88%D1%82%D1%80%D0%B0%D1%84&{query}"
        )
        assert response.headers.get("location", "").startswith("/-/search?q=") == redirected, query
    # with a sort or a filter, Datasette's own search
    response = await ds.client.get("/ticker/headline_titles", params={"_search": "оштрафовал", "_sort": "id"})
    assert response.status_code == 200
    page = response.text
    assert 'name="_search"' in page
    assert "<script>window.__pwned" not in page
    assert html.escape("<script>window.__pwned = 1</script>", quote=False) in page
    found = await ds.client.get(
        "/ticker/headline_titles.json", params={"_search": "Telegram", "_shape": "array"}
    )
    assert [r["title"] for r in found.json()] == [XSS_TITLE]
    prefix = await ds.client.get(
        "/ticker/headline_titles.json", params={"_search": "совещ*", "_searchmode": "raw", "_shape": "array"}
    )
    assert len(prefix.json()) == 2


async def test_large_tables_are_counted_on_request(ds) -> None:
    """Tables that grow with the history skip Datasette's count(*) on their page and say so; the
    page's link counts them; JSON keeps the count; a small table is counted as always."""
    page = (await ds.client.get("/ticker/fetches")).text
    assert "Rows not counted" in page
    assert "rows where" not in page and " rows</h3>" not in page  # no count shown, none made up
    link = html.unescape(page.split('class="ticker-uncounted"')[1].split('href="')[1].split('"')[0])
    assert link == "/ticker/fetches?_count=1"
    total = (
        await ds.client.get(
            "/ticker.json", params={"sql": "select count(*) n from fetches", "_shape": "array"}
        )
    ).json()[0]["n"]
    counted = (await ds.client.get(link)).text
    assert "Rows not counted" not in counted and f"{total:,} row" in counted
    filtered = (await ds.client.get("/ticker/fetches", params={"outcome": "ok"})).text
    assert "Rows not counted" in filtered
    assert "_count=1" in filtered.split('class="ticker-uncounted"')[1].split("</p>")[0]
    data = (await ds.client.get("/ticker/fetches.json")).json()
    assert data["filtered_table_rows_count"] == total
    for table in ("headlines", "headline_titles", "sightings", "headline_exits", "headline_rewrites"):
        assert "Rows not counted" in (await ds.client.get(f"/ticker/{table}")).text, table
    assert "Rows not counted" not in (await ds.client.get("/ticker/rates")).text


async def test_a_database_name_datasette_encodes_keeps_the_table_settings(tmp_path: Path) -> None:
    build_history(tmp_path / "ticker 2024.db")
    served = make_datasette(tmp_path / "ticker 2024.db")
    assert "Rows not counted" in (await served.client.get("/ticker~202024/fetches")).text
    box = await served.client.get("/ticker~202024/headline_titles", params={"_search": "Путин"})
    assert box.headers["location"].startswith("/-/search?q=")


async def test_views_browsable_with_descriptions(ds) -> None:
    for view in [
        "headline_rewrites",
        "rate_history",
        "rate_comparison",
        "fetch_health",
        "fetch_outages",
        "headline_exits",
    ]:
        response = await ds.client.get(f"/ticker/{view}")
        assert response.status_code == 200, view
    page = (await ds.client.get("/ticker/rate_comparison")).text
    assert "no rounding of the official four decimals gives the shown value" in page


async def test_dashboard_page_and_its_chart_queries(ds) -> None:
    response = await ds.client.get("/-/dashboards/ticker")
    assert response.status_code == 200
    assert "vega-embed" in response.text
    charts = load_metadata("ticker")["plugins"]["datasette-dashboards"]["ticker"]["charts"]
    for name, chart in charts.items():
        data = await ds.client.get("/ticker.json", params={"sql": chart["query"], "_shape": "array"})
        assert data.status_code == 200, name
        assert data.json(), name
    eur = (
        await ds.client.get("/ticker.json", params={"sql": charts["eur"]["query"], "_shape": "array"})
    ).json()
    assert {r["series"] for r in eur} == {"cbr (official)", "rbc (shown)"}
    assert all(r["value"] is not None for r in eur)  # no gap longer than two days here
    hours = (
        await ds.client.get("/ticker.json", params={"sql": charts["per_hour"]["query"], "_shape": "array"})
    ).json()
    assert sum(r["headlines"] for r in hours) == 6
    assert {(r["hour_msk"], r["source"]) for r in hours} == {("2024-11-25T13:00:00", "rbc")}


def test_serve_refuses_a_missing_database(cli, tmp_path: Path) -> None:
    result = cli("serve", "--db", tmp_path / "missing.db")
    assert result.exit_code != 0
    assert result.output.startswith("Error: no database at")


def test_exposed_hosts_are_detected() -> None:
    from ticker.cli.commands.serve import _exposed

    assert not _exposed("127.0.0.1")
    assert not _exposed("localhost")
    assert not _exposed("::1")
    assert _exposed("0.0.0.0")
    assert _exposed("192.168.1.5")


async def test_ticker_at_takes_a_source(ds) -> None:
    rows = await query(ds, "ticker_at", at="2024-11-25T13:05", source="rbc")
    assert [r["headline_id"] for r in rows if r["what"] == "headline"] == [hid(5), hid(1), hid(3)]
    no_ticker = await query(ds, "ticker_at", at="2024-11-25T13:05", source="cbr")
    assert [(r["what"], r["title"]) for r in no_ticker] == [
        ("error", "source cbr has no ticker (it publishes rates only)")
    ]
    unknown = await query(ds, "ticker_at", at="now", source="rbk")
    assert [(r["what"], r["title"]) for r in unknown] == [("error", "unknown source rbk")]
    history = await query(ds, "headline_history", id=hid(2), source="cbr")
    assert history == []
    assert len(await query(ds, "headline_history", id=hid(2), source="rbc")) == 5


async def test_canned_queries_hide_sql_and_describe_columns(ds) -> None:
    page = (await ds.client.get("/ticker/ticker_at", params={"at": "2024-11-25T13:05", "source": ""})).text
    assert '<pre id="sql-query">' not in page and "WITH asked AS" not in page
    assert "_show_sql=1" in page  # the link that shows it
    assert "The poll that saw this list, Moscow" in page  # a column description
    shown = (await ds.client.get("/ticker/ticker_at", params={"at": "", "source": "", "_show_sql": "1"})).text
    assert "WITH asked AS" in shown


async def test_front_page_lists_the_questions_and_the_licence(ds) -> None:
    page = (await ds.client.get("/")).text
    assert 'href="/-/ticker"' in page
    for title in ("The last 24 hours", "Reworded headlines", "Pulled headlines", "Outages"):
        assert title in page
    # the ticker at a moment once (the page), its table form linked from that entry, not listed again
    assert page.count("The ticker at a moment") == 1 and "The ticker at an instant" not in page
    assert 'href="/ticker/ticker_at"' in page
    # the introduction is whole: no ellipsis that reads as text cut short
    assert "…" not in page and "2024-11-25T15:57:00Z" in page
    assert 'href="/ticker/pulled_headlines"' in page
    assert "headlines removed while items below them stayed" in page
    assert 'href="/-/dashboards/ticker"' in page
    assert "belong to their outlets" in page
    assert "Apache" not in page


async def test_cells_read_as_a_person_reads_them(ds) -> None:
    page = (await ds.client.get("/ticker/headline_exits")).text
    assert f'<a href="/-/headline/{hid(2)}">{hid(2)}</a>' in page
    assert (
        '<time datetime="2024-11-25T10:04:00Z" title="UTC 2024-11-25T10:04:00Z">2024-11-25 13:04:00 MSK</time>'
        in page
    )
    # exited_at beside exited_at_msk reads as UTC, so the two columns never show the same text
    assert (
        '<time datetime="2024-11-25T10:04:00Z" title="Moscow time 2024-11-25 13:04:00 MSK">2024-11-25 10:04:00 UTC</time>'
        in page
    )
    assert ">2 min<" in page  # shown_s 120
    outages = (await ds.client.get("/ticker/outages")).text
    assert ">4 min<" in outages
    assert '<td class="col-ongoing">no</td>' in outages
    rewrites = (await ds.client.get("/ticker/headline_rewrites")).text
    assert 'title="UTC 2024-11-25T10:02:00Z">2024-11-25 13:02:00 MSK</time>' in rewrites  # the _msk column
    # JSON keeps the stored values
    data = (await ds.client.get("/ticker/headline_exits.json", params={"_shape": "array"})).json()
    assert {r["shown_s"] for r in data} >= {120} and data[0]["exited_at"].endswith("Z")


async def test_ticker_page_shows_the_list_with_marks(ds) -> None:
    response = await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T13:02:30"})
    assert response.status_code == 200
    page = response.text
    order = [page.index(f'data-id="{hid(n)}"') for n in (5, 1, 2, 3)]
    assert order == sorted(order)
    assert f'data-id="{hid(4)}"' not in page  # scrolled off at this poll
    assert page.count("new at this poll") == 1 and page.count("reworded at this poll") == 1
    assert page.count("pulled later") == 1
    assert "fetch <a" in page and ">3</a>, ok" in page
    assert 'id="previous-poll" href="/-/ticker?source=rbc&amp;at=2024-11-25T10%3A00%3A00Z"' in page
    assert 'id="next-change" href="/-/ticker?source=rbc&amp;at=2024-11-25T10%3A04%3A00Z"' in page
    assert "108.87" in page
    during = (await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T10:09:00Z"})).text
    assert "1 network_error" in during and "1 blocked" in during and "HTTP 403: bot challenge" in during
    # the unchanged poll at 10:12 shows the same list; the next change is the next day's poll
    unchanged = (
        await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T10:12:00Z"})
    ).text
    assert ", unchanged;" in unchanged
    assert 'id="next-change" href="/-/ticker?source=rbc&amp;at=2024-11-26T10%3A00%3A00Z"' in unchanged


async def test_ticker_page_says_why_it_cannot_answer(ds) -> None:
    cbr = await ds.client.get("/-/ticker", params={"source": "cbr"})
    assert cbr.status_code == 400 and "source cbr has no ticker (it publishes rates only)" in cbr.text
    bad = await ds.client.get("/-/ticker", params={"source": "rbc", "at": "0001-01-01"})
    assert bad.status_code == 400 and "outside the years 1990..2100" in bad.text
    early = await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25"})
    assert "no successful poll of rbc at or before 2024-11-25 00:00:00 MSK" in early.text
    assert "First recorded poll" in early.text
    now = await ds.client.get("/-/ticker")  # no source, no at: the first ticker source, now
    assert now.status_code == 200 and f'data-id="{hid(5)}"' in now.text


async def test_headline_page_diff_timeline_and_citation(ds) -> None:
    page = (await ds.client.get(f"/-/headline/{hid(1)}")).text
    assert "Путин провел совещание<ins> с Совбезом</ins>" in page.replace("<ins> </ins>", " ")
    assert "first shown" in page and "2024-11-25 13:02:00 MSK" in page
    assert 'class="ticker-then" href="/-/ticker?source=rbc&amp;at=2024-11-25T10%3A02%3A00Z"' in page
    pulled = (await ds.client.get(f"/-/headline/{hid(2)}")).text
    assert pulled.count('class="presence"') == 2
    assert ">pulled<" in pulled and "unknown (failed polls or a gap)" in pulled
    assert "2<small> at" in pulled and "3<small> at" in pulled  # position over time
    assert f"ticker cite {hid(2)}" in pulled
    missing = await ds.client.get("/-/headline/nope")
    assert missing.status_code == 404


async def test_hostile_text_renders_as_text(ds) -> None:
    page = (await ds.client.get(f"/-/headline/{hid(6)}")).text
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    assert "javascript:window.__pwned = 2" in page  # shown, not linked
    ticker = (await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T13:11"})).text
    assert "<script>window.__pwned" not in ticker and 'href="javascript:' not in ticker


async def test_body_page_serves_plain_text(ds, db_path: Path) -> None:
    from ticker.db.archive import store_body
    from ticker.db.schema import connect, write_transaction

    db = connect(db_path)
    body = "<html><script>window.__pwned = 3</script>Лента</html>".encode("windows-1251")
    with write_transaction(db):
        digest, _new = store_body(db, body, "text/html; charset=windows-1251", 7, "2024-11-25T10:10:00Z")
        db.execute("UPDATE fetches SET body_sha256 = ? WHERE id = 7", [digest])
    db.close()
    response = await ds.client.get(f"/-/body/{digest}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=windows-1251"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == body
    assert (await ds.client.get(f"/-/body/{digest[:12]}")).content == body
    assert (await ds.client.get("/-/body/" + "0" * 64)).status_code == 404
    assert (await ds.client.get("/-/body/not-a-hash")).status_code == 400
    ticker = (await ds.client.get("/-/ticker", params={"source": "rbc", "at": "2024-11-25T13:11"})).text
    assert f'href="/-/body/{digest}"' in ticker


async def test_per_hour_chart_counts_only_live_first_sightings(db_path: Path) -> None:
    build_history(db_path)
    add_backfill_and_import(db_path)
    ds = make_datasette(db_path)
    chart = load_metadata("ticker")["plugins"]["datasette-dashboards"]["ticker"]["charts"]["per_hour"]
    hours = (await ds.client.get("/ticker.json", params={"sql": chart["query"], "_shape": "array"})).json()
    # the backfilled and imported items of 26 Nov are not "new on the ticker" then
    assert {(r["hour_msk"], r["source"], r["headlines"]) for r in hours} == {
        ("2024-11-25T13:00:00", "rbc", 6)
    }


async def test_rate_lines_break_across_gaps(db_path: Path) -> None:
    from ticker.core.base import Rate, RatesDocument
    from ticker.db.schema import open_db
    from ticker.db.writes import save_rates

    build_history(db_path)
    db = open_db(db_path)
    for day in ("2024-11-30", "2024-12-03", "2025-09-20"):  # Saturday, Tuesday, ten months on
        save_rates(
            db, _row("cbr", "xml_daily", f"{day}T09:00:00Z"), RatesDocument(day, (Rate("EUR", day, "100.0"),))
        )
    db.close()
    ds = make_datasette(db_path)
    chart = load_metadata("ticker")["plugins"]["datasette-dashboards"]["ticker"]["charts"]["eur"]
    rows = (await ds.client.get("/ticker.json", params={"sql": chart["query"], "_shape": "array"})).json()
    breaks = [(r["rate_date"], r["series"]) for r in rows if r["value"] is None]
    assert breaks == [("2024-11-28", "cbr (official)"), ("2024-12-04", "cbr (official)")]


# The charts' first form (lag() over each series), kept as the reference their faster form must match.
LAG_CHART_SQL = """
WITH r AS (
  SELECT r.rate_date, CAST(r.value AS REAL) AS value,
         CASE WHEN s.ticker_channel IS NULL THEN r.source || ' (official)' ELSE r.source || ' (shown)' END AS series
  FROM rates r LEFT JOIN sources s ON s.name = r.source WHERE r.currency = :currency
), d AS (
  SELECT rate_date, value, series, lag(rate_date) OVER (PARTITION BY series ORDER BY rate_date) AS prev FROM r
)
SELECT rate_date, value, series FROM d
UNION ALL
SELECT date(prev, '+1 day'), NULL, series FROM d
WHERE julianday(rate_date) - julianday(prev) > CASE WHEN strftime('%w', prev) = '6' THEN 3 ELSE 2 END
ORDER BY rate_date, series
"""


async def test_rate_charts_answer_as_lag_over_each_series(db_path: Path) -> None:
    """Gaps of every length from every weekday, two values on one day before a gap, both series."""
    from ticker.core.base import Rate, RatesDocument
    from ticker.db.schema import open_db
    from ticker.db.writes import save_rates

    build_history(db_path)
    db = open_db(db_path)
    day = date(2024, 11, 28)
    for step, value in enumerate([1, 2, 4, 1, 3, 5, 1, 1, 2, 6, 3, 1, 4, 2, 3]):
        day += timedelta(days=value)
        for source, channel in (("cbr", "xml_daily"), ("rbc", "page")):
            if (source == "rbc") == (step % 3 == 0):
                continue
            for n, at in enumerate(("T09:00:00Z", "T15:00:00Z") if step == 4 else ("T09:00:00Z",)):
                text = f"{100 + step}.{n}{1 if source == 'rbc' else 1234}"
                save_rates(db, _row(source, channel, f"{day}{at}"),
                           RatesDocument(day.isoformat(), (Rate("EUR", day.isoformat(), text),)))  # fmt: skip
    db.close()
    ds = make_datasette(db_path)
    charts = load_metadata("ticker")["plugins"]["datasette-dashboards"]["ticker"]["charts"]
    for currency in ("EUR", "USD"):
        got = await ds.get_database("ticker").execute(charts[currency.lower()]["query"])
        want = await ds.get_database("ticker").execute(LAG_CHART_SQL, {"currency": currency})
        assert [tuple(r) for r in got.rows] == [tuple(r) for r in want.rows], currency
    eur = await ds.get_database("ticker").execute(charts["eur"]["query"])
    assert sum(r["value"] is None for r in eur.rows) >= 5  # the data has gaps to find


def test_serve_checks_the_port_and_the_host(cli, db_path: Path) -> None:
    build_history(db_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_ticker("serve", "--db", db_path, "--port", port)
    assert result.returncode == 1
    assert result.stderr == f"Error: port {port} on 127.0.0.1 is already in use: choose another with --port\n"
    assert "Serving" not in result.stdout + result.stderr
    bad = run_ticker("serve", "--db", db_path, "--host", "no such host.invalid")
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: cannot serve on host 'no such host.invalid':")
    assert len(bad.stderr.splitlines()) == 1
    foreign = run_ticker("serve", "--db", db_path, "--host", "192.0.2.1")  # TEST-NET: not this machine
    assert foreign.returncode == 1 and foreign.stderr.startswith("Error: cannot serve on 192.0.2.1:")


async def test_every_headline_id_links_to_its_page(ds) -> None:
    for table in ("sightings", "title_changes", "headline_titles"):
        page = (await ds.client.get(f"/ticker/{table}")).text
        assert f'<a href="/-/headline/{hid(1)}">{hid(1)}</a>' in page, table
    headlines = (await ds.client.get("/ticker/headlines")).text
    assert f'<a href="/-/headline/{hid(1)}">Путин провел совещание с Совбезом</a>' in headlines
    row = (await ds.client.get(f"/ticker/headlines/{hid(1)}")).text
    assert f'href="/-/headline/{hid(1)}"' in row


async def test_pages_and_queries_work_for_a_feed_source(db_path: Path) -> None:
    build_history(db_path)
    add_feed_source(db_path)
    ds = make_datasette(db_path)
    rows = await query(ds, "ticker_at", at="2024-11-25T13:04", source="tass")
    assert [r["headline_id"] for r in rows if r["what"] == "headline"] == [tass_id(n) for n in (4, 1, 2, 3)]
    pulled = await query(ds, "pulled_headlines")
    assert {(r["source"], r["headline_id"]) for r in pulled} == {("rbc", hid(2)), ("tass", tass_id(2))}
    page = (await ds.client.get("/-/ticker", params={"source": "tass", "at": "2024-11-25T13:04"})).text
    assert '<option value="tass" selected>' in page and page.count("pulled later") == 1
    assert '<option value="cbr"' not in page  # only sources with a ticker
    assert f'href="/-/headline/{quote(tass_id(1), safe="")}"' in page  # the id quoted whole
    life = (await ds.client.get(f"/-/headline/{quote(tass_id(1), safe='')}")).text
    assert "<ins> с Ваном</ins>" in life and "rss (ticker)" in life
    chart = load_metadata("ticker")["plugins"]["datasette-dashboards"]["ticker"]["charts"]["per_hour"]
    hours = (await ds.client.get("/ticker.json", params={"sql": chart["query"], "_shape": "array"})).json()
    assert {(r["source"], r["headlines"]) for r in hours} == {("rbc", 6), ("tass", 4)}


async def test_client_errors_print_nothing(ds, capsys) -> None:
    """A bad query or a missing page is an answer to the browser, not a traceback (with local
    variables) on the server's stdout, which fills an unread pipe and stops the server."""
    for path, params in (("/ticker.json", {"sql": "delete from headlines"}), ("/ticker/nope", {}),
                         ("/ticker.json", {"sql": "select * from nowhere"})):  # fmt: skip
        response = await ds.client.get(path, params=params)
        assert 400 <= response.status_code < 500
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err


async def test_time_shaped_text_that_is_no_time_is_shown_as_it_is(ds) -> None:
    sql = "select '2024-02-30T10:00:00Z' as seen, '2024-13-01 10:00:00' as seen_msk, '2024-11-25T10:00:00Z' as ok"
    response = await ds.client.get("/ticker", params={"sql": sql})
    assert response.status_code == 200
    assert "2024-02-30T10:00:00Z" in response.text and "2024-13-01 10:00:00" in response.text
    assert "2024-11-25 13:00:00 MSK" in response.text
