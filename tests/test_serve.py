"""Datasette in-process on a real history: every canned query with its parameters, the search
box, the charts page, metadata, escaping, and the `serve` command's checks."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from test_views import XSS_TITLE, _row, build_history, hid

from ticker.commands.serve import load_metadata, make_datasette

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
    assert set(metadata["databases"]["history"]["queries"]) == set(CANNED)
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
    response = await ds.client.get("/ticker/headline_titles", params={"_search": "оштрафовал"})
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
    assert "cannot be a rounding" in page


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
    assert {r["series"] for r in eur} == {"Bank of Russia official", "RBC shown (rbc)"}
    hours = (
        await ds.client.get("/ticker.json", params={"sql": charts["per_hour"]["query"], "_shape": "array"})
    ).json()
    assert sum(r["headlines"] for r in hours) == 6
    assert {r["hour_msk"] for r in hours} == {"2024-11-25T13:00:00"}


def test_serve_refuses_a_missing_database(cli, tmp_path: Path) -> None:
    result = cli("serve", "--db", tmp_path / "missing.db")
    assert result.exit_code != 0
    assert result.output.startswith("Error: no database at")


def test_exposed_hosts_are_detected() -> None:
    from ticker.commands.serve import _exposed

    assert not _exposed("127.0.0.1")
    assert not _exposed("localhost")
    assert not _exposed("::1")
    assert _exposed("0.0.0.0")
    assert _exposed("192.168.1.5")
