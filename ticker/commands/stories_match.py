"""`ticker stories match`: whether two headlines are one story, and why."""

from __future__ import annotations

import click

from ticker.stories.match import Report, match


@click.command(name="match")
@click.argument("title_a")
@click.argument("title_b")
def match_command(title_a: str, title_b: str) -> None:
    """Say whether two headlines report the same event: `same` or `different`, a TAB, the score,
    and the explanation."""
    verdict = match(Report(title_a), Report(title_b))
    click.echo(f"{'same' if verdict.same else 'different'}\t{verdict.score:.3f}\t{verdict.explanation}")
