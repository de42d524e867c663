"""What every reading command shares: `--config`/`--db`, `--json`/`--csv`, opening the history
read-only, reading typed times, and writing JSON, CSV and text tables.

JSON and CSV use the key names of docs/queries.md ("Keys"): stored UTC times, booleans `true`/
`false` in both. Every CSV row goes through `write_csv`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from ticker.cli.errors import user_errors
from ticker.cli.locate import Target, config_options, database
from ticker.core import csv_export
from ticker.core.base import BadTime, parse_user_time, to_iso, to_moscow_text
from ticker.core.terminal import printable
from ticker.db.queries import BadQuestion, NotReady, open_history


def output_options(command: Callable) -> Callable:
    """`--config`, `--db`, `--json`, `--csv`."""
    command = config_options(command)
    command = click.option("--csv", "as_csv", is_flag=True, help="CSV rows instead of text (times in UTC).")(
        command
    )
    return click.option("--json", "as_json", is_flag=True, help="JSON instead of text (times in UTC).")(
        command
    )


def check_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")


@contextmanager
def history(config_path: str | None, db_path: str | None) -> Iterator[tuple[Any, Target]]:
    """The history, opened read-only, and where it is; every expected failure one `Error:` line."""

    target = database(config_path, db_path)
    with user_errors(str(target.db)):
        try:
            db = open_history(target.db)
        except NotReady as error:
            raise click.ClickException(str(error)) from None
        try:
            yield db, target
        except BadQuestion as error:
            raise click.ClickException(str(error)) from None
        finally:
            db.close()


def utc(text: str | None, default: str | None = None) -> str | None:
    """A typed time (ISO 8601, Moscow if no zone; an age; now) as stored UTC text."""

    if text is None:
        return default
    try:
        return to_iso(parse_user_time(text))
    except BadTime as error:
        raise click.ClickException(str(error)) from None


def msk(iso: str | None) -> str:

    return to_moscow_text(iso) or ""


def msk_minute(iso: str | None) -> str:
    """`YYYY-MM-DD HH:MM` Moscow time (the zone is named in the header), or empty."""
    return msk(iso)[:16]


def check_window(since: str | None, until: str | None) -> None:
    if since is not None and until is not None and since > until:
        raise click.ClickException(f"--since ({msk(since)}) is after --until ({msk(until)})")


def write_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_csv(rows: list[dict], columns: list[str]) -> None:
    """Rows as CSV on stdout: the columns in this order, booleans `true`/`false`, None empty,
    formula-leading cells neutralised (`ticker.core.csv_export`)."""
    csv_export.write_csv(
        sys.stdout, ({key: _cell(value) for key, value in row.items()} for row in rows), columns
    )


def table(rows: list[list[str]]) -> str:
    """Aligned columns; stored text never drives the terminal."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
