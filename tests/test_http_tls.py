"""TLS is verified: the per-scheme transport builds its certificate-checking context lazily,
never a lax one for https."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ticker.scraper import http


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def self_signed_https(tmp_path):
    """A real HTTPS server on loopback with a self-signed certificate."""
    assert shutil.which("openssl"), "openssl is part of the base system"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_https_certificates_are_verified(self_signed_https):
    with http.make_client() as client, pytest.raises(http.FetchFailed) as failure:
        http.get(client, self_signed_https)
    assert failure.value.outcome == "network_error"
    host_port = self_signed_https.removeprefix("https://").rstrip("/")
    assert failure.value.message.startswith(f"TLS failed with {host_port}: its certificate is not trusted (")
    assert "self-signed certificate" in failure.value.message
    assert "CERTIFICATE_VERIFY_FAILED" in failure.value.message


def test_plain_http_needs_no_tls_context(httpserver):
    httpserver.expect_request("/").respond_with_data("ok")
    transport = http.SchemeTransport()
    with http.make_client(transport=transport) as client:
        assert http.get(client, httpserver.url_for("/")).body == b"ok"
    assert set(transport._by_scheme) == {"http"}
