"""The `ticker` command. Subcommands are imported only when run, so `ticker fetch` never pays
for Datasette or APScheduler."""

from __future__ import annotations

import importlib

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


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="ticker")
def main() -> None:
    """ticker remembers what RBC's headline ticker and rate widgets showed, and when,
    and the Bank of Russia's official rates, in a SQLite database.

    Times you type are ISO 8601; a time without a zone is Moscow time.
    """
