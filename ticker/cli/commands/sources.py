"""`ticker sources`: what `ticker run` would poll, and how often."""

from __future__ import annotations

import json

import click

from ticker.cli.locate import config_options


@click.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.option("--presets", is_flag=True, help="List the source kinds and the ready-made feeds instead.")
def sources(config_path: str | None, db_path: str | None, as_json: bool, presets: bool) -> None:
    """List the sources `ticker run` would poll (after validating the config). Addresses are
    shown redacted (no passwords, no token-like query values).

    \b
    Examples:
      ticker sources --config /etc/ticker/ticker.toml
      ticker sources --json | jq '.sources[] | {source, every_s}'
      ticker sources --presets
    """
    if presets:
        _print_presets(as_json)
        return
    from ticker.cli.locate import load
    from ticker.core.base import redact_url
    from ticker.schedules.daemon import phase_for

    config = load(config_path, db_path)
    alerts = config.settings.alerts
    archive = config.settings.archive
    if as_json:
        document = {
            "config": str(config.path) if config.path else None,
            "db": str(config.db),
            "sources": [
                {
                    "source": spec.name,
                    "kind": spec.kind,
                    "url": redact_url(spec.url_for(spec.main_channel)),
                    "every_s": spec.interval_s,
                    "phase_s": round(phase_for(spec.name, spec.interval_s), 3),
                    "max_backoff_s": config.max_backoff_for(spec.name),
                    "channels": [
                        {"channel": channel, "url": redact_url(spec.url_for(channel))}
                        for channel in spec.channels
                    ],
                }
                for spec in config.sources
            ],
            "archive": {"keep": archive.keep, "keep_days": archive.keep_days},
            "alerts": {
                "urls": len(alerts.urls),
                "fail_after": alerts.fail_after,
                "blocked_for_s": alerts.blocked_for_s,
            },
        }
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    where = f"config {config.path}" if config.path else "embedded default (no --config)"
    click.echo(f"# {where}; database {config.db}")
    rows = [("NAME", "KIND", "EVERY", "CHANNELS", "URL")]
    for spec in config.sources:
        every = spec.interval_s
        rows.append(
            (
                spec.name,
                spec.kind,
                f"{every:g}s (at +{phase_for(spec.name, every):.3g}s)",
                " > ".join(spec.channels),
                " > ".join(redact_url(spec.url_for(channel)) for channel in spec.channels),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    click.echo(
        f"# archive: keep {archive.keep}"
        + (f", {archive.keep_days:g} days" if archive.keep_days else ", forever")
        + f"; alerts: {len(alerts.urls)} url(s), after {alerts.fail_after} failures"
    )


def _print_presets(as_json: bool) -> None:
    """The kinds a config may name, and the presets of `kind = "rss"` (`preset = "tass"`)."""
    from ticker.kinds import kinds
    from ticker.scraper.presets import PRESETS

    known = [
        {"kind": kind.name, "description": kind.description, "channels": list(kind.channel_names)}
        for kind in kinds().values()
    ]
    listed = [{"preset": name, "url": url, "description": text} for name, (url, text) in PRESETS.items()]
    if as_json:
        click.echo(json.dumps({"kinds": known, "presets": listed}, ensure_ascii=False, indent=2))
        return
    click.echo("# kinds (kind = ...)")
    width = max(len(kind["kind"]) for kind in known)
    for kind in known:
        click.echo(f"{kind['kind'].ljust(width)}  {', '.join(kind['channels'])}: {kind['description']}")
    click.echo('# presets (kind = "rss", preset = ...)')
    width = max(len(preset["preset"]) for preset in listed)
    for preset in listed:
        click.echo(f"{preset['preset'].ljust(width)}  {preset['url']}  {preset['description']}")
