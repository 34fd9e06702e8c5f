"""Wiring: configuration, database, data actions and call store, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from voicebot.config import Config, load_config
from voicebot.flow.compile import CompiledFlow, load_flow
from voicebot.services.registry import ActionRegistry, default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, data_dir, make_engine


class NotInitialised(RuntimeError):
    """The database has no demo data yet."""


@dataclass
class Services:
    config: Config
    engine: Engine
    registry: ActionRegistry
    store: CallStore

    def load(self, flow_path: Path) -> CompiledFlow:
        return load_flow_with(flow_path, self.config, self.registry)


def load_flow_with(flow_path: Path, config: Config, registry: ActionRegistry) -> CompiledFlow:
    grammars = config.grammars_dir if config.grammars_dir.is_dir() else None
    return load_flow(
        flow_path,
        actions={name: registry.params(name) for name in registry.names()},
        queues=list(config.queues),
        grammars_dir=grammars,
    )


def open_services(
    *, config: Config | None = None, database_url: str | None = None, spool_dir: Path | None = None
) -> Services:
    config = config or load_config()
    engine = make_engine(database_url)
    create_tables(engine)  # call-record tables must exist before a call starts
    store = CallStore(engine, spool_dir or data_dir() / "spool")
    return Services(config, engine, default_registry(), store)


def require_demo_data(engine: Engine) -> None:
    from sqlmodel import Session, select

    from voicebot.storage.bank_models import Customer

    if "bank_customer" not in inspect(engine).get_table_names():
        raise NotInitialised("the bank tables are missing: run `voicebot db init --demo` first")
    with Session(engine) as session:
        if session.exec(select(Customer)).first() is None:
            raise NotInitialised("the demo bank has no customers: run `voicebot db init --demo` first")
