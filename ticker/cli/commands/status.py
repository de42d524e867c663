"""`ticker status`: how each source is doing and whether a daemon runs (read-only on the database)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options, find_config, load
from ticker.core.terminal import printable


def _when(fetch: dict | None) -> str:
    from ticker.core.base import to_moscow_text

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


def next_attempt(health, running: bool, max_backoff_s: float) -> dict:
    """When the daemon will next poll a source, estimated from what is recorded (its interval, the
    failures in a row, the last Retry-After) by the daemon's own backoff rule."""
    from datetime import timedelta

    from ticker.core.base import from_iso, to_iso
    from ticker.schedules.backoff import backoff_delay

    last = max(
        (fetch["started_at"] for fetch in (health.last_success, health.last_failure) if fetch), default=None
    )
    if not running or last is None or health.every_s is None:
        return {"next_attempt_at": None, "backoff_s": None, "retry_after_s": None}
    delay = backoff_delay(health.every_s, health.consecutive_failures, max_backoff_s)
    retry_after = _field(health.last_failure, "retry_after_s") if health.consecutive_failures else None
    if retry_after:
        delay = max(delay, min(float(retry_after), max_backoff_s))
    return {
        "next_attempt_at": to_iso(from_iso(last) + timedelta(seconds=delay)),
        "backoff_s": delay if delay > health.every_s else None,
        "retry_after_s": retry_after,
    }


def _next_text(health, estimate: dict, running: bool) -> str:
    from ticker.core.base import to_moscow_text
    from ticker.core.display import duration_text

    if not running:
        return "none (no daemon running on this database)"
    if estimate["next_attempt_at"] is None:
        return "at the daemon's next run (not yet polled)"
    text = f"about {to_moscow_text(estimate['next_attempt_at'])}"
    if estimate["backoff_s"]:
        why = f"{health.consecutive_failures} failures in a row"
        if estimate["retry_after_s"]:
            why += f", Retry-After {duration_text(estimate['retry_after_s'])}"
        text += f" (backing off: {why}; waits {duration_text(estimate['backoff_s'])}, not {duration_text(health.every_s)})"
    return text


@click.command()
@config_options
@click.option("--json", "as_json_output", is_flag=True, help="Print JSON on stdout (times in UTC ISO 8601).")
def status(config_path: str | None, db_path: str | None, as_json_output: bool) -> None:
    """Per source: last success and failure, failures in a row, the last 24 h and its outages,
    its channel, the next attempt and any backoff; and whether a daemon is running on the
    database. The first line names the config and database used. Times are Moscow time (UTC
    with --json).

    \b
    Examples:
      ticker status                      # ./ticker.toml's database, or ticker.db
      ticker status --db /var/lib/ticker/ticker.db
      ticker status --json | jq '.sources[] | {source, last_success_at, failures_in_a_row}'
    """
    import sqlite3
    from datetime import timedelta

    from ticker.cli.commands.outages import cause_text, outage_line
    from ticker.core.base import to_iso, to_moscow_text, utc_now
    from ticker.db.history import pending
    from ticker.db.queries import outages
    from ticker.db.schema import database_shape, open_existing
    from ticker.schedules.backoff import MAX_BACKOFF_S
    from ticker.schedules.health import source_health
    from ticker.schedules.lock import current_holder, lock_path

    found = find_config(config_path)
    config = None if db_path is not None and config_path is None else load(config_path, db_path)
    db_path = str(config.db) if config is not None else db_path
    if not Path(db_path).is_file():
        used = f"; {found.describe()}" if config is not None else ""
        raise click.ClickException(
            f"no database at {db_path} (run `ticker run` or `ticker fetch` first{used})"
        )
    since = to_iso(utc_now() - timedelta(hours=24))
    with user_errors(db_path):
        db = open_existing(db_path)
        try:
            if database_shape(db) == "older":
                raise click.ClickException(
                    f"{db_path} was written by an older ticker: `ticker run` or `ticker fetch` brings it "
                    "up to date (status reads the summaries it adds); nothing was changed"
                )
            sources = source_health(db)
            runs = {
                h.name: outages(db, since=since, until=to_iso(utc_now()), sources=[h.name]) for h in sources
            }
            unmerged = pending(db)
        except sqlite3.OperationalError as error:
            raise click.ClickException(f"{db_path} is not a ticker database ({error})") from None
        finally:
            db.conn.close()
        holder = current_holder(db_path)  # with the database closed (see schedules/lock.py)

    running = holder is not None

    def cap(name: str) -> float:
        return config.max_backoff_for(name) if config is not None else MAX_BACKOFF_S

    estimates = {h.name: next_attempt(h, running, cap(h.name)) for h in sources}
    if as_json_output:
        daemon = {"running": running, "pid": holder.pid if holder else None,
                  "started_at": holder.started_at if holder else None}  # fmt: skip
        document = {
            "config": str(found.path) if found.path else None,
            "config_found_by": found.how,
            "db": str(db_path),
            "daemon": daemon,
            "sources": [
                as_json(h)
                | estimates[h.name]
                | {"outages_24h": runs[h.name], "ongoing_outages": [r for r in runs[h.name] if r["ongoing"]]}
                for h in sources
            ],
        }
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
    click.echo(f"database: {db_path} ({found.describe() if config is not None else 'from --db'})")
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
        click.echo(f"  next attempt:     {_next_text(health, estimates[health.name], running)}")
        for run in runs[health.name]:
            if run["ongoing"]:
                causes = "; ".join(cause_text(cause) for cause in run["causes"])
                text = (f"{run['channel']} since {to_moscow_text(run['started_at'])}, {run['failures']} failure{'s' if run['failures'] != 1 else ''} "
                        f"({', '.join(run['outcomes'])}): {causes}")  # fmt: skip
                click.echo(f"  failing:          {printable(text)}")
            else:
                click.echo(f"  outage:           {printable(outage_line(run))}")
        counts = ", ".join(f"{outcome} {count}" for outcome, count in health.outcomes_24h.items())
        click.echo(f"  last 24 h:        {health.fetches_24h} fetches" + (f" ({counts})" if counts else ""))
