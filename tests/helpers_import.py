"""Helpers for the import and re-derivation tests: parsed pages built directly, fetch rows, and
a dump of the history tables that ignores surrogate ids (fetches are named by their instant)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from ticker.core.base import Headline, Rate, TickerPage, to_iso
from ticker.db.writes import FetchRow

T0 = datetime(2022, 2, 24, 3, 0, tzinfo=UTC)
GAP_LIMIT_S = 300.0


def at(minutes: float) -> str:
    return to_iso(T0 + timedelta(minutes=minutes))


def headline(key: str, title: str | None = None, position: int = 1) -> Headline:
    hid = f"6216e{key:0>19}"
    return Headline(
        id=hid, url=f"https://www.rbc.ru/rbcfreenews/{hid}", title=title or f"Заголовок {key}",
        rubric="Политика", kind="news", published_at=None, position=position,
    )  # fmt: skip


def page(*entries: str | tuple[str, str], eur: str = "86.9", edition: str | None = None) -> TickerPage:
    """A ticker: entries are keys ("a") or (key, title); positions follow the order."""
    items = []
    for position, entry in enumerate(entries, start=1):
        key, title = (entry, None) if isinstance(entry, str) else entry
        items.append(headline(key, title, position))
    rates = (Rate("EUR", "2022-02-25", eur, "+0.5"),)
    return TickerPage(headlines=tuple(items), rates=rates, edition=edition)


def row(minutes: float, outcome: str = "ok", *, source: str = "rbc", channel: str = "page") -> FetchRow:
    return FetchRow(
        source=source, channel=channel, url="https://www.rbc.ru/", started_at=at(minutes), outcome=outcome,
        error=None if outcome == "ok" else "HTTP 503",
    )  # fmt: skip


def history(db: Database) -> dict[str, list]:
    """The history tables, fetch ids replaced by (instant, origin), title and rate ids by values."""
    fetch = {
        fid: f"{started}/{origin or 'live'}"
        for fid, started, origin in db.execute("SELECT id, started_at, origin FROM fetches")
    }
    fetch[None] = None
    title = {
        tid: (hid, t) for tid, hid, t in db.execute("SELECT id, headline_id, title FROM headline_titles")
    }

    def rows(sql: str) -> list:
        return sorted(tuple(r) for r in db.execute(sql).fetchall())

    return {
        "headlines": [
            (hid, src, t, fs, ls, fetch[ff], fetch[lf], ch)
            for hid, src, t, fs, ls, ff, lf, ch in rows(
                "SELECT id, source, title, first_seen, last_seen, first_fetch_id, last_fetch_id, "
                "first_channel FROM headlines"
            )
        ],
        "headline_titles": [
            (hid, t, fs, ls, fetch[ff], fetch[lf])
            for hid, t, fs, ls, ff, lf in rows(
                "SELECT headline_id, title, first_seen, last_seen, first_fetch_id, last_fetch_id "
                "FROM headline_titles"
            )
        ],
        "title_changes": sorted(
            (hid, fetch[f], c, title[o], title[n])
            for hid, f, c, o, n in rows(
                "SELECT headline_id, fetch_id, changed_at, old_title_id, new_title_id FROM title_changes"
            )
        ),
        "sightings": sorted(
            (hid, s, ch, fetch[ff], fetch[lf], fs, ls, fp, lp, fetch[ef], ea, er)
            for hid, s, ch, ff, lf, fs, ls, fp, lp, ef, ea, er in rows(
                "SELECT headline_id, source, channel, first_fetch_id, last_fetch_id, first_seen, last_seen, "
                "first_position, last_position, exit_fetch_id, exited_at, exit_reason FROM sightings"
            )
        ),
        "rates": [
            (s, c, d, v, fs, ls, fetch[ff], fetch[lf])
            for s, c, d, v, fs, ls, ff, lf in rows(
                "SELECT source, currency, rate_date, value, first_seen, last_seen, first_fetch_id, "
                "last_fetch_id FROM rates"
            )
        ],
        "snapshots": sorted(
            (fetch[fid], json.dumps([title[t] for _, t in json.loads(items)], ensure_ascii=False))
            for fid, items in db.execute(
                "SELECT f.id, s.items FROM fetches f JOIN snapshots s ON s.id = f.snapshot_id"
            ).fetchall()
        ),
    }


def presence(db: Database) -> dict[str, list]:
    """What must not depend on the order of arrival (the fetch behind an extent is named by its
    instant only, so a capture and a live poll at the same instant compare equal)."""
    full = history(db)

    def instant(value):
        return value.split("/")[0] if isinstance(value, str) and value[:2] == "20" and "/" in value else value

    return {name: sorted(tuple(instant(v) for v in r) for r in rows) for name, rows in full.items()}


# ---- a local Wayback Machine: CDX server and replay server on pytest-httpserver

RBC = "https://www.rbc.ru/"


def http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


class Wayback:
    """CDX rows and mementos served the way web.archive.org serves them (see the samples in
    the project's reference notes): JSON with a header row; `id_` mementos with
    Memento-Datetime and X-Archive-Orig-* headers; 302s to the nearest capture without it."""

    def __init__(self, httpserver) -> None:
        import re

        self.server = httpserver
        self.rows: list[list[str]] = []
        self.answers: dict[str, list] = {}  # timestamp -> answers to give in turn (the last repeats)
        self.memento_requests: list[str] = []
        self.cdx_requests: list[dict] = []
        httpserver.expect_request("/cdx/search/cdx").respond_with_handler(self._cdx)
        httpserver.expect_request(re.compile(r"^/web/")).respond_with_handler(self._replay)

    @property
    def cdx_url(self) -> str:
        return self.server.url_for("/cdx/search/cdx")

    @property
    def replay_url(self) -> str:
        return self.server.url_for("/web/")

    def add(self, moment: datetime, *answers, original: str = RBC) -> str:
        """A CDX row and what its memento answers (a body: a 200 capture; or a Werkzeug Response)."""
        ts = stamp(moment)
        self.rows.append(["ru,rbc)/", ts, original, "text/html", "200", "DIGEST" + ts, "1000"])
        self.answers[ts] = list(answers)
        return ts

    def memento(self, moment: datetime, body: bytes | str, status: int = 200, headers: dict | None = None):
        from werkzeug import Response

        data = body.encode() if isinstance(body, str) else body
        return Response(
            data,
            status=status,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Memento-Datetime": http_date(moment),
                "Link": f'<{RBC}>; rel="original"',
                "X-Archive-Src": "crawl/IA-2022.warc.gz",
                "X-Archive-Orig-Server": "nginx",
                **(headers or {}),
            },
        )

    def plain(self, status: int, body: str = "", headers: dict | None = None):
        """An answer of the Wayback Machine itself (no Memento-Datetime)."""
        from werkzeug import Response

        return Response(body, status=status, headers={"Content-Type": "text/html", **(headers or {})})

    def redirect_to(self, moment: datetime, original: str = RBC):
        return self.plain(
            302,
            headers={
                "Location": f"{self.replay_url}{stamp(moment)}id_/{original}",
                "X-Archive-Redirect-Reason": f"found capture at {stamp(moment)}",
            },
        )

    def _cdx(self, request):
        from werkzeug import Response

        self.cdx_requests.append(dict(request.args))
        low, high = request.args.get("from", "0"), request.args.get("to", "99999999999999")
        rows = [r for r in self.rows if low <= r[1] <= high]
        header = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
        fields = request.args.get("fl", ",".join(header)).split(",")
        table = [fields] + [[dict(zip(header, r, strict=True))[f] for f in fields] for r in rows]
        return Response(json.dumps(table if rows else []), content_type="application/json")

    def _replay(self, request):
        ts = request.path.split("/")[2][:14]
        self.memento_requests.append(ts)
        queue = self.answers.get(ts)
        if not queue:
            return self.plain(404, "<p>Wayback Machine has not archived that URL.</p>")
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, (bytes, str)):
            return self.memento(parse_stamp(ts), answer)
        return answer


def parse_stamp(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


# ---- WARC files written with warcio, as crawlers write them


class WarcFile:
    """Writes a WARC file record by record (gzip: one member per record, as crawlers do)."""

    def __init__(self, path, *, gzip: bool) -> None:
        from warcio.warcwriter import WARCWriter

        self.path = path
        self._stream = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.writer = WARCWriter(self._stream, gzip=gzip)
        info = self.writer.create_warcinfo_record(path.name, {"software": "tests", "format": "WARC 1.0"})
        self.writer.write_record(info)

    def response(
        self, uri: str, body: bytes, when: datetime, *, status: str = "200 OK", content_type="text/html"
    ) -> tuple[str, str]:
        """A request record and its response; returns (record id, payload digest)."""
        from io import BytesIO

        from warcio.statusandheaders import StatusAndHeaders

        date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        request = self.writer.create_warc_record(
            uri, "request", payload=BytesIO(b""),
            http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "www.rbc.ru")], is_http_request=True),
            warc_headers_dict={"WARC-Date": date},
        )  # fmt: skip
        headers = StatusAndHeaders(
            status, [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )  # fmt: skip
        record = self.writer.create_warc_record(
            uri,
            "response",
            payload=BytesIO(body),
            http_headers=headers,
            warc_headers_dict={"WARC-Date": date},
        )
        self.writer.write_record(request)
        self.writer.write_record(record)
        return record.rec_headers.get_header("WARC-Record-ID"), record.rec_headers.get_header(
            "WARC-Payload-Digest"
        )

    def revisit(self, uri: str, digest: str, refers_to_uri: str, refers_to: datetime, when: datetime) -> str:
        from warcio.statusandheaders import StatusAndHeaders

        headers = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
        )
        record = self.writer.create_revisit_record(
            uri, digest, refers_to_uri, refers_to.strftime("%Y-%m-%dT%H:%M:%SZ"), http_headers=headers,
            warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )  # fmt: skip
        self.writer.write_record(record)
        return record.rec_headers.get_header("WARC-Record-ID")

    def close(self) -> None:
        self._stream.close()
