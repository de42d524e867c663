"""`ticker run`: the background daemon (APScheduler), until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import sys
import time

import click

from ticker.cli import locate
from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options

LOG_LEVELS = ("debug", "info", "warning", "error")


def setup_logging(level: str) -> None:
    """Log lines on stderr with a UTC timestamp (never the host's zone)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # APScheduler's own info lines (job added, job executed) would double ours.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


@click.command()
@config_options
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="How much to log on stderr (one line per fetch at info).",
)
def run(config_path: str | None, db_path: str | None, log_level: str) -> None:
    """Poll the configured sources on schedule until stopped (SIGTERM or Ctrl-C).

    Without --config, $TICKER_CONFIG or ./ticker.toml: RBC every 2 minutes and the Bank of Russia
    every hour, into ticker.db.
    Exits 1 (for the supervisor to restart it) when the database file is deleted or replaced
    under it; see docs/deployment.md.

    \b
    Examples:
      ticker run                                  # the embedded default, into ./ticker.db
      ticker sources --config ticker.toml         # check a config first
      ticker run --config ticker.toml --log-level warning
    """
    config = locate.load(config_path, db_path)
    from ticker.schedules.daemon import Daemon
    from ticker.schedules.lock import AlreadyRunning

    setup_logging(log_level)
    daemon = Daemon(config)
    with user_errors(str(config.db)):
        try:
            clean = daemon.run()
        except AlreadyRunning as error:
            raise click.ClickException(str(error)) from None
    status = 1 if daemon.failure else 0  # already logged; the supervisor restarts on non-zero
    if not clean:
        # A fetch is still in flight: leave without waiting for it. SQLite rolls back whatever it
        # had not committed, so nothing is half-written.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(status)
    if status:
        sys.exit(status)
