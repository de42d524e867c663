"""Alerts after each poll, through Apprise: a source failing N times in a row, blocked for too
long, recovering; optionally a headline pulled or a shown rate differing from the official one.

State lives in the database (`alert_state`, one row per condition), so a restart never repeats an
alert: a condition notifies once when raised and not again until it has cleared. Every event is
logged in `alerts`; one to send is queued there in the same transaction as the condition
(db/alerts.py), then delivered. A failed delivery is retried (up to MAX_ATTEMPTS, the wait
doubling from RETRY_BASE_S); one cut short by a crash is retried at the next start. Apprise is
imported only when something is sent.

Conditions (per source and channel, e.g. `rbc/page`):
- `failing:rbc/page`: `fail_after` failed polls in a row, not counting `blocked` ones (the run
  is the channel's open `outage_runs` row);
- `blocked:rbc/page`: blocked polls for `blocked_for_s` seconds or more since the first one;
  both clear at the next successful poll (a "recovered" notice if `on_recovery`);
- `pulled:<headline id>` (`on_pulled`): a headline removed from the page; clears silently when it
  is shown again;
- `watch:<headline id>` (`watch`, schedules/watch.py): a headline whose title contains a watch
  word, once per headline (never cleared);
- `rate_mismatch:<CUR>:<day>` (`on_rate_mismatch`): the latest shown rate differs from the
  official one for the same day, by the `rate_comparison` view's rule; clears (with a notice)
  when they agree;
- `pulled_many:<source>/<channel>`: one poll pulled several headlines: one alert with the count
  and the first few (each `pulled:<id>` raised and logged, not sent on its own);
- `database:unwritable`: a poll (or its alerts) could not be recorded: sent directly, since the
  queue is in the database; once, until a poll is recorded again.

Delivery takes each kind in turn (`claim_due`), so no backlog of one kind starves another.
- `story:<story id>` (`stories = N`): a story picked up by N outlets or more (once per story);
- `story_pulled:<headline id>` (`on_story_pulled`): one outlet pulled its item of a story while
  other outlets still show theirs (once per item).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from ticker.core.base import SUCCESS_OUTCOMES, from_iso, to_iso, to_moscow_text, utc_now
from ticker.core.settings import AlertSettings
from ticker.db import alerts as store
from ticker.db import stories
from ticker.db.schema import write_transaction
from ticker.schedules.watch import watch_hits

log = logging.getLogger(__name__)

PULLED_NAMED = 3  # titles a coalesced "pulled" alert names (the rest are counted)
UNWRITABLE = "database:unwritable"  # the condition of a database that cannot record polls
MAX_ATTEMPTS = 5  # deliveries tried per alert before it is given up (logged, kept in `alerts`)
RETRY_BASE_S = 60.0  # the wait after the first failed attempt; doubles after each
LEASE_S = 300.0  # an attempt under way blocks others this long (Apprise times out well before)

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


def headline(condition: str, event: str) -> tuple[str, str]:
    """The notification's title and Apprise type for an alert (derived, so a queued alert can be
    sent again after a restart)."""
    what, _, subject = condition.partition(":")
    if what in ("failing", "blocked"):
        if event == "cleared":
            return f"ticker: {subject} recovered", "success"
        return f"ticker: {subject} {what}", "failure"
    if what == "pulled_many":
        return "ticker: headlines pulled", "warning"
    if what == "database":
        if event == "cleared":
            return "ticker: the database records again", "success"
        return "ticker: polls are not being recorded", "failure"
    if what == "pulled":
        return (
            ("ticker: headline pulled", "warning") if event == "raised" else ("ticker: headline back", "info")
        )
    if what == "watch":
        return "ticker: a watched word in a headline", "info"
    if what == "story":
        return "ticker: a story across outlets", "info"
    if what == "story_pulled":
        return "ticker: a story pulled by one outlet", "warning"
    if what == "rate_mismatch":
        return (
            ("ticker: rate differs", "warning") if event == "raised" else ("ticker: rates agree", "success")
        )
    return f"ticker: {condition} {event}", "info"


class AppriseNotifier:
    """Sends through Apprise to the configured URLs (built once, on first use; the config check
    has already refused URLs Apprise cannot parse)."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self._apprise: Any = None

    def _client(self) -> Any:
        if self._apprise is None:
            import apprise

            client = apprise.Apprise()
            for url in self.urls:
                client.add(url)
            self._apprise = client
        return self._apprise

    def __call__(self, title: str, body: str, kind: str) -> tuple[bool, str | None]:
        client = self._client()
        if len(client) == 0:
            return False, "no usable alert URL"
        try:
            delivered = bool(client.notify(body=body, title=title, notify_type=kind))
        except Exception as error:  # a notifier must never break polling
            return False, f"{type(error).__name__}: {error}"
        return delivered, None if delivered else "Apprise could not deliver (see log)"


class Alerter:
    """The daemon's post-poll hook: `after_poll(db, spec, saved)`."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        notify: Notify | None = None,
        now: Callable[[], datetime] = utc_now,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.settings = settings
        self.notify = notify or AppriseNotifier(settings.urls)
        self.enabled = bool(settings.urls) or notify is not None
        self.now = now
        self.retry_base_s = retry_base_s
        self._started = False
        self._start_lock = threading.Lock()
        self._unwritable: str | None = None  # the message sent directly while nothing is recorded
        self._direct_lock = threading.Lock()

    def after_poll(self, db: Database, spec: Any, saved: Any) -> list[Event]:
        """Raise and clear conditions for this poll, then deliver every alert that is due. An
        alert that cannot be queued (the database cannot be written) is sent directly."""
        if not self.enabled:
            return []
        try:
            self._resume(db)
            with write_transaction(db):
                events = self.evaluate_poll(db, saved.fetch_id)
                events += self._recorded_again(db, saved.fetch_id)
        except sqlite3.Error as error:
            self._send_unrecorded(
                f"{spec.name}: the alerts of fetch {saved.fetch_id} could not be recorded", error
            )
            return []
        self.deliver_due(db)
        return events

    def run_failed(self, spec: Any, error: BaseException) -> None:
        """A run whose poll could not be recorded (a full disk, a read-only file): there is no
        fetch to alert on and no queue to write to, so the alert goes out directly, once until
        the database records again."""
        if self.enabled and isinstance(error, sqlite3.Error | OSError):
            self._send_unrecorded(f"{spec.name}: a poll could not be recorded", error)

    def _send_unrecorded(self, what: str, error: BaseException) -> None:
        with self._direct_lock:
            if self._unwritable is not None:
                return  # said once; said again only after the database has recorded
            message = (
                f"{what} ({type(error).__name__}: {error}). Polls and alerts are lost until the database "
                "can be written again (disk full? read-only?); ticker keeps trying."
            )
            title, kind = headline(UNWRITABLE, "raised")
            delivered, problem = self.notify(title, message, kind)
            if delivered:
                self._unwritable = message
            else:
                log.error("alert %s could not be sent directly: %s", UNWRITABLE, problem)

    def _recorded_again(self, db: Database, fetch_id: int) -> list[Event]:
        """After a direct alert: the database records again. Both are logged in `alerts` (the
        first as delivered), and the recovery is queued like any alert."""
        with self._direct_lock:
            message, self._unwritable = self._unwritable, None
        if message is None:
            return []
        at = to_iso(self.now())
        sent = store.log_alert(db, UNWRITABLE, None, "raised", at, fetch_id, message, due_at=None)
        store.finish_delivery(db, sent, True, None, None)
        again = f"the database records again (fetch {fetch_id} at {to_moscow_text(at)}); polls before it were lost"
        alert_id = store.log_alert(db, UNWRITABLE, None, "cleared", at, fetch_id, again, due_at=at)
        title, kind = headline(UNWRITABLE, "cleared")
        return [Event(alert_id, UNWRITABLE, "cleared", title, again, kind, True)]

    def _resume(self, db: Database) -> None:
        """Once per process: deliveries a crash cut short are due again."""
        with self._start_lock:
            if self._started:
                return
            with write_transaction(db):
                resumed = store.release_interrupted(db, to_iso(self.now()))
            if resumed:
                log.warning("alerts: %d delivery(ies) interrupted by the last stop, retrying", resumed)
            self._started = True

    def deliver_due(self, db: Database) -> int:
        """Send the alerts due now (this poll's and earlier failed ones); returns how many were sent."""
        now = self.now()
        if not store.any_due(db, to_iso(now)):
            return 0
        with write_transaction(db):
            due = store.claim_due(db, to_iso(now), to_iso(now + timedelta(seconds=LEASE_S)))
        sent = 0
        for alert in due:
            title, kind = headline(alert.condition, alert.event)
            delivered, error = self.notify(title, alert.message, kind)
            retry_at = None
            if delivered:
                sent += 1
            elif alert.attempts < MAX_ATTEMPTS:
                wait = self.retry_base_s * 2 ** (alert.attempts - 1)
                retry_at = to_iso(self.now() + timedelta(seconds=wait))
                log.warning("alert %s not delivered (attempt %d of %d, again at %s): %s", alert.condition,
                            alert.attempts, MAX_ATTEMPTS, retry_at, error)  # fmt: skip
            else:
                log.error("alert %s not delivered after %d attempts, given up: %s", alert.condition,
                          alert.attempts, error)  # fmt: skip
            with write_transaction(db):
                store.finish_delivery(db, alert.id, delivered, error, retry_at)
        return sent

    def evaluate(self, db: Database, fetch_id: int) -> list[Event]:
        """The state changes one recorded fetch causes, its stories' included (call inside a
        write transaction, once the fetch's headlines are grouped)."""
        return self.evaluate_poll(db, fetch_id) + self.evaluate_stories(db, fetch_id)

    def evaluate_poll(self, db: Database, fetch_id: int) -> list[Event]:
        """The state changes one recorded fetch causes, but a story it took to N outlets (the
        daemon groups its polls in passes of their own: `after_grouping`)."""
        facts = store.fetch_facts(db, fetch_id)
        if facts is None:
            return []
        source, channel, at = facts.source, facts.channel, facts.started_at
        events: list[Event] = []
        if facts.outcome in SUCCESS_OUTCOMES:
            events += self._recovered(db, source, channel, at, fetch_id)
            if self.settings.on_pulled:
                events += self._pulled(db, source, channel, at, fetch_id)
            if self.settings.on_rate_mismatch:
                events += self._rate_mismatch(db, source, at, fetch_id)
            for hit in watch_hits(db, fetch_id, self.settings.watch, at):
                events += self._raise(db, hit.condition, hit.source, at, fetch_id, hit.message)
            if self.settings.on_story_pulled:  # the pulled item's story was grouped before
                events += self._story_pulled(db, source, at, fetch_id)
        else:
            events += self._failing(db, facts, fetch_id)
        return events

    def evaluate_stories(self, db: Database, fetch_id: int) -> list[Event]:
        """The alert a grouped fetch can cause: a story its new items took to N outlets."""
        if not self.settings.stories:
            return []
        facts = store.fetch_facts(db, fetch_id)
        if facts is None or facts.outcome not in SUCCESS_OUTCOMES:
            return []
        return self._story_carried(db, facts.source, facts.started_at, fetch_id)

    def after_grouping(self, db: Database, after_id: int, upto_id: int) -> list[Event]:
        """After a pass of the daemon's story grouping: the story alerts of the fetches it
        grouped (ids in (after_id, upto_id]), then every alert that is due."""
        if not self.enabled or not self.settings.stories:
            return []
        try:
            with write_transaction(db):
                events = [
                    e
                    for i in store.fetch_ids_between(db, after_id, upto_id)
                    for e in self.evaluate_stories(db, i)
                ]
        except sqlite3.Error as error:
            self._send_unrecorded(
                f"the story alerts of fetches {after_id + 1}-{upto_id} could not be recorded", error
            )
            return []
        self.deliver_due(db)
        return events

    def _failing(self, db: Database, facts: store.FetchFacts, fetch_id: int) -> list[Event]:
        where = f"{facts.source}/{facts.channel}"
        run = store.failure_run(db, facts.source, facts.channel, fetch_id)
        if run is None:
            return []
        events = []
        settings = self.settings
        at = facts.started_at
        if settings.fail_after > 0 and run.failures >= settings.fail_after:
            message = (
                f"{where} has failed {run.failures} times in a row since {to_moscow_text(run.first_failed_at)}; "
                f"last: {facts.outcome}: {facts.error or '-'} (fetch {fetch_id})"
            )
            events += self._raise(db, f"failing:{where}", facts.source, at, fetch_id, message)
        if facts.outcome == "blocked" and run.first_blocked_at and settings.blocked_for_s > 0:
            blocked_s = (from_iso(at) - from_iso(run.first_blocked_at)).total_seconds()
            if blocked_s >= settings.blocked_for_s:
                message = (
                    f"{where} has been blocked since {to_moscow_text(run.first_blocked_at)} "
                    f"({blocked_s / 60:.0f} min); last: {facts.error or '-'} (fetch {fetch_id})"
                )
                events += self._raise(db, f"blocked:{where}", facts.source, at, fetch_id, message)
        return events

    def _recovered(self, db: Database, source: str, channel: str, at: str, fetch_id: int) -> list[Event]:
        where = f"{source}/{channel}"
        events = []
        for condition in (f"failing:{where}", f"blocked:{where}"):
            message = f"{where} works again (fetch {fetch_id} at {to_moscow_text(at)}): {condition} cleared"
            events += self._clear(db, condition, at, fetch_id, message, send=self.settings.on_recovery)
        return events

    def _pulled(self, db: Database, source: str, channel: str, at: str, fetch_id: int) -> list[Event]:
        """One alert per pulled headline when a poll pulls one; when it pulls several, each is
        raised and logged, and one alert names the count and the first few (a page that loses
        1,995 items at once is one notification, not 1,995 queued ahead of every other)."""
        events = []
        pulled = [
            row for row in store.pulled_by(db, fetch_id) if store.raised(db, f"pulled:{row[0]}") is None
        ]
        send = len(pulled) <= 1
        for headline_id, title, url, first_seen in pulled:
            message = (
                f"Pulled from {source}/{channel} at {to_moscow_text(at)} (fetch {fetch_id}): «{title}» "
                f"shown since {to_moscow_text(first_seen)}; {url or headline_id}. `ticker cite {headline_id}`"
            )
            events += self._raise(db, f"pulled:{headline_id}", source, at, fetch_id, message, send=send)
        if not send:
            named = "; ".join(
                f"«{title}» ({headline_id})" for headline_id, title, _, _ in pulled[:PULLED_NAMED]
            )
            more = f" and {len(pulled) - PULLED_NAMED} more" if len(pulled) > PULLED_NAMED else ""
            message = (
                f"{len(pulled)} headlines pulled from {source}/{channel} at {to_moscow_text(at)} "
                f"(fetch {fetch_id}): {named}{more}. `ticker changes` lists them all"
            )
            condition = f"pulled_many:{source}/{channel}"
            alert_id = store.log_alert(
                db, condition, source, "raised", at, fetch_id, message, due_at=to_iso(self.now())
            )
            title, kind = headline(condition, "raised")
            events.append(Event(alert_id, condition, "raised", title, message, kind, True))
        for condition in store.pulled_shown_again(db, source, channel):
            message = f"{condition[7:]} is shown again (fetch {fetch_id})"
            events += self._clear(db, condition, at, fetch_id, message, send=False)
        return events

    def _story_carried(self, db: Database, source: str, at: str, fetch_id: int) -> list[Event]:
        events = []
        for story in stories.grown_by(db, fetch_id, self.settings.stories):
            message = (
                f"Story {story['id']} is on {story['sources']} outlets ({story['outlets']}): «{story['title']}»; "
                f"first {story['first_source']} at {to_moscow_text(story['first_seen'])}. `ticker story {story['id']}`"
            )
            events += self._raise(db, f"story:{story['id']}", source, at, fetch_id, message)
        return events

    def _story_pulled(self, db: Database, source: str, at: str, fetch_id: int) -> list[Event]:
        events = []
        for pulled in stories.pulled_while_others_show(db, fetch_id):
            message = (
                f"{source} pulled «{pulled['title']}» at {to_moscow_text(at)} (fetch {fetch_id}) while "
                f"{pulled['others']} still show story {pulled['story_id']}. `ticker story {pulled['story_id']}`"
            )
            events += self._raise(db, f"story_pulled:{pulled['headline_id']}", source, at, fetch_id, message)
        return events

    def _rate_mismatch(self, db: Database, source: str, at: str, fetch_id: int) -> list[Event]:
        events = []
        for currency, day in store.rates_touched(db, fetch_id):
            pair = store.rate_pair(db, currency, day)
            if pair is None:
                continue
            condition = f"rate_mismatch:{currency}:{day}"
            if pair.mismatch:
                message = (
                    f"{currency} for {day}: RBC shows {pair.shown} (rate:{pair.shown_id}), the Bank of Russia "
                    f"says {pair.official} (rate:{pair.official_id})"
                )
                events += self._raise(db, condition, source, at, fetch_id, message)
            else:
                message = f"{currency} for {day}: RBC and the Bank of Russia agree again ({pair.official})"
                events += self._clear(db, condition, at, fetch_id, message, send=True)
        return events

    def _raise(
        self,
        db: Database,
        condition: str,
        source: str,
        at: str,
        fetch_id: int,
        message: str,
        *,
        send: bool = True,
    ) -> list[Event]:
        if store.raised(db, condition) is not None:
            return []  # already raised: one alert per condition until it clears
        store.raise_condition(db, condition, source, at, message)
        due_at = to_iso(self.now()) if send else None  # not sent: a coalesced alert says it
        alert_id = store.log_alert(db, condition, source, "raised", at, fetch_id, message, due_at=due_at)
        title, kind = headline(condition, "raised")
        return [Event(alert_id, condition, "raised", title, message, kind, send)]

    def _clear(
        self, db: Database, condition: str, at: str, fetch_id: int, message: str, *, send: bool
    ) -> list[Event]:
        state = store.raised(db, condition)
        if state is None:
            return []
        source = state.source
        store.clear_condition(db, condition, at)
        due_at = to_iso(self.now()) if send else None
        alert_id = store.log_alert(db, condition, source, "cleared", at, fetch_id, message, due_at=due_at)
        title, kind = headline(condition, "cleared")
        return [Event(alert_id, condition, "cleared", title, message, kind, send)]
