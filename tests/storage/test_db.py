"""Engine configuration, URLs and transactions against real SQLite files."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.storage.bank_models import Customer, PhoneNumber
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import (
    DEFAULT_DATA_DIR,
    add_missing_columns,
    create_tables,
    database_url,
    make_engine,
    session_scope,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_tables(eng)
    yield eng
    eng.dispose()


def test_default_data_dir_is_relative() -> None:
    assert Path("data") == DEFAULT_DATA_DIR
    assert not DEFAULT_DATA_DIR.is_absolute()


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VOICEBOT_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == "sqlite:///data/voicebot.db"
    assert (tmp_path / "data").is_dir()


def test_database_url_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path / "elsewhere"))
    assert database_url() == f"sqlite:///{tmp_path / 'elsewhere' / 'voicebot.db'}"
    assert (tmp_path / "elsewhere").is_dir()
    monkeypatch.setenv("DATABASE_URL", "postgresql://voicebot@db/voicebot")
    assert database_url() == "postgresql://voicebot@db/voicebot"


def test_make_engine_uses_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("VOICEBOT_DATA_DIR", str(tmp_path))
    eng = make_engine()
    create_tables(eng)
    assert (tmp_path / "voicebot.db").is_file()
    eng.dispose()


def test_sqlite_pragmas(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_create_tables_creates_all_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        names = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"bank_customer", "bank_phone_number", "bank_account", "bank_transaction", "bank_card",
            "call_record", "call_event", "handoff_request"} <= names
    create_tables(engine)  # a second time is harmless


def test_session_scope_commits_and_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Customer(name="Zed Zero", first_name="Zed"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(Customer(name="Rolled Back", first_name="Rolled"))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        names = [c.name for c in session.exec(select(Customer)).all()]
    assert names == ["Zed Zero"]


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(Exception, match="FOREIGN KEY"), session_scope(engine) as session:
        session.add(PhoneNumber(customer_id=999, number="+15550199999"))


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    eastern = timezone(timedelta(hours=-5))
    started = datetime(2026, 11, 20, 9, 30, tzinfo=eastern)
    with session_scope(engine) as session:
        session.add(CallRecord(id="tz", started_at=started))
    with session_scope(engine) as session:
        record = session.get(CallRecord, "tz")
    assert record is not None
    assert record.started_at.tzinfo is not None
    assert record.started_at.utcoffset() == timedelta(0)
    assert record.started_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def test_a_database_from_before_the_sip_call_id_column_is_upgraded(tmp_path: Path) -> None:
    import sqlite3
    from datetime import UTC, datetime

    from voicebot.storage.calls import CallStore

    db_file = tmp_path / "old.db"
    with sqlite3.connect(db_file) as old:  # call_record as an earlier voicebot created it
        old.execute("CREATE TABLE call_record (id VARCHAR PRIMARY KEY, caller_id VARCHAR NOT NULL, "
                    "dialled VARCHAR NOT NULL, flow VARCHAR NOT NULL, started_at DATETIME NOT NULL, "
                    "ended_at DATETIME, outcome VARCHAR, authenticated BOOLEAN NOT NULL, customer_id INTEGER, "
                    "intents JSON NOT NULL, slots JSON NOT NULL, nodes JSON NOT NULL, handoff JSON, "
                    "recording_path VARCHAR, error VARCHAR)")
        old.execute("INSERT INTO call_record VALUES ('old-call', '+1555', '1', 'bank', '2026-11-01 10:00:00', "
                    "NULL, 'self_served', 0, NULL, '[]', '{}', '[]', NULL, NULL, NULL)")
    engine = make_engine(f"sqlite:///{db_file}")
    create_tables(engine)
    create_tables(engine)  # twice: nothing to do the second time
    store = CallStore(engine, tmp_path / "spool")
    old_record = store.get_call("old-call")
    assert old_record is not None and old_record.sip_call_id == ""
    store.start_call("new-call", "+1555", "1", "bank", datetime(2026, 11, 29, tzinfo=UTC), sip_call_id="a@pbx")
    new_record = store.get_call("new-call")
    assert new_record is not None and new_record.sip_call_id == "a@pbx"
    assert not store.spool_path("new-call").exists()
    assert "ix_call_record_sip_call_id" in {i["name"] for i in inspect(engine).get_indexes("call_record")}


class Tone(enum.Enum):
    PLAIN = "plain"


def _gadget_tables() -> MetaData:
    """A model grown after its table was made: every kind of column an upgrade meets."""
    metadata = MetaData()
    Table(
        "gadget",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String, nullable=False),
        Column("hold_seconds", Float, nullable=True, index=True),  # nullable and indexed
        Column("note", String, nullable=True),
        Column("code", String, nullable=False, default="it's", index=True),  # quoted default, indexed
        Column("tone", String, nullable=False, default=Tone.PLAIN),
        Column("count", Integer, nullable=False, default=0),
        Column("active", Boolean, nullable=False, default=False),
        Column("region", String, nullable=False, server_default="eu"),
        Column("owner", String, nullable=False),  # NOT NULL without a default: needs a real migration
        Index("ix_gadget_name_code", "name", "code"),  # an index over an old and a new column
    )
    return metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    from tests.acd.conftest import fresh_postgres_database

    yield from fresh_postgres_database()


def test_columns_added_to_an_older_table_from_the_model_alone(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:  # gadget as an older version created it, with a row
        conn.execute(text("CREATE TABLE gadget (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)"))
        conn.execute(text("INSERT INTO gadget (id, name) VALUES (1, 'old')"))
    metadata = _gadget_tables()
    added = add_missing_columns(engine, metadata)
    assert added == [f"gadget.{c}" for c in ("hold_seconds", "note", "code", "tone", "count", "active", "region")]
    with engine.connect() as conn:
        old = conn.execute(text("SELECT hold_seconds, note, code, tone, count, active, region FROM gadget")).one()
    assert tuple(old) == (None, None, "it's", "plain", 0, False, "eu")
    inspector = inspect(engine)
    assert "owner" not in {c["name"] for c in inspector.get_columns("gadget")}
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("gadget")}
    assert indexes == {
        "ix_gadget_hold_seconds": ["hold_seconds"],
        "ix_gadget_code": ["code"],
        "ix_gadget_name_code": ["name", "code"],
    }
    assert add_missing_columns(engine, metadata) == []  # idempotent
    engine.dispose()
