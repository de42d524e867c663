"""`ticker at`, `ticker changes`, `ticker rates`: read the history (read-only), print text,
JSON or CSV. Times typed are ISO 8601 (no zone = Moscow); times shown are Moscow time."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from ticker.errors import user_errors
from ticker.terminal import printable

DEFAULT_DB = "ticker.db"
RATE_COLUMNS = ["rate_date", "source", "currency", "value", "change_shown", "move", "previous_value",
                "first_seen", "last_seen"]  # fmt: skip
TIME_HELP = "ISO 8601 (2024-11-25T18:57, zone optional: Moscow time if absent), a date (2024-11-25) or an age (30m, 2h, 1d)"


def _output_options(command: Callable) -> Callable:
    command = click.option(
        "--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file."
    )(command)
    command = click.option("--csv", "as_csv", is_flag=True, help="CSV rows instead of text (times in UTC).")(
        command
    )
    command = click.option("--json", "as_json", is_flag=True, help="JSON instead of text (times in UTC).")(
        command
    )
    return command


@contextmanager
def _history(db_path: str) -> Iterator[Any]:
    from ticker.db.queries import NotReady, open_history

    with user_errors(db_path):
        try:
            db = open_history(db_path)
        except NotReady as error:
            raise click.ClickException(str(error)) from None
        try:
            yield db
        finally:
            db.close()


def _utc(text: str | None, default: str | None = None) -> str | None:
    from ticker.base import BadTime, parse_user_time, to_iso

    if text is None:
        return default
    try:
        return to_iso(parse_user_time(text))
    except BadTime as error:
        raise click.ClickException(str(error)) from None


def _msk(iso: str | None) -> str:
    from ticker.base import to_moscow_text

    return to_moscow_text(iso) or ""


def _check_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")


def _write_csv(rows: list[dict], columns: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _table(rows: list[list[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@click.command(
    help="The ticker as it was at TIME: what the last successful page poll at or before TIME showed, "
    f"titles as they read then, with its rates. TIME: {TIME_HELP}. Output shows Moscow time."
)
@click.argument("time")
@click.option("--source", default="rbc", show_default=True, help="The RBC source whose page ticker to show.")
@_output_options
def at(time: str, source: str, as_json: bool, as_csv: bool, db_path: str) -> None:
    from ticker.db.queries import ticker_at

    _check_format(as_json, as_csv)
    moment = _utc(time)
    with _history(db_path) as db:
        found = ticker_at(db, moment, source)
    if found is None:
        raise click.ClickException(f"no successful poll of {source!r} at or before {_msk(moment)}")
    poll = found["poll"]
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if as_csv:
        rows = [
            {"shown_at": poll["started_at"], "type": "rate", **rate, "title": None} for rate in found["rates"]
        ] + [{"shown_at": poll["started_at"], "type": "headline", **item} for item in found["headlines"]]
        _write_csv(rows, ["shown_at", "type", "position", "id", "title", "rubric", "published_at", "url",
                          "currency", "rate_date", "value", "change"])  # fmt: skip
        return
    click.echo(
        f"{source} ticker as of {_msk(poll['started_at'])} (poll {poll['fetch_id']}; asked for {_msk(moment)})"
    )
    if found["failed_polls_since"]:
        click.echo(f"note: {found['failed_polls_since']} failed poll(s) between that poll and {_msk(moment)}")
    for rate in found["rates"]:
        change = f" ({rate['change']})" if rate["change"] else ""
        click.echo(f"{rate['currency']} for {rate['rate_date']}: {rate['value']}{change}")
    lines = [
        [f"{item['position']:>2}", _msk(item["published_at"])[11:16], item["rubric"] or "", item["title"]]
        for item in found["headlines"]
    ]
    if lines:
        click.echo(_table(lines))
    else:
        click.echo("(no headlines)")


@click.command()
@click.option("--since", default="1d", show_default=True, help=f"Start of the window: {TIME_HELP}.")
@click.option("--until", help="End of the window (default: now), same forms as --since.")
@_output_options
def changes(since: str, until: str | None, as_json: bool, as_csv: bool, db_path: str) -> None:
    """What changed in a window: new headlines, rewrites, new rates, exits, failed fetches.

    Times without a zone are Moscow time; output shows Moscow time."""
    from ticker.base import to_iso, utc_now
    from ticker.db.queries import changes as find_changes

    _check_format(as_json, as_csv)
    start = _utc(since)
    end = _utc(until, to_iso(utc_now()))
    if start > end:
        raise click.ClickException(f"--since ({_msk(start)}) is after --until ({_msk(end)})")
    with _history(db_path) as db:
        events = find_changes(db, start, end)
    if as_json:
        click.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    if as_csv:
        _write_csv(events, ["at", "kind", "source", "ref", "text", "detail"])
        return
    if not events:
        click.echo(f"nothing recorded between {_msk(start)} and {_msk(end)}")
        return
    lines = [
        [_msk(e["at"]), e["kind"], e["source"], e["text"] or "", f"({e['detail']})" if e["detail"] else ""]
        for e in events
    ]
    click.echo(_table(lines))


@click.command()
@click.option("--currency", help="EUR, USD, ... (default: all).")
@click.option("--source", help="rbc (shown on RBC) or cbr (Bank of Russia official); a source name or kind.")
@click.option("--since", help=f"First day (by the date the rate is for): {TIME_HELP}.")
@click.option("--until", help="Last day, same forms as --since.")
@_output_options
def rates(
    currency: str | None,
    source: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
    as_csv: bool,
    db_path: str,
) -> None:
    """Rate history: each distinct rate per source and currency, with its move.

    Times without a zone are Moscow time; a rate's day is a Moscow day."""
    from ticker.base import from_iso, moscow_day
    from ticker.db.queries import rates as find_rates

    _check_format(as_json, as_csv)
    start, end = _utc(since), _utc(until)
    with _history(db_path) as db:
        found = find_rates(
            db,
            currency=currency,
            source=source,
            since_day=moscow_day(from_iso(start)).isoformat() if start else None,
            until_day=moscow_day(from_iso(end)).isoformat() if end else None,
        )
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if as_csv:
        _write_csv(found, RATE_COLUMNS)
        return
    if not found:
        click.echo("no rates recorded for that choice")
        return
    lines = [["date", "source", "currency", "value", "shown change", "move", "first seen"]] + [
        [r["rate_date"], r["source"], r["currency"], r["value"], r["change_shown"] or "", r["move"] or "",
         _msk(r["first_seen"])]
        for r in found
    ]  # fmt: skip
    click.echo(_table(lines))
