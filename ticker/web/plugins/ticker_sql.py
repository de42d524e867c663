"""Datasette plugin (loaded by `ticker serve`): SQL functions canned queries use to read times
the way the CLI does.

- ticker_time(text): a typed time (ISO 8601, no zone = Moscow; a date; an age like 2h) as
  stored UTC ISO text, NULL when it cannot be read or is empty;
- ticker_time_error(text): why ticker_time gave NULL, or NULL when it did not;
- ticker_msk(iso): a stored UTC instant as Moscow time `YYYY-MM-DD HH:MM:SS MSK`.
"""

from __future__ import annotations

from datasette import hookimpl

from ticker.core.base import BadTime, parse_user_time, to_iso, to_moscow_text


def ticker_time(text: str | None) -> str | None:
    if text is None or not str(text).strip():
        return None
    try:
        return to_iso(parse_user_time(str(text)))
    except BadTime:
        return None


def ticker_time_error(text: str | None) -> str | None:
    if text is None or not str(text).strip():
        return None
    try:
        parse_user_time(str(text))
    except BadTime as error:
        return str(error)
    return None


def ticker_msk(iso: str | None) -> str | None:
    try:
        return to_moscow_text(iso)
    except (TypeError, ValueError):
        return None


@hookimpl
def prepare_connection(conn):
    conn.create_function("ticker_time", 1, ticker_time)
    conn.create_function("ticker_time_error", 1, ticker_time_error)
    conn.create_function("ticker_msk", 1, ticker_msk, deterministic=True)
