"""A canned query's HTML page shows its first rows (ticker/web/plugins/ticker_rows.py); its CSV
and JSON exports are not cut to the page."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from helpers_front import build_history

from ticker.cli.commands.serve import load_metadata, make_datasette
from ticker.web.plugins.ticker_rows import PAGE_ROWS, PARAMETER

PAGED = {"rate_series", "rbc_vs_cbr", "outages"}


@pytest.fixture
def ds(db_path: Path):
    build_history(db_path)
    return make_datasette(db_path)


def _body_rows(html: str) -> int:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr")


def test_the_canned_queries_that_list_years_take_a_page() -> None:
    queries = load_metadata("ticker")["databases"]["ticker"]["queries"]
    assert {name for name, query in queries.items() if PARAMETER in query["sql"]} == PAGED
    assert PAGE_ROWS == 100


async def test_page_shows_its_rows_and_links_to_more_while_exports_keep_every_row(ds) -> None:
    page = await ds.client.get("/ticker/rate_series", params={"currency": "", "_rows": "2"})
    assert page.status_code == 200
    assert _body_rows(page.text) == 2
    note = re.search(r'<p class="ticker-rows">(.*?)</p>', page.text, re.S).group(1)
    assert "The first 2 rows at most" in note and "_rows=1000" in note and "currency=" in note
    whole = await ds.client.get("/ticker/rate_series", params={"currency": ""})
    assert _body_rows(whole.text) == 7  # fewer than a page: every row
    for bad in ("0", "abc", "5000"):  # not 1..1000: the default page
        assert (
            "The first 100 rows" in (await ds.client.get("/ticker/rate_series", params={"_rows": bad})).text
        )
    exported = await ds.client.get("/ticker/rate_series.csv", params={"currency": "", "_rows": "2"})
    assert len(list(csv.reader(io.StringIO(exported.text)))) == 1 + 7
    as_json = await ds.client.get("/ticker/rate_series.json", params={"currency": "", "_rows": "2"})
    assert len(as_json.json()["rows"]) == 7


async def test_other_pages_have_no_note(ds) -> None:
    page = await ds.client.get("/ticker/title_rewrites")
    assert page.status_code == 200 and "ticker-rows" not in page.text
