"""Evidence commands: `ticker archive stats|show|prune|compact`, `ticker reparse`, `ticker cite`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options, database
from ticker.core.settings import ARCHIVE_KEEP_CHOICES, MAX_KEEP_DAYS, ArchiveSettings
from ticker.core.terminal import printable

_db_option = config_options


def _where(config_path: str | None, db_path: str | None) -> str:
    """The database file the options (or the found config) name."""
    return str(database(config_path, db_path).db)


def _existing_db(db_path: str, *, read_only: bool = False):
    """Open an existing ticker database (never create one by mistake, never add ticker's tables
    to another SQLite file); `read_only` opens it without migrating or writing anything."""
    from ticker.db.schema import open_db, open_existing

    if read_only:
        return open_existing(db_path)
    if not Path(db_path).exists():
        raise click.ClickException(f"no database at {db_path}")
    return open_db(db_path)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _keep_days(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from ticker.core.settings import check_keep_days

    try:
        return check_keep_days(float(value))
    except ValueError:
        raise click.ClickException(
            f"--keep-days {value!r}: must be a number of days from 0 (forever) to {MAX_KEEP_DAYS}"
        ) from None


@click.group(
    epilog="\b\nExamples:\n  ticker archive stats\n  ticker archive show 3f2a9c1e > page.html\n  ticker archive compact"
)
def archive() -> None:
    """The raw archive: every kept response body, once, by SHA-256, delta-compressed (docs/evidence.md)."""


@archive.command(
    short_help="Bytes per body, ratio to raw and zlib, keyframes, longest chain.",
    epilog="\b\nExamples:\n  ticker archive stats\n  ticker archive stats --db ticker.db --json",
)
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """How big the archive is: bytes per body, ratio to raw and to zlib, keyframes, longest chain.


    The zlib figure is what the same bodies take compressed one at a time with zlib (the
    encoding before delta chains): measured for zlib bodies, estimated for the others by
    compressing an evenly spread sample of them.
    """
    db_path = _where(config_path, db_path)
    from ticker.db.archive import CorruptBody
    from ticker.db.archive import stats as archive_stats

    with user_errors(db_path):
        try:
            result = archive_stats(_existing_db(db_path, read_only=True))
        except CorruptBody as error:
            raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    to_raw = f" ({result.bytes_compressed / result.bytes_raw:.2%} of raw" if result.bytes_raw else ""
    to_zlib = (
        f", {result.zlib_estimate / result.bytes_compressed:.1f}x under zlib's {_size(result.zlib_estimate)})"
        if result.bytes_compressed and result.zlib_estimate
        else (")" if to_raw else "")
    )
    click.echo(
        f"{result.bodies} bodies, {_size(result.bytes_raw)} raw, {_size(result.bytes_compressed)} "
        f"stored{to_raw}{to_zlib}"
    )
    click.echo(
        f"{_size(round(result.bytes_per_body))} per body; {result.keyframes} keyframes, longest chain "
        f"{result.longest_chain} steps"
    )
    if result.zlib_sample:
        click.echo(f"zlib size estimated from a sample of {result.zlib_sample} bodies")
    click.echo(
        f"{result.fetches_archived} of {result.fetches_with_body} fetches with a body have it archived"
    )
    for compression, row in result.by_compression.items():
        click.echo(
            f"  {compression:<14} {row['bodies']:>7} bodies {_size(row['bytes_raw']):>10} raw "
            f"{_size(row['bytes_compressed']):>10} stored"
        )
    click.echo("by the outcome of the fetch that first brought the body:")
    for outcome, row in result.by_outcome.items():
        click.echo(
            f"  {outcome:<14} {row['bodies']:>7} bodies {_size(row['bytes_raw']):>10} raw "
            f"{_size(row['bytes_compressed']):>10} stored"
        )


@archive.command(
    short_help="Write one archived body (by SHA-256 or an 8+ digit prefix) to stdout.",
    epilog="\b\nExamples:\n  ticker archive show 3f2a9c1e > page.html\n  ticker archive show 7557a0c1 > fetch-1.html",
)
@click.argument("sha256")
@_db_option
def show(sha256: str, config_path: str | None, db_path: str | None) -> None:
    """Write the archived body SHA256 (or a unique prefix of 8+ digits) to stdout, as received.


    The body is decoded through its delta chain and checked against its SHA-256.
    """
    db_path = _where(config_path, db_path)
    from ticker.db.archive import CorruptBody, read_body

    digest = sha256.strip().lower()
    if len(digest) < 8 or len(digest) > 64 or any(c not in "0123456789abcdef" for c in digest):
        raise click.ClickException(f"bad body hash {sha256!r}: give its SHA-256 (or 8+ hex digits of it)")
    with user_errors(db_path):
        try:
            body = read_body(_existing_db(db_path, read_only=True), digest)
        except (LookupError, CorruptBody) as error:
            raise click.ClickException(str(error)) from None
    if body is None:
        raise click.ClickException(f"no archived body {sha256} (never received, or not kept by retention)")
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


@archive.command(short_help="Delete bodies retention would not keep (keep mode, keep days).")
@_db_option
@click.option(
    "--keep",
    type=click.Choice(ARCHIVE_KEEP_CHOICES),
    default=ArchiveSettings().keep,
    show_default=True,
    help="Keep all bodies, those that changed something (or failed/looked odd), only failed ones, or none.",
)
@click.option(
    "--keep-days",
    default="0",
    show_default=True,
    callback=_keep_days,
    help=f"Delete bodies older than this many days (0: forever; at most {MAX_KEEP_DAYS}).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def prune(config_path: str | None, db_path: str | None, keep: str, keep_days: float, as_json: bool) -> None:
    """Delete archived bodies that retention would not keep (fetch rows keep their hash).

    \b
    Examples:
      ticker archive prune --keep-days 30      # bodies older than 30 days
      ticker archive prune --keep changed      # after running with keep = "all"

    Ages count from the fetches' own clock (the median start of the latest fetches, never later
    than this machine's clock), and the newest body of each source and channel always stays.
    Bodies built on a deleted one are re-encoded first, so every kept body still reads.
    """
    db_path = _where(config_path, db_path)
    from ticker.db.archive import CorruptBody
    from ticker.db.archive import prune as archive_prune
    from ticker.jobs.progress import progress

    with user_errors(db_path):
        db = _existing_db(db_path)
        with progress(None, "pruning", enabled=not as_json) as bar:
            try:
                result = archive_prune(
                    db, ArchiveSettings(keep=keep, keep_days=keep_days), on_batch=bar.advance
                )
            except CorruptBody as error:
                raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps({"by_age": result.by_age, "by_mode": result.by_mode, "keep": keep,
                               "keep_days": keep_days}))  # fmt: skip
        return
    click.echo(
        f"pruned {result.by_age} bodies past {keep_days:g} days, {result.by_mode} not kept by keep={keep}"
    )


@archive.command(
    short_help="Re-encode zlib bodies into delta chains (crash-safe).",
    epilog="\b\nExamples:\n  ticker archive compact",
)
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary (no progress lines).")
def compact(config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """Re-encode bodies archived with zlib (before delta chains) into zstd delta chains.


    Works a few bodies per transaction, each replaced only by bytes that decode back exactly:
    stopped at any point (even kill -9), every body still reads, and running it again goes on.
    """
    db_path = _where(config_path, db_path)
    from ticker.db.archive import CorruptBody, zlib_bodies
    from ticker.db.archive import compact as archive_compact
    from ticker.jobs.progress import progress

    with user_errors(db_path):
        db = _existing_db(db_path)
        todo = zlib_bodies(db)
        with progress(todo, "compacting", enabled=not as_json and todo > 0) as bar:
            try:
                result = archive_compact(db, on_body=bar.advance)
            except CorruptBody as error:
                raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    for digest in result.unreadable:
        click.echo(f"left as it was (corrupt, cannot be re-encoded): {digest}", err=True)
    if not result.bodies:
        click.echo("nothing to compact: no readable body is stored with zlib")
        return
    saved = f" ({result.bytes_before / result.bytes_after:.1f}x smaller)" if result.bytes_after else ""
    click.echo(
        f"compacted {result.bodies} bodies ({_size(result.bytes_raw)} raw): "
        f"{_size(result.bytes_before)} before, {_size(result.bytes_after)} after{saved}"
    )


def _replay(db_path: str, *, source: str | None, since: str | None, into: str | None, in_place: bool,
            as_json: bool):  # fmt: skip
    """Re-derive the whole history (aside, or swapped in place) and return the report."""
    from ticker.core.base import parse_user_time, to_iso
    from ticker.jobs import reparse as replay
    from ticker.jobs.progress import progress

    since_iso = to_iso(parse_user_time(since)) if since else None
    _existing_db(db_path, read_only=True).conn.close()  # refuses foreign and newer files
    with progress(replay.fetch_count(db_path), "re-parsing", enabled=not as_json) as bar:
        options = {"source": source, "since": since_iso, "advance": bar.advance}
        if in_place:
            return replay.reparse_in_place(db_path, **options)
        path = Path(db_path)
        target = into or str(path.with_name(f"{path.stem}.reparsed{path.suffix or '.db'}"))
        return replay.reparse_into(db_path, target, **options)


def _print_parsed(fetch: dict, parsed) -> None:
    from ticker.core.base import TickerPage

    click.echo(
        f"# fetch {fetch['id']} {fetch['source']}/{fetch['channel']} {fetch['started_at']} {fetch['url']}"
    )
    click.echo(f"# body {fetch['body_sha256']}")
    for warning in parsed.warnings:
        click.echo(f"# warning: {warning}")
    if isinstance(parsed, TickerPage):
        for headline in parsed.headlines:
            click.echo(
                f"{headline.position}\t{headline.id}\t{headline.published_at or '-'}\t{headline.title}"
            )
    for rate in parsed.rates:
        click.echo(f"rate\t{rate.currency}\t{rate.rate_date}\t{rate.value}\t{rate.change or ''}")


@click.command(
    epilog="\b\nExamples:\n  ticker reparse\n  ticker reparse --in-place --source rbc\n  ticker reparse --fetch 1234"
)
@_db_option
@click.option("--source", help="Re-parse only this source's fetches (others are replayed as recorded).")
@click.option("--since", help="Re-parse only fetches from this time on (ISO 8601, Moscow if no zone; 2d).")
@click.option(
    "--into", "into", help="New database file for the re-derived history [default: DB.reparsed.db]."
)
@click.option(
    "--in-place", is_flag=True, help="Build the new history aside, then swap it in (one transaction)."
)
@click.option(
    "--fetch", "fetch_id", type=int, help="Only show what today's parser reads in this fetch's body."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def reparse(
    config_path: str | None,
    db_path: str | None,
    source: str | None,
    since: str | None,
    into: str | None,
    in_place: bool,
    fetch_id: int | None,
    as_json: bool,
) -> None:
    """Replay archived bodies, in fetch order, through today's parser into a fresh history."""
    from ticker.jobs import reparse as replay

    if into and in_place:
        raise click.ClickException("--into and --in-place exclude each other")
    db_path = _where(config_path, db_path)
    with user_errors(db_path):
        try:
            if fetch_id is not None:
                fetch, parsed = replay.extract(_existing_db(db_path), fetch_id)
            else:
                report = _replay(db_path, source=source, since=since, into=into, in_place=in_place,
                                 as_json=as_json)  # fmt: skip
        except replay.ReparseError as error:
            raise click.ClickException(str(error)) from None
    if fetch_id is not None:  # printed outside user_errors: a closed pipe is no database error
        _print_parsed(fetch, parsed)
        return
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    for name in report.stale_scratch:
        click.echo(f"removed {name}: the scratch file of a re-parse that was stopped")
    click.echo(
        f"{report.fetches} fetches replayed into {report.target}: {report.reparsed} re-parsed, "
        f"{report.replayed} as recorded"
    )
    if report.not_archived:
        shown = ", ".join(map(str, report.not_archived[:20])) + (
            " ..." if len(report.not_archived) > 20 else ""
        )
        click.echo(f"  {len(report.not_archived)} had no archived body, copied as recorded: {shown}")
    for change, ids in report.outcome_changes.items():
        click.echo(f"  outcome {change}: {len(ids)} fetches ({', '.join(map(str, ids[:20]))})")
    click.echo(f"  items recovered: {len(report.items_recovered)}, items lost: {len(report.items_lost)}")
    for headline_id in report.items_recovered[:50]:
        click.echo(f"    + {headline_id}")
    for headline_id in report.items_lost[:50]:
        click.echo(f"    - {headline_id}")
    click.echo(f"  titles corrected: {len(report.titles_corrected)} headlines")
    for headline_id, titles in list(report.titles_corrected.items())[:50]:
        click.echo(f"    {headline_id}: {titles['old']} -> {titles['new']}")
    click.echo(f"  rates new: {len(report.rates_new)}, rates lost: {len(report.rates_lost)}")
    for change, count in report.exits_changed.items():
        click.echo(f"  presences ending {change}: {count}")
    if not report.changed:
        click.echo("  history unchanged")


@click.command(
    epilog="\b\nExamples:\n  ticker cite 68385b7b9a7947c6045654e8\n  ticker cite 3f2a9c1e   "
    "# the short id `ticker at` and `ticker changes` print\n  ticker cite rate:12 --json"
)
@click.argument("ident")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cite(ident: str, config_path: str | None, db_path: str | None, as_json: bool) -> None:
    """What a reader needs to check IDENT: a headline id, or its short id (`ticker at`,
    `changes` and `search` print it; any unique prefix of 6+ hex digits), or rate:<rates.id>.
    A rate says whether the value shown and the Bank of Russia's official one agree."""
    from ticker.jobs.citations import NotFound, render_json, render_text
    from ticker.jobs.citations import cite as build

    target = database(config_path, db_path)
    db_path = str(target.db)
    with user_errors(db_path):
        try:
            citation = build(_existing_db(db_path), ident, target.reach_again())
        except NotFound as error:
            raise click.ClickException(str(error)) from None
    click.echo(render_json(citation) if as_json else printable(render_text(citation)))
