"""The one place a link read from a page or feed becomes a stored headline address.

Every parser that reads links calls `safe_link`. The rules, in the order applied (they follow
what a browser's URL parser does with an `href`, so the stored address is the one a reader's
click would reach, and nothing that could run or print as something else is kept):

1. surrounding white space and C0 control characters are stripped;
2. tab, CR and LF inside are removed (browsers drop them too: `java\\tscript:` is `javascript:`,
   and a link wrapped over two lines of markup is the same link);
3. any other control character inside (C0, DEL, C1) refuses the link;
4. other white space and invisible format characters inside (a space, U+00A0, U+2028, U+200B,
   U+202E...) are percent-encoded (UTF-8), as browsers do;
5. the link is resolved against the page's address (`//host/...` takes the page's scheme);
6. only `http` and `https` with a host are kept: `javascript:`, `data:`, `vbscript:`, `file:`,
   `mailto:` ... are refused;
7. tracking parameters (`from=`, `utm_*`) are removed; everything else is kept as written.

`address_identity` / `same_address` are the one rule for "is this recorded address the source's
address" (imports: WARC records, CDX rows, memento redirects).

A refused link gives (None, warning): the item is kept without an address, or skipped when its id
would have come from the link.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote_plus, urljoin, urlsplit, urlunsplit

_SURROUNDING = "".join(chr(code) for code in range(0x21)) + "\u00a0\ufeff\u2028\u2029\u200b"
_REMOVED = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Printable ASCII only after an http(s) host's first character: no parsing needed.
_PLAIN_ABSOLUTE = re.compile(r"^https?://[A-Za-z0-9][!-~]*$", re.I)
_ALLOWED_SCHEMES = ("http", "https")
_SHOWN = 60  # characters of a refused link quoted in its warning


def _is_tracking(piece: str) -> bool:
    key = piece.split("=", 1)[0]
    if "%" in key or "+" in key:
        key = unquote_plus(key)
    key = key.strip().lower()
    return key == "from" or key.startswith("utm_")


def _without_tracking(query: str) -> str:
    return "&".join(piece for piece in query.split("&") if piece and not _is_tracking(piece))


def _encode_invisible(text: str) -> str:
    """White space and format characters percent-encoded; everything else as written."""
    return "".join(
        quote(char, safe="") if char.isspace() or unicodedata.category(char) in ("Cf", "Zl", "Zp") else char
        for char in text
    )


def _shown(href: str) -> str:
    return repr(href[:_SHOWN] + ("…" if len(href) > _SHOWN else ""))


def safe_link(href: str | None, base_url: str) -> tuple[str | None, str | None]:
    """(address or None, warning or None) for a link as found in the markup.

    A missing or empty link is (None, None): nothing to warn about. A refused one is (None, the
    reason), the link quoted safely (repr, cut to 60 characters).
    """
    if href is None:
        return None, None
    text = href.strip(_SURROUNDING)
    if not text:
        return None, None
    if "#" not in text and _PLAIN_ABSOLUTE.match(text):  # the usual case: no URL parsing
        address, _, query = text.partition("?")
        kept = _without_tracking(query)
        return (f"{address}?{kept}" if kept else address), None
    text = _REMOVED.sub("", text)
    if _CONTROL.search(text):
        return None, f"link {_shown(href)} holds a control character: not stored"
    text = _encode_invisible(text)
    try:
        parts = urlsplit(text)
        if not parts.scheme:  # relative: `/news/...`, `//host/...`, `news/...`
            parts = urlsplit(urljoin(base_url, text))
        host = parts.hostname
    except ValueError as error:
        return None, f"link {_shown(href)} is not a valid address ({error}): not stored"
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        return None, f"link {_shown(href)} is not an http(s) address: not stored"
    if not host:
        return None, f"link {_shown(href)} has no host: not stored"
    # Raw pieces are kept as written: re-encoding would change the address ("%20" -> "+").
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path, _without_tracking(parts.query), parts.fragment)
    ), None


# ---- which recorded address is a source's address
_DEFAULT_PORTS = {80, 443}


def address_identity(address: str) -> tuple[str, int | None, str, tuple[str, ...]] | None:
    """What makes a recorded address (a WARC record's target, a CDX row's original, a memento
    redirect's target) the same as a configured source address: the host (any case, `www.` or
    not), a port other than 80/443, the path (an empty one is `/`, a trailing `/` is the same
    page) and the query's parameters, tracking ones (`utm_*`, `from=`) aside, in any order. The
    scheme (http or https) and the fragment do not count; anything else does: `?section=sport`
    is not `?section=politics`. None for an address that is not http(s) with a host."""
    try:
        parts = urlsplit(address.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _ALLOWED_SCHEMES or not host:
        return None
    host = host.lower().removeprefix("www.")
    path = parts.path.rstrip("/") or "/"
    query = tuple(sorted(piece for piece in parts.query.split("&") if piece and not _is_tracking(piece)))
    return host, None if port in _DEFAULT_PORTS else port, path, query


def same_address(recorded: str, configured: str) -> bool:
    """Whether a recorded address is the configured one (see `address_identity`)."""
    identity = address_identity(recorded)
    return identity is not None and identity == address_identity(configured)
