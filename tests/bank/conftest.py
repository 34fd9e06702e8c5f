"""The demo bank every bank test runs against: a real SQLite file, seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.demo_bank import seeded_bank


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "bank.db"


@pytest.fixture
def db_url(db_file: Path) -> str:
    """The bank's URL, for tests that open a second engine on the same file."""
    return f"sqlite:///{db_file}"


@pytest.fixture
def engine(db_file: Path) -> Iterator[Engine]:
    eng = seeded_bank(db_file)
    yield eng
    eng.dispose()
