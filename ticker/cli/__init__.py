"""The `ticker` command. Subcommands are imported only when run, so `ticker fetch` never pays
for Datasette or APScheduler."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import re
import sys
from typing import Any

import click

from ticker import __version__

# name -> "module:attribute"; each module holds one command's glue.
COMMANDS: dict[str, str] = {
    "fetch": "ticker.cli.commands.fetch:fetch",
    "archive": "ticker.cli.commands.evidence:archive",
    "reparse": "ticker.cli.commands.evidence:reparse",
    "cite": "ticker.cli.commands.evidence:cite",
    "run": "ticker.cli.commands.run:run",
    "status": "ticker.cli.commands.status:status",
    "sources": "ticker.cli.commands.sources:sources",
    "at": "ticker.cli.commands.query:at",
    "changes": "ticker.cli.commands.query:changes",
    "rates": "ticker.cli.commands.query:rates",
    "search": "ticker.cli.commands.search:search",
    "outages": "ticker.cli.commands.outages:outages",
    "serve": "ticker.cli.commands.serve:serve",
    "backfill": "ticker.cli.commands.backfill:backfill",
    "backfill-rates": "ticker.cli.commands.backfill:backfill_rates",
    "import": "ticker.cli.commands.importing:import_group",
    "stories": "ticker.cli.commands.stories:stories",
    "story": "ticker.cli.commands.stories:story",
}

# name -> the command's one-line summary, so `ticker --help` imports no command module; equal to
# each command's own first sentence (tests/test_docs.py checks). A command missing here is
# imported for its summary.
SUMMARIES: dict[str, str] = {
    "archive": "The raw archive: every kept response body, once, by SHA-256, delta-compressed (docs/evidence.md).",
    "at": "The ticker as it was at a time.",
    "backfill": "Record headlines SOURCE published while ticker was not looking (downtime, blocked page), "
    "marked as backfilled: never as seen on the page.",
    "backfill-rates": "Fill the Bank of Russia's official EUR/USD rates over a date range (XML_dynamic), "
    "never duplicating what is stored.",
    "changes": "What changed in a window.",
    "cite": "What a reader needs to check IDENT: a headline id, or its short id (`ticker at`, `changes` and "
    "`search` print it; any unique prefix of 6+ hex digits), or rate:<rates.id>.",
    "fetch": "Fetch SOURCE once and store what it shows; exit 0 only if it succeeded.",
    "import": "History from before ticker ran: the Wayback Machine's captures and WARC files.",
    "rates": "Rate history, shown and official.",
    "reparse": "Replay archived bodies, in fetch order, through today's parser into a fresh history.",
    "run": "Poll the configured sources on schedule until stopped (SIGTERM or Ctrl-C).",
    "serve": "Browse and query the history in Datasette (read-only): the ticker at a moment (/-/ticker), "
    "each headline's life (/-/headline/ID), canned queries, full-text search of every title, "
    "charts at /-/dashboards/ticker.",
    "sources": "List the sources `ticker run` would poll (after validating the config).",
    "outages": "Each run of failed polls, with every cause.",
    "search": "Every title ever shown containing the words.",
    "status": "Per source: last success and failure, failures in a row, the last 24 h and its outages, its "
    "channel, the next attempt and any backoff; and whether a daemon is running on the database.",
    "stories": "Stories across outlets: the same event as each outlet reported it, newest first, who had it "
    "first (between which polls) and how far behind the others were.",
    "story": "One story's timeline across outlets, with citations.",
}


def command_summary(command: click.Command) -> str:
    """A command's one-line summary as `ticker --help` shows it: its short help, else the whole
    first sentence of its help (Click would cut it at 45 characters)."""
    return command.short_help or _first_sentence(command.help or "")


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
        """Each command with its summary from SUMMARIES: no command module is imported."""
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            if summary is None:  # not listed yet: its module says
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                summary = command_summary(command)
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

    Every command uses the config file --config names, else the one $TICKER_CONFIG names, else
    ./ticker.toml if there is one; and the database --db names, else the config's db, else
    ticker.db.
    """


_prompt_exit = False  # set by a command that closed everything it opened (request_prompt_exit)


def request_prompt_exit() -> None:
    """Called by a command that has closed its database (a last close checkpoints the log, so
    nothing is left in `-wal`): the console script may then exit without the interpreter's
    teardown of its modules (~40 ms of a one-off `ticker fetch`'s ~300, benchmarks/startup.py)."""
    global _prompt_exit
    _prompt_exit = True


def run() -> None:
    """The `ticker` console script: `main`, then, when the command asked for it, a prompt exit:
    output flushed and the exit handlers run (logging, the parse workers), then `os._exit`."""
    try:
        main()
    except SystemExit as done:
        if not _prompt_exit or not isinstance(done.code, int | None):
            raise
        code = done.code or 0
    else:  # pragma: no cover - click's main always exits
        code = 0
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
