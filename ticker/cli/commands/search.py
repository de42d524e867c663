"""`ticker search TEXT`: every title ever shown that contains the words, with source and time."""

from __future__ import annotations

import click

from ticker.cli.commands.output import (
    check_format,
    history,
    msk,
    output_options,
    table,
    utc,
    write_csv,
    write_json,
)
from ticker.core.base import TIME_FORMS

SEARCH_COLUMNS = ["headline_id", "short_id", "source", "title", "first_seen", "last_seen", "first_fetch_id",
                  "last_fetch_id", "latest_title", "published_at", "url"]  # fmt: skip


@click.command(
    short_help="Every title ever shown containing the words.",
    epilog="\b\nExamples:\n  ticker search 'ключевую ставку'\n  ticker search Набиуллина --source rbc --since 7d"
    "\n  ticker search Telegram --json --limit 500",
)
@click.argument("text")
@click.option("--source", "sources", multiple=True, help="Only this source (repeatable; default: all).")
@click.option("--since", help=f"Only titles still shown at or after this time: {TIME_FORMS}.")
@click.option(
    "--limit", type=click.IntRange(1, 100000), default=50, show_default=True, help="At most this many."
)
@output_options
def search(
    text: str,
    sources: tuple[str, ...],
    since: str | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Every title version ever shown (rewordings included) that contains each word of TEXT, in
    any case, Cyrillic included (`штраф` finds `оштрафовал`), most recently shown first: its
    source, short id (for `ticker cite`), and when the title was first and last shown (Moscow
    time). Any text can be searched: quotes and operators are matched as typed; words of fewer
    than 3 characters are checked after the index has found the others."""
    from ticker.db.queries import search as find

    check_format(as_json, as_csv)
    start = utc(since)
    with history(config_path, db_path) as (db, _target):
        hits = find(db, text, sources=sources, since=start, limit=limit)
    if as_json:
        write_json(hits)
        return
    if as_csv:
        write_csv(hits, SEARCH_COLUMNS)
        return
    if not hits:
        click.echo(f"no title contains {text!r}")
        return
    rows = [["id", "source", "first shown (MSK)", "last shown (MSK)", "title"]] + [
        [
            hit["short_id"],
            hit["source"],
            msk(hit["first_seen"])[:19],
            msk(hit["last_seen"])[:19],
            hit["title"],
        ]
        for hit in hits
    ]
    click.echo(table(rows))
    if len(hits) == limit:
        click.echo(f"(the first {limit}: --limit shows more)", err=True)
