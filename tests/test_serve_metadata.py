"""metadata.yml is checked against a real migrated database, so what Datasette says over a table
or a column stays true: it describes only tables, views and columns that exist (canned queries:
columns they return); a time shown as Moscow time is never labelled UTC alone; a table that
holds every outlet never speaks of RBC's alone."""

from __future__ import annotations

import re

import pytest

from ticker.cli.commands.serve import load_metadata, make_datasette
from ticker.db.schema import open_db
from ticker.web.plugins.ticker_rows import PAGE_ROWS

# Tables whose rows come from any outlet: any with a `source` or `headline_id` column.
MULTI_OUTLET_COLUMNS = {"source", "headline_id"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("metadata") / "ticker.db"
    open_db(path).close()
    return make_datasette(path)


@pytest.fixture(scope="module")
def metadata() -> dict:
    return load_metadata("ticker")["databases"]["ticker"]


def _params(sql: str) -> dict:
    """A canned query's parameters as Datasette binds an empty form: "" each, and the page's row
    count for `:_ticker_rows` (a magic parameter of ticker_rows.py)."""
    return {param: PAGE_ROWS if param == "_ticker_rows" else "" for param in re.findall(r"(?<!:):(\w+)", sql)}


async def _columns(served, sql: str, params: dict | None = None) -> list[str]:
    return (await served.get_database("ticker").execute(sql, params or {})).columns


async def test_described_tables_and_columns_exist(served, metadata) -> None:
    database = served.get_database("ticker")
    names = set(await database.table_names()) | set(await database.view_names())
    problems = []
    for table, described in metadata["tables"].items():
        if table not in names:
            problems.append(f"table {table} does not exist")
            continue
        columns = await _columns(served, f"SELECT * FROM [{table}] LIMIT 0")
        problems += [f"{table}.{c} does not exist" for c in described.get("columns", {}) if c not in columns]
    for name, query in metadata["queries"].items():
        params = _params(query["sql"])
        columns = await _columns(served, query["sql"], params)
        problems += [f"query {name}: no column {c}" for c in query.get("columns", {}) if c not in columns]
    assert not problems, "\n".join(problems)


def _descriptions(metadata: dict) -> list[tuple[str, str, str]]:
    """(where, column, text) of every column description, tables and canned queries."""
    found = []
    for kind in ("tables", "queries"):
        for name, described in metadata[kind].items():
            found += [
                (f"{kind} {name}", column, text) for column, text in described.get("columns", {}).items()
            ]
    return found


def _labelled_utc(metadata: dict) -> list[str]:
    """Descriptions that call a time shown in Moscow time UTC: every stored UTC instant is shown
    as Moscow time in the pages, and a `_msk` column holds Moscow time, so a description may say
    UTC only beside saying what the page shows, and never over a `_msk` column."""
    return [
        f"{where}.{column}"
        for where, column, text in _descriptions(metadata)
        if "UTC" in text and (column.endswith("_msk") or "Moscow" not in text)
    ]


def test_times_shown_in_moscow_are_not_labelled_utc(metadata) -> None:
    wrong = _labelled_utc(metadata)
    assert not wrong, "\n".join(wrong)
    msk = [text for _where, column, text in _descriptions(metadata) if column.endswith("_msk")]
    assert msk and all("Moscow" in text for text in msk)


async def test_tables_of_every_outlet_do_not_speak_of_rbc_alone(served, metadata) -> None:
    wrong = []
    for table, described in metadata["tables"].items():
        columns = set(await _columns(served, f"SELECT * FROM [{table}] LIMIT 0"))
        if columns & MULTI_OUTLET_COLUMNS and "RBC" in described.get("description", ""):
            wrong.append(f"{table}: {described['description']}")
    assert not wrong, "\n".join(wrong)


def test_the_introduction_reads_whole() -> None:
    intro = load_metadata("ticker")["description_html"]
    assert "…" not in intro and "(<code>" not in intro.replace("like <code>", "")
    assert "Moscow time (MSK)" in intro


def test_the_checks_would_catch_the_old_mistakes(metadata) -> None:
    """The rules above fail on the descriptions issue 22 found (so they test something)."""
    old = {"tables": {"headline_exits": {"columns": {"exited_at": "First successful poll without it, UTC"}}},
           "queries": {"q": {"columns": {"exited_at_msk": "When it left, Moscow (UTC+3)"}}}}  # fmt: skip
    assert _labelled_utc(old) == ["tables headline_exits.exited_at", "queries q.exited_at_msk"]


async def test_a_time_beside_its_msk_column_is_described_as_utc(served, metadata) -> None:
    # Such a cell reads as UTC in the pages (its Moscow time is the `_msk` cell beside it).
    wrong = []
    for kind in ("tables", "queries"):
        for name, described in metadata[kind].items():
            if kind == "tables":
                columns = await _columns(served, f"SELECT * FROM [{name}] LIMIT 0")
            else:
                params = _params(described["sql"])
                columns = await _columns(served, described["sql"], params)
            for column, text in described.get("columns", {}).items():
                if f"{column}_msk" in columns and "UTC" not in text:
                    wrong.append(f"{kind} {name}.{column}: {text}")
    assert not wrong, "\n".join(wrong)
