"""`ticker stories ...`: stories across outlets (grouping, listing, one story, matching)."""

from __future__ import annotations

import click

from ticker.commands.stories_match import match_command


@click.group(name="stories")
def stories() -> None:
    """Stories across outlets: the same event as each outlet reported it."""


stories.add_command(match_command)
