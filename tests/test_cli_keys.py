"""One vocabulary: every key any command's --json or --csv writes is in docs/queries.md ("Keys"),
and the same things carry the same names and types everywhere."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_front import add_backfill_and_import, build_history, hid

from ticker.cli import main

DOC = (Path(__file__).resolve().parent.parent / "docs" / "queries.md").read_text(encoding="utf-8")
# Keys whose value is a map from data (outcome names, compression names) to a record.
MAPS = {"outcomes_24h", "by_compression", "by_outcome"}
QUESTIONS = [
    ["at", "2024-11-25T10:09Z"],
    ["changes", "--since", "2024-11-20", "--until", "2024-11-28"],
    ["rates"],
    ["search", "совещание"],
    ["outages", "--since", "2024-11-01", "--until", "2024-11-28"],
]
JSON_ONLY = [["status"], ["cite", hid(1)], ["cite", "rate:3"], ["sources"], ["archive", "stats"]]


def documented_keys() -> set[str]:
    table = DOC.split("### Keys", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([a-z_0-9]+)`", row.split("|")[1])}


def keys_of(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            found.add(key)
            for item in inner.values() if key in MAPS and isinstance(inner, dict) else [inner]:
                keys_of(item, found)
    elif isinstance(value, list):
        for item in value:
            keys_of(item, found)
    return found


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "ticker.db"
    build_history(path)
    add_backfill_and_import(path)
    return path


def run(history: Path, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--db", str(history)], catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result.output


@pytest.mark.parametrize("args", QUESTIONS + JSON_ONLY, ids=lambda a: " ".join(a[:2]))
def test_every_json_key_is_documented(history: Path, args: list[str]) -> None:
    found = keys_of(json.loads(run(history, *args, "--json")), set())
    assert found, args
    assert not found - documented_keys(), f"{args}: undocumented keys {sorted(found - documented_keys())}"
    assert "id" not in found  # a headline_id, rate_id or fetch_id, never a bare id


@pytest.mark.parametrize("args", QUESTIONS, ids=lambda a: a[0])
def test_csv_has_the_json_keys_and_the_same_booleans(history: Path, args: list[str]) -> None:
    rows = list(csv.DictReader(io.StringIO(run(history, *args, "--csv"))))
    data = json.loads(run(history, *args, "--json"))
    records = data["rates"] + data["headlines"] if isinstance(data, dict) else data  # CSV order
    scalar = {k for record in records for k, v in record.items() if not isinstance(v, list | dict)}
    if isinstance(data, dict):  # `at`: the poll's own keys on every row too
        scalar |= {k for k, v in data.items() if not isinstance(v, list | dict)}
    assert rows and scalar <= set(rows[0]), sorted(scalar - set(rows[0]))
    assert set(rows[0]) <= documented_keys() | {"type"}
    for record, row in zip(records, rows, strict=True):
        for key, value in record.items():
            if isinstance(value, bool):
                assert row[key] == ("true" if value else "false"), (args, key)


def test_times_are_utc_strings_everywhere(history: Path) -> None:
    cited = json.loads(run(history, "cite", hid(1), "--json"))
    assert cited["first_seen"] == "2024-11-25T10:00:00Z" and cited["headline_id"] == hid(1)
    assert cited["titles"][0]["first_fetch"]["started_at"] == "2024-11-25T10:00:00Z"
    changes = json.loads(run(history, "changes", "--since", "2024-11-25", "--until", "2024-11-26", "--json"))
    pulled = next(e for e in changes if e["event"] == "pulled")
    assert pulled["exit_reason"] == "pulled" and pulled["at"].endswith("Z")
