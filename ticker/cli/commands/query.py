"""`ticker at`, `ticker changes`, `ticker rates`: read the history (read-only), print text,
JSON or CSV. Times typed are ISO 8601 (no zone = Moscow); times shown are Moscow time.

JSON and CSV use the key names of docs/queries.md ("Keys") and keep stored UTC times."""

from __future__ import annotations

import click

from ticker.cli.commands.output import (
    check_format,
    check_window,
    history,
    msk,
    msk_minute,
    output_options,
    table,
    utc,
    write_csv,
    write_json,
)
from ticker.core.base import TIME_FORMS

RATE_COLUMNS = ["rate_id", "short_id", "rate_date", "source", "currency", "value", "change", "move",
                "previous_value", "official_value", "mismatch", "first_seen", "last_seen"]  # fmt: skip
CHANGE_COLUMNS = ["at", "event", "source", "channel", "headline_id", "short_id", "rate_id", "title", "detail",
                  "exit_reason", "fetch_id", "published_at", "origin", "seen_live", "first_poll"]  # fmt: skip
AT_COLUMNS = ["type", "asked_at", "source", "channel", "ticker_channel", "fallback", "ticker_poll_at", "fetch_id",
              "shown_at", "outcome", "body_sha256", "snapshot_id", "last_attempt_at", "stale", "silent_s",
              "position", "headline_id", "short_id", "title", "rubric", "kind", "paid", "published_at", "url",
              "new", "reworded_here", "reworded_later", "exit_reason", "exited_at", "on_ticker_since",
              "rate_id", "currency", "rate_date", "value", "change"]  # fmt: skip
TIME_HELP = TIME_FORMS
EVENT_HELP = "new, back, reworded, pulled, scrolled_off, exit (every exit), rate, failed"


def _marks(item: dict) -> str:
    marks = ["new"] if item["new"] else []
    if item["reworded_here"]:
        marks.append("reworded")
    if item["reworded_later"]:
        marks.append("reworded later")
    if item["exit_reason"] == "pulled":
        marks.append("pulled later")
    return ", ".join(marks)


def _failed_note(found: dict) -> str | None:
    failed = found["failed_since"]
    if not failed:
        return None
    counts = ", ".join(f"{f['polls']} {f['outcome']}" for f in failed)
    if found["fallback"]:
        return f"note: failed polls of the {found['ticker_channel']} since its last success, by {msk(found['asked_at'])}: {counts}"
    return f"note: failed polls between that poll and {msk(found['asked_at'])}: {counts}"


def _stale_note(found: dict) -> str | None:
    """`last poll 3 h 12 min ago at 11:02 MSK; none since` when polling had stopped by the time asked."""
    from ticker.core.base import from_iso, utc_now
    from ticker.core.display import duration_text

    if not found["stale"]:
        return None
    if found["last_attempt_at"] is None:
        return f"note: no poll of {found['source']} at all by {msk(found['asked_at'])}"
    silent = duration_text(found["silent_s"])
    asked_now = abs((utc_now() - from_iso(found["asked_at"])).total_seconds()) < 120
    when = f"{silent} ago" if asked_now else f"{silent} before the time asked"
    return f"note: last poll {when}, at {msk(found['last_attempt_at'])}; none since (is the daemon running?)"


@click.command(
    short_help="The ticker as it was at a time.",
    help="The ticker as it was at TIME: what the last successful poll of the source's ticker at or "
    "before TIME showed, in on-page order, titles as they read then, with its rates. While the "
    "ticker's own list (RBC's page) was failing and a fallback list (its RSS) answered, the answer "
    "is the fallback's, marked as such.\n\n"
    f"TIME: {TIME_FORMS}. Output shows Moscow time; each item has a short id to paste into "
    "`ticker cite`.",
    epilog="\b\nExamples:\n  ticker at '2024-11-25 18:57'\n  ticker at 2h --source rbc --json\n  ticker at now",
)
@click.argument("time")
@click.option("--source", default="rbc", show_default=True, help="The source whose ticker to show.")
@output_options
def at(
    time: str, source: str, as_json: bool, as_csv: bool, config_path: str | None, db_path: str | None
) -> None:
    """Print the ticker as it was at TIME (the help text above names the time forms of ticker.core.base)."""
    from ticker.db.queries import fallback_note, ticker_at

    check_format(as_json, as_csv)
    moment = utc(time)
    with history(config_path, db_path) as (db, _target):
        found = ticker_at(db, moment, source)
    if found is None:
        raise click.ClickException(f"no successful poll of {source!r} at or before {msk(moment)}")
    if as_json:
        write_json(found)
        return
    if as_csv:
        common = {key: value for key, value in found.items() if not isinstance(value, list)}
        write_csv(
            [{**common, "type": "rate", **rate} for rate in found["rates"]]
            + [{**common, "type": "headline", **item} for item in found["headlines"]],
            AT_COLUMNS,
        )
        return
    click.echo(
        f"{source} ticker as of {msk(found['shown_at'])} (fetch {found['fetch_id']}, {found['outcome']}; "
        f"asked for {msk(moment)})"
    )
    for note in (fallback_note(found), _stale_note(found), _failed_note(found)):
        if note:
            click.echo(note if note.startswith("note: ") else f"note: {note}")
    for rate in found["rates"]:
        change = f" ({rate['change']})" if rate["change"] else ""
        click.echo(
            f"{rate['currency']} for {rate['rate_date']}: {rate['value']}{change}  [rate:{rate['rate_id']}]"
        )
    if not found["headlines"]:
        click.echo("(no headlines)")
        return
    lines = [[" #", "id", "published (MSK)", "rubric", "title", "marks"]] + [
        [f"{item['position']:>2}", item["short_id"], msk_minute(item["published_at"]) or "-",
         item["rubric"] or "", item["title"], _marks(item)]
        for item in found["headlines"]
    ]  # fmt: skip
    click.echo(table(lines))


def _change_detail(event: dict) -> str:
    detail = event["detail"] or ""
    if event["event"] == "new" and event["origin"]:
        published = msk(event["published_at"]) or "unknown"
        how = "backfilled" if event["origin"] == "backfill" else f"imported ({event['origin']})"
        seen = "later also seen live" if event.get("seen_live") else "not seen live"
        learned = f"{how}: {seen}, published {published}"
        detail = f"{detail}; {learned}" if detail else learned
    return f"({detail})" if detail else ""


def _change_lines(events: list[dict]) -> list[list[str]]:
    """One line per event; the items of a list's first poll as one line (they are not news)."""
    lines: list[list[str]] = []
    firsts: dict[tuple, list[str]] = {}
    counts: dict[tuple, int] = {}
    for event in events:
        ident = event["short_id"] or (f"rate:{event['rate_id']}" if event["rate_id"] else "")
        if not event["first_poll"]:
            lines.append([msk(event["at"]), event["event"], event["source"], ident, event["title"] or "",
                          _change_detail(event)])  # fmt: skip
            continue
        key = (event["source"], event["channel"], event["fetch_id"])
        counts[key] = counts.get(key, 0) + 1
        if key not in firsts:
            firsts[key] = [msk(event["at"]), "new", event["source"], "", "", f"(fetch {event['fetch_id']})"]
            lines.append(firsts[key])
    for (source, channel, _fetch), line in firsts.items():
        count = counts[(source, channel, _fetch)]
        line[4] = f"first poll of {source} ({channel}): {count} item{'s' if count != 1 else ''}"
    return lines


@click.command(
    short_help="What changed in a window.",
    epilog="\b\nExamples:\n  ticker changes --since 1h\n"
    "  ticker changes --since 6h --event pulled,reworded --source rbc\n"
    "  ticker changes --grep 'ключевую ставку' --json\n"
    "  ticker changes --since '2024-11-25 18:00' --until '2024-11-25 19:00' --source rbc --csv",
)
@click.option("--since", default="1d", show_default=True, help=f"Start of the window: {TIME_HELP}.")
@click.option("--until", default="now", show_default=True, help="End of the window, same forms as --since.")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable; default: all).")
@click.option(
    "--event", "events", multiple=True, help=f"Only these events (repeatable or comma list): {EVENT_HELP}."
)
@click.option("--grep", help="Only events whose title or detail contains this text (any case, Cyrillic too).")
@output_options
def changes(
    since: str,
    until: str,
    sources: tuple[str, ...],
    events: tuple[str, ...],
    grep: str | None,
    as_json: bool,
    as_csv: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """What changed in a window: new headlines (those learned of after the fact marked as
    backfill or import, with their publication time), rewordings, returns after an exit, exits
    (pulled, scrolled off, or `exit` when the reason cannot be known), new rates, failed fetches.
    The items of a list's first poll are one line ("first poll of lenta (feed): 42 items").

    Times without a zone are Moscow time; output shows Moscow time and a short id per headline
    (rate:N per rate) to paste into `ticker cite`."""
    from ticker.db.queries import changes as find_changes

    check_format(as_json, as_csv)
    start, end = utc(since), utc(until)
    check_window(start, end)
    with history(config_path, db_path) as (db, _target):
        found = find_changes(db, start, end, sources=sources, events=events, grep=grep)
    if as_json:
        write_json(found)
        return
    if as_csv:
        write_csv(found, CHANGE_COLUMNS)
        return
    if not found:
        click.echo(f"nothing recorded between {msk(start)} and {msk(end)}")
        return
    click.echo(table(_change_lines(found)))


def _official(rate: dict) -> str:
    if rate["official_value"] is None:
        return ""
    verdict = "DIFFERS" if rate["mismatch"] else "agrees"
    return f"{verdict}: {rate['official_value']}"


@click.command(
    short_help="Rate history, shown and official.",
    epilog="\b\nExamples:\n  ticker rates --currency EUR --since 2024-11-01\n  ticker rates --source cbr --json",
)
@click.option("--currency", help="EUR, USD, ... (default: all).")
@click.option("--source", help="A source name or kind: rbc (shown on RBC), cbr (Bank of Russia official).")
@click.option("--since", help=f"First day (by the date the rate is for): {TIME_HELP}.")
@click.option("--until", help="Last day, same forms as --since.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="At most this many: the newest, still in date order.",
)
@output_options
def rates(
    currency: str | None,
    source: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Rate history: each distinct rate per source and currency, with its move; a rate a site
    showed (RBC's widget) says whether it agrees with the Bank of Russia's official value of its
    day, by the rule of the `rate_comparison` view and the rate-mismatch alert.

    Times without a zone are Moscow time; a rate's day is a Moscow day. The newest 100 by
    default (--limit); stderr says when there were more."""
    from ticker.core.base import from_iso, moscow_day
    from ticker.db.queries import rates as find_rates

    check_format(as_json, as_csv)
    start, end = utc(since), utc(until)
    check_window(start, end)
    with history(config_path, db_path) as (db, _target):
        found = find_rates(
            db,
            currency=currency,
            source=source,
            since_day=moscow_day(from_iso(start)).isoformat() if start else None,
            until_day=moscow_day(from_iso(end)).isoformat() if end else None,
            limit=limit + 1,  # one more than shown: says whether older ones were left out
        )
    more = len(found) > limit
    found = found[-limit:] if more else found
    if more:
        click.echo(f"(the newest {limit}: --limit or --since shows more)", err=True)
    if as_json:
        write_json(found)
        return
    if as_csv:
        write_csv(found, RATE_COLUMNS)
        return
    if not found:
        click.echo("no rates recorded for that choice")
        return
    lines = [["id", "date", "source", "currency", "value", "shown change", "move", "official (Bank of Russia)",
              "first seen"]] + [
        [r["short_id"], r["rate_date"], r["source"], r["currency"], r["value"], r["change"] or "",
         r["move"] or "", _official(r), msk(r["first_seen"])]
        for r in found
    ]  # fmt: skip
    click.echo(table(lines))
