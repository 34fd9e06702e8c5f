"""bank.identify_caller and bank.find_account, through the action registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from voicebot.bank import normalise_phone
from voicebot.services import ActionContext, ActionRegistry, default_registry


@pytest.fixture
def registry() -> ActionRegistry:
    return default_registry()


def run(registry: ActionRegistry, engine: Engine, name: str, **args: Any) -> dict[str, Any]:
    return registry.run(name, args, ActionContext(engine, "test-call", datetime(2026, 11, 21, tzinfo=UTC)))


@pytest.mark.parametrize("raw", [
    "+15550100001", "+1 555 010 0001", "+1-555-010-0001", "(555) 010-0001", "5550100001", "15550100001",
    "tel:+15550100001", "sip:+15550100001@pbx.example.com", "SIP:+15550100001@10.0.0.1;user=phone",
    "001 555 010 0001", " +15550100001 ",
])
def test_normalise_phone(raw: str) -> None:
    assert normalise_phone(raw) == "+15550100001"


@pytest.mark.parametrize("raw", ["", "anonymous", "sip:anonymous@anonymous.invalid", "+"])
def test_normalise_phone_without_number(raw: str) -> None:
    assert normalise_phone(raw) == ""


def test_identify_alice(registry: ActionRegistry, engine: Engine) -> None:
    result = run(registry, engine, "bank.identify_caller", phone="sip:+15550100001@pbx")
    assert result == {
        "found": True,
        "customer": {"id": 1, "name": "Alice Johnson", "first_name": "Alice", "vip": False},
        "account": {"number": "44170923", "kind": "checking", "currency": "USD", "locked": False,
                    "last4": "0923"},
    }


@pytest.mark.parametrize("phone", ["+15550100002", "+1 555 010 0012"])
def test_identify_bob_by_either_number(registry: ActionRegistry, engine: Engine, phone: str) -> None:
    result = run(registry, engine, "bank.identify_caller", phone=phone)
    assert result["found"] and result["customer"]["name"] == "Bob Smith" and result["customer"]["vip"]
    assert result["account"]["number"] == "55210087"  # the first account is the primary one


def test_identify_locked_carol(registry: ActionRegistry, engine: Engine) -> None:
    result = run(registry, engine, "bank.identify_caller", phone="+15550100003")
    assert result["account"] == {"number": "66120345", "kind": "checking", "currency": "USD", "locked": True,
                                 "last4": "0345"}


@pytest.mark.parametrize("phone", ["+15550109999", "", "anonymous"])
def test_identify_unknown(registry: ActionRegistry, engine: Engine, phone: str) -> None:
    assert run(registry, engine, "bank.identify_caller", phone=phone) == {
        "found": False, "customer": None, "account": None}


def test_find_account(registry: ActionRegistry, engine: Engine) -> None:
    result = run(registry, engine, "bank.find_account", account_number="8123 4567")
    assert result == {
        "found": True,
        "account": {"number": "81234567", "kind": "checking", "currency": "USD", "locked": False,
                    "last4": "4567"},
        "customer": {"id": 5, "name": "Erin Walsh", "first_name": "Erin", "vip": False},
    }
    savings = run(registry, engine, "bank.find_account", account_number="55210095")
    assert savings["account"]["kind"] == "savings" and savings["customer"]["name"] == "Bob Smith"


@pytest.mark.parametrize("number", ["12345678", "", "4417092"])
def test_find_unknown_account(registry: ActionRegistry, engine: Engine, number: str) -> None:
    assert run(registry, engine, "bank.find_account", account_number=number) == {
        "found": False, "account": None, "customer": None}
