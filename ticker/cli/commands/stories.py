"""`ticker stories ...`, `ticker story ID`: stories across outlets (listing, one story's timeline,
rebuilding, matching). Read like `ticker changes`: times typed are ISO 8601 (no zone = Moscow),
text shows Moscow time, JSON and CSV keep stored UTC times."""

from __future__ import annotations

from pathlib import Path

import click

from ticker.cli.commands.output import check_format, history, msk, table, utc, write_csv, write_json
from ticker.cli.commands.stories_match import match_command
from ticker.cli.errors import user_errors
from ticker.cli.locate import config_options, database
from ticker.core.base import TIME_FORMS
from ticker.core.display import duration_text

CSV_COLUMNS = ["story_id", "story_first_seen", "story_title", "sources", "source", "headline_id", "title",
               "first_seen", "lag_seconds", "first_fetch_id", "previous_fetch_id", "published_at",
               "exit_reason", "exited_at", "score", "terms", "follow_up_of"]  # fmt: skip


def _parse_min_sources(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from ticker.core.base import BadInput, parse_number

    try:
        return int(parse_number(value, "--min-sources", int, 1, 10_000))
    except BadInput as error:
        raise click.BadParameter(str(error)) from None


def _marks(member: dict) -> str:
    marks = []
    if member["exit_reason"] == "pulled" or member["ever_pulled"]:
        marks.append("pulled")
    elif member["exited_at"]:
        marks.append(f"left ({member['exit_reason'] or 'unknown'})")
    if member["rewordings"]:
        marks.append(f"reworded {member['rewordings']}x")
    if member["learned_after_the_fact"]:
        marks.append(member["learned_after_the_fact"])
    return ", ".join(marks)


def _lag(member: dict) -> str:
    return "first" if member["lag_seconds"] == 0 else "+" + duration_text(member["lag_seconds"])


def _catch_up(config_path: str | None, db_path: str | None) -> None:
    """Group what one-off fetches recorded since the last grouping; if that cannot be done, say
    so on stderr and show the stories as they are."""
    from ticker.stories.update import catch_up

    note = catch_up(database(config_path, db_path).db)
    if note:
        click.echo(f"Warning: {note}", err=True)


def _print_stories(found: list[dict]) -> None:
    from ticker.jobs.story_timeline import resolution

    for story in found:
        kind = "exclusive" if story["exclusive"] else f"{story['sources']} outlets"
        click.echo(f"story {story['id']}  {msk(story['first_seen'])}  {kind}, first: {story['first_source']}")
        click.echo(f"  {story['title']}")
        lines = [[m["source"], _lag(m), resolution(m), m["title"], _marks(m)] for m in story["members"]]
        click.echo("\n".join("    " + line for line in table(lines).splitlines()))


@click.group(name="stories", invoke_without_command=True)
@click.option("--since", default="1d", show_default=True, help=f"Stories first seen since: {TIME_FORMS}.")
@click.option("--until", default="now", show_default=True, help="...and until, same forms as --since.")
@click.option("--source", help="Only stories this source carried.")
@click.option(
    "--min-sources", default="1", show_default=True, callback=_parse_min_sources,
    help="Only stories carried by at least this many outlets.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text (times in UTC).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per member (times in UTC).")
@config_options
@click.pass_context
def stories(
    ctx: click.Context,
    since: str,
    until: str,
    source: str | None,
    min_sources: int,
    as_json: bool,
    as_csv: bool,
    config_path: str | None,
    db_path: str | None,
) -> None:
    """Stories across outlets: the same event as each outlet reported it, newest first, who had
    it first (between which polls) and how far behind the others were.

    \b
    Examples:
      ticker stories --since 6h --min-sources 3
      ticker stories --source tass --json
      ticker story 12
      ticker stories rebuild
      ticker stories match "ЦБ повысил ставку до 21%" "Банк России поднял ключевую ставку до 21%"
    """
    if ctx.invoked_subcommand is not None:
        return
    from ticker.db.queries import check_source
    from ticker.db.stories import list_stories

    check_format(as_json, as_csv)
    start, end = utc(since), utc(until)
    if start > end:
        raise click.ClickException(f"--since ({msk(start)}) is after --until ({msk(end)})")
    _catch_up(config_path, db_path)
    with history(config_path, db_path) as (db, _):
        check_source(db, source)
        found = list_stories(db, start, until=end, source=source, min_sources=min_sources)
    if as_json:
        write_json(found)
        return
    if as_csv:
        write_csv(
            [{"story_id": s["id"], "story_first_seen": s["first_seen"], "story_title": s["title"],
              "sources": s["sources"], **m,
              "first_fetch_id": (m["first_poll"] or {}).get("fetch_id"),
              "previous_fetch_id": (m["previous_poll"] or {}).get("fetch_id"),
              "terms": " ".join(m["terms"])}
             for s in found for m in s["members"]],
            CSV_COLUMNS,
        )  # fmt: skip
        return
    if not found:
        click.echo(f"no stories first seen between {msk(start)} and {msk(end)}")
        return
    _print_stories(found)


@stories.command(name="rebuild")
@config_options
def rebuild(config_path: str | None, db_path: str | None) -> None:
    """Re-derive every story from the recorded history (the same grouping the polls built,
    whatever order they arrived in). Safe while the daemon runs."""
    from ticker.db.schema import open_db
    from ticker.db.stories import story_count
    from ticker.jobs.progress import progress
    from ticker.stories.update import rebuild_stories

    db_path = str(database(config_path, db_path).db)
    with user_errors(db_path):
        if not Path(db_path).is_file():
            raise click.ClickException(f"no database at {db_path}")
        db = open_db(db_path)
        try:
            with progress(None, "stories rebuild") as bar:
                result = rebuild_stories(db, advance=lambda _day: bar.advance())
            count = story_count(db)
        finally:
            db.close()
    click.echo(f"stories rebuilt: {count['stories']} stories, {count['shared']} carried by 2+ outlets "
               f"({result.members} headlines placed)", err=True)  # fmt: skip


stories.add_command(match_command)


def _print_story(found: dict) -> None:
    first = found["members"][0]
    click.echo(f"Story {found['id']}: {found['title']}")
    published = (
        f"; published (the feed's own time) {msk(first['published_at'])}" if first["published_at"] else ""
    )
    click.echo(f"First: {first['source']}, {first['resolution']}{published}")
    outlets = ", ".join(f"{m['source']} ({_lag(m)})" for m in found["members"])
    click.echo(f"Outlets: {found['sources']}: {outlets}" + ("  [exclusive]" if found["exclusive"] else ""))
    click.echo("")
    click.echo("Timeline (Moscow time):")
    click.echo(table([[msk(e["at"]), e["source"], e["event"], e["title"] or "",
                        f"fetch {e['fetch_id']}" if e["fetch_id"] else ""] for e in found["timeline"]]))  # fmt: skip
    for member in found["members"]:
        click.echo("")
        click.echo(f"{member['source']}: {member['title']}")
        click.echo(f"  first seen {msk(member['first_seen'])}, {member['resolution']} ({_lag(member)})")
        if member["published_at"]:
            click.echo(f"  published (the feed's own time): {msk(member['published_at'])}")
        shown = member["shown_s"]
        state = (
            "still shown"
            if member["exited_at"] is None
            else f"left {msk(member['exited_at'])} ({member['exit_reason'] or 'unknown'})"
        )
        click.echo(
            f"  on the ticker {duration_text(shown) or 'never'} (first to last poll showing it); {state}"
        )
        if member["score"] is not None:
            click.echo(f"  grouped: score {member['score']:.3f}; terms: {', '.join(member['terms']) or '-'}")
            click.echo(f"    {member['explanation']}")
        if member["url"]:
            click.echo(f"  URL: {member['url']}")
        click.echo(f"  cite: $ {member['cite_command']}")
        for command in member["citation"]["reextract"][:2]:
            click.echo(f"    $ {command}")
    for follow in found["follow_ups"]:
        click.echo(
            f"follow-up: {follow['source']} {msk(follow['first_seen'])}: {follow['title']} (story {follow['story_id']})"
        )


@click.command(
    short_help="One story's timeline across outlets, with citations.",
    epilog="\b\nExamples:\n  ticker story 12\n  ticker story 12 --json",
)
@click.argument("story_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text (times in UTC).")
@config_options
def story(story_id: str, as_json: bool, config_path: str | None, db_path: str | None) -> None:
    """One story: who had it first and when (between which polls), each outlet's wordings,
    rewordings and exits in time order, and the citation behind each (`ticker stories` lists ids)."""
    from ticker.jobs.citations import MAX_ROW_ID
    from ticker.jobs.story_timeline import story_timeline

    text = story_id.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ROW_ID:
        raise click.ClickException(f"bad story id {story_id[:30]!r}: a number (`ticker stories` lists them)")
    _catch_up(config_path, db_path)
    with history(config_path, db_path) as (db, target):
        found = story_timeline(db, int(text), target.reach_again())
    if found is None:
        raise click.ClickException(f"no story {int(text)} (`ticker stories` lists them)")
    if as_json:
        write_json(found)
        return
    _print_story(found)
