"""`ticker status`: how each source is doing and whether a daemon runs (read-only on the database)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ticker.base import DEFAULT_DB
from ticker.errors import user_errors
from ticker.terminal import printable


def _when(fetch: dict | None) -> str:
    from ticker.base import to_moscow_text

    if fetch is None:
        return "never"
    return f"{to_moscow_text(fetch['started_at'])} on {fetch['channel']} ({fetch['outcome']})"


def _every(seconds: float | None) -> str:
    if seconds is None:
        return "not scheduled"
    return f"every {seconds:g}s"


def _field(fetch: dict | None, key: str):
    return None if fetch is None else fetch.get(key)


def as_json(health) -> dict:
    """One source's health as plain data: UTC ISO 8601 times, None where nothing is known."""
    return {
        "source": health.name,
        "kind": health.kind,
        "url": health.url,
        "every_s": health.every_s,
        "channels": health.channels,
        "channel": health.channel,
        "on_fallback": health.on_fallback,
        "channel_since": health.channel_since,
        "last_success_at": _field(health.last_success, "started_at"),
        "last_success_channel": _field(health.last_success, "channel"),
        "last_success_outcome": _field(health.last_success, "outcome"),
        "last_success_fetch_id": _field(health.last_success, "id"),
        "last_failure_at": _field(health.last_failure, "started_at"),
        "last_failure_channel": _field(health.last_failure, "channel"),
        "last_failure_outcome": _field(health.last_failure, "outcome"),
        "last_failure_error": _field(health.last_failure, "error"),
        "last_failure_fetch_id": _field(health.last_failure, "id"),
        "failures_in_a_row": health.consecutive_failures,
        "fetches_24h": health.fetches_24h,
        "outcomes_24h": health.outcomes_24h,
        "ongoing_outages": health.outages,
    }


@click.command()
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
@click.option("--json", "as_json_output", is_flag=True, help="Print JSON on stdout (times in UTC ISO 8601).")
def status(db_path: str, as_json_output: bool) -> None:
    """Per source: last success and failure, failures in a row, the last 24 h, its channel; and
    whether a daemon is running on the database. Times are Moscow time (UTC with --json).

    \b
    Examples:
      ticker status --db /var/lib/ticker/ticker.db
      ticker status --json | jq '.sources[] | {source, last_success_at, failures_in_a_row}'
    """
    import sqlite3

    from ticker.base import to_moscow_text
    from ticker.db.history import pending
    from ticker.db.schema import database_shape, open_existing
    from ticker.schedules.health import source_health
    from ticker.schedules.lock import current_holder, lock_path

    if not Path(db_path).is_file():
        raise click.ClickException(f"no database at {db_path} (run `ticker run` or `ticker fetch` first)")
    with user_errors(db_path):
        db = open_existing(db_path)
        try:
            if database_shape(db) == "older":
                raise click.ClickException(
                    f"{db_path} was written by an older ticker: `ticker run` or `ticker fetch` brings it "
                    "up to date (status reads the summaries it adds); nothing was changed"
                )
            sources = source_health(db)
            unmerged = pending(db)
        except sqlite3.OperationalError as error:
            raise click.ClickException(f"{db_path} is not a ticker database ({error})") from None
        finally:
            db.conn.close()
        holder = current_holder(db_path)  # with the database closed (see schedules/lock.py)

    if as_json_output:
        daemon = {"running": holder is not None, "pid": holder.pid if holder else None,
                  "started_at": holder.started_at if holder else None}  # fmt: skip
        document = {"db": str(db_path), "daemon": daemon, "sources": [as_json(h) for h in sources]}
        document["history_pending"] = [
            {"source": source, "channel": channel, "from": at, "since": since}
            for source, channel, at, _, since in unmerged
        ]
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    if holder is None:
        click.echo("daemon: not running")
    else:
        started = to_moscow_text(holder.started_at) if holder.started_at else "?"
        click.echo(f"daemon: running (pid {holder.pid}, since {started}; lock {lock_path(db_path)})")
    for source, channel, at, _, since in unmerged:
        click.echo(
            f"history pending: {source}/{channel} from {to_moscow_text(at)} (captures stored "
            f"{to_moscow_text(since)} but not merged: an import stopped; the next poll or import of "
            "that channel merges them)"
        )
    if not sources:
        click.echo("no sources yet")
    for health in sources:
        click.echo("")
        channels = " > ".join(health.channels) or "?"
        click.echo(f"{health.name} ({health.kind or '?'}, {_every(health.every_s)}, channels {channels})")
        if health.channel is None:
            channel = "none yet"
        elif health.on_fallback:
            channel = f"{health.channel} (fallback) since {to_moscow_text(health.channel_since)}"
        else:
            channel = health.channel
        click.echo(f"  channel:          {channel}")
        click.echo(f"  last success:     {_when(health.last_success)}")
        failure = health.last_failure
        text = _when(failure)
        if failure is not None and failure.get("error"):
            text += f": {printable(failure['error'])}"  # the error may quote the server
        click.echo(f"  last failure:     {text}")
        click.echo(f"  failures in a row: {health.consecutive_failures}")
        for outage in health.outages:
            click.echo(
                f"  failing:          {outage['channel']} since {to_moscow_text(outage['started_at'])}, "
                f"{outage['failures']} failures ({outage['outcomes']})"
            )
        counts = ", ".join(f"{outcome} {count}" for outcome, count in health.outcomes_24h.items())
        click.echo(f"  last 24 h:        {health.fetches_24h} fetches" + (f" ({counts})" if counts else ""))
