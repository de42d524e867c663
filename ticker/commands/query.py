"""`ticker at`, `ticker changes`, `ticker rates`: read the history (read-only), print text,
JSON or CSV. Times typed are ISO 8601 (no zone = Moscow); times shown are Moscow time.

JSON and CSV use the key names of docs/queries.md ("Keys") and keep stored UTC times."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from ticker.base import DEFAULT_DB, TIME_FORMS
from ticker.csv_export import write_csv
from ticker.errors import user_errors
from ticker.terminal import printable

RATE_COLUMNS = ["rate_id", "rate_date", "source", "currency", "value", "change", "move", "previous_value",
                "first_seen", "last_seen"]  # fmt: skip
CHANGE_COLUMNS = ["at", "event", "source", "id", "title", "detail", "fetch_id", "published_at", "origin"]
AT_COLUMNS = ["type", "source", "fetch_id", "shown_at", "position", "id", "title", "rubric", "published_at",
              "url", "new", "reworded_here", "reworded_later", "exit_reason", "exited_at", "rate_id", "currency", "rate_date",
              "value", "change"]  # fmt: skip
TIME_HELP = TIME_FORMS


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
    from ticker.db.queries import BadQuestion, NotReady, open_history

    with user_errors(db_path):
        try:
            db = open_history(db_path)
        except NotReady as error:
            raise click.ClickException(str(error)) from None
        try:
            yield db
        except BadQuestion as error:
            raise click.ClickException(str(error)) from None
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


def _msk_minute(iso: str | None) -> str:
    """`YYYY-MM-DD HH:MM` Moscow time (the zone is named in the header), or empty."""
    return _msk(iso)[:16]


def _window(since: str | None, until: str | None) -> None:
    if since is not None and until is not None and since > until:
        raise click.ClickException(f"--since ({_msk(since)}) is after --until ({_msk(until)})")


def _check_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")


def _write_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _write_csv(rows: list[dict], columns: list[str]) -> None:
    write_csv(sys.stdout, rows, columns)  # formula-leading cells neutralised (ticker/csv_export.py)


def _table(rows: list[list[str]]) -> str:
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _marks(item: dict) -> str:
    marks = ["new"] if item["new"] else []
    if item["reworded_here"]:
        marks.append("reworded")
    if item["reworded_later"]:
        marks.append("reworded later")
    if item["exit_reason"] == "pulled":
        marks.append("pulled later")
    return ", ".join(marks)


def _failed_note(failed: list[dict], asked: str) -> str | None:
    if not failed:
        return None
    counts = ", ".join(f"{f['polls']} {f['outcome']}" for f in failed)
    return f"note: failed polls between that poll and {_msk(asked)}: {counts}"


@click.command(
    short_help="The ticker as it was at a time.",
    help="The ticker as it was at TIME: what the last successful poll of the source's ticker at or "
    "before TIME showed, in on-page order, titles as they read then, with its rates.\n\n"
    f"TIME: {TIME_FORMS}. Output shows Moscow time.",
    epilog="\b\nExamples:\n  ticker at '2024-11-25 18:57'\n  ticker at 2h --source rbc --json\n  ticker at now",
)
@click.argument("time")
@click.option("--source", default="rbc", show_default=True, help="The source whose ticker to show.")
@_output_options
def at(time: str, source: str, as_json: bool, as_csv: bool, db_path: str) -> None:
    """Print the ticker as it was at TIME (the help text above names the time forms of ticker.base)."""
    from ticker.db.queries import ticker_at

    _check_format(as_json, as_csv)
    moment = _utc(time)
    with _history(db_path) as db:
        found = ticker_at(db, moment, source)
    if found is None:
        raise click.ClickException(f"no successful poll of {source!r} at or before {_msk(moment)}")
    if as_json:
        _write_json(found)
        return
    if as_csv:
        common = {"source": source, "fetch_id": found["fetch_id"], "shown_at": found["shown_at"]}
        _write_csv(
            [{"type": "rate", **common, **rate} for rate in found["rates"]]
            + [{"type": "headline", **common, **item} for item in found["headlines"]],
            AT_COLUMNS,
        )
        return
    click.echo(
        f"{source} ticker as of {_msk(found['shown_at'])} (fetch {found['fetch_id']}, {found['outcome']}; "
        f"asked for {_msk(moment)})"
    )
    note = _failed_note(found["failed_since"], moment)
    if note:
        click.echo(note)
    for rate in found["rates"]:
        change = f" ({rate['change']})" if rate["change"] else ""
        click.echo(f"{rate['currency']} for {rate['rate_date']}: {rate['value']}{change}")
    if not found["headlines"]:
        click.echo("(no headlines)")
        return
    lines = [[" #", "published (MSK)", "rubric", "title", "marks"]] + [
        [f"{item['position']:>2}", _msk_minute(item["published_at"]) or "-", item["rubric"] or "",
         item["title"], _marks(item)]
        for item in found["headlines"]
    ]  # fmt: skip
    click.echo(_table(lines))


def _change_detail(event: dict) -> str:
    detail = event["detail"] or ""
    if event["event"] == "new" and event["origin"]:
        published = _msk(event["published_at"]) or "unknown"
        how = "backfilled" if event["origin"] == "backfill" else f"imported ({event['origin']})"
        seen = "later also seen live" if event.get("seen_live") else "not seen live"
        learned = f"{how}: {seen}, published {published}"
        detail = f"{detail}; {learned}" if detail else learned
    return f"({detail})" if detail else ""


@click.command(
    short_help="What changed in a window.",
    epilog="\b\nExamples:\n  ticker changes --since 1h\n"
    "  ticker changes --since '2024-11-25 18:00' --until '2024-11-25 19:00' --source rbc --csv",
)
@click.option("--since", default="1d", show_default=True, help=f"Start of the window: {TIME_HELP}.")
@click.option("--until", default="now", show_default=True, help="End of the window, same forms as --since.")
@click.option("--source", help="Only this source (default: all).")
@_output_options
def changes(since: str, until: str, source: str | None, as_json: bool, as_csv: bool, db_path: str) -> None:
    """What changed in a window: new headlines (those learned of after the fact marked as
    backfill or import, with their publication time), rewrites, returns after an exit, new
    rates, exits, failed fetches.

    Times without a zone are Moscow time; output shows Moscow time."""
    from ticker.db.queries import changes as find_changes

    _check_format(as_json, as_csv)
    start, end = _utc(since), _utc(until)
    _window(start, end)
    with _history(db_path) as db:
        events = find_changes(db, start, end, source)
    if as_json:
        _write_json(events)
        return
    if as_csv:
        _write_csv(events, CHANGE_COLUMNS)
        return
    if not events:
        click.echo(f"nothing recorded between {_msk(start)} and {_msk(end)}")
        return
    lines = [[_msk(e["at"]), e["event"], e["source"], e["title"] or "", _change_detail(e)] for e in events]
    click.echo(_table(lines))


@click.command(
    short_help="Rate history, shown and official.",
    epilog="\b\nExamples:\n  ticker rates --currency EUR --since 2024-11-01\n  ticker rates --source cbr --json",
)
@click.option("--currency", help="EUR, USD, ... (default: all).")
@click.option("--source", help="A source name or kind: rbc (shown on RBC), cbr (Bank of Russia official).")
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
    _window(start, end)
    with _history(db_path) as db:
        found = find_rates(
            db,
            currency=currency,
            source=source,
            since_day=moscow_day(from_iso(start)).isoformat() if start else None,
            until_day=moscow_day(from_iso(end)).isoformat() if end else None,
        )
    if as_json:
        _write_json(found)
        return
    if as_csv:
        _write_csv(found, RATE_COLUMNS)
        return
    if not found:
        click.echo("no rates recorded for that choice")
        return
    lines = [["date", "source", "currency", "value", "shown change", "move", "first seen"]] + [
        [r["rate_date"], r["source"], r["currency"], r["value"], r["change"] or "", r["move"] or "",
         _msk(r["first_seen"])]
        for r in found
    ]  # fmt: skip
    click.echo(_table(lines))
