"""The one rule for "the rate a site showed agrees with the official one", as SQL.

RBC shows the Bank of Russia's rate rounded to two decimals (a trailing zero dropped: "79.6"
for 79.60); the Bank of Russia publishes four. A shown value agrees with the official one when
some rounding of the official value to the decimals shown (at least two) gives it: the two
differ by at most half a unit of the shown value's last place. So 90.35 agrees with 90.3451
and 90.34 does not (0.0051); a tie, 108.8650, agrees with 108.86 and 108.87 (half up, half
even or half down: which one RBC uses is not known).

The arithmetic is exact: both texts become integers scaled to the same number of decimals (no
floating point, which would round 90.345 either way). The `rate_comparison` view and the
rate-mismatch alert both use `agrees_sql`, so they can never disagree.
"""

from __future__ import annotations

from sqlite_utils import Database


def _decimals(value: str) -> str:
    return f"(CASE WHEN instr({value}, '.') > 0 THEN length({value}) - instr({value}, '.') ELSE 0 END)"


def _integer(value: str) -> str:
    return f"CAST(replace({value}, '.', '') AS INTEGER)"


def _pow10(exponent: str) -> str:
    return f"CAST(substr('1000000000000000000', 1, ({exponent}) + 1) AS INTEGER)"


def agrees_sql(shown: str, official: str) -> str:
    """A SQL expression, 1 when the shown value agrees with the official one, else 0 (NULL when
    either is NULL). `shown` and `official` are SQL expressions giving decimal text."""
    places = f"max(2, {_decimals(shown)})"  # the shown precision
    scale = f"max({places}, {_decimals(official)})"  # both as integers of this many decimals
    shown_scaled = f"({_integer(shown)} * {_pow10(f'{scale} - {_decimals(shown)}')})"
    official_scaled = f"({_integer(official)} * {_pow10(f'{scale} - {_decimals(official)}')})"
    half_unit = _pow10(f"{scale} - {places}")  # twice half a unit of the shown last place
    return f"(2 * abs({shown_scaled} - {official_scaled}) <= {half_unit})"


def rates_agree(db: Database, shown: str, official: str) -> bool:
    """The rule applied to two values (what the alert asks)."""
    row = db.execute(
        f"WITH v(s, o) AS (VALUES (?, ?)) SELECT {agrees_sql('s', 'o')} FROM v", [shown, official]
    )
    return bool(row.fetchone()[0])
