"""Migrations run their SQL through db.schema._script (split at line ends): the database it builds
is the one sqlite-utils' statement splitter builds, statement for statement."""

from __future__ import annotations

from sqlite_utils.db import _iter_complete_sql_statements

from ticker.db import schema
from ticker.db.schema import _script, open_db


def _shape(path) -> list[tuple]:
    db = open_db(path)
    rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    db.conn.close()
    return rows


def test_a_new_database_is_the_same_as_with_sqlite_utils_splitting(tmp_path, monkeypatch):
    ours = _shape(tmp_path / "ours.db")
    monkeypatch.setattr(
        schema, "_script", lambda db, sql: [db.execute(s) for s in _iter_complete_sql_statements(sql)]
    )
    assert _shape(tmp_path / "theirs.db") == ours
    assert len([row for row in ours if row[0] == "table"]) > 10


def test_statements_split_at_line_ends_only_where_complete(tmp_path):
    db = open_db(tmp_path / "s.db")
    _script(
        db,
        """
        CREATE TABLE t (a TEXT); CREATE TABLE u (b TEXT
            -- a comment; not the end
        );
        CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
            INSERT INTO u (b) VALUES ('x;y');
        END;
        INSERT INTO t (a) VALUES ('1')""",
    )
    assert db.execute("SELECT b FROM u").fetchall() == [("x;y",)]
