"""`ticker outages`: each run of failed polls, with every cause in it and the evidence kept."""

from __future__ import annotations

import click

from ticker.cli.commands.output import (
    check_format,
    check_window,
    history,
    msk,
    output_options,
    table,
    utc,
    write_csv,
    write_json,
)
from ticker.core.base import TIME_FORMS

OUTAGE_COLUMNS = ["outage_id", "source", "channel", "started_at", "ended_at", "last_failure_at", "ongoing", "duration_s", "failures",
                  "outcomes", "causes", "first_fetch_id", "last_fetch_id", "end_fetch_id"]  # fmt: skip


def cause_text(cause: dict, *, hint: str = "") -> str:
    """`blocked ×3 (HTTP 403: bot challenge; body: ticker archive show 1a2b3c4d)`."""
    detail = cause["error"] or (f"HTTP {cause['status']}" if cause["status"] else "")
    if cause["body_sha256"]:
        show = f"ticker archive show {cause['body_sha256'][:12]}{hint}"
        detail = f"{detail}; fetch {cause['archived_fetch_id']}'s body: {show}" if detail else show
    count = f" ×{cause['fetches']}" if cause["fetches"] > 1 else ""
    return f"{cause['outcome']}{count}" + (f" ({detail})" if detail else "")


def outage_line(run: dict, *, hint: str = "") -> str:
    """One run of failures: channel, from, to (or ongoing), how long, attempts, every cause."""
    from ticker.core.display import duration_text

    end = "ongoing" if run["ongoing"] else msk(run["ended_at"])
    attempts = f"{run['failures']} failed attempt{'s' if run['failures'] != 1 else ''}"
    causes = "; ".join(cause_text(cause, hint=hint) for cause in run["causes"])
    return (
        f"{run['channel']} {msk(run['started_at'])} .. {end} ({duration_text(run['duration_s'])}, {attempts}): "
        f"{causes}"
    )


@click.command(
    short_help="Each run of failed polls, with every cause.",
    epilog="\b\nExamples:\n  ticker outages\n  ticker outages --since 30d --source rbc\n  ticker outages --ongoing --json",
)
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help=f"Runs still going on at or after this time: {TIME_FORMS}.",
)
@click.option(
    "--until", default="now", show_default=True, help="Runs begun at or before this time, same forms."
)
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable; default: all).")
@click.option("--ongoing", is_flag=True, help="Only the runs still going on.")
@click.option(
    "--limit", type=click.IntRange(1, 100000), default=100, show_default=True, help="At most this many runs."
)
@output_options
def outages(
    since: str,
    until: str,
    sources: tuple[str, ...],
    ongoing: bool,
    limit: int,
    as_json: bool,
    as_csv: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Each run of failed polls of a source's channel, latest first: when it began, when it
    ended (or "ongoing"), how long, how many attempts failed, and every distinct cause in it (a
    403 then a refused connection are two causes), with the command that shows the archived body
    of a failed fetch when one was kept. Times shown are Moscow time."""
    from ticker.db.queries import outages as find_outages

    check_format(as_json, as_csv)
    start, end = utc(since), utc(until)
    check_window(start, end)
    with history(config_path, db_path) as (db, target):
        runs = find_outages(db, since=start, until=end, sources=sources, ongoing=ongoing, limit=limit)
    if as_json:
        write_json(runs)
        return
    if as_csv:
        write_csv(runs, OUTAGE_COLUMNS)
        return
    if not runs:
        click.echo(f"no failed polls between {msk(start)} and {msk(end)}")
        return
    hint = target.reach_again()
    click.echo(table([[run["source"], outage_line(run, hint=hint)] for run in runs]))
