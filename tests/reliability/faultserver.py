"""A small threaded raw-socket HTTP server on 127.0.0.1 for faults pytest-httpserver cannot make:
a server that accepts and never answers, headers followed by a stalled body, a body shorter than
its Content-Length, a gzip bomb, a 200 MB body streamed, pages that change on every request.

Each path maps to a handler `handler(conn, request)` that writes raw bytes to the socket.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

Handler = Callable[[socket.socket, "Request"], None]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class FaultServer:
    """`server.route("/path", handler)`; `server.url("/path")` is its address."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.routes: dict[str, Handler] = {}
        self.hits: dict[str, int] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            request = _read_request(conn)
            if request is None:
                return
            with self._lock:
                self.hits[request.path] = self.hits.get(request.path, 0) + 1
            handler = self.routes.get(request.path.split("?")[0], not_found)
            handler(conn, request)
        except OSError:
            pass  # the client went away: that is what several faults provoke
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, path, _ = head[0].split(" ", 2)
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(method, path, headers)


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    conn: socket.socket,
    status: str,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    extra: dict[str, str] | None = None,
) -> None:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close"}
    conn.sendall(head(status, {**headers, **(extra or {})}) + body)


# Handlers -----------------------------------------------------------------------------------


def not_found(conn: socket.socket, request: Request) -> None:
    respond(conn, "404 Not Found", b"not here", "text/plain")


def static(
    body: bytes,
    status: str = "200 OK",
    content_type: str = "text/html; charset=utf-8",
    extra: dict[str, str] | None = None,
) -> Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        respond(conn, status, body, content_type, extra)

    return handler


def dynamic(make_body: Callable[[int], bytes], content_type: str = "text/html; charset=utf-8") -> Handler:
    """A page built afresh for every request (`make_body(request_number)`)."""
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()

    def handler(conn: socket.socket, request: Request) -> None:
        with lock:
            number = next(counter)
        respond(conn, "200 OK", make_body(number), content_type)

    return handler


def never_answer(server: FaultServer) -> Handler:
    """Accept, read the request, then say nothing until the server stops."""

    def handler(conn: socket.socket, request: Request) -> None:
        server.stopping.wait(120)

    return handler


def headers_then_stall(server: FaultServer, sent: bytes = b"<html><body>") -> Handler:
    """Status and headers promising 100 KB, a few bytes, then silence."""

    def handler(conn: socket.socket, request: Request) -> None:
        conn.sendall(head("200 OK", {"Content-Type": "text/html", "Content-Length": "100000"}) + sent)
        server.stopping.wait(120)

    return handler


def drip(server: FaultServer, every_s: float) -> Handler:
    """A body that never stops: one byte every `every_s` (under the read timeout)."""

    def handler(conn: socket.socket, request: Request) -> None:
        conn.sendall(head("200 OK", {"Content-Type": "text/html", "Content-Length": "100000"}))
        while not server.stopping.wait(every_s):
            conn.sendall(b"x")

    return handler


def drip_headers(server: FaultServer, every_s: float) -> Handler:
    """A status line, then headers that never end: one byte every `every_s` (under the read timeout)."""

    def handler(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not server.stopping.wait(every_s):
            conn.sendall(b"X")

    return handler


def cut_short(body: bytes, declared: int) -> Handler:
    """Content-Length larger than what is sent, then the connection closes."""

    def handler(conn: socket.socket, request: Request) -> None:
        conn.sendall(
            head("200 OK", {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(declared)})
        )
        conn.sendall(body)
        conn.shutdown(socket.SHUT_WR)

    return handler


def huge(total: int, *, declare_length: bool) -> Handler:
    """`total` bytes of filler streamed in 64 KB pieces (until the client hangs up)."""
    piece = (b"<p>" + b"a" * 65530 + b"</p>")[:65536]

    def handler(conn: socket.socket, request: Request) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8", "Connection": "close"}
        if declare_length:
            headers["Content-Length"] = str(total)
        conn.sendall(head("200 OK", headers))
        sent = 0
        while sent < total:
            conn.sendall(piece)
            sent += len(piece)

    return handler


@cache
def gzip_bomb_bytes(decoded_size: int = 1 << 30) -> bytes:
    """`decoded_size` zero bytes, gzip-compressed (1 GiB -> about 1 MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb(decoded_size: int = 1 << 30) -> Handler:
    data = gzip_bomb_bytes(decoded_size)

    def handler(conn: socket.socket, request: Request) -> None:
        respond(conn, "200 OK", data, extra={"Content-Encoding": "gzip"})

    return handler


def redirect(location: str, status: str = "302 Found") -> Handler:
    def handler(conn: socket.socket, request: Request) -> None:
        respond(conn, status, b"", extra={"Location": location})

    return handler
