"""`ticker backfill SOURCE` (headlines missed while not looking) and `ticker backfill-rates`
(Bank of Russia rates over a date range): glue between the options and `ticker.jobs.backfill`."""

from __future__ import annotations

from datetime import timedelta

import click

from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options, database, load
from ticker.core.base import check_http_url, parse_day, parse_number

MAX_PAUSE_S = 3600.0
MAX_PAGES = 10000


def _finish(what: str, summary: str, report) -> None:
    for note in report.notes:
        click.echo(f"{what}: note: {note}", err=True)
    for failure in report.failures:
        click.echo(f"{what}: failed: {failure}", err=True)
    if report.failed_stop or report.channel is None:
        raise click.ClickException(f"{summary} (incomplete: a request failed, see above)")
    click.echo(summary, err=True)


def _one(db, client, spec, *, since_at, channel, pages, per_page, pause_s, urls) -> tuple[str, bool]:
    """Backfill one source; its summary line and whether it completed."""
    from ticker.jobs.backfill import backfill_headlines
    from ticker.jobs.progress import progress

    with progress(None, f"{spec.name} backfill") as bar:
        report = backfill_headlines(
            db, client, spec, since=since_at, channel=channel, max_pages=pages,
            limit=per_page, pause_s=pause_s, urls=urls, advance=bar.advance,
        )  # fmt: skip
    summary = (
        f"{spec.name} backfill via {report.channel or 'nothing'}: {report.requests} request(s), "
        f"{report.items_found} items ({report.items_new} new); stopped: {report.stop}"
    )
    what = f"{spec.name} backfill"
    for note in report.notes:
        click.echo(f"{what}: note: {note}", err=True)
    for failure in report.failures:
        click.echo(f"{what}: failed: {failure}", err=True)
    complete = not (report.failed_stop or report.channel is None)
    return summary, complete


@click.command(
    epilog="\b\nExamples:\n  ticker backfill                 # every configured source that can be backfilled\n"
    "  ticker backfill rbc\n  ticker backfill tass --config ticker.toml\n"
    "  ticker backfill rbc --since 2024-11-25 --channel rss"
)
@click.argument("source", required=False)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every configured source whose kind can backfill (the default without SOURCE).",
)
@click.option(
    "--since",
    help="Page back to this time, past items already seen (ISO 8601, Moscow if no zone; or an age: "
    "6h, 2d). Default: back to what a live poll last saw.",
)
@click.option(
    "--url",
    help="Feed JSON address: a template with {last_date} and {limit}, or one with /lastDate/<unix> "
    "(with --channel rss: the RSS address). One SOURCE only.",
)
@click.option("--rss-url", help="RSS address used when the feed JSON does not answer. One SOURCE only.")
@click.option(
    "--channel", help="Which backfill channel (rbc: feed_json or rss; default: feed JSON, RSS if it fails)."
)
@click.option("--max-pages", default="20", show_default=True, help="At most this many feed pages.")
@click.option("--limit", default="20", show_default=True, help="Items asked for per feed page.")
@click.option("--pause", default="1", show_default=True, help="Seconds between requests.")
@config_options
def backfill(
    source: str | None,
    every: bool,
    since: str | None,
    url: str | None,
    rss_url: str | None,
    channel: str | None,
    max_pages: str,
    limit: str,
    pause: str,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Record headlines SOURCE published while ticker was not looking (downtime, blocked page),
    marked as backfilled: never as seen on the page. SOURCE is a configured source (the config
    found as --help says: --config, $TICKER_CONFIG or ./ticker.toml; rbc built in); without
    SOURCE (or with --all), every configured source whose kind can backfill, one after another."""
    from ticker.cli.commands.fetch import _configured
    from ticker.core.base import parse_user_time
    from ticker.db.schema import open_db
    from ticker.jobs.backfill import BadBackfillInput, headline_backfill_channels
    from ticker.scraper.http import make_client

    if source is not None and every:
        raise click.UsageError("give SOURCE or --all, not both")
    config = load(config_path, db_path)
    with user_errors(str(config.db)):
        if source is not None:
            specs = [_configured(config, source)]
            usable = headline_backfill_channels(specs[0])
            if not usable:
                raise click.ClickException(
                    f"{source} has no headlines to backfill; for rates use backfill-rates"
                )
            if channel not in (None, *usable):
                raise click.ClickException(f"bad --channel {channel!r}: use {' or '.join(usable)}")
        else:
            specs = [spec for spec in config.sources if headline_backfill_channels(spec)]
            if not specs:
                raise click.ClickException(
                    "no configured source can be backfilled (for rates use backfill-rates)"
                )
            for option, value in (("--url", url), ("--rss-url", rss_url), ("--channel", channel)):
                if value is not None:
                    raise click.UsageError(f"{option} needs one SOURCE")
        pages = int(parse_number(max_pages, "--max-pages", int, 1, MAX_PAGES))
        per_page = int(parse_number(limit, "--limit", int, 1, 1000))
        pause_s = float(parse_number(pause, "--pause", float, 0, MAX_PAUSE_S))
        for option, address in (("--url", url), ("--rss-url", rss_url)):
            if address is not None:
                check_http_url(address, option)
        since_at = parse_user_time(since) if since else None
        urls: dict[str, str] = {}
        if source is not None:
            first = channel or headline_backfill_channels(specs[0])[0]
            urls = {first: url} if url else {}
            if rss_url and "rss" in headline_backfill_channels(specs[0]):
                urls.setdefault("rss", rss_url)
        db = open_db(config.db)
        incomplete = []
        try:
            with make_client() as client:
                for spec in specs:
                    summary, complete = _one(db, client, spec, since_at=since_at, channel=channel, pages=pages,
                                             per_page=per_page, pause_s=pause_s, urls=urls)  # fmt: skip
                    if complete:
                        click.echo(summary, err=True)
                    else:
                        incomplete.append(summary)
        except BadBackfillInput as error:
            raise click.ClickException(str(error)) from None
    if len(incomplete) == 1 and len(specs) == 1:
        raise click.ClickException(f"{incomplete[0]} (incomplete: a request failed, see above)")
    if incomplete:
        raise click.ClickException(
            f"{len(incomplete)} of {len(specs)} backfills incomplete (a request failed, see above): "
            + "; ".join(incomplete)
        )


@click.command(
    "backfill-rates",
    epilog="\b\nExamples:\n  ticker backfill-rates --from 2024-01-01\n"
    "  ticker backfill-rates --from 2022-02-01 --to 2022-03-31 --currency EUR",
)
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", help="Last day (YYYY-MM-DD; default: tomorrow, Moscow).")
@click.option("--currency", "currencies", multiple=True, help="EUR, USD (repeatable; default both).")
@click.option("--url", help="XML_dynamic.asp address to use instead of cbr.ru's (mirrors, tests).")
@click.option("--pause", default="1", show_default=True, help="Seconds between requests.")
@config_options
def backfill_rates(
    start: str,
    end: str | None,
    currencies: tuple[str, ...],
    url: str | None,
    pause: str,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Fill the Bank of Russia's official EUR/USD rates over a date range (XML_dynamic), never
    duplicating what is stored."""
    from ticker.core.base import moscow_day, utc_now
    from ticker.db.schema import open_db
    from ticker.jobs.backfill import BadBackfillInput, check_rate_request, rate_windows
    from ticker.jobs.backfill import backfill_rates as run
    from ticker.jobs.progress import progress
    from ticker.scraper.cbr_xml import DEFAULT_CURRENCIES
    from ticker.scraper.http import make_client

    db_path = str(database(config_path, db_path).db)
    with user_errors(db_path):
        first = parse_day(start, "--from")
        last = parse_day(end, "--to") if end else moscow_day(utc_now()) + timedelta(days=1)
        pause_s = float(parse_number(pause, "--pause", float, 0, MAX_PAUSE_S))
        if url is not None:
            check_http_url(url, "--url")
        wanted = tuple(dict.fromkeys(c.strip().upper() for c in currencies)) or DEFAULT_CURRENCIES
        try:
            check_rate_request(first, last, wanted)
            db = open_db(db_path)
            windows = len(wanted) * len(rate_windows(first, last))
            with make_client() as client, progress(windows, "cbr backfill") as bar:
                report = run(
                    db, client, start=first, end=last, currencies=wanted, url=url, pause_s=pause_s,
                    advance=bar.advance,
                )  # fmt: skip
        except BadBackfillInput as error:
            raise click.ClickException(str(error)) from None
    summary = (
        f"cbr backfill {first}..{last} ({', '.join(wanted)}): {report.requests} request(s), "
        f"{report.rates_found} rates ({report.rates_new} new); stopped: {report.stop}"
    )
    _finish("cbr backfill", summary, report)
