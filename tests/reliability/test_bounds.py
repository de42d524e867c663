"""Bounds of the HTTP layer and of parsing, exercised in-process against a real loopback server:
response headers carried on every answer, stacked content codings, Retry-After, 304 without
validators, the markup guard."""

from __future__ import annotations

import socket

import pytest

from reliability import faultserver as fs
from reliability.faultserver import FaultServer, Request
from ticker.scraper import http

pytestmark = pytest.mark.reliability


def _repeated_headers(status: str) -> fs.Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        lines = [
            f"HTTP/1.1 {status}",
            "Content-Type: text/plain",
            "Content-Length: 2",
            "Connection: close",
            "X-Archive-Note: first",
            "x-archive-note: second",
            'ETag: "v1"',
        ]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\nhi").encode("latin-1"))

    return handler


def test_answer_carries_response_headers(fault_server: FaultServer):
    url = fault_server.route("/h", _repeated_headers("200 OK"))
    with http.make_client() as client:
        answer = http.get(client, url)
    assert answer.body == b"hi"
    assert answer.headers["x-archive-note"] == "first, second"
    assert answer.headers["etag"] == '"v1"' and answer.headers["content-type"] == "text/plain"
    assert all(name == name.lower() for name in answer.headers)


def test_fetch_failed_carries_response_headers(fault_server: FaultServer):
    url = fault_server.route("/h", _repeated_headers("503 Service Unavailable"))
    with http.make_client() as client, pytest.raises(http.FetchFailed) as failure:
        http.get(client, url)
    assert failure.value.status == 503
    assert failure.value.headers["x-archive-note"] == "first, second"


def test_headers_default_to_empty():
    assert http.FetchFailed("network_error", "x").headers == {}
    assert http.Answer("u", 200, b"", None, None, None).headers == {}
