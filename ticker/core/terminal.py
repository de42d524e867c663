"""Text for a terminal: stored page text never drives or reorders the reader's terminal."""

from __future__ import annotations

import re

# C0/C1 controls (but tab and newline) and bidi overrides/isolates.
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Control characters shown as `\\uXXXX` escapes, never acted on."""
    return _TERMINAL_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
