"""`ticker status`: how each source is doing and whether a daemon runs (read-only on the database)."""

from __future__ import annotations

from pathlib import Path

import click

from ticker.errors import user_errors
from ticker.terminal import printable

DEFAULT_DB = "ticker.db"


def _when(fetch: dict | None) -> str:
    from ticker.base import to_moscow_text

    if fetch is None:
        return "never"
    return f"{to_moscow_text(fetch['started_at'])} on {fetch['channel']} ({fetch['outcome']})"


def _every(seconds: float | None) -> str:
    if seconds is None:
        return "not scheduled"
    return f"every {seconds:g}s"


@click.command()
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
def status(db_path: str) -> None:
    """Per source: last success and failure, failures in a row, the last 24 h, its channel; and
    whether a daemon is running on the database. Times are Moscow time."""
    import sqlite3

    from ticker.base import to_moscow_text
    from ticker.db.schema import connect
    from ticker.schedules.health import source_health
    from ticker.schedules.lock import current_holder, lock_path

    if not Path(db_path).is_file():
        raise click.ClickException(f"no database at {db_path} (run `ticker run` or `ticker fetch` first)")
    with user_errors(db_path):
        db = connect(db_path, read_only=True)
        try:
            sources = source_health(db)
        except sqlite3.OperationalError as error:
            raise click.ClickException(f"{db_path} is not a ticker database ({error})") from None
        finally:
            db.conn.close()
        holder = current_holder(db_path)

    if holder is None:
        click.echo("daemon: not running")
    else:
        started = to_moscow_text(holder.started_at) if holder.started_at else "?"
        click.echo(f"daemon: running (pid {holder.pid}, since {started}; lock {lock_path(db_path)})")
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
        counts = ", ".join(f"{outcome} {count}" for outcome, count in health.outcomes_24h.items())
        click.echo(f"  last 24 h:        {health.fetches_24h} fetches" + (f" ({counts})" if counts else ""))
