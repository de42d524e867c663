"""Turning expected failures into one clear line and a non-zero exit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ticker.base import BadInput, BadTime
from ticker.db.schema import DatabaseRefused
from ticker.kinds import BadSourceConfig
from ticker.sources import UnknownSource


@contextmanager
def user_errors(db_path: str | None = None) -> Iterator[None]:
    """Report bad input and unusable databases as `Error: …` (exit 1), never a traceback."""
    try:
        yield
    except (UnknownSource, BadSourceConfig, BadTime, BadInput, DatabaseRefused) as error:
        raise click.ClickException(str(error)) from None
    except sqlite3.DatabaseError as error:
        where = f" {db_path}" if db_path else ""
        raise click.ClickException(f"cannot use database{where}: {error}") from None
    except BrokenPipeError:
        raise  # a reader that stopped reading: the command group ends quietly (ticker/cli.py)
    except OSError as error:
        raise click.ClickException(
            f"{error.strerror or error}: {error.filename or db_path or ''}".rstrip(": ")
        ) from None
