"""Alerts after each poll, through Apprise: a source failing N times in a row, blocked for too
long, recovering; optionally a headline pulled or a shown rate differing from the official one.

State lives in the database (`alert_state`, one row per condition), so a restart never repeats an
alert: a condition notifies once when raised and not again until it has cleared. Every event is
logged in `alerts` with whether it was delivered. Apprise is imported only when something is sent.

Conditions (per source and channel, e.g. `rbc/page`):
- `failing:rbc/page`: `fail_after` failed polls in a row, not counting `blocked` ones;
- `blocked:rbc/page`: blocked polls for `blocked_for_s` seconds or more since the first one;
  both clear at the next successful poll (a "recovered" notice if `on_recovery`);
- `pulled:<headline id>` (`on_pulled`): a headline removed from the page; clears silently when it
  is shown again;
- `rate_mismatch:<CUR>:<day>` (`on_rate_mismatch`): RBC's latest shown rate differs from the Bank
  of Russia's for the same day; clears (with a notice) when they agree.
`fail_after = 0` or `blocked_for_s = 0` turns that condition off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlite_utils import Database

from ticker.base import SUCCESS_OUTCOMES, SUCCESS_SQL, from_iso, to_moscow_text
from ticker.db.schema import write_transaction
from ticker.settings import AlertSettings

log = logging.getLogger(__name__)

# (title, body, kind) -> (delivered, error); kind is an Apprise notify type: info/success/warning/failure
Notify = Callable[[str, str, str], tuple[bool, str | None]]


@dataclass(slots=True)
class Event:
    alert_id: int
    condition: str
    event: str  # raised / cleared
    title: str
    message: str
    kind: str
    send: bool


class AppriseNotifier:
    """Sends through Apprise to the configured URLs (built once, on first use)."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self._apprise: Any = None
        self._error: str | None = None

    def _client(self) -> Any:
        if self._apprise is None:
            import apprise

            client = apprise.Apprise()
            bad = [str(n) for n, url in enumerate(self.urls, start=1) if not client.add(url)]
            if bad:
                # The URLs may carry tokens: name them by position only.
                self._error = f"[alerts] urls #{', #'.join(bad)} not understood by Apprise"
                log.warning(self._error)
            self._apprise = client
        return self._apprise

    def __call__(self, title: str, body: str, kind: str) -> tuple[bool, str | None]:
        client = self._client()
        if len(client) == 0:
            return False, self._error or "no usable alert URL"
        try:
            delivered = bool(client.notify(body=body, title=title, notify_type=kind))
        except Exception as error:  # a notifier must never break polling
            return False, f"{type(error).__name__}: {error}"
        return delivered, None if delivered else (self._error or "Apprise could not deliver (see log)")


class Alerter:
    """The daemon's post-poll hook: `after_poll(db, spec, saved)`."""

    def __init__(self, settings: AlertSettings, *, notify: Notify | None = None) -> None:
        self.settings = settings
        self.notify = notify or AppriseNotifier(settings.urls)
        self.enabled = bool(settings.urls) or notify is not None

    def after_poll(self, db: Database, spec: Any, saved: Any) -> list[Event]:
        """Raise and clear conditions for this poll, then deliver what should be sent."""
        if not self.enabled:
            return []
        with write_transaction(db):
            events = self.evaluate(db, saved.fetch_id)
        for event in events:
            if not event.send:
                continue
            delivered, error = self.notify(event.title, event.message, event.kind)
            if not delivered:
                log.warning("alert %s not delivered: %s", event.condition, error)
            db.execute(
                "UPDATE alerts SET delivered = ?, error = ? WHERE id = ?",
                [int(delivered), error, event.alert_id],
            )
        return events

    def evaluate(self, db: Database, fetch_id: int) -> list[Event]:
        """The state changes one recorded fetch causes (call inside a write transaction)."""
        row = db.execute(
            "SELECT source, channel, outcome, started_at, error FROM fetches WHERE id = ?", [fetch_id]
        ).fetchone()
        if row is None:
            return []
        source, channel, outcome, at, error = row
        events: list[Event] = []
        if outcome in SUCCESS_OUTCOMES:
            events += self._recovered(db, source, channel, at, fetch_id)
            if self.settings.on_pulled:
                events += self._pulled(db, source, channel, at, fetch_id)
            if self.settings.on_rate_mismatch:
                events += self._rate_mismatch(db, source, at, fetch_id)
        else:
            events += self._failing(db, source, channel, outcome, at, error, fetch_id)
        return events

    def _failing(
        self, db: Database, source: str, channel: str, outcome: str, at: str, error: str | None, fetch_id: int
    ) -> list[Event]:
        where = f"{source}/{channel}"
        last_ok = db.execute(
            "SELECT coalesce(max(id), 0) FROM fetches WHERE source = ? AND channel = ? "
            f"AND outcome IN {SUCCESS_SQL} AND id < ?",
            [source, channel, fetch_id],
        ).fetchone()[0]
        failed, first_blocked, first_failed = db.execute(
            "SELECT count(*) FILTER (WHERE outcome != 'blocked'), "
            "min(started_at) FILTER (WHERE outcome = 'blocked'), min(started_at) FROM fetches "
            "WHERE source = ? AND channel = ? AND id > ? AND id <= ?",
            [source, channel, last_ok, fetch_id],
        ).fetchone()
        events = []
        settings = self.settings
        if settings.fail_after > 0 and failed >= settings.fail_after:
            message = (
                f"{where} has failed {failed} times in a row since {to_moscow_text(first_failed)}; "
                f"last: {outcome}: {error or '-'} (fetch {fetch_id})"
            )
            events += self._raise(db, f"failing:{where}", source, at, fetch_id, f"{where} failing", message)
        if outcome == "blocked" and first_blocked and settings.blocked_for_s > 0:
            blocked_s = (from_iso(at) - from_iso(first_blocked)).total_seconds()
            if blocked_s >= settings.blocked_for_s:
                message = (
                    f"{where} has been blocked since {to_moscow_text(first_blocked)} "
                    f"({blocked_s / 60:.0f} min); last: {error or '-'} (fetch {fetch_id})"
                )
                events += self._raise(
                    db, f"blocked:{where}", source, at, fetch_id, f"{where} blocked", message
                )
        return events

    def _recovered(self, db: Database, source: str, channel: str, at: str, fetch_id: int) -> list[Event]:
        where = f"{source}/{channel}"
        events = []
        for condition in (f"failing:{where}", f"blocked:{where}"):
            message = f"{where} works again (fetch {fetch_id} at {to_moscow_text(at)}): {condition} cleared"
            events += self._clear(
                db, condition, at, fetch_id, f"{where} recovered", message, send=self.settings.on_recovery
            )
        return events

    def _pulled(self, db: Database, source: str, channel: str, at: str, fetch_id: int) -> list[Event]:
        events = []
        for headline_id, title, url, first_seen in db.execute(
            "SELECT s.headline_id, h.title, h.url, s.first_seen FROM sightings s "
            "JOIN headlines h ON h.id = s.headline_id WHERE s.exit_fetch_id = ? AND s.exit_reason = 'pulled'",
            [fetch_id],
        ).fetchall():
            message = (
                f"Pulled from {source}/{channel} at {to_moscow_text(at)} (fetch {fetch_id}): «{title}» "
                f"shown since {to_moscow_text(first_seen)}; {url or headline_id}. `ticker cite {headline_id}`"
            )
            events += self._raise(
                db, f"pulled:{headline_id}", source, at, fetch_id, "headline pulled", message, kind="warning"
            )
        back = db.execute(
            "SELECT a.condition FROM alert_state a WHERE a.cleared_at IS NULL AND a.source = ? "
            "AND a.condition LIKE 'pulled:%' AND EXISTS (SELECT 1 FROM sightings s WHERE "
            "s.headline_id = substr(a.condition, 8) AND s.exit_fetch_id IS NULL AND s.channel = ?)",
            [source, channel],
        ).fetchall()
        for (condition,) in back:
            message = f"{condition[7:]} is shown again (fetch {fetch_id})"
            events += self._clear(db, condition, at, fetch_id, "headline back", message, send=False)
        return events

    def _rate_mismatch(self, db: Database, source: str, at: str, fetch_id: int) -> list[Event]:
        kinds = dict(db.execute("SELECT name, kind FROM sources").fetchall())
        kinds.setdefault("rbc", "rbc")
        kinds.setdefault("cbr", "cbr")
        shown_sources = [name for name, kind in kinds.items() if kind == "rbc"]
        official_sources = [name for name, kind in kinds.items() if kind == "cbr"]
        events = []
        touched = db.execute(
            "SELECT DISTINCT currency, rate_date FROM rates WHERE last_fetch_id = ? OR first_fetch_id = ?",
            [fetch_id, fetch_id],
        ).fetchall()
        for currency, day in touched:
            shown = _latest_value(db, shown_sources, currency, day)
            official = _latest_value(db, official_sources, currency, day)
            if shown is None or official is None:
                continue
            condition = f"rate_mismatch:{currency}:{day}"
            if not agrees(shown[0], official[0]):
                message = (
                    f"{currency} for {day}: RBC shows {shown[0]} (rate:{shown[1]}), the Bank of Russia "
                    f"says {official[0]} (rate:{official[1]})"
                )
                events += self._raise(
                    db, condition, source, at, fetch_id, "rate differs", message, kind="warning"
                )
            else:
                message = f"{currency} for {day}: RBC and the Bank of Russia agree again ({official[0]})"
                events += self._clear(db, condition, at, fetch_id, "rates agree", message, send=True)
        return events

    def _raise(
        self,
        db: Database,
        condition: str,
        source: str,
        at: str,
        fetch_id: int,
        title: str,
        message: str,
        kind: str = "failure",
    ) -> list[Event]:
        state = db.execute("SELECT cleared_at FROM alert_state WHERE condition = ?", [condition]).fetchone()
        if state is not None and state[0] is None:
            return []  # already raised: one alert per condition until it clears
        db.execute(
            "INSERT INTO alert_state (condition, source, raised_at, cleared_at, message) "
            "VALUES (?, ?, ?, NULL, ?) ON CONFLICT (condition) DO UPDATE SET source = excluded.source, "
            "raised_at = excluded.raised_at, cleared_at = NULL, message = excluded.message",
            [condition, source, at, message],
        )
        alert_id = _log(db, condition, source, "raised", at, fetch_id, message)
        return [Event(alert_id, condition, "raised", f"ticker: {title}", message, kind, True)]

    def _clear(
        self, db: Database, condition: str, at: str, fetch_id: int, title: str, message: str, *, send: bool
    ) -> list[Event]:
        state = db.execute(
            "SELECT source FROM alert_state WHERE condition = ? AND cleared_at IS NULL", [condition]
        ).fetchone()
        if state is None:
            return []
        db.execute("UPDATE alert_state SET cleared_at = ? WHERE condition = ?", [at, condition])
        alert_id = _log(db, condition, state[0], "cleared", at, fetch_id, message)
        return [Event(alert_id, condition, "cleared", f"ticker: {title}", message, "success", send)]


def _log(
    db: Database, condition: str, source: str | None, event: str, at: str, fetch_id: int, message: str
) -> int:
    cursor = db.execute(
        "INSERT INTO alerts (condition, source, event, at, fetch_id, message) VALUES (?, ?, ?, ?, ?, ?)",
        [condition, source, event, at, fetch_id, message],
    )
    return int(cursor.lastrowid)


def _latest_value(db: Database, sources: list[str], currency: str, day: str) -> tuple[str, int] | None:
    if not sources:
        return None
    marks = ", ".join("?" for _ in sources)
    row = db.execute(
        f"SELECT value, id FROM rates WHERE source IN ({marks}) AND currency = ? AND rate_date = ? "
        "ORDER BY last_seen DESC, id DESC LIMIT 1",
        [*sources, currency, day],
    ).fetchone()
    return (row[0], row[1]) if row else None


def agrees(shown: str, official: str) -> bool:
    """RBC shows the official rate with trailing zeros dropped and (usually) two decimals, the
    Bank of Russia publishes four: they agree when the official value, rounded half-up or cut to
    the shown precision (at least two places), equals the shown one."""
    try:
        shown_value, official_value = Decimal(shown), Decimal(official)
    except InvalidOperation:
        return shown == official
    places = max(2, -int(shown_value.as_tuple().exponent))
    step = Decimal(1).scaleb(-places)
    return shown_value in (
        official_value.quantize(step, rounding=ROUND_HALF_UP),
        official_value.quantize(step, rounding=ROUND_DOWN),
    )
