"""One live poll of one source's channel: request, decide, save. Shared by `ticker fetch` and the
daemon, so both record exactly the same things."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
from sqlite_utils import Database

from ticker.core.base import utc_now
from ticker.core.records import Attempt, Saved
from ticker.core.settings import ArchiveSettings
from ticker.db.archive import wants_body
from ticker.db.fetchlog import latest_live_place
from ticker.db.writes import address_state, save_attempt
from ticker.jobs.fetching import address_key, parse_body, request, target_address
from ticker.jobs.sources import SourceSpec


def _body_keeper(settings: ArchiveSettings) -> Callable[[Saved, Attempt], bool]:
    def keep(saved: Saved, attempt: Attempt) -> bool:
        return wants_body(settings, saved.outcome, saved.changed, attempt.row.warning is not None)

    return keep


def poll(
    db: Database,
    client: httpx.Client,
    spec: SourceSpec,
    *,
    channel: str | None = None,
    url: str | None = None,
    now: Callable[[], datetime] = utc_now,
    archive: ArchiveSettings | None = None,
) -> Saved:
    """Fetch one channel of a source and record the attempt, whatever happens to it, with its
    body when retention keeps it (one transaction). The returned Saved carries the row as
    recorded (`saved.row`: its error, warning, retry-after).

    Before the request, the poll reads the channel's latest place in the log: it goes after
    that whatever the host clock says, and only polls committed while it ran are merged with it
    by their instants (ticker.db.fetchlog)."""
    channel = channel or spec.channels[0]
    kind_channel = spec.channel(channel)
    options = {
        "ordered": kind_channel.ordered,
        "gap_limit_s": spec.gap_limit_s,
        "max_items": kind_channel.max_items,
    }
    after = latest_live_place(db, spec.name, channel) or ""
    started = now()
    address = target_address(spec, channel, url, started)
    validators = address_state(db, spec.name, channel, address_key(address))
    attempt = request(
        client, spec, channel, url=address, validators=validators, parse=False, now=lambda: started
    )
    attempt.after_log_at = after
    same_as_before = validators is not None and attempt.row.body_sha256 == validators.body_sha256
    if attempt.body is not None and attempt.row.outcome == "ok" and not same_as_before:
        parse_body(attempt, spec, channel, fetched_at=started)
    return save_attempt(db, attempt, keep_body=_body_keeper(archive or ArchiveSettings()), **options)
