"""Shared test setup: the demo bank in a real SQLite file, and the banking flow as ``voicebot serve`` loads it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from voicebot.config import load_config
from voicebot.flow.compile import CompiledFlow
from voicebot.runtime.app import load_flow_with
from voicebot.services.registry import ActionRegistry, default_registry
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo

ROOT = Path(__file__).resolve().parents[1]


def seeded_bank(db_file: Path) -> Engine:
    """An engine on ``db_file`` (a SQLite file), with the tables created and the demo bank's customers seeded."""
    engine = make_engine(f"sqlite:///{db_file}")
    create_tables(engine)
    seed_demo(engine)
    return engine


def banking_flow(registry: ActionRegistry | None = None) -> CompiledFlow:
    """flows/banking.yaml compiled with the default config and ``registry`` (default: the built-in actions)."""
    return load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), registry or default_registry())
