"""Turning expected failures into one clear line and a non-zero exit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ticker.core.base import BadInput, BadTime


def _user_error_types() -> tuple[type[Exception], ...]:
    """The errors a user's input or file causes, besides BadInput and BadTime."""
    # Lazy: their modules (the schema, the kinds, the sources) load only when an error is being
    # reported, so importing this module costs a command nothing at start-up (`--help` included).
    from ticker.db.schema import DatabaseRefused
    from ticker.jobs.sources import UnknownSource
    from ticker.kinds import BadSourceConfig

    return (UnknownSource, BadSourceConfig, DatabaseRefused)


@contextmanager
def user_errors(db_path: str | None = None) -> Iterator[None]:
    """Report bad input and unusable databases as `Error: …` (exit 1), never a traceback."""
    try:
        yield
    except (BadTime, BadInput) as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:
        if isinstance(error, _user_error_types()):
            raise click.ClickException(str(error)) from None
        if isinstance(error, sqlite3.DatabaseError):
            where = f" {db_path}" if db_path else ""
            raise click.ClickException(f"cannot use database{where}: {error}") from None
        if isinstance(error, BrokenPipeError):
            raise  # a reader that stopped reading: the command group ends quietly (ticker/cli/__init__.py)
        if isinstance(error, OSError):
            raise click.ClickException(
                f"{error.strerror or error}: {error.filename or db_path or ''}".rstrip(": ")
            ) from None
        raise
