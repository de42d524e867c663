"""Which config file and which database a command uses: defined once, for every command.

The config file: `--config FILE`, else the file `$TICKER_CONFIG` names, else `ticker.toml` in the
current folder, else none (the embedded default). The database: `--db FILE`, else the config's
`db` (relative to the config file), else `ticker.db` in the current folder.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ticker.core.base import DEFAULT_DB

CONFIG_ENV = "TICKER_CONFIG"
CONFIG_NAME = "ticker.toml"

CONFIG_HELP = (
    f"TOML config file. Default: the file ${CONFIG_ENV} names, else ./{CONFIG_NAME} if there is one, "
    "else the embedded default."
)
DB_HELP = f"SQLite database file. Default: the config's db (relative to the config file), else {DEFAULT_DB}."


@dataclass(frozen=True, slots=True)
class Found:
    """The config file a command uses (None: the embedded default) and how it was found."""

    path: Path | None
    how: str  # "--config", "$TICKER_CONFIG", "./ticker.toml" or "default"

    def describe(self) -> str:
        """`config ticker.toml, found in the current folder`, for a header line."""
        if self.path is None:
            return f"no config: no --config, ${CONFIG_ENV} or ./{CONFIG_NAME}, so the embedded default"
        where = {
            "--config": "given by --config",
            "$TICKER_CONFIG": f"named by ${CONFIG_ENV}",
            "./ticker.toml": "found in the current folder",
        }
        return f"config {self.path}, {where[self.how]}"


def find_config(option: str | Path | None) -> Found:
    """The config file to use: --config, then $TICKER_CONFIG, then ./ticker.toml; else none."""
    if option is not None:
        return Found(Path(option), "--config")
    named = os.environ.get(CONFIG_ENV, "").strip()
    if named:
        return Found(Path(named), "$TICKER_CONFIG")
    here = Path(CONFIG_NAME)
    if here.is_file():
        return Found(here, "./ticker.toml")
    return Found(None, "default")


def load(config_option: str | Path | None, db_option: str | Path | None):
    """The validated configuration (the found file, or the embedded default), `--db` winning over
    its `db`. A config mistake is one `Error:` line naming the file (and how it was found)."""
    # Lazy: schedules.config pulls in every source kind; `ticker at --help` should not pay for it.
    from ticker.schedules.config import ConfigError, default_config, load_config

    found = find_config(config_option)
    try:
        if found.path is None:
            return default_config(db_option)
        return load_config(found.path, db_override=db_option)
    except ConfigError as error:
        hint = "" if found.how == "--config" else f" (found as {found.how}; choose another with --config)"
        raise click.ClickException(f"{error}{hint}") from None


@dataclass(frozen=True, slots=True)
class Target:
    """The database a command works on, and where that choice came from."""

    db: Path
    config: Found
    db_option: bool  # --db was given

    def reach_again(self) -> str:
        """The flags that reach the same database from a printed command (` --db X`), or ''."""
        if self.db_option:
            return f" --db {shlex.quote(str(self.db))}"
        if self.config.how == "--config":
            return f" --config {shlex.quote(str(self.config.path))}"
        return ""


def database(config_option: str | Path | None, db_option: str | Path | None) -> Target:
    """The database file to read or write: --db, else the found config's db, else ticker.db."""
    found = find_config(config_option)
    if db_option is not None and config_option is None:
        return Target(Path(db_option), found, True)  # the config cannot change the answer
    config = load(config_option, db_option)
    return Target(Path(config.db), found, db_option is not None)


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--config FILE` and `--db FILE`, passed as `config_path` and `db_path` (None when not given)."""
    command = click.option("--db", "db_path", metavar="FILE", help=DB_HELP)(command)
    return click.option("--config", "config_path", metavar="FILE", help=CONFIG_HELP)(command)
