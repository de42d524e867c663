"""Shared benchmark helpers: statistics, tables, the machine, realistic inputs, a loopback server.

Inputs are built here, never copied: a ~250 KB RBC main page (tests/rbc_markup.py renders the
ticker; this module pads it with the kind of markup a real page carries around it) and a
Bank of Russia XML_daily document in windows-1251.

`python benchmarks/common.py serve` runs the loopback server on its own (it prints `PORT <n>`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # rbc_markup lives with the tests

from rbc_markup import Item, default_widgets, item_id, render_page  # noqa: E402

REFERENCE_PAGES = ROOT.parent / "shared" / "reference" / "pages"  # optional extra inputs, read if present
T0 = datetime(2025, 5, 29, 6, 0, tzinfo=UTC)
ITEMS_ON_PAGE = 14
TARGET_PAGE_BYTES = 250_000


# --- statistics and tables -------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def p95(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))  # nearest rank
    return ordered[index]


def ms(seconds: float) -> str:
    """Seconds as milliseconds, with sensible precision."""
    value = seconds * 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "n/a"


def table(headers: list[str], rows: list[list[object]], title: str | None = None) -> str:
    """A Markdown table (printed as is, pasted as is into RESULTS.md)."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [
        max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    lines = []
    if title:
        lines.append(f"\n### {title}\n")
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def timed_runs(fn: Callable[[], object], runs: int, warmup: int = 3) -> list[float]:
    """Wall time of `runs` calls (after `warmup`), one process, GC off while timing."""
    for _ in range(warmup):
        fn()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
    return times


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def machine() -> str:
    """One paragraph: the machine, the interpreter, the libraries, the load right now."""
    import sqlite3

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    libs = ", ".join(
        f"{name} {_version(name)}"
        for name in ("selectolax", "lxml", "beautifulsoup4", "httpx", "sqlite-utils", "click", "apscheduler")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {libs}. "
        f"Load average at start: {load}."
    )


# --- inputs: a realistic RBC page ------------------------------------------------------------

_TITLES = [
    "ЦБ сохранил ключевую ставку на уровне 21% годовых",
    "Путин подписал закон о продлении льготной ипотеки для семей с детьми",
    "Минфин предложил изменить порядок уплаты налога на прибыль",
    "В Москве ожидается до +28 °C и кратковременные дожди",
    "Лавров заявил о попытках НАТО милитаризировать Арктику",
    "Акции «Газпрома» подорожали на 3% после новостей о дивидендах",
    "Суд арестовал бывшего замминистра по делу о взятке",
    "Росстат зафиксировал замедление инфляции в мае",
    "Сборная России по хоккею объявила состав на матчи в Казани",
    "Аэропорты Казани и Нижнекамска ввели временные ограничения",
    "Как изменятся тарифы ЖКХ с 1 июля: разбор РБК",
    "Мосбиржа запустит торги новыми фьючерсами на золото",
    "Эксперты оценили спрос на новостройки после отмены льгот",
    "Власти Татарстана объявили о строительстве нового моста через Каму",
]
_RUBRICS = ["Политика", "Экономика", "Общество", "Финансы", "Бизнес", "Спорт", "Технологии и медиа"]


def ticker_item(n: int, *, stamp: int = 0x68385B7B) -> Item:
    """The n-th headline of a stream: mostly plain news, with the variants a real ticker mixes in."""
    kind = n % ITEMS_ON_PAGE
    published = T0 + timedelta(minutes=4 * n)
    item = Item(
        id=item_id(n, stamp),
        title=f"{_TITLES[n % len(_TITLES)]} ({n})",
        rubric=_RUBRICS[n % len(_RUBRICS)],
        published=published,
    )
    if kind == 3:
        item.document_type, item.project, item.paid, item.rubric = "article", "pro", True, "Подписка на РБК"
        item.href = f"https://www.rbc.ru/industries/news/{item.id}?from=newsfeed"
    elif kind == 6:
        item.document_type, item.project, item.rubric = "anons", "partners", "РБК и Сбер Первый"
        item.href = f"https://plus.rbc.ru/partners/{item.id}?from=newsfeed&utm_source=rbc"
    elif kind == 9:
        item.href = f"https://rt.rbc.ru/tatarstan/freenews/{item.id}?from=regional_newsfeed"
        item.project = "rt"
    elif kind == 11:
        item.document_type, item.show_date = "article", True
    elif kind == 12:
        item.modif = False  # older markup: no data-modif, time from the shown text
    return item


def _head_padding(nonce: str) -> str:
    metas = []
    for i in range(28):
        metas.append(
            f'    <meta property="og:meta{i}" content="РБК — новости, аналитика, котировки, мнения экспертов {i}"/>\n'
        )
    links = []
    for size in (57, 60, 72, 76, 114, 120, 144, 152, 180, 192, 512) * 2:
        links.append(
            f'    <link rel="apple-touch-icon" sizes="{size}x{size}" '
            f'href="//s.rbk.ru/v10_rbcnews_static/common/common-10.10.212/images/icon-{size}x{size}.png">\n'
        )
    config = {
        "project": "rbcnews",
        "region": "tatarstan",
        "csrf": nonce,
        "counters": {f"counter{i}": {"id": 1000 + i, "params": ["a" * 20, "b" * 20]} for i in range(60)},
        "features": [f"feature-flag-{i}" for i in range(2300)],
    }
    scripts = [
        f"    <script>window.__rbc = {json.dumps(config, ensure_ascii=False)};</script>\n",
        "    <script>\n"
        + "".join(
            f'        RA.config.set(\'option{i}\', {{"enabled": true, "value": "{"x" * 40}"}});\n'
            for i in range(90)
        )
        + "    </script>\n",
    ]
    return "".join(metas) + "".join(links) + "".join(scripts) + "    <style>.g-hidden{display:none}</style>\n"


def _nav(prefix: str, count: int) -> str:
    return "".join(
        f'                <a href="https://www.rbc.ru/{prefix}/{i}/?utm_source=topline" '
        f'class="topline__item js-yandex-counter" data-yandex-name="{prefix}_{i}" '
        f'data-yandex-params=\'{{"place": "{prefix}", "pos": {i}}}\'>\n'
        f"                    {_RUBRICS[i % len(_RUBRICS)]}\n                </a>\n"
        for i in range(count)
    )


def _card(i: int) -> str:
    hex_id = f"6837{i:04x}9a79470000{i:06x}"
    return f"""
        <div class="main__feed js-main-reload-item" data-id="{hex_id}" data-modif="{1748500000 + i}">
            <a href="https://www.rbc.ru/economics/29/05/2025/{hex_id}" class="main__feed__link js-yandex-counter js-visited"
               data-yandex-name="from_center" data-yandex-params='{{"position": {i}, "type": "main_feed"}}'>
                <span class="main__feed__img-wrap">
                    <picture>
                        <source srcset="https://s0.rbk.ru/v6_top_pics/resized/320xH/media/img/{i}/{hex_id}.webp 320w, https://s0.rbk.ru/v6_top_pics/resized/640xH/media/img/{i}/{hex_id}.webp 640w" media="(min-width: 1024px)" type="image/webp">
                        <source srcset="https://s0.rbk.ru/v6_top_pics/resized/320xH/media/img/{i}/{hex_id}.jpeg 320w" media="(max-width: 1023px)">
                        <img src="https://s0.rbk.ru/v6_top_pics/resized/320xH/media/img/{i}/{hex_id}.jpeg" alt="" class="main__feed__img" loading="lazy">
                    </picture>
                </span>
                <span class="main__feed__title-wrap">
                    <span class="main__feed__title">
                        {_TITLES[i % len(_TITLES)]}: подробности и реакция рынка
                    </span>
                </span>
            </a>
            <!-- main feed item {i} -->
            <div class="main__feed__info">
                <span class="main__feed__rubric">{_RUBRICS[i % len(_RUBRICS)]}</span>
                <span class="main__feed__date">29 мая, {8 + i % 12:02d}:{i % 60:02d}</span>
            </div>
        </div>"""


def _body_padding_top() -> str:
    cards = "".join(_card(i) for i in range(80))
    return (
        '<div class="topline js-topline">\n            <div class="topline__inner">\n'
        + _nav("rubric", 40)
        + "            </div>\n        </div>\n"
        + '<div class="l-window">\n    <div class="l-col-container">\n        <div class="main js-main-reload">\n'
        + cards
        + "\n        </div>\n"
    )


def _body_padding_bottom() -> str:
    blocks = "".join(
        f"""
            <div class="footer__block">
                <div class="footer__title">{_RUBRICS[b % len(_RUBRICS)]}</div>
                <ul class="footer__list">
{"".join(f'                    <li class="footer__item"><a href="https://www.rbc.ru/info/{b}/{i}/" class="footer__link" rel="nofollow">Раздел {b}.{i}</a></li>{chr(10)}' for i in range(12))}                </ul>
            </div>"""
        for b in range(10)
    )
    return f'    </div>\n</div>\n<div class="footer js-footer">{blocks}\n</div>\n'


_PADDING: dict[str, str] = {}


def _padding(part: str) -> str:
    if not _PADDING:
        _PADDING["top"] = _body_padding_top()
        _PADDING["bottom"] = _body_padding_bottom()
    return _PADDING[part]


def rbc_page(
    first: int = 0, *, stamp: int = 0x68385B7B, nonce: str = "0", region: str = "tatarstan"
) -> bytes:
    """A real-sized RBC main page whose ticker shows items first+13 .. first (newest first)."""
    items = [ticker_item(n, stamp=stamp) for n in range(first + ITEMS_ON_PAGE - 1, first - 1, -1)]
    newest = items[0].published
    ticker = render_page(
        items, widgets=default_widgets(), updated=newest + timedelta(minutes=1), region=region
    )
    head, _, rest = ticker.partition("</head>")
    top, _, rest = rest.partition('            <div class="news-feed__wrapper')
    middle, _, tail = rest.partition("<footer>")
    text = (
        head
        + _head_padding(hashlib.sha256(nonce.encode()).hexdigest())
        + "</head>"
        + top
        + _padding("top")
        + '            <div class="news-feed__wrapper'
        + middle
        + _padding("bottom")
        + "<footer>"
        + tail
    )
    return text.encode("utf-8")


def reference_pages() -> list[tuple[str, bytes]]:
    """Real saved pages, when this machine has them (optional extra inputs, read at run time)."""
    if not REFERENCE_PAGES.is_dir():
        return []
    return [(path.name, path.read_bytes()) for path in sorted(REFERENCE_PAGES.glob("*.html"))]


# --- inputs: a Bank of Russia XML_daily document ---------------------------------------------

_CBR_CURRENCIES = [
    ("R01010", "036", "AUD", 1, "Австралийский доллар", "51,5829"),
    ("R01020A", "944", "AZN", 1, "Азербайджанский манат", "46,8751"),
    ("R01035", "826", "GBP", 1, "Фунт стерлингов Соединенного королевства", "107,5634"),
    ("R01060", "051", "AMD", 100, "Армянских драмов", "20,6782"),
    ("R01090B", "933", "BYN", 1, "Белорусский рубль", "24,3570"),
    ("R01100", "975", "BGN", 1, "Болгарский лев", "45,8231"),
    ("R01115", "986", "BRL", 1, "Бразильский реал", "14,0521"),
    ("R01135", "348", "HUF", 100, "Венгерских форинтов", "22,4110"),
    ("R01150", "704", "VND", 10000, "Вьетнамских донгов", "30,8043"),
    ("R01200", "344", "HKD", 1, "Гонконгский доллар", "10,1864"),
    ("R01210", "981", "GEL", 1, "Грузинский лари", "29,1208"),
    ("R01215", "208", "DKK", 1, "Датская крона", "12,0150"),
    ("R01230", "784", "AED", 1, "Дирхам ОАЭ", "21,6972"),
    ("R01235", "840", "USD", 1, "Доллар США", "79,6000"),
    ("R01239", "978", "EUR", 1, "Евро", "90,3400"),
    ("R01240", "818", "EGP", 10, "Египетских фунтов", "16,0314"),
    ("R01270", "356", "INR", 10, "Индийских рупий", "93,1021"),
    ("R01280", "360", "IDR", 10000, "Индонезийских рупий", "48,7700"),
    ("R01335", "398", "KZT", 100, "Казахстанских тенге", "15,5813"),
    ("R01350", "124", "CAD", 1, "Канадский доллар", "57,7321"),
    ("R01355", "634", "QAR", 1, "Катарский риал", "21,8681"),
    ("R01370", "417", "KGS", 10, "Киргизских сомов", "91,0347"),
    ("R01375", "156", "CNY", 1, "Китайский юань", "11,0546"),
    ("R01500", "498", "MDL", 10, "Молдавских леев", "46,1019"),
    ("R01530", "554", "NZD", 1, "Новозеландский доллар", "47,4305"),
    ("R01535", "578", "NOK", 10, "Норвежских крон", "77,7818"),
    ("R01565", "985", "PLN", 1, "Польский злотый", "21,1640"),
    ("R01585F", "946", "RON", 1, "Румынский лей", "17,8254"),
    ("R01589", "960", "XDR", 1, "СДР (специальные права заимствования)", "108,6912"),
    ("R01625", "702", "SGD", 1, "Сингапурский доллар", "61,5522"),
    ("R01670", "972", "TJS", 10, "Таджикских сомони", "79,3420"),
    ("R01675", "764", "THB", 10, "Таиландских батов", "24,3821"),
    ("R01700J", "949", "TRY", 10, "Турецких лир", "20,4127"),
    ("R01710A", "934", "TMT", 1, "Новый туркменский манат", "22,7428"),
    ("R01717", "860", "UZS", 10000, "Узбекских сумов", "61,9910"),
    ("R01720", "980", "UAH", 10, "Украинских гривен", "19,1524"),
    ("R01760", "203", "CZK", 10, "Чешских крон", "35,9916"),
    ("R01770", "752", "SEK", 10, "Шведских крон", "82,1437"),
    ("R01775", "756", "CHF", 1, "Швейцарский франк", "96,0733"),
    ("R01805F", "941", "RSD", 100, "Сербских динаров", "77,1530"),
    ("R01810", "710", "ZAR", 10, "Южноафриканских рэндов", "44,2710"),
    ("R01815", "410", "KRW", 1000, "Вон Республики Корея", "57,8840"),
    ("R01820", "392", "JPY", 100, "Японских иен", "55,0311"),
]


def cbr_daily(day: str = "30.05.2025") -> bytes:
    """An XML_daily.asp answer: windows-1251, 43 currencies, VunitRate included (newer format)."""
    rows = []
    for ident, num, code, nominal, name, value in _CBR_CURRENCIES:
        unit = format(float(value.replace(",", ".")) / nominal, ".10g").replace(".", ",")
        rows.append(
            f'<Valute ID="{ident}"><NumCode>{num}</NumCode><CharCode>{code}</CharCode>'
            f"<Nominal>{nominal}</Nominal><Name>{name}</Name><Value>{value}</Value>"
            f"<VunitRate>{unit}</VunitRate></Valute>"
        )
    text = (
        '<?xml version="1.0" encoding="windows-1251"?>'
        f'<ValCurs Date="{day}" name="Foreign Currency Market">{"".join(rows)}</ValCurs>'
    )
    return text.encode("cp1251")


# --- the loopback server ---------------------------------------------------------------------


class _State:
    """Per-path counters: each `rotate` GET shows one new headline, each `same` GET new bytes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.static: dict[str, bytes] = {}
        self.cbr = cbr_daily()

    def next(self, key: str) -> int:
        with self.lock:
            value = self.counters.get(key, -1) + 1
            self.counters[key] = value
            return value


def _source_stamp(name: str) -> int:
    """Distinct item ids per source path (`/rbc/rotate/<name>`)."""
    return 0x68000000 + int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, etag: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        state = self.server.state
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        html = "text/html; charset=utf-8"
        if parts[:2] == ["cbr", "daily"]:
            return self._send(200, state.cbr, "application/xml; charset=windows-1251")
        if len(parts) >= 2 and parts[0] == "rbc":
            mode, name = parts[1], "/".join(parts[2:]) or "default"
            stamp = _source_stamp(name)
            if mode == "rotate":  # one new headline per GET
                n = state.next(self.path)
                return self._send(200, rbc_page(n, stamp=stamp, nonce=str(n)), html)
            if mode == "same":  # same items, new bytes each GET (a token in the page changes)
                n = state.next(self.path)
                return self._send(200, rbc_page(0, stamp=stamp, nonce=str(n)), html)
            if mode in ("static", "etag"):  # identical bytes; `etag` also answers 304
                body = state.static.get(name)
                if body is None:
                    body = state.static[name] = rbc_page(0, stamp=stamp)
                tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if mode == "etag" and self.headers.get("If-None-Match") == tag:
                    return self._send(304, b"", html, tag)
                return self._send(200, body, html, tag if mode == "etag" else None)
        return self._send(404, b"not found", "text/plain")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    state: _State


def serve(port: int = 0) -> None:
    server = _Server(("127.0.0.1", port), _Handler)
    server.state = _State()
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


class LoopbackServer:
    """The server in its own process (so it does not share the measured process's GIL)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "serve"], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.process.kill()
            raise RuntimeError("loopback server did not start")
        self.port = int(line[1])
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def venv_bin(name: str) -> str:
    """A console script next to the running interpreter (`ticker` in .venv/bin)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elif sys.argv[1:2] == ["page"]:
        sys.stdout.buffer.write(rbc_page(int(sys.argv[2]) if len(sys.argv) > 2 else 0))
    else:
        print(__doc__)


def recording_daemon(config, **kwargs):
    """The real daemon, also keeping each run's due time next to its start delay (`.runs`)."""
    from ticker.schedules.daemon import Daemon

    class RecordingDaemon(Daemon):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.runs: list[tuple[datetime, float]] = []

        def _on_executed(self, event) -> None:
            super()._on_executed(event)
            if isinstance(event.retval, datetime):
                self.runs.append(
                    (event.scheduled_run_time, (event.retval - event.scheduled_run_time).total_seconds())
                )

    return RecordingDaemon(config, **kwargs)
