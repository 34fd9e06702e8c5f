"""Engine configuration, URLs and transactions against real SQLite files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.storage.bank_models import Customer, PhoneNumber
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import (
    DEFAULT_DATA_DIR,
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
