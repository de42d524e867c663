"""The `ticker` command. Subcommands are imported only when run, so `ticker fetch` never pays
for Datasette or APScheduler."""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

import click

from ticker import __version__

# name -> "module:attribute"; each module holds one command's glue.
COMMANDS: dict[str, str] = {
    "fetch": "ticker.commands.fetch:fetch",
    "archive": "ticker.commands.evidence:archive",
    "reparse": "ticker.commands.evidence:reparse",
    "cite": "ticker.commands.evidence:cite",
    "run": "ticker.commands.run:run",
    "status": "ticker.commands.status:status",
    "sources": "ticker.commands.sources:sources",
    "at": "ticker.commands.query:at",
    "changes": "ticker.commands.query:changes",
    "rates": "ticker.commands.query:rates",
    "serve": "ticker.commands.serve:serve",
    "backfill": "ticker.commands.backfill:backfill",
    "backfill-rates": "ticker.commands.backfill:backfill_rates",
    "import": "ticker.commands.importing:import_group",
    "stories": "ticker.commands.stories:stories",
    "story": "ticker.commands.stories:story",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its whole first sentence (Click would cut it at 45 characters)."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            summary = command.short_help or _first_sentence(command.help or "")
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a reader that stops reading (`ticker changes | head`) ends it quietly
        with status 0 (Click alone would exit 1)."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # here, not at exit, where a closed pipe can no longer be caught
            return result
        except BrokenPipeError:
            _quiet_stdout()
            raise click.exceptions.Exit(0) from None


def _first_sentence(text: str) -> str:
    words = " ".join(text.split("\n\n")[0].split())
    match = re.match(r"(.+?[.!?])(?:\s|$)", words)
    return match.group(1) if match else words


def _quiet_stdout() -> None:
    # Python flushes stdout again at exit: point it at /dev/null so that flush cannot fail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="ticker")
def main() -> None:
    """ticker remembers what news sites put in their headline tickers and when (RBC built
    in; any RSS feed or "лента" page by configuration), RBC's rate widgets and the Bank of
    Russia's official rates, in a SQLite database.

    Times you type are ISO 8601; a time without a zone is Moscow time.
    """
