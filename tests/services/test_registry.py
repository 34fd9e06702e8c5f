"""The action registry: validation, error wrapping, JSON-able results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from tests.demo_bank import seeded_bank
from voicebot.services import ActionContext, ActionFailed, ActionRegistry, default_registry
from voicebot.storage.db import make_engine

BANK_ACTIONS = {
    "bank.identify_caller": ("phone",),
    "bank.find_account": ("account_number",),
    "bank.verify_pin": ("account_number", "pin"),
    "bank.balance": ("account_number",),
    "bank.recent_transactions": ("account_number", "count"),
    "bank.cards": ("account_number",),
    "bank.block_card": ("account_number", "last4"),
    "bank.lock_self_service": ("account_number", "reason"),
    "bank.lost_card_check": ("account_number", "caller_id"),
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = seeded_bank(tmp_path / "bank.db")
    yield eng
    eng.dispose()


@pytest.fixture
def ctx(engine: Engine) -> ActionContext:
    return ActionContext(engine=engine, call_id="call-1", now=datetime(2026, 11, 21, tzinfo=UTC))


def greet(ctx: ActionContext, name: str, punctuation: str = "!") -> dict[str, Any]:
    return {"greeting": f"Hello {name}{punctuation}", "call": ctx.call_id}


def test_default_registry_contents() -> None:
    registry = default_registry()
    assert registry.names() == sorted([*BANK_ACTIONS, "http"])
    for name, params in BANK_ACTIONS.items():
        assert name in registry
        assert registry.params(name) == params
    assert registry.params("http") == ("url", "body", "headers", "timeout_ms")
    assert "bank.nothing" not in registry
    assert registry.description("bank.balance")


def test_register_and_run(ctx: ActionContext) -> None:
    registry = ActionRegistry()
    registry.register("greet", greet, params=["name", "punctuation"], description="Say hello.")
    assert registry.names() == ["greet"]
    assert registry.params("greet") == ("name", "punctuation")
    assert registry.run("greet", {"name": "Alice"}, ctx) == {"greeting": "Hello Alice!", "call": "call-1"}
    with pytest.raises(ValueError, match="already registered"):
        registry.register("greet", greet, params=["name"])


def test_unknown_action(ctx: ActionContext) -> None:
    with pytest.raises(ActionFailed, match=r"unknown action 'bank\.transfer'"):
        default_registry().run("bank.transfer", {}, ctx)


def test_unknown_argument(ctx: ActionContext) -> None:
    with pytest.raises(ActionFailed, match=r"bank.balance: unknown argument\(s\) acount_number"):
        default_registry().run("bank.balance", {"acount_number": "44170923"}, ctx)


def test_missing_argument(ctx: ActionContext) -> None:
    with pytest.raises(ActionFailed, match=r"bank\.verify_pin: missing a required argument: 'pin'"):
        default_registry().run("bank.verify_pin", {"account_number": "44170923"}, ctx)


def test_domain_failure_passes_through(ctx: ActionContext) -> None:
    with pytest.raises(ActionFailed, match=r"^no card ending in 0000$"):
        default_registry().run("bank.block_card", {"account_number": "44170923", "last4": "0000"}, ctx)


def test_database_failure_is_wrapped(ctx: ActionContext, engine: Engine) -> None:
    names = ["bank_card", "bank_transaction", "bank_account", "bank_phone_number", "bank_customer"]
    SQLModel.metadata.drop_all(engine, tables=[SQLModel.metadata.tables[name] for name in names])
    with pytest.raises(ActionFailed) as info:
        default_registry().run("bank.balance", {"account_number": "44170923"}, ctx)
    message = str(info.value)
    assert message.startswith("bank.balance failed: OperationalError: no such table: bank_account")
    assert "SELECT" not in message  # no SQL (and so no parameters) in a message that gets logged
    assert isinstance(info.value.__cause__, Exception)


def test_unreachable_database_is_wrapped(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    engine = make_engine(f"sqlite:///{blocker / 'bank.db'}")
    ctx = ActionContext(engine, "call-2", datetime(2026, 11, 21, tzinfo=UTC))
    with pytest.raises(ActionFailed, match=r"bank\.verify_pin failed: OperationalError: unable to open"):
        default_registry().run("bank.verify_pin", {"account_number": "44170923", "pin": "1234"}, ctx)


def test_other_exceptions_are_wrapped(ctx: ActionContext) -> None:
    def broken(ctx: ActionContext) -> dict[str, Any]:
        raise KeyError("missing")

    registry = ActionRegistry()
    registry.register("broken", broken, params=())
    with pytest.raises(ActionFailed, match="broken failed: KeyError: 'missing'"):
        registry.run("broken", {}, ctx)


def test_results_are_made_jsonable(ctx: ActionContext) -> None:
    def money(ctx: ActionContext) -> dict[str, Any]:
        return {"amount": Decimal("12.30"), "day": date(2026, 11, 20), "items": (1, 2)}

    def not_a_dict(ctx: ActionContext) -> Any:
        return ["a"]

    def nan(ctx: ActionContext) -> dict[str, Any]:
        return {"x": float("nan")}

    registry = ActionRegistry()
    registry.register("money", money, params=())
    registry.register("list", not_a_dict, params=())
    registry.register("nan", nan, params=())
    assert registry.run("money", {}, ctx) == {"amount": "12.30", "day": "2026-11-20", "items": [1, 2]}
    with pytest.raises(ActionFailed, match="list returned list, not a dict"):
        registry.run("list", {}, ctx)
    assert registry.run("nan", {}, ctx) == {"x": "nan"}
