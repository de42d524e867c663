"""Block pages: a bot challenge, captcha or "access restricted" stub served instead of the content.

One rule for every kind (a page, an `html` list, an RSS/Atom feed, feed JSON, an XML document):
when a parser finds none of the content it expects, `block_page` says whether the body is such a
stub and whose; the fetch is then recorded as `blocked`, not as a `parse_error`. It is asked only
after the content was not found: a real page may well name DDoS-Guard or Cloudflare in a headline.

Vendor markers (script paths, cookie and form names) count anywhere in the first 64 KB; generic
phrases ("Доступ ограничен", "Access denied") only in a small body, where they are the page.
"""

from __future__ import annotations

import re

HEAD_BYTES = 65_536  # stubs put their markers up front; a real page's head is read no further
SMALL_BODY = 65_536  # a generic phrase is the page only in a body this small

# (vendor, markers): lower-case text as it appears in the stubs' markup.
_VENDORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Qrator", ("__qrator", "qauth.js", "qauth_utm", "qrator.net")),
    ("DDoS-Guard", ("ddos-guard", "ddos_guard", "__ddg1", "ddg-captcha")),
    (
        "Cloudflare",
        (
            "/cdn-cgi/challenge-platform/",
            "_cf_chl_opt",
            "cf-browser-verification",
            "cf_chl_",
            "cf-chl-",
            "attention required! | cloudflare",
            '<div id="cf-wrapper"',
            "cf-error-details",
        ),
    ),
    (
        "Yandex SmartCaptcha",
        ("smartcaptcha", "captcha-api.yandex", "/showcaptcha", "checkboxcaptcha", "advancedcaptcha"),
    ),
    ("Variti", ("variti", "/_vrt_")),
    ("StormWall", ("stormwall",)),
    ("ServicePipe", ("servicepipe", "spsc_challenge")),
    ("Imperva", ("_incapsula_resource", "incapsula incident id")),
    ("Akamai", ("errors.edgesuite.net", "akamai reference")),
    ("AWS WAF", ("awswaf", "aws-waf-token")),
)
_GENERIC = re.compile(
    r"доступ\s+(?:ограничен|запрещ[её]н|временно\s+ограничен)|access\s+denied|access\s+to\s+this\s+page"
    r"\s+has\s+been\s+denied|checking\s+your\s+browser|проверка\s+браузера|проверяем\s+браузер"
    r"|just\s+a\s+moment\.\.\.|вы\s+не\s+робот|are\s+you\s+a\s+robot|not\s+a\s+robot|подтвердите,\s+что\s+"
    r"(?:вы\s+(?:не\s+робот|человек)|запросы\s+отправляли\s+вы)|g-recaptcha|h-captcha|hcaptcha\.com"
    r"|please\s+enable\s+(?:javascript\s+and\s+)?cookies|too\s+many\s+requests|слишком\s+много\s+запросов"
)
_TAG_CHARS = re.compile(r"&nbsp;|&#160;|\s+")


def _head(body: bytes | str) -> tuple[str, int]:
    """The body's first 64 KB as lower-case text (bytes read as Latin-1: markers are ASCII,
    Cyrillic phrases are matched in UTF-8 and windows-1251 decodings too), and its size."""
    if isinstance(body, str):
        return body[:HEAD_BYTES].lower(), len(body)
    return body[:HEAD_BYTES].decode("latin-1").lower(), len(body)


def block_page(body: bytes | str) -> str | None:
    """Whose block page `body` is ("Qrator", "Cloudflare", ... or "access restricted" for a small
    stub saying so), None when it is not one."""
    head, size = _head(body)
    for vendor, markers in _VENDORS:
        if any(marker in head for marker in markers):
            return vendor
    if size > SMALL_BODY:
        return None
    texts = [head]
    if isinstance(body, bytes) and not body.isascii():
        raw = body[:HEAD_BYTES]
        texts = [raw.decode("utf-8", "replace").lower(), raw.decode("cp1251", "replace").lower()]
    if any(_GENERIC.search(_TAG_CHARS.sub(" ", text)) for text in texts):
        return "access restricted"
    return None


def looks_like_challenge(text: bytes | str) -> bool:
    """Whether `text` is a block page (see `block_page`)."""
    return block_page(text) is not None


def blocked_message(vendor: str, instead_of: str = "the content") -> str:
    """The one-line reason a blocked fetch records."""
    if vendor == "access restricted":
        return f"block page (access restricted / captcha) instead of {instead_of}"
    return f"bot challenge page ({vendor}) instead of {instead_of}"
