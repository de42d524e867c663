"""Migrations bring an older database forward without losing or misreading what it holds."""

from __future__ import annotations

from ticker.db.schema import connect, migrations, open_db, write_transaction


def test_0007_marks_old_backfills_and_names_the_ticker_channel(db_path):
    db = connect(db_path)
    with write_transaction(db):
        migrations.apply(db, stop_before="0007_fetch_origin_address_state")
    db.execute(
        "INSERT INTO sources (name, kind, url, every_s, channels, updated_at) "
        "VALUES ('rbc', 'rbc', 'http://127.0.0.1:9/', 120, '[\"page\"]', '2024-11-25T00:00:00Z')"
    )
    for channel, outcome, snapshot in (("page", "network_error", None), ("xml_dynamic", "network_error", None),
                                       ("feed_json", "ok", None)):  # fmt: skip
        db.execute(
            "INSERT INTO fetches (source, channel, url, started_at, outcome, snapshot_id) "
            "VALUES ('rbc', ?, 'u', '2024-11-25T10:00:00Z', ?, ?)",
            [channel, outcome, snapshot],
        )
    db.conn.close()

    db = open_db(db_path)
    assert db.execute("SELECT ticker_channel FROM sources WHERE name = 'rbc'").fetchone() == ("page",)
    origins = db.execute("SELECT channel, origin FROM fetches ORDER BY id").fetchall()
    assert origins == [("page", None), ("xml_dynamic", "backfill"), ("feed_json", "backfill")]
    # Only the live page failure is an outage of the source, and only it counts as an attempt.
    assert db.execute("SELECT channel, failures FROM outage_runs").fetchall() == [("page", 1)]
    assert db.execute("SELECT sum(attempts) FROM fetch_hours").fetchone() == (1,)
