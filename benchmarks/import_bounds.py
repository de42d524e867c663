"""Peak memory of reading hostile import inputs, bounded (today's defaults) against unbounded
(the same code with its bound lifted, as it was before issue 19):

- `revisit`: a `.warc.gz` of N responses of 20 MB of zeros (a few MB on disk), each payload kept
  for later revisits (`warc_reader.MAX_KEPT_BYTES`);
- `header`: a `.warc.gz` whose one record has a WARC header line of M MB
  (`warc_reader.MAX_HEADER_LINE`);
- `cdx`: a loopback CDX server paging P answers of 5,000 rows with 3.5 KB addresses
  (`wayback.MAX_CDX_BYTES`).

Each variant runs in a child process that reports its own peak RSS (`ru_maxrss`); variants are
interleaved within each round and the ratio is per round.

    .venv/bin/python benchmarks/import_bounds.py [--rounds 2] [--payloads 50] [--line-mb 256] [--pages 12] [--cases revisit,header,cdx]

`--payloads 200 --line-mb 2048` is the issue's case (about 3 GB and 1.3 GB unbounded).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ticker.scraper import wayback
from ticker.scraper.http import make_client
from ticker.scraper.warc_reader import Reader

UNBOUNDED = 10**15
PAYLOAD = 20 * 1024 * 1024


def _gzip_member(chunks) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)


def _record_head(uri: str, when: str, length: int, extra: bytes = b"") -> bytes:
    return (
        b"WARC/1.0\r\nWARC-Type: response\r\n"
        + f"WARC-Record-ID: <urn:uuid:{abs(hash((uri, when))):032x}>\r\nWARC-Target-URI: {uri}\r\n".encode()
        + f"WARC-Date: {when}\r\n".encode()
        + extra
        + f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n".encode()
    )


def write_revisit_file(path: Path, payloads: int) -> None:
    """N response records of 20 MB of zeros, one gzip member each."""
    http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {PAYLOAD}\r\n\r\n".encode()
    with open(path, "wb") as out:
        for n in range(payloads):
            head = _record_head(
                f"https://www.rbc.ru/?p={n}",
                f"2022-02-24T03:{n // 60:02d}:{n % 60:02d}Z",
                len(http) + PAYLOAD,
            )
            out.write(_gzip_member([head, http, *(bytes(1 << 20) for _ in range(20)), b"\r\n\r\n"]))


def write_header_file(path: Path, line_mb: int) -> None:
    """One record whose WARC headers hold one line of `line_mb` MB."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(compressor.compress(b"WARC/1.0\r\nWARC-Type: response\r\nX-Long: "))
        block = b"a" * (1 << 20)
        for _ in range(line_mb):
            out.write(compressor.compress(block))
        out.write(compressor.compress(_record_head("https://www.rbc.ru/", "2022-02-24T03:00:05Z", 0)[10:]))
        out.write(compressor.flush())


class _Cdx(BaseHTTPRequestHandler):
    pages = 12

    def do_GET(self) -> None:
        number = int(self.path.rsplit("resumeKey=key", 1)[1]) if "resumeKey=key" in self.path else 0
        rows = [["timestamp", "original"]] + [
            [f"2022022403{n % 60:02d}{n % 60:02d}", f"https://www.rbc.ru/?utm_x={'a' * 3500}{number}-{n}"]
            for n in range(5000)
        ]
        if number + 1 < self.pages:
            rows += [[], [f"key{number + 1}"]]
        body = json.dumps(rows).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def child(case: str, variant: str, target: str) -> None:
    """Run one case in this process; print the outcome and the peak RSS (MB) as JSON."""
    bounded = variant == "bounded"
    outcome = ""
    if case in ("revisit", "header"):
        reader = Reader() if bounded else Reader(max_kept_bytes=UNBOUNDED, bound_headers=False)
        records = sum(1 for _ in reader.records(Path(target)))
        outcome = f"{records} records read" + (f"; {reader.unreadable[0][-60:]}" if reader.unreadable else "")
    else:
        with make_client() as client:
            try:
                found = wayback.query_cdx(client, target, "https://www.rbc.ru/", start=None, end=None,
                                          max_bytes=wayback.MAX_CDX_BYTES if bounded else UNBOUNDED)  # fmt: skip
                outcome = f"{len(found)} captures listed"
            except wayback.CdxError as error:
                outcome = str(error)[:90]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": round(peak, 1), "outcome": outcome}))


def _run(case: str, variant: str, target: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, variant, target],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--payloads", type=int, default=50)
    parser.add_argument("--line-mb", type=int, default=256)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--cases", default="revisit,header,cdx", help="comma-separated: revisit,header,cdx")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as folder:
        revisit, header = Path(folder) / "revisit.warc.gz", Path(folder) / "header.warc.gz"
        write_revisit_file(revisit, args.payloads if "revisit" in args.cases else 0)
        write_header_file(header, args.line_mb if "header" in args.cases else 0)
        _Cdx.pages = args.pages
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Cdx)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cases = {
            "revisit": (
                str(revisit),
                f"{args.payloads} payloads of 20 MB ({revisit.stat().st_size / 1e6:.1f} MB file)",
            ),
            "header": (
                str(header),
                f"a {args.line_mb} MB header line ({header.stat().st_size / 1e6:.1f} MB file)",
            ),
            "cdx": (f"http://127.0.0.1:{server.server_address[1]}/cdx", f"{args.pages} CDX pages of ~18 MB"),
        }
        print("| case | unbounded peak MB | bounded peak MB | ratio | bounded outcome |")
        print("|---|---|---|---|---|")
        for case, (target, label) in cases.items():
            if case not in args.cases.split(","):
                continue
            peaks: dict[str, list[float]] = {"unbounded": [], "bounded": []}
            outcome = ""
            for _ in range(args.rounds):
                for variant in ("unbounded", "bounded"):
                    result = _run(case, variant, target)
                    peaks[variant].append(result["peak_mb"])
                    if variant == "bounded":
                        outcome = result["outcome"]
            ratios = [u / b for u, b in zip(peaks["unbounded"], peaks["bounded"], strict=True)]
            print(f"| {label} | {statistics.median(peaks['unbounded']):.0f} | {statistics.median(peaks['bounded']):.0f} "
                  f"| {statistics.median(ratios):.1f}× | {outcome} |")  # fmt: skip
        server.shutdown()


if __name__ == "__main__":
    main()
