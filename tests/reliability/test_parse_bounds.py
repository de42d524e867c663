"""The parse's hard bound (ticker.scraper.bounded): every kind's parser runs in a worker process
that is killed when it takes too long; the fetch is recorded as a parse_error saying so, the
worker is replaced, and the next parse works."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from reliability.support import page_bytes
from ticker.core.base import BlockedPage, ParseError
from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper import bounded
from ticker.scraper.http import make_client

pytestmark = pytest.mark.reliability
T0 = datetime(2024, 11, 25, 12, 0, tzinfo=UTC)
HTML = "text/html; charset=utf-8"
LIMIT_S = 0.3
DEEP = b"<div>" * 50_000  # Lexbor: several seconds (its stack walks grow with the depth squared)


@pytest.fixture
def short_limit(monkeypatch):
    monkeypatch.setattr(bounded, "PARSE_TIMEOUT_S", LIMIT_S)


def _poll(tmp_path, httpserver, spec_kwargs: dict, body: bytes, content_type: str = HTML):
    httpserver.expect_request("/").respond_with_data(body, content_type=content_type)
    db = open_db(tmp_path / "t.db")
    spec = SourceSpec(url=httpserver.url_for("/"), **spec_kwargs)
    with make_client() as client:
        return poll(db, client, spec, now=lambda: T0)


SELECT = {"item": "a.card-mini", "title": ".card-mini__title", "link": "@href"}


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        ({"name": "rbc", "kind": "rbc"}, page_bytes().replace(b"<body>", b"<body>" + DEEP, 1)),
        ({"name": "lenta", "kind": "html", "options": {"select": SELECT}}, b"<html><body>" + DEEP),
        (  # a shallow page, but the selector backtracks over every <div> for every <span>: minutes
            {"name": "lenta", "kind": "html", "options": {"select": {**SELECT, "item": "div:has(a) span"}}},
            b"<html><body>" + b"<div>" * 400 + b"<span>x</span>" * 3000,
        ),
    ],
    ids=["rbc page", "html list", "html selector"],
)
def test_a_parse_past_the_limit_is_stopped_and_recorded(tmp_path, httpserver, short_limit, spec, body):
    started = time.monotonic()
    saved = _poll(tmp_path, httpserver, spec, body)
    assert time.monotonic() - started < 5  # the parse alone takes several seconds unbounded
    assert saved.outcome == "parse_error"
    assert saved.row.error == f"parse took longer than {LIMIT_S:g} s: stopped"


def test_the_worker_is_replaced_after_a_timeout(short_limit):
    with pytest.raises(bounded.ParseTimeout, match=r"^parse took longer than 0\.3 s: stopped$"):
        bounded.run_bounded(time.sleep, 5)
    assert bounded.run_bounded(sum, [1, 2, 3]) == 6  # a fresh worker answers


def test_a_parse_waits_while_the_interpreter_stays_free(short_limit):
    """The parent only waits on a pipe: its other threads run while a worker parses."""
    started = time.process_time()
    with pytest.raises(bounded.ParseTimeout):
        bounded.run_bounded(time.sleep, 5)
    assert time.process_time() - started < LIMIT_S / 2  # no CPU of this process spent waiting


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (BlockedPage("bot challenge page"), BlockedPage),
        (ParseError("no ticker"), ParseError),
        (ValueError("a parser bug"), ValueError),
    ],
)
def test_what_the_parser_raises_is_raised_here(error, expected):
    with pytest.raises(expected, match=str(error)) as raised:
        bounded.run_bounded(_raise, error)
    assert type(raised.value) is expected


def _raise(error: Exception) -> None:
    raise error


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_dies_is_a_parse_error():
    with pytest.raises(ParseError, match=r"^parse worker died \(killed by SIGKILL\): stopped$"):
        bounded.run_bounded(_die)
    assert bounded.run_bounded(len, b"abc") == 3


def test_a_function_not_sent_by_reference_runs_in_a_one_off_fork(short_limit):
    offset = 40
    assert bounded.run_bounded(lambda x: x + offset, 2) == 42
    with pytest.raises(bounded.ParseTimeout):
        bounded.run_bounded(lambda: time.sleep(5))


def test_workers_answer_concurrent_callers_in_order():
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda n: bounded.run_bounded(pow, n, 2), range(40)))
    assert results == [n * n for n in range(40)]


def test_the_limit_grows_with_a_large_body_only():
    """A real 10,000-item page (8 MB) takes over a second: big bodies get more time, small
    hostile ones none."""
    assert bounded.parse_limit(0) == bounded.parse_limit(1_048_576) == bounded.PARSE_TIMEOUT_S
    assert bounded.parse_limit(8 * 1_048_576) == bounded.PARSE_TIMEOUT_S + 7 * bounded.SECONDS_PER_MB
