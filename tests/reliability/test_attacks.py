"""Issue 19's peripheral attack classes: each reproduction of an attack that stored wrong history,
leaked a secret or stopped ticker without a word, now refused, bounded or said."""

from __future__ import annotations

from pathlib import Path

import pytest
from rbc_markup import render_page, standard_items

from reliability import faultserver as fs
from reliability.support import rows, run_ticker

pytestmark = pytest.mark.reliability

SECRET = "tok3n-N3VER-st0red"


def _database_bytes(db: Path) -> bytes:
    """The database file and whatever its WAL and journal hold, as another reader of the disk sees them."""
    return b"".join(
        path.read_bytes() for path in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if path.exists()
    )


# ---- 4. secrets: relative links resolve against the redacted address
def test_a_token_in_the_source_address_never_reaches_the_database(fault_server, tmp_path):
    """Relative links (`#story`, `?page=2`, `story/1`, `#`) on a page polled at an address with a
    `?token=`: stored resolved against the redacted address; the token is nowhere in the file or WAL."""
    items = standard_items(6)
    for item, href in zip(items, ["#story", "?page=2", "story/1", "#"], strict=False):
        item.href = href
    url = fault_server.route("/", fs.static(render_page(items).encode()))
    db = tmp_path / "ticker.db"
    result = run_ticker("fetch", "rbc", "--url", f"{url}?section=x&token={SECRET}", "--db", db)
    assert result.returncode == 0, result.stderr
    stored = dict(rows(db, "SELECT id, url FROM headlines"))
    assert stored[items[0].id] == f"{url}?section=x&token=***#story"
    assert stored[items[1].id] == f"{url}?page=2"
    assert stored[items[2].id] == f"{url}story/1"
    assert SECRET.encode() not in _database_bytes(db)
    assert SECRET not in result.stdout + result.stderr
