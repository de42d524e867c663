"""Peak memory of one `ticker fetch` against hostile bodies: stacked content codings.

Serves, from a tiny loopback server, `gzip(gzip(400 MB of zeros))` labelled
`Content-Encoding: gzip, gzip` (822 bytes on the wire) and variants, runs
`ticker fetch rbc --url http://127.0.0.1:PORT/... --db <tmp>` under `/usr/bin/time -v`, and prints
the whole process's peak RSS and the error line.

    .venv/bin/python benchmarks/http_bounds.py [--size-mb 400]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import zstandard


def gzip_bytes(data_chunks, level: int = 9) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    parts = [compressor.compress(chunk) for chunk in data_chunks]
    parts.append(compressor.flush())
    return b"".join(parts)


def zeros(total: int, step: int = 1 << 20):
    for _ in range(total // step):
        yield bytes(step)


def bodies(size: int) -> dict[str, tuple[str, bytes]]:
    """path -> (Content-Encoding, wire bytes)."""
    once = gzip_bytes(zeros(size))
    twice = gzip_bytes([once])
    thrice = gzip_bytes([twice])
    deflate_gzip = zlib.compress(once, 9)  # zlib-wrapped "deflate" over gzip
    return {
        "/gzip-gzip": ("gzip, gzip", twice),
        "/gzip-x3": ("gzip, gzip, gzip", thrice),
        "/gzip-deflate": ("gzip, deflate", deflate_gzip),
        "/identity-gzip-gzip": ("identity, GZIP ,gzip", twice),
        "/zstd": ("zstd", zstandard.ZstdCompressor(level=19).compress(bytes(size))),
        "/gzip-zstd": ("gzip, zstd", zstandard.ZstdCompressor(level=19).compress(once)),
        "/br": ("br", b"\x0b\x02\x80hello\x03"),
    }


def serve(table: dict[str, tuple[str, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            coding, body = table[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Encoding", coding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=400)
    args = parser.parse_args()
    table = bodies(args.size_mb << 20)
    server = serve(table)
    port = server.server_address[1]
    print(f"{'path':22} {'coding':22} {'wire':>9} {'peak RSS':>9} {'rc':>3}  error")
    with tempfile.TemporaryDirectory() as folder:
        for path, (coding, body) in table.items():
            db = Path(folder) / f"{path.strip('/')}.db"
            done = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-m", "ticker", "fetch", "rbc",
                 "--url", f"http://127.0.0.1:{port}{path}", "--db", str(db)],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1]) / 1024
            error = next((line for line in done.stderr.splitlines() if line.startswith("Error")), "")
            print(f"{path:22} {coding:22} {len(body):>9} {peak:>7.0f}MB {done.returncode:>3}  {error[:110]}")
    server.shutdown()


if __name__ == "__main__":
    main()
