"""bank.verify_pin and bank.lock_self_service: counting, lock-out, and persistence in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.services import ActionContext, ActionFailed, ActionRegistry, default_registry
from voicebot.storage.bank_models import Account
from voicebot.storage.db import make_engine, session_scope

REGISTRY = default_registry()


def run(engine: Engine, name: str, registry: ActionRegistry = REGISTRY, **args: Any) -> dict[str, Any]:
    return registry.run(name, args, ActionContext(engine, "test-call", datetime(2026, 11, 21, tzinfo=UTC)))


def verify(engine: Engine, number: str, pin: str) -> dict[str, Any]:
    return run(engine, "bank.verify_pin", account_number=number, pin=pin)


def _account(engine: Engine, number: str) -> Account:
    with session_scope(engine) as session:
        return session.exec(select(Account).where(Account.number == number)).one()


def test_right_pin(engine: Engine) -> None:
    assert verify(engine, "44170923", "1234") == {"ok": True, "attempts_left": 3, "locked": False}
    assert verify(engine, "5521 0095", " 4321 ") == {"ok": True, "attempts_left": 3, "locked": False}


def test_wrong_pin_counts_down_and_right_pin_resets(engine: Engine) -> None:
    assert verify(engine, "44170923", "1111") == {"ok": False, "attempts_left": 2, "locked": False}
    assert verify(engine, "44170923", "2222") == {"ok": False, "attempts_left": 1, "locked": False}
    assert _account(engine, "44170923").failed_pin_attempts == 2
    assert verify(engine, "44170923", "1234")["ok"] is True
    assert _account(engine, "44170923").failed_pin_attempts == 0
    assert verify(engine, "44170923", "1111")["attempts_left"] == 2


def test_three_failures_lock_and_survive_a_new_engine(engine: Engine, db_url: str) -> None:
    verify(engine, "44170923", "0000")
    verify(engine, "44170923", "9999")
    assert verify(engine, "44170923", "4321") == {"ok": False, "attempts_left": 0, "locked": True}

    # A different process (another engine on the same file) sees the lock, and the right PIN stays refused.
    other = make_engine(db_url)
    try:
        locked = _account(other, "44170923")
        assert locked.self_service_locked and locked.locked_reason == "too many PIN attempts"
        assert locked.failed_pin_attempts == 3
        assert verify(other, "44170923", "1234") == {"ok": False, "attempts_left": 0, "locked": True}
        assert run(other, "bank.find_account", account_number="44170923")["account"]["locked"] is True
        identified = run(other, "bank.identify_caller", phone="+15550100001")
        assert identified["account"]["locked"] is True
    finally:
        other.dispose()


def test_failed_attempts_persist_across_engines(engine: Engine, db_url: str) -> None:
    verify(engine, "73004411", "1111")
    verify(engine, "73004411", "1111")
    other = make_engine(db_url)
    try:
        assert verify(other, "73004411", "1111") == {"ok": False, "attempts_left": 0, "locked": True}
    finally:
        other.dispose()


def test_seeded_locked_account_refuses_right_pin(engine: Engine) -> None:
    assert verify(engine, "66120345", "2468") == {"ok": False, "attempts_left": 0, "locked": True}


def test_unknown_account_fails(engine: Engine) -> None:
    with pytest.raises(ActionFailed, match="no account ending in 5678") as info:
        verify(engine, "12345678", "1234")
    assert "1234" not in str(info.value).replace("5678", "")


def test_lock_self_service(engine: Engine) -> None:
    assert run(engine, "bank.lock_self_service", account_number="81234567", reason="caller asked") == {
        "locked": True}
    account = _account(engine, "81234567")
    assert account.self_service_locked and account.locked_reason == "caller asked"
    assert verify(engine, "81234567", "8642")["locked"] is True
    with pytest.raises(ActionFailed):
        run(engine, "bank.lock_self_service", account_number="00000000", reason="x")
