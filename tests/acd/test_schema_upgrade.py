"""A database made before the ACD gains the new call_record columns in place; no data is lost."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from voicebot.storage.db import add_missing_columns, create_tables, make_engine


def test_old_call_record_table_gets_the_queue_columns(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # call_record as voicebot created it before the ACD
        conn.exec_driver_sql(
            "CREATE TABLE call_record (id VARCHAR PRIMARY KEY, caller_id VARCHAR NOT NULL, dialled VARCHAR NOT NULL,"
            " flow VARCHAR NOT NULL, started_at DATETIME NOT NULL, ended_at DATETIME, outcome VARCHAR,"
            " authenticated BOOLEAN NOT NULL, customer_id INTEGER, intents JSON NOT NULL, slots JSON NOT NULL,"
            " nodes JSON NOT NULL, handoff JSON, recording_path VARCHAR, error VARCHAR)")
        conn.exec_driver_sql(
            "INSERT INTO call_record VALUES ('old-1', '+1', '', 'banking', '2026-01-01 10:00:00', NULL, 'self_served',"
            " 1, NULL, '[]', '{}', '[]', NULL, NULL, NULL)")
    create_tables(engine)
    with engine.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(call_record)"))}
        kept = conn.execute(text("SELECT outcome, wait_ms FROM call_record WHERE id = 'old-1'")).one()
    assert {"queue", "enqueued_at", "offered_at", "answered_at", "agent", "wait_ms", "talk_ms", "wrap_ms"} <= columns
    assert tuple(kept) == ("self_served", None)
    assert add_missing_columns(engine) == []  # idempotent
