"""Turning a response body into text: the HTTP charset first, then the page's own declaration
(for XML: the prolog first, then the HTTP charset)."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from ticker.core.base import ParseError

_CHARSET_VALUE = re.compile(rb"""\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""")
_CONTENT_TYPE_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_XML_DECLARATION = re.compile(rb"<\?xml\s[^>]*\?>")
_XML_ENCODING = re.compile(rb"""encoding\s*=\s*["']\s*([A-Za-z0-9_\-:.]+)\s*["']""")
_XML_DECLARATION_TEXT = re.compile(r"<\?xml\s[^>]*\?>")
_XML_ENCODING_TEXT = re.compile(r"""encoding\s*=\s*["'][^"']*["']""")


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
    """The charset a page declares in `<meta>` within its first 4 KB, if any: the first
    `charset=` inside a `<meta ...>` tag (found by plain searches: a regular expression
    backtracks over every long `<meta>` a page carries)."""
    head = body[:4096]
    lowered = head.lower()
    at = lowered.find(b"charset")
    while at != -1:
        tag = lowered.rfind(b"<meta", 0, at)
        if tag != -1 and b">" not in lowered[tag:at] and not lowered[tag + 5 : tag + 6].isalnum():
            match = _CHARSET_VALUE.match(head, at + 7)
            if match:
                return match.group(1).decode("ascii", "replace")
        at = lowered.find(b"charset", at + 7)
    return None


def utf8_labelled(body: bytes, charset: str | None) -> bool:
    """Whether a body may go to Lexbor as bytes (read as UTF-8): every charset label (the HTTP
    header, `<meta>`) says UTF-8 or is absent, and no BOM says otherwise. Should the text read
    from it come out with U+FFFD, the caller decodes by `decode_html` instead (`Garbled`)."""
    return _utf8_labels(body, (charset, meta_charset(body)))


def _utf8_labels(body: bytes, labels: tuple[str | None, ...]) -> bool:
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return all(
        label is None or label.strip().lower().replace("_", "-") in ("utf-8", "utf8") for label in labels
    )


class Garbled(Exception):
    """Text read as UTF-8 came out with replacement characters: decode by the labels instead."""


def has_replacement(headlines, *warnings: list[str]) -> bool:
    """Whether a headline's title or rubric, or any of `warnings`, holds U+FFFD."""
    for headline in headlines:
        if "\ufffd" in headline.title or (headline.rubric is not None and "\ufffd" in headline.rubric):
            return True
    return any("\ufffd" in warning for texts in warnings for warning in texts)


def decode_html(body: bytes, declared: str | None = None) -> tuple[str, list[str]]:
    """Decode an HTML body; returns the text and warnings about what did not match its label.

    Order: a UTF-8 BOM, the HTTP charset, the page's `<meta charset>`, UTF-8. A label that the
    bytes contradict (a windows-1251 page served as UTF-8) falls through to the next candidate;
    bytes that fit none are replaced (U+FFFD) and said so, never dropped silently. Non-ASCII bytes
    that are valid UTF-8 are UTF-8 whatever the label says; bytes that fit no label and are mostly
    not UTF-8 are tried as windows-1251 (a Russian page under a wrong label).
    """
    text, warnings, _ = _decode(body, (declared, meta_charset(body)))
    return text, warnings


def xml_encoding(body: bytes) -> str | None:
    """The encoding an XML prolog names (`<?xml version="1.0" encoding="windows-1251"?>`), if any."""
    match = _XML_DECLARATION.match(body[:512])
    if not match:
        return None
    encoding = _XML_ENCODING.search(match.group(0))
    return encoding.group(1).decode("ascii") if encoding else None


def xml_as_utf8(body: bytes, declared: str | None = None) -> tuple[bytes, list[str]]:
    """XML bytes re-encoded as UTF-8, the prolog saying so, for a parser that follows the prolog.

    The same rules as `decode_html`, with the prolog in the place of `<meta>` and before the HTTP
    charset (`declared`): a windows-1251-labelled body whose bytes are UTF-8 is read as UTF-8, a
    UTF-8-labelled one in windows-1251 as windows-1251. Bytes that fit no candidate raise
    ParseError: a feed's titles are never stored with replaced characters.
    """
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text, warnings = body.decode("utf-16"), []
        except UnicodeDecodeError:
            raise ParseError("body has a UTF-16 byte order mark but is not valid UTF-16") from None
    else:
        text, warnings, replaced = _decode(body, (xml_encoding(body), declared))
        if replaced:
            raise ParseError(f"body is not valid text in its declared encoding ({'; '.join(warnings)})")
    declaration = _XML_DECLARATION_TEXT.match(text)
    if declaration:
        text = (
            _XML_ENCODING_TEXT.sub('encoding="utf-8"', declaration.group(0), count=1)
            + text[declaration.end() :]
        )
    return text.encode("utf-8"), warnings


def _decode(body: bytes, labels: tuple[str | None, ...]) -> tuple[str, list[str], bool]:
    """(text, warnings, whether undecodable bytes were replaced), candidates in `labels` order."""
    if body.startswith(codecs.BOM_UTF8):
        try:
            return body[3:].decode("utf-8"), [], False
        except UnicodeDecodeError:
            text = body[3:].decode("utf-8", errors="replace")
            return text, ["undecodable bytes after a UTF-8 byte order mark replaced"], True
    warnings: list[str] = []
    candidates: list[str] = []
    for label in (*labels, "utf-8"):
        name = _known(label)
        if label and not name:
            warnings.append(f"unknown charset {label!r}")
        if name and name not in candidates:
            candidates.append(name)
    if candidates[0] != "utf-8" and not body.isascii() and _valid_utf8(body):
        # Cyrillic in a legacy encoding practically never forms valid UTF-8: the label is wrong.
        warnings.append(f"body labelled {candidates[0]} is valid utf-8: decoded as utf-8")
        return body.decode("utf-8"), warnings, False
    for name in candidates:
        try:
            text = body.decode(name)
        except UnicodeDecodeError:
            warnings.append(f"body is not valid {name}")
            continue
        return text, warnings, False
    if "cp1251" not in candidates and _mostly_not_utf8(body):
        try:
            text = body.decode("cp1251")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append("decoded as windows-1251 (a Russian page under a wrong label)")
            return text, warnings, False
    fallback = candidates[0] if candidates else "utf-8"
    warnings.append(f"undecodable bytes replaced (decoded as {fallback})")
    return body.decode(fallback, errors="replace"), warnings, True


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


REPLACEMENT = "\ufffd"


def refuse_garbled_titles(body: bytes, texts) -> None:
    """A title or rubric holding U+FFFD that the page itself does not contain came from bytes no
    encoding reads: storing it would invent a title version (and a rewording at the next clean
    poll). Raise ParseError naming how many; a page that really shows U+FFFD is left alone."""
    garbled = sum(1 for text in texts if text and REPLACEMENT in text)
    if garbled and REPLACEMENT.encode("utf-8") not in body:
        raise ParseError(
            f"undecodable bytes in {garbled} title(s) or rubric(s): not stored (a garbled title is never "
            "a title version)"
        )


def parse_markup(body: bytes, charset: str | None, parse_tree: Callable[..., Any], **options: Any) -> Any:
    """`parse_tree(tree, head=, tail=, warnings=, strict_utf8=, **options)` on a page: a body
    labelled UTF-8 (or not labelled) goes to Lexbor as bytes, undecoded (a UTF-8 BOM dropped);
    should its text come out garbled (`Garbled`), or the labels name another charset, the body is
    decoded by its labels instead, and titles garbled even then refuse the page."""
    labels = (charset, meta_charset(body))  # read once: the UTF-8 check and the decoding
    if _utf8_labels(body, labels):
        raw = body.removeprefix(codecs.BOM_UTF8)
        try:
            tree = LexborHTMLParser(raw)
            return parse_tree(
                tree, head=raw[:20000], tail=raw[-4096:], warnings=[], strict_utf8=True, **options
            )
        except Garbled:
            pass
    text, warnings, _ = _decode(body, labels)  # decode_html(body, charset)
    page = parse_tree(
        LexborHTMLParser(text),
        head=text[:20000],
        tail=text[-4096:],
        warnings=warnings,
        strict_utf8=False,
        **options,
    )
    if has_replacement(page.headlines):  # the count and the check of the body only then
        refuse_garbled_titles(body, (*(h.title for h in page.headlines), *(h.rubric for h in page.headlines)))
    return page
