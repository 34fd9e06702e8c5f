"""Fixtures of the ACD tests: settings, a driven clock, and real databases (a SQLite file, PostgreSQL).

PostgreSQL comes from ``VOICEBOT_TEST_POSTGRES_URL`` (scripts/test.sh starts a private cluster and sets
it). Without it the PostgreSQL tests skip, except in CI (``CI=true``), where a missing database is a
failure: the claims must be proven on both engines.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from voicebot.acd.config import AcdSettings, parse_acd
from voicebot.storage.db import create_tables, make_engine, postgres_driver

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


class Clock:
    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def settings(**queues: dict[str, Any]) -> AcdSettings:
    return parse_acd({"queues": queues})


def postgres_url() -> str | None:
    url = os.environ.get("VOICEBOT_TEST_POSTGRES_URL")
    if url:
        return postgres_driver(url)
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but VOICEBOT_TEST_POSTGRES_URL is not set: scripts/test.sh starts PostgreSQL")
    pytest.skip("PostgreSQL not configured (VOICEBOT_TEST_POSTGRES_URL); scripts/test.sh starts one")


def fresh_postgres_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards."""
    base = postgres_url()
    assert base is not None
    name = f"acd_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real database of each kind, with the tables created."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'acd.db'}"
        engine = make_engine(url)
        create_tables(engine)
        engine.dispose()
        yield url
        return
    for url in fresh_postgres_database():
        engine = make_engine(url)
        create_tables(engine)
        engine.dispose()
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
