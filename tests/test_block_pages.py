"""Block pages served with 200 OK instead of the content, for every kind: recorded as `blocked`
(naming whose challenge), never as a `parse_error` or as an empty snapshot. The stubs are
hand-written after the real ones (Qrator, Cloudflare, DDoS-Guard, Yandex SmartCaptcha, a
Russian "access restricted" page)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rbc_markup import Item, item_id, render_page, standard_items

from ticker.db.schema import open_db
from ticker.jobs.poll import poll
from ticker.jobs.sources import SourceSpec
from ticker.scraper.challenge import block_page
from ticker.scraper.http import make_client

T0 = datetime(2024, 11, 26, 7, 0, tzinfo=UTC)

QRATOR = (
    '<html><head><script type="text/javascript" src="/__qrator/qauth_utm_v2_8c1a.js" defer></script>'
    "</head><body><noscript>Please enable JavaScript to continue.</noscript></body></html>"
)
CLOUDFLARE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="refresh" content="390"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">www.example.ru</h1><h2 class="h2" id="challenge-running">
Checking if the site connection is secure</h2><noscript><div class="h2">Enable JavaScript and cookies
to continue</div></noscript></div></div><script>(function(){window._cf_chl_opt={cvId: '3',
cZone: "www.example.ru", cType: 'managed'};var cpo = document.createElement('script');
cpo.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8a1b2c3d4e5f6a7b';
document.getElementsByTagName('head')[0].appendChild(cpo);}());</script></body></html>"""
DDOS_GUARD = """<!DOCTYPE html><html><head><title>DDoS-Guard</title>
<script src="/.well-known/ddos-guard/check?context=free_splash"></script></head>
<body><div id="ddg-l10n-title">Checking your browser before accessing the website</div></body></html>"""
SMARTCAPTCHA = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Вы не робот?</title>
<script src="https://smartcaptcha.yandexcloud.net/captcha.js" defer></script></head><body>
<form method="post" action="/checkcaptcha"><div class="CheckboxCaptcha">Подтвердите, что запросы
отправляли вы, а не робот</div></form></body></html>"""
RESTRICTED = """<html><head><meta charset="windows-1251"><title>Доступ ограничен</title></head>
<body><h1>Доступ ограничен</h1><p>Ваш IP-адрес временно заблокирован. Обратитесь к администратору
сайта.</p></body></html>"""

STUBS = [
    ("Qrator", QRATOR.encode()),
    ("Cloudflare", CLOUDFLARE.encode()),
    ("DDoS-Guard", DDOS_GUARD.encode()),
    ("Yandex SmartCaptcha", SMARTCAPTCHA.encode()),
    ("access restricted", RESTRICTED.encode("cp1251")),
    ("access restricted", RESTRICTED.replace("windows-1251", "utf-8").encode()),
]
STUB_IDS = ["qrator", "cloudflare", "ddos-guard", "smartcaptcha", "restricted-cp1251", "restricted-utf8"]

SELECT = {"item": "a.card-mini", "title": ".card-mini__title", "link": "@href"}
KINDS = [
    ({"name": "rbc", "kind": "rbc"}, None),
    ({"name": "rbc", "kind": "rbc", "channels": ("rss",)}, "rss"),
    ({"name": "rbc", "kind": "rbc", "channels": ("feed_json",)}, "feed_json"),
    ({"name": "lenta_page", "kind": "html", "options": {"select": SELECT}}, None),
    ({"name": "tass", "kind": "rss"}, None),
    ({"name": "cbr", "kind": "cbr"}, None),
]
KIND_IDS = ["rbc page", "rbc rss", "rbc feed json", "html", "rss", "cbr xml"]


def _poll(tmp_path, httpserver, spec_kwargs: dict, channel: str | None, body: bytes, content_type: str):
    httpserver.clear()
    httpserver.expect_request("/feed").respond_with_data(body, content_type=content_type)
    url = httpserver.url_for("/feed")
    spec = SourceSpec(**spec_kwargs, **({"urls": ((channel, url),)} if channel else {"url": url}))
    with make_client() as client:
        return poll(open_db(tmp_path / "t.db"), client, spec, channel=channel, now=lambda: T0)


# Every kind meets two different stubs, every stub two different kinds.
CASES = [(*kind, *STUBS[(n + shift) % len(STUBS)]) for n, kind in enumerate(KINDS) for shift in (0, 3)]
CASE_IDS = [
    f"{KIND_IDS[n]}-{STUB_IDS[(n + shift) % len(STUBS)]}" for n in range(len(KINDS)) for shift in (0, 3)
]


@pytest.mark.parametrize(("spec", "channel", "vendor", "body"), CASES, ids=CASE_IDS)
def test_a_block_page_is_blocked_for_every_kind(tmp_path, httpserver, spec, channel, vendor, body):
    saved = _poll(tmp_path, httpserver, spec, channel, body, "text/html")
    assert (saved.outcome, saved.changed) == ("blocked", False), saved.row.error
    if vendor != "access restricted":
        assert f"({vendor})" in saved.row.error
    assert saved.row.error.startswith("HTTP 200: ") and "\n" not in saved.row.error


def test_a_block_page_labelled_as_a_feed_is_blocked(tmp_path, httpserver):
    saved = _poll(
        tmp_path,
        httpserver,
        {"name": "tass", "kind": "rss"},
        None,
        CLOUDFLARE.encode(),
        "application/rss+xml",
    )
    assert saved.outcome == "blocked" and "(Cloudflare)" in saved.row.error


def test_a_page_that_names_a_vendor_in_a_headline_is_content(tmp_path, httpserver):
    items = standard_items(6)
    items[0] = Item(id=item_id(900), title="DDoS-Guard и Cloudflare: доступ ограничен для ботов")
    saved = _poll(
        tmp_path, httpserver, {"name": "rbc", "kind": "rbc"}, None, render_page(items).encode(), "text/html"
    )
    assert saved.outcome == "ok" and saved.row.error is None


def test_a_relaid_page_without_a_challenge_stays_a_parse_error(tmp_path, httpserver):
    body = b"<html><body>" + b"<div class='news'><a href='/a'>x</a></div>" * 50 + b"</body></html>"
    spec = {"name": "lenta_page", "kind": "html", "options": {"select": SELECT}}
    saved = _poll(tmp_path, httpserver, spec, None, body, "text/html")
    assert saved.outcome == "parse_error" and "matches item selector" in saved.row.error


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>"
        + "<p>Доступ ограничен к архиву до 1990 года</p>" * 3000
        + "</body></html>",  # big: a page
        "<rss><channel><item><title>Access denied to Navalny's lawyers</title></item></channel></rss>" * 2000,
    ],
    ids=["big page", "big feed"],
)
def test_a_generic_phrase_in_a_large_body_is_not_a_block_page(text):
    assert block_page(text.encode()) is None
