"""Turning a response body into text: the HTTP charset first, then the page's own declaration."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_CONTENT_TYPE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset named in a Content-Type header, if any."""
    if not content_type:
        return None
    match = _CONTENT_TYPE_CHARSET.search(content_type)
    return match.group(1) if match else None


def _known(encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


def meta_charset(body: bytes) -> str | None:
    """The charset a page declares in `<meta>` within its first 4 KB, if any."""
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def decode_html(body: bytes, declared: str | None = None) -> tuple[str, list[str]]:
    """Decode an HTML body; returns the text and warnings about what did not match its label.

    Order: a UTF-8 BOM, the HTTP charset, the page's `<meta charset>`, UTF-8. A label that the
    bytes contradict (a windows-1251 page served as UTF-8) falls through to the next candidate;
    bytes that fit none are replaced (U+FFFD) and said so, never dropped silently. Non-ASCII bytes
    that are valid UTF-8 are UTF-8 whatever the label says; bytes that fit no label and are mostly
    not UTF-8 are tried as windows-1251 (a Russian page under a wrong label).
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[3:].decode("utf-8", errors="replace"), []
    warnings: list[str] = []
    meta = meta_charset(body)
    candidates: list[str] = []
    for label in (declared, meta, "utf-8"):
        name = _known(label)
        if label and not name:
            warnings.append(f"unknown charset {label!r}")
        if name and name not in candidates:
            candidates.append(name)
    if candidates[0] != "utf-8" and not body.isascii() and _valid_utf8(body):
        # Cyrillic in a legacy encoding practically never forms valid UTF-8: the label is wrong.
        warnings.append(f"body labelled {candidates[0]} is valid utf-8: decoded as utf-8")
        return body.decode("utf-8"), warnings
    for name in candidates:
        try:
            text = body.decode(name)
        except UnicodeDecodeError:
            warnings.append(f"body is not valid {name}")
            continue
        return text, warnings
    if "cp1251" not in candidates and _mostly_not_utf8(body):
        try:
            text = body.decode("cp1251")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append("decoded as windows-1251 (a Russian page under a wrong label)")
            return text, warnings
    fallback = candidates[0] if candidates else "utf-8"
    warnings.append(f"undecodable bytes replaced (decoded as {fallback})")
    return body.decode(fallback, errors="replace"), warnings


def _valid_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_not_utf8(body: bytes) -> bool:
    """More broken sequences than well-formed non-ASCII characters: not UTF-8 with a few bad bytes."""
    text = body.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    return broken > len(_NON_ASCII.findall(text)) - broken
