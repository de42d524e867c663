"""`ticker fetch SOURCE`: one poll, recorded; exit 0 only when it succeeded."""

from __future__ import annotations

import click

from ticker.cli import request_prompt_exit
from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options
from ticker.core.base import SUCCESS_OUTCOMES, check_http_url, parse_day


@click.command()
@click.argument("source")
@click.option("--url", help="Full address to GET instead of the source's (mirrors, tests).")
@click.option("--channel", help="Which of the source's channels to poll once (default: its first).")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="Bank of Russia sources only: the day to ask for; the answer says which day it is for.",
)
@config_options
def fetch(
    source: str,
    config_path: str | None,
    url: str | None,
    channel: str | None,
    day: str | None,
    db_path: str | None,
) -> None:
    """Fetch SOURCE once and store what it shows; exit 0 only if it succeeded.

    SOURCE is rbc or cbr (built in), or a source named in --config.

    \b
    Examples:
      ticker fetch rbc
      ticker fetch rbc --channel rss
      ticker fetch cbr --date 2024-11-25
      ticker fetch tass --config ticker.toml
    """
    from ticker.cli.locate import load
    from ticker.core.base import to_iso, utc_now
    from ticker.db.schema import open_db
    from ticker.db.writes import recorded_sources, register_source
    from ticker.jobs.poll import poll
    from ticker.jobs.sources import spec_from_record
    from ticker.scraper.http import make_client

    config = load(config_path, db_path)
    with user_errors(str(config.db)):
        spec = _configured(config, source)
        requested = parse_day(day, "--date") if day is not None else None
        channel = channel or spec.channels[0]
        if channel not in spec.kind_def.channel_names:
            known = ", ".join(spec.kind_def.channel_names)
            raise click.ClickException(f"{spec.name} has no channel {channel!r} (it has: {known})")
        for_day = spec.channel(channel).for_day
        if requested is not None and for_day is None:
            raise click.ClickException(
                f"--date: {spec.name}/{channel} has no documents by day (a Bank of Russia source has)"
            )
        if url is not None:
            check_http_url(url, "--url")
        target = url or spec.url_for(channel)
        if requested is not None and for_day is not None:
            target = for_day(target, requested)
        db = open_db(config.db)
        try:
            recorded = {source["name"]: source for source in recorded_sources(db)}
            if config.path is None and spec.name in recorded:
                # The database knows this source as its daemon runs it (interval, options): a one-off
                # fetch without --config polls it as recorded and leaves its row alone.
                spec = spec_from_record(recorded[spec.name])
            else:
                register_source(
                    db, spec.name, spec.kind, spec.url_for(spec.main_channel), spec.every_s,
                    list(spec.channels), to_iso(utc_now()), ticker_channel=spec.ticker_channel,
                    options=spec.recorded_options(),
                )  # fmt: skip
            with make_client() as client:
                saved = poll(db, client, spec, channel=channel, url=target, archive=config.settings.archive)
        finally:
            db.conn.close()  # the last close checkpoints the log: nothing left in -wal
        # Stories are grouped by whoever shows them next (`ticker stories`, `/-/stories`: catch_up)
        # or by the daemon: the matcher's load would be most of a one-off fetch's run time.
    request_prompt_exit()
    row = saved.row
    counts = []
    if spec.channel(channel).headlines:
        counts.append(f"{saved.items_found} items ({saved.items_new} new, {saved.titles_changed} retitled)")
    if spec.channel(channel).rates:
        counts.append(f"{saved.rates_found} rates ({saved.rates_new} new)")
    if saved.outcome in SUCCESS_OUTCOMES:
        click.echo(f"{spec.name}/{channel}: {saved.outcome}: {', '.join(counts)}", err=True)
        return
    raise click.ClickException(
        f"{spec.name}/{channel}: {saved.outcome}: {row.error if row else ''} (recorded as fetch {saved.fetch_id})"
    )


def _configured(config, name: str):
    """The source called `name` in the configuration (or the built-in ones)."""
    from ticker.jobs.sources import UnknownSource

    for spec in config.sources:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in config.sources)
    where = f"in {config.path}" if config.path else "built in (others come from --config FILE)"
    raise UnknownSource(f"unknown source {name!r} (known {where}: {known})")
