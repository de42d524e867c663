"""What a reader needs to check a headline or a rate ticker recorded: every version as shown,
first and last sightings, the fetches and archived bodies behind them, and how to re-extract it."""

from __future__ import annotations

import json
import shlex
from typing import Any

from sqlite_utils import Database

from ticker.core.base import to_moscow_text
from ticker.db.queries import MIN_PREFIX, find_headlines, rate_comparisons, short_id

MAX_ROW_ID = 2**63 - 1  # SQLite's largest INTEGER, so the largest rowid


class NotFound(LookupError):
    """No headline or rate with that id."""


SIGHTING_KEYS = ("channel", "first_fetch_id", "last_fetch_id", "first_seen", "last_seen",
                 "exit_fetch_id", "exited_at", "exit_reason")  # fmt: skip


def _msk(iso: str | None) -> str:
    return to_moscow_text(iso) or ""


def _fetch(db: Database, fetch_id: int | None, db_arg: str) -> dict[str, Any] | None:
    if fetch_id is None:
        return None
    row = db.execute(
        "SELECT f.id, f.source, f.channel, f.url, f.started_at, f.outcome, f.status, f.body_sha256, "
        "b.sha256 IS NOT NULL, f.origin, f.origin_ref FROM fetches f "
        "LEFT JOIN bodies b ON b.sha256 = f.body_sha256 WHERE f.id = ?",
        [fetch_id],
    ).fetchone()
    if row is None:
        return {"fetch_id": fetch_id, "missing": True}
    fetch = dict(
        zip(("fetch_id", "source", "channel", "url", "started_at", "outcome", "status"), row[:7], strict=True)
    )
    fetch["missing"] = False
    fetch["body_sha256"] = row[7]
    fetch["body_archived"] = bool(row[8])
    fetch["origin"], fetch["origin_ref"] = row[9], row[10]
    capture = _capture(row[9], row[10], row[4])
    if capture:
        fetch["capture"] = capture
    if row[8]:
        fetch["show_body"] = f"ticker archive show {row[7]}{db_arg} > fetch-{row[0]}.html"
        fetch["reextract"] = f"ticker reparse --fetch {row[0]}{db_arg}"
    return fetch


def _capture(origin: str | None, ref: str | None, started_at: str) -> dict[str, Any] | None:
    """Where an imported fetch's capture can be opened again: the memento, or the WARC record."""
    if origin == "wayback" and ref:
        return {"from": "wayback", "memento": ref, "captured_at": started_at}
    if origin == "warc" and ref:
        file_name, _, record_id = ref.partition("#")
        return {
            "from": "warc",
            "warc_file": file_name,
            "record_id": record_id,
            "warc_date": started_at,
        }
    return None


def _archived_showing(
    db: Database, source: str, channel: str, first: int, last: int, table: str, values: dict
) -> list[int]:
    """Ids of the first and last fetches in [first, last] whose snapshot holds `value` and whose
    body is archived: the evidence to open when the first/last sighting's own body was not kept."""
    member = (
        "EXISTS (SELECT 1 FROM json_each(s.items) j WHERE json_extract(j.value, '$[0]') = :hid "
        "AND json_extract(j.value, '$[1]') = :tid)"
        if table == "items"
        else "EXISTS (SELECT 1 FROM json_each(s.rates) j WHERE j.value = :rid)"
    )
    # By time, not id: an imported capture is older than the live polls stored before it.
    sql = (
        "SELECT f.id FROM fetches f JOIN snapshots s ON s.id = f.snapshot_id "
        "JOIN bodies b ON b.sha256 = f.body_sha256 WHERE f.source = :source AND f.channel = :channel "
        "AND f.started_at BETWEEN (SELECT started_at FROM fetches WHERE id = :first) "
        f"AND (SELECT started_at FROM fetches WHERE id = :last) AND {member} "
        "ORDER BY f.started_at, f.id"
    )
    params = {"source": source, "channel": channel, "first": first, "last": last} | values
    found = [row[0] for row in db.execute(sql, params).fetchall()]
    return list(dict.fromkeys(found[:1] + found[-1:]))  # the first and the last, in time order


def cite_headline(db: Database, headline_id: str, db_arg: str = "") -> dict[str, Any]:
    """Everything recorded about one headline, with the evidence behind it."""
    row = db.execute(
        "SELECT id, source, url, title, rubric, kind, paid, project, published_at, first_seen, last_seen, "
        "first_fetch_id, last_fetch_id, first_channel FROM headlines WHERE id = ?",
        [headline_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"no headline with id {headline_id!r}")
    keys = ("id", "source", "url", "title", "rubric", "kind", "paid", "project", "published_at",
            "first_seen", "last_seen", "first_fetch_id", "last_fetch_id", "first_channel")  # fmt: skip
    headline = dict(zip(keys, row, strict=True))
    channel = headline["first_channel"]
    titles = []
    for title_id, title, first_seen, last_seen, first_fetch, last_fetch in db.execute(
        "SELECT id, title, first_seen, last_seen, first_fetch_id, last_fetch_id FROM headline_titles "
        "WHERE headline_id = ? ORDER BY first_seen, id",
        [headline_id],
    ).fetchall():
        first = _fetch(db, first_fetch, db_arg)
        evidence = []
        if first_fetch is not None and last_fetch is not None and first:
            evidence = _archived_showing(
                db, first.get("source", headline["source"]), first.get("channel", channel),
                first_fetch, last_fetch, "items", {"hid": headline_id, "tid": title_id},
            )  # fmt: skip
        titles.append(
            {
                "title_id": title_id,
                "title": title,
                "first_seen": first_seen,
                "last_seen": last_seen,
                "first_fetch": first,
                "last_fetch": _fetch(db, last_fetch, db_arg),
                "archived_fetches_showing_it": evidence,
            }
        )
    sightings = [
        dict(zip(SIGHTING_KEYS, r, strict=True))
        for r in db.execute(
            "SELECT channel, first_fetch_id, last_fetch_id, first_seen, last_seen, exit_fetch_id, "
            "exited_at, exit_reason FROM sightings WHERE headline_id = ? ORDER BY first_seen, id",
            [headline_id],
        ).fetchall()
    ]
    evidence_fetches = sorted({i for t in titles for i in t["archived_fetches_showing_it"]})
    commands = [
        f"ticker reparse --fetch {i}{db_arg} | grep -F {shlex.quote(headline_id)}" for i in evidence_fetches
    ]
    return {
        "type": "headline",
        "headline_id": headline_id,
        "short_id": short_id(headline_id),
        "url": headline["url"],
        "source": headline["source"],
        "rubric": headline["rubric"],
        "published_at": headline["published_at"],
        "first_seen": headline["first_seen"],
        "last_seen": headline["last_seen"],
        "titles": titles,
        "sightings": sightings,
        "reextract": commands,
    }


def cite_rate(db: Database, rate_id: int, db_arg: str = "") -> dict[str, Any]:
    """Everything recorded about one rate value, and the Bank of Russia's value for that day."""
    row = db.execute(
        "SELECT id, source, currency, rate_date, value, change, nominal, raw_value, published_at, "
        "first_seen, last_seen, first_fetch_id, last_fetch_id, channel FROM rates WHERE id = ?",
        [rate_id],
    ).fetchone()
    if row is None:
        raise NotFound(f"no rate with id {rate_id}")
    keys = ("id", "source", "currency", "rate_date", "value", "change", "nominal", "raw_value",
            "published_at", "first_seen", "last_seen", "first_fetch_id", "last_fetch_id", "channel")  # fmt: skip
    rate = dict(zip(keys, row, strict=True))
    first = _fetch(db, rate["first_fetch_id"], db_arg)
    evidence = []
    if rate["first_fetch_id"] is not None and rate["last_fetch_id"] is not None:
        evidence = _archived_showing(
            db, rate["source"], rate["channel"], rate["first_fetch_id"], rate["last_fetch_id"],
            "rates", {"rid": rate_id},
        )  # fmt: skip
    # The rate against the other side of the `rate_comparison` view (db/rate_rule.py's rule):
    # a shown rate against the official one of its day, an official one against those shown.
    pairs = rate_comparisons(db, rate_id)
    shown = any(pair["rbc_rate_id"] == rate_id for pair in pairs)
    compared = [
        {
            "rate_id": pair["cbr_rate_id"] if shown else pair["rbc_rate_id"],
            "source": pair["cbr_source"] if shown else pair["rbc_source"],
            "value": pair["cbr_value"] if shown else pair["rbc_value"],
            "official": shown,
            "mismatch": pair["mismatch"],
        }
        for pair in pairs
    ]
    return {
        "type": "rate",
        "rate_id": rate_id,
        "short_id": f"rate:{rate_id}",
        "source": rate["source"],
        "currency": rate["currency"],
        "rate_date": rate["rate_date"],
        "value": rate["value"],
        "change": rate["change"],
        "nominal": rate["nominal"],
        "raw_value": rate["raw_value"],
        "published_at": rate["published_at"],
        "first_seen": rate["first_seen"],
        "last_seen": rate["last_seen"],
        "first_fetch": first,
        "last_fetch": _fetch(db, rate["last_fetch_id"], db_arg),
        "url": first.get("url") if first else None,
        "archived_fetches_showing_it": evidence,
        "compared_with": compared,
        "reextract": [f"ticker reparse --fetch {i}{db_arg} | grep {rate['currency']}" for i in evidence],
    }


def cite(db: Database, ident: str, db_arg: str = "") -> dict[str, Any]:
    """A headline id (or the short id `ticker at`/`changes` print: a unique prefix of 6+ hex
    digits), or `rate:<rates.id>`."""
    ident = ident.strip()
    if ident.lower().startswith("rate:"):
        number = ident[5:].strip()
        if not (number.isascii() and number.isdigit()):
            raise NotFound(f"bad rate id {ident!r}: use rate:<number> (rates.id)")
        if len(number.lstrip("0")) > 19 or int(number) > MAX_ROW_ID:  # SQLite cannot be asked
            shown = number if len(number) <= 25 else f"{number[:20]}... ({len(number)} digits)"
            raise NotFound(f"no rate with id {shown} (rates.id is at most {MAX_ROW_ID})")
        return cite_rate(db, int(number), db_arg)
    found = find_headlines(db, ident)
    if len(found) > 1:
        names = "; ".join(f"{row['id']} ({row['source']}: {row['title'][:40]})" for row in found[:10])
        raise NotFound(f"{ident!r} is ambiguous: {len(found)} headlines match: {names}; give more of the id")
    if not found:
        hint = f" (a short id has {MIN_PREFIX}+ hex digits)" if len(ident) < MIN_PREFIX else ""
        raise NotFound(f"no headline with id {ident!r}{hint}")
    return cite_headline(db, found[0]["id"], db_arg)


def _at(iso: str | None) -> str:
    """`2024-11-25 19:00:00 MSK (2024-11-25T16:00:00Z)`."""
    return f"{_msk(iso)} ({iso})"


def _fetch_line(label: str, fetch: dict | None) -> list[str]:
    if not fetch or fetch.get("missing"):
        return [f"  {label}: fetch {fetch['fetch_id'] if fetch else '?'} (not recorded)"]
    lines = [
        f"  {label}: fetch {fetch['fetch_id']} at {_at(fetch['started_at'])}, {fetch['source']}/{fetch['channel']}"
        f" {fetch['outcome']}, {fetch['url']}",
    ]
    capture = fetch.get("capture")
    if capture and capture["from"] == "wayback":
        lines.append(f"    Wayback Machine capture of {capture['captured_at']}: {capture['memento']}")
    elif capture:
        lines.append(
            f"    WARC record {capture['record_id']} in {capture['warc_file']} (WARC-Date {capture['warc_date']})"
        )
    if fetch["body_sha256"]:
        kept = "archived" if fetch["body_archived"] else "not archived"
        lines.append(f"    body sha256 {fetch['body_sha256']} ({kept})")
    if fetch.get("show_body"):
        lines.append(f"    $ {fetch['show_body']}")
    return lines


def _comparison_lines(citation: dict[str, Any]) -> list[str]:
    """Whether the shown and the official value of the day agree, by db/rate_rule.py's rule."""
    lines = []
    for other in citation["compared_with"]:
        verdict = "DIFFERS from" if other["mismatch"] else "agrees with"
        if other["official"]:
            lines.append(
                f"  Bank of Russia ({other['source']}) for that day: {other['value']} (rate:{other['rate_id']}): "
                f"{citation['source']}'s {citation['value']} {verdict} it"
            )
        else:
            lines.append(
                f"  shown by {other['source']} for that day: {other['value']} (rate:{other['rate_id']}): "
                f"{verdict} this official value"
            )
    return lines


def render_text(citation: dict[str, Any]) -> str:
    """The citation as a reader-facing text block."""
    lines: list[str] = []
    if citation["type"] == "headline":
        lines.append(
            f"Headline {citation['headline_id']} [{citation['short_id']}] ({citation['source']}, "
            f"{citation['rubric'] or 'no rubric'})"
        )
        lines.append(f"  URL: {citation['url']}")
        if citation["published_at"]:
            lines.append(f"  published: {_at(citation['published_at'])}")
        for number, version in enumerate(citation["titles"], start=1):
            lines.append(f"Title {number}: {version['title']}")
            lines.append(f"  first seen {_at(version['first_seen'])}")
            lines.append(f"  last seen  {_at(version['last_seen'])}")
            lines += _fetch_line("first", version["first_fetch"])
            lines += _fetch_line("last", version["last_fetch"])
            shown = version["archived_fetches_showing_it"]
            lines.append(
                f"  archived bodies showing it: fetches {', '.join(map(str, shown))}" if shown
                else "  no archived body shows this title (retention)"
            )  # fmt: skip
        for sighting in citation["sightings"]:
            exit_text = "still shown at last poll"
            if sighting["exit_fetch_id"] is not None:
                reason = sighting["exit_reason"] or "exit"
                exit_text = f"{reason} at fetch {sighting['exit_fetch_id']}, {_msk(sighting['exited_at'])}"
            lines.append(
                f"Shown on {sighting['channel']}: {_msk(sighting['first_seen'])} .. "
                f"{_msk(sighting['last_seen'])} (fetches {sighting['first_fetch_id']}..{sighting['last_fetch_id']}); "
                f"{exit_text}"
            )
    else:
        lines.append(
            f"Rate {citation['short_id']}: {citation['currency']} {citation['value']} for {citation['rate_date']}"
            f" ({citation['source']}{', change ' + citation['change'] if citation['change'] else ''})"
        )
        if citation["raw_value"]:
            lines.append(f"  as published: {citation['raw_value']} per {citation['nominal']}")
        if citation["url"]:
            lines.append(f"  URL: {citation['url']}")
        lines.append(f"  first seen {_at(citation['first_seen'])}")
        lines.append(f"  last seen  {_at(citation['last_seen'])}")
        lines += _fetch_line("first", citation["first_fetch"])
        lines += _fetch_line("last", citation["last_fetch"])
        lines += _comparison_lines(citation)
    if citation["reextract"]:
        lines.append("Re-extract from the archived body:")
        lines += [f"  $ {command}" for command in citation["reextract"]]
    return "\n".join(lines)


def render_json(citation: dict[str, Any]) -> str:
    return json.dumps(citation, ensure_ascii=False, indent=2)
