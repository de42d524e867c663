"""SQL views over the history, created or updated idempotently when the database is opened.

Each view's SQL lives in VIEWS; `ensure_views` recreates a view only when its stored SQL
differs, so opening an up-to-date database writes nothing.
"""

from __future__ import annotations

from sqlite_utils import Database

VIEWS: dict[str, str] = {}


def _normalise(sql: str | None) -> str:
    return " ".join((sql or "").split())


def ensure_views(db: Database) -> None:
    """Create missing views and replace changed ones (in one transaction)."""
    existing = {
        name: sql
        for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall()
    }
    wanted = {name: f"CREATE VIEW {name} AS {body.strip()}" for name, body in VIEWS.items()}
    stale = [name for name, sql in wanted.items() if _normalise(existing.get(name)) != _normalise(sql)]
    if not stale:
        return
    from ticker.db.schema import write_transaction

    with write_transaction(db):
        for name in stale:
            db.execute(f"DROP VIEW IF EXISTS {name}")
            db.execute(wanted[name])
