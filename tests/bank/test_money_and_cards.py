"""bank.balance, bank.recent_transactions, bank.cards and bank.block_card."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.bank import format_cents
from voicebot.services import ActionContext, ActionFailed, default_registry
from voicebot.storage.bank_models import Card
from voicebot.storage.db import make_engine, session_scope

REGISTRY = default_registry()
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def run(engine: Engine, name: str, **args: Any) -> dict[str, Any]:
    return REGISTRY.run(name, args, ActionContext(engine, "test-call", NOW))


def test_format_cents() -> None:
    assert [format_cents(c) for c in (234567, -4210, 0, 5, -5, 100)] == [
        "2345.67", "-42.10", "0.00", "0.05", "-0.05", "1.00"]


@pytest.mark.parametrize(("number", "expected"), [
    ("44170923", {"balance": "2345.67", "available": "2345.67", "currency": "USD", "kind": "checking",
                  "last4": "0923"}),
    ("55210087", {"balance": "18250.00", "available": "18250.00", "currency": "USD", "kind": "checking",
                  "last4": "0087"}),
    ("55210095", {"balance": "50000.00", "available": "50000.00", "currency": "USD", "kind": "savings",
                  "last4": "0095"}),
    ("73004411", {"balance": "0.00", "available": "0.00", "currency": "USD", "kind": "checking",
                  "last4": "4411"}),
])
def test_balance(engine: Engine, number: str, expected: dict[str, str]) -> None:
    assert run(engine, "bank.balance", account_number=number) == expected


def test_balance_unknown_account(engine: Engine) -> None:
    with pytest.raises(ActionFailed, match="no account"):
        run(engine, "bank.balance", account_number="99999999")


def test_recent_transactions_newest_first(engine: Engine) -> None:
    result = run(engine, "bank.recent_transactions", account_number="44170923")
    assert result == {"count": 3, "transactions": [
        {"date": "2026-11-20", "amount": "-42.10", "kind": "payment", "magnitude": "42.10",
         "description": "Grocery Mart"},
        {"date": "2026-11-18", "amount": "-38.25", "kind": "payment", "magnitude": "38.25",
         "description": "Gas Station"},
        {"date": "2026-11-15", "amount": "59.99", "kind": "deposit", "magnitude": "59.99",
         "description": "Refund Online Store"},
    ]}
    everything = run(engine, "bank.recent_transactions", account_number="44170923", count=100)
    assert everything["count"] == 7
    dates = [t["date"] for t in everything["transactions"]]
    assert dates == sorted(dates, reverse=True)
    assert everything["transactions"][-1] == {"date": "2026-11-02", "amount": "3200.00", "kind": "deposit",
                                              "magnitude": "3200.00", "description": "Salary ACME Corp"}
    assert run(engine, "bank.recent_transactions", account_number="44170923", count="1")["count"] == 1


def test_recent_transactions_empty_and_bad_count(engine: Engine) -> None:
    empty = run(engine, "bank.recent_transactions", account_number="73004411")
    assert empty == {"transactions": [], "count": 0}
    with pytest.raises(ActionFailed, match="count"):
        run(engine, "bank.recent_transactions", account_number="44170923", count="lots")


def test_cards(engine: Engine) -> None:
    assert run(engine, "bank.cards", account_number="55210087") == {
        "cards": [{"last4": "9034", "kind": "credit", "status": "active"},
                  {"last4": "7710", "kind": "debit", "status": "active"}],
        "active_count": 2, "first_active_last4": "9034",
    }
    assert run(engine, "bank.cards", account_number="73004411") == {
        "cards": [], "active_count": 0, "first_active_last4": None}


def test_block_card_stores_reference(engine: Engine, db_url: str) -> None:
    result = run(engine, "bank.block_card", account_number="55210087", last4="9034")
    assert result["blocked"] is True and result["already_blocked"] is False and result["last4"] == "9034"
    reference = result["reference"]
    assert re.fullmatch(r"LC-[A-HJ-NP-Z2-9]{8}", reference)

    other = make_engine(db_url)  # stored, not just returned
    try:
        with session_scope(other) as session:
            card = session.exec(select(Card).where(Card.last4 == "9034")).one()
        assert card.status == "blocked" and card.block_reference == reference
        assert card.blocked_at == NOW
    finally:
        other.dispose()

    again = run(engine, "bank.block_card", account_number="55210087", last4="9034")
    assert again == {"blocked": True, "already_blocked": True, "reference": reference, "last4": "9034"}
    cards = run(engine, "bank.cards", account_number="55210087")
    assert cards["active_count"] == 1 and cards["first_active_last4"] == "7710"


def test_block_references_are_unique(engine: Engine) -> None:
    first = run(engine, "bank.block_card", account_number="55210087", last4="9034")["reference"]
    second = run(engine, "bank.block_card", account_number="55210087", last4="7710")["reference"]
    third = run(engine, "bank.block_card", account_number="44170923", last4="5521")["reference"]
    assert len({first, second, third}) == 3


def test_block_unknown_card(engine: Engine) -> None:
    with pytest.raises(ActionFailed, match="no card ending in 1111"):
        run(engine, "bank.block_card", account_number="44170923", last4="1111")
    # Another customer's card is not reachable through this account.
    with pytest.raises(ActionFailed, match="no card ending in 9034"):
        run(engine, "bank.block_card", account_number="44170923", last4="9034")
