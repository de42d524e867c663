"""`ticker import wayback` and `ticker import warc`: history from before ticker ran."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import click

from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options
from ticker.core.base import BadInput, BadTime, check_http_url, parse_user_time
from ticker.core.terminal import printable

_DATE_ONLY = 10  # len("2022-02-25")


def _time(text: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A --from/--to value; a bare date in --to includes that whole (Moscow) day."""
    if text is None:
        return None
    try:
        moment = parse_user_time(text)
    except BadTime as error:
        raise click.ClickException(f"bad {option}: {error}") from None
    if end and len(text.strip()) == _DATE_ONLY:
        moment = moment + timedelta(days=1) - timedelta(seconds=1)
    if moment.year < 1996:
        raise click.ClickException(f"bad {option} {text!r}: the Wayback Machine has nothing before 1996")
    return moment


def _seconds(value: float, option: str, *, maximum: float) -> float:
    if not math.isfinite(value) or not 0 <= value <= maximum:
        raise click.ClickException(f"bad {option} {value!r}: a number of seconds, 0 to {maximum:g}")
    return value


def _every(text: str) -> float:
    from ticker.schedules.config import ConfigError, parse_interval

    if text.strip() in ("0", "0s"):
        return 0.0
    try:
        return parse_interval(text.strip(), "--every", maximum=366 * 86400)
    except ConfigError as error:
        raise click.ClickException(f"bad {error}; 0 keeps every capture") from None


def _http_url(value: str, option: str) -> str:
    """An address option, checked before anything is asked or created (ticker.core.base's checker:
    scheme, host, a port in range, no white space)."""
    try:
        return check_http_url(value, option)
    except BadInput as error:
        raise click.ClickException(str(error)) from None


def _report(summaries, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in summaries], ensure_ascii=False, indent=2))
    else:
        for summary in summaries:
            for line in summary.lines(stop=False):  # the stop reason is the Error line below
                click.echo(printable(line))  # addresses and messages come from the archive
    for summary in summaries:
        if summary.stopped:
            raise click.ClickException(printable(summary.stopped))
    if any(summary.interrupted for summary in summaries):
        raise click.exceptions.Exit(130)


def _source(config, name: str):
    from ticker.cli.commands.fetch import _configured

    return _configured(config, name)


@click.group(
    "import",
    epilog="\b\nExamples:\n  ticker import wayback rbc --from 2022-02-23 --to 2022-02-25\n"
    "  ticker import warc crawl.warc.gz",
)
def import_group() -> None:
    """History from before ticker ran: the Wayback Machine's captures and WARC files.

    Captures are stored as fetches of the source (marked with where they came from), and the
    source's history is re-derived in time order, so it is the same whatever order they arrive in.
    """


@import_group.command(
    "wayback",
    short_help="Import the Wayback Machine's captures of a source.",
    epilog="\b\nExamples:\n  ticker import wayback rbc --from 2022-02-23 --to 2022-02-25\n"
    "  ticker import wayback rbc --channel rss --from 2022-02-24 --to 2022-02-24\n"
    "  ticker import wayback cbr --from 2022-03-01 --to 2022-03-31 --every 1d",
)
@click.argument("source")
@click.option("--from", "start", metavar="TIME", help="Earliest capture (a date is Moscow midnight).")
@click.option("--to", "end", metavar="TIME", help="Latest capture (a bare date includes that whole day).")
@click.option(
    "--every", default="1h", show_default=True, help="At most one capture per interval; 0 keeps all."
)
@click.option("--channel", help="Which of the source's channels (default: its main one, e.g. rbc's page).")
@click.option("--cdx-url", default=None, help="CDX server (default: the Wayback Machine's).")
@click.option("--replay-url", default=None, help="Replay prefix (default: https://web.archive.org/web/).")
@click.option(
    "--pause", type=float, default=2.5, show_default=True, help="Least seconds between two requests."
)
@click.option(
    "--throttle-pause", type=float, default=60.0, show_default=True, help="Seconds to pause after a 429."
)
@config_options
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON on stdout.")
def wayback(
    source: str,
    start: str | None,
    end: str | None,
    every: str,
    channel: str | None,
    cdx_url: str | None,
    replay_url: str | None,
    pause: float,
    throttle_pause: float,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Import the Wayback Machine's captures of SOURCE's address (its main channel's, or
    --channel's).

    Each memento is fetched in its original form, parsed as a live poll would be and stored as
    a fetch at the capture's instant. Polite: one request per --pause seconds, a --throttle-pause
    after a 429; a re-run skips what is already imported. The database is created only once
    the CDX server has listed captures.
    """
    from ticker.cli.locate import load
    from ticker.db.schema import open_db
    from ticker.jobs.importing import Politeness, import_wayback
    from ticker.jobs.progress import progress
    from ticker.scraper import wayback as wb
    from ticker.scraper.http import make_client

    first, last = _time(start, "--from"), _time(end, "--to", end=True)
    if first is not None and last is not None and first > last:
        raise click.ClickException(f"--from {start} is after --to {end}")
    every_s = _every(every)
    pause = _seconds(pause, "--pause", maximum=3600)
    throttle_pause = _seconds(throttle_pause, "--throttle-pause", maximum=86400)
    cdx = _http_url(cdx_url, "--cdx-url") if cdx_url else wb.DEFAULT_CDX_URL
    replay = _http_url(replay_url, "--replay-url") if replay_url else wb.DEFAULT_REPLAY_URL
    config = load(config_path, db_path)
    with user_errors(str(config.db)):
        spec = _source(config, source)
        if channel is not None and channel not in spec.kind_def.channel_names:
            known = ", ".join(spec.kind_def.channel_names)
            raise click.ClickException(f"{spec.name} has no channel {channel!r} (it has: {known})")
        channel = channel or spec.main_channel
        address = spec.url_for(channel)
        if "{" in address:
            raise click.ClickException(f"{spec.name}/{channel} has no single address to look up (a template)")
        with make_client() as client, progress(None, f"{spec.name}: importing captures") as bar:
            client.follow_redirects = False  # a redirect is judged: nearest capture or the site's own
            politeness = Politeness(pause, throttle_pause, note=bar.note)
            summary = import_wayback(
                lambda: open_db(config.db), client, spec, start=first, end=last, every_s=every_s, cdx_url=cdx, replay_url=replay,
                politeness=politeness, bar=bar, channel=channel,
            )  # fmt: skip
    _report([summary], as_json)


@import_group.command(
    "warc",
    short_help="Import the HTTP responses recorded in WARC files.",
    epilog="\b\nExamples:\n  ticker import warc crawl.warc.gz\n  ticker import warc a.warc b.warc.gz --source rbc",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", "source_name", help="Take records for this source only (when several match).")
@config_options
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON on stdout.")
def warc(
    files: tuple[Path, ...],
    source_name: str | None,
    config_path: str | None,
    db_path: str | None,
    as_json: bool,
) -> None:
    """Import the HTTP responses recorded in WARC FILEs (.warc or .warc.gz) whose address is a
    source's (exactly, or the same page with other query parameters).

    Records dated outside the years ticker's times take are skipped and counted. A truncated
    file (a record cut short, a gzip member ending early) has its whole records imported, the
    cut one not: the summary says so and the command exits 1. The database is created only
    when a record of a source is found.
    """
    from ticker.cli.locate import load
    from ticker.db.schema import open_db
    from ticker.jobs.importing import address_matcher, import_warc
    from ticker.jobs.progress import progress
    from ticker.scraper.warc_reader import Reader, WarcError

    for path in files:
        if not path.is_file():
            raise click.ClickException(f"no such WARC file: {path}")
    config = load(config_path, db_path)
    with user_errors(str(config.db)):
        specs = [_source(config, source_name)] if source_name else list(config.sources)
        reader = Reader()
        with progress(None, "importing WARC records") as bar:
            try:
                summaries = import_warc(
                    lambda: open_db(config.db), files, address_matcher(specs), bar=bar, reader=reader
                )
            except WarcError as error:
                raise click.ClickException(printable(str(error))) from None
    truncated = "; ".join(reader.truncated + reader.unreadable)  # both: the rest of a file not read
    if not summaries:
        names = ", ".join(spec.name for spec in specs)
        if truncated:
            raise click.ClickException(
                printable(f"{truncated} (and no whole record is an address of {names})")
            )
        raise click.ClickException(f"no record in {len(files)} file(s) is an address of {names}")
    _report(summaries, as_json)
    if truncated:
        raise click.ClickException(printable(f"{truncated}; the whole records before the cut were imported"))
