"""`ticker sources`: what `ticker run` would poll, and how often."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML config file.")
@click.option("--db", "db_path", help="SQLite database file (overrides the config's db).")
def sources(config_path: Path | None, db_path: str | None) -> None:
    """List the sources `ticker run` would poll (after validating the config)."""
    from ticker.commands.run import load
    from ticker.schedules.daemon import jitter_for

    config = load(config_path, db_path)
    where = f"config {config.path}" if config.path else "embedded default (no --config)"
    click.echo(f"# {where}; database {config.db}")
    rows = [("NAME", "KIND", "EVERY", "CHANNELS", "URL")]
    for spec in config.sources:
        every = spec.every_s or 0.0
        rows.append(
            (
                spec.name,
                spec.kind,
                f"{every:g}s (+0..{jitter_for(every):.2g}s)",
                " > ".join(spec.channels),
                " > ".join(spec.url_for(channel) for channel in spec.channels),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    alerts = config.settings.alerts
    archive = config.settings.archive
    click.echo(
        f"# archive: keep {archive.keep}"
        + (f", {archive.keep_days:g} days" if archive.keep_days else ", forever")
        + f"; alerts: {len(alerts.urls)} url(s), after {alerts.fail_after} failures"
    )
