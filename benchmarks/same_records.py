"""Old and new parsers give the same records: every kind's every parser (each channel's `parse`,
a pager's `read_page`, a range reader's `read`) on every real page, feed and document under
../shared/reference/ and tests/fixtures, plus the built RBC page, compared by the text of their
records (`repr`) or of their error (type and message) against an older ticker's.

    python benchmarks/extraction.py --make-old REV DIR    # copy ticker at git REV to DIR
    python benchmarks/same_records.py --old DIR           # exit 1 on the first difference

An `html` source reads each page with every selector set below (the ones docs/sources.md gives,
and variants reading an id, a rubric and attributes), at two fetch times.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

REFERENCE = common.ROOT.parent / "shared" / "reference"
FIXTURES = common.ROOT / "tests" / "fixtures"
FETCHED = (datetime(2025, 5, 29, 7, 0, tzinfo=UTC), datetime(2015, 8, 19, 0, 5, tzinfo=UTC))
SELECTS = (
    {"item": "a.card-mini", "title": ".card-mini__title", "link": "@href", "time": "time.card-mini__date"},
    {
        "item": "a.card-mini",
        "title": ".card-mini__title",
        "link": "@href",
        "id": "@href",
        "rubric": ".card-mini__rubric",
    },
    {"item": "div.dNewsCont div.text", "title": "h3", "link": "h3 a@href", "time": "time@datetime"},
    {
        "item": "div.dNewsCont div.text",
        "title": "h3 a",
        "link": "a@href",
        "time": "time",
        "id": "h3 a@href",
        "rubric": "span",
    },
    {
        "item": "a.news-feed__item",
        "title": ".news-feed__item__title",
        "link": "@href",
        "time": ".news-feed__item__date-text",
        "id": "@id",
    },
)
SUFFIXES = {".html", ".xml", ".json", ".rss", ".htm"}


def inputs() -> list[tuple[str, bytes]]:
    """Every real page and document, and the test fixtures (modelled on real ones)."""
    found = [("built RBC page", common.rbc_page(0))]
    for folder in (REFERENCE, FIXTURES):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES:
                found.append((str(path.relative_to(folder.parent)), path.read_bytes()))
    return found


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith((".xml", ".rss")):
        return "application/xml"
    return "text/html"


def _outcome(run) -> str:
    try:
        return repr(run())
    except Exception as error:  # the error is part of what a parser gives
        return f"{type(error).__name__}: {error}"


def records(package: str, name: str, body: bytes) -> dict[str, str]:
    """Every parser of `package` (ticker or ticker_old) on one body: label -> its records' text."""
    kinds = importlib.import_module(f"{package}.kinds")
    out: dict[str, str] = {}
    for kind in kinds.kinds().values():
        for channel in kind.channels:
            url = channel.url or "https://example.ru/"
            selects = SELECTS if kind.name == "html" else ({},)
            for fetched_at in FETCHED:
                for number, select in enumerate(selects):
                    context = kinds.ParseContext(
                        url=url if "{" not in url else "https://www.rbc.ru/",
                        content_type=_content_type(name),
                        fetched_at=fetched_at,
                        min_items=1,
                        options={"select": select} if select else {},
                        source="bench",
                    )
                    label = f"{kind.name}.{channel.name} select {number} at {fetched_at:%Y-%m-%d}"
                    out[label] = _outcome(lambda: kinds.parse_channel(channel, body, context))  # noqa: B023
                if channel.pager is not None:
                    out[f"{kind.name}.{channel.name} pager at {fetched_at:%Y-%m-%d}"] = _outcome(
                        lambda: vars(channel.pager.read_page(body, fetched_at, "https://www.rbc.ru/"))  # noqa: B023
                    )
            if channel.ranges is not None:
                for currency in channel.ranges.currencies[:3]:
                    out[f"{kind.name}.{channel.name} range {currency}"] = _outcome(
                        lambda: channel.ranges.read(body, currency)  # noqa: B023
                    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", type=Path, required=True, help="a folder made by extraction.py --make-old")
    args = parser.parse_args()
    sys.path.insert(0, str(args.old))
    compared = differing = parsed = 0
    for name, body in inputs():
        new, old = records("ticker", name, body), records("ticker_old", name, body)
        assert new.keys() == old.keys(), f"{name}: the parsers differ: {new.keys() ^ old.keys()}"
        for label, text in new.items():
            compared += 1
            parsed += not text.startswith(("ParseError", "BlockedPage", "ParseTimeout"))
            if text != old[label]:
                differing += 1
                print(f"DIFFERENT: {name}, {label}\n  old: {old[label][:400]}\n  new: {text[:400]}")
    print(f"{compared} parser runs compared ({parsed} gave records), {differing} different")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
