"""The demo bank seed: fixed content, deterministic, idempotent, and it leaves call records alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select

from voicebot.storage.bank_models import (
    Account,
    BankTransaction,
    Card,
    Customer,
    PhoneNumber,
    pin_matches,
)
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine, session_scope
from voicebot.storage.seed import DEMO_CUSTOMERS, DemoSummary, seed_demo, to_cents


def _engine(path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{path}")
    create_tables(eng)
    return eng


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = _engine(tmp_path / "seed.db")
    yield eng
    eng.dispose()


def _dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every bank row, minus the salted hashes (the only intentionally random part)."""
    dump: dict[str, list[dict[str, Any]]] = {}
    with session_scope(engine) as session:
        for model in (Customer, PhoneNumber, Account, BankTransaction, Card):
            rows: list[SQLModel] = list(session.exec(select(model).order_by(col(model.id))).all())
            dump[model.__name__] = [row.model_dump(exclude={"pin_hash", "pin_salt"}) for row in rows]
    return dump


def _account(engine: Engine, number: str) -> Account:
    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.number == number)).one()
    return account


def test_seed_creates_documented_data(engine: Engine) -> None:
    summary = seed_demo(engine)
    assert summary == DemoSummary(customers=5, phone_numbers=5, accounts=6, transactions=18, cards=5)
    assert len(DEMO_CUSTOMERS) >= 5
    with session_scope(engine) as session:
        names = [c.name for c in session.exec(select(Customer).order_by(col(Customer.id))).all()]
        phones = {p.number: p.label for p in session.exec(select(PhoneNumber)).all()}
    assert names == ["Alice Johnson", "Bob Smith", "Carol Diaz", "Dan Okafor", "Erin Walsh"]
    assert phones["+15550100012"] == "work"
    assert phones["+15550100002"] == "mobile"


def test_required_fixtures(engine: Engine) -> None:
    seed_demo(engine)
    alice = _account(engine, "44170923")
    assert (alice.kind, alice.balance_cents, alice.available_cents, alice.currency) == (
        "checking", 234567, 234567, "USD")
    assert _account(engine, "55210087").balance_cents == 1825000
    assert _account(engine, "55210095").kind == "savings"
    carol = _account(engine, "66120345")
    assert carol.self_service_locked and carol.locked_reason == "too many PIN attempts"
    assert _account(engine, "73004411").balance_cents == 0
    with session_scope(engine) as session:
        bob = session.exec(select(Customer).where(Customer.name == "Bob Smith")).one()
        erin = session.exec(select(Customer).where(Customer.name == "Erin Walsh")).one()
        erin_phones = session.exec(select(PhoneNumber).where(PhoneNumber.customer_id == erin.id)).all()
        txs = session.exec(select(BankTransaction).where(BankTransaction.account_id == alice.id)).all()
        cards = {(c.last4, c.kind, c.status) for c in session.exec(select(Card)).all()}
        dan_cards = session.exec(select(Card).where(Card.account_id == _account(engine, "73004411").id)).all()
    assert bob.vip
    assert erin_phones == []
    assert len(txs) >= 6
    assert {tx.posted_at.date().month for tx in txs} == {11}
    assert all(tx.posted_at.tzinfo is not None for tx in txs)
    assert {tx.amount_cents > 0 for tx in txs} == {True, False}
    assert {"Grocery Mart", "Salary ACME Corp"} <= {tx.description for tx in txs}
    assert {("5521", "debit", "active"), ("9034", "credit", "active"), ("7710", "debit", "active")} <= cards
    assert dan_cards == []


@pytest.mark.parametrize(("number", "pin"), [
    ("44170923", "1234"), ("55210087", "4321"), ("55210095", "4321"), ("66120345", "2468"),
    ("73004411", "1357"), ("81234567", "8642"),
])
def test_pins_are_hashed_and_salted(engine: Engine, number: str, pin: str) -> None:
    seed_demo(engine)
    account = _account(engine, number)
    assert pin not in account.pin_hash
    assert account.pin_hash.startswith("pbkdf2_sha256$")
    assert pin_matches(pin, account.pin_hash, account.pin_salt)
    assert not pin_matches("0000", account.pin_hash, account.pin_salt)


def test_same_pin_gets_different_salts(engine: Engine) -> None:
    seed_demo(engine)
    checking, savings = _account(engine, "55210087"), _account(engine, "55210095")
    assert checking.pin_salt != savings.pin_salt
    assert checking.pin_hash != savings.pin_hash


def test_seed_is_deterministic(tmp_path: Path) -> None:
    first, second = _engine(tmp_path / "a.db"), _engine(tmp_path / "b.db")
    seed_demo(first)
    seed_demo(second)
    assert _dump(first) == _dump(second)
    seed_demo(first)  # reset and seed again: same rows, same ids
    assert _dump(first) == _dump(second)


def test_seed_without_reset_is_idempotent(engine: Engine) -> None:
    seed_demo(engine)
    before = _dump(engine)
    again = seed_demo(engine, reset=False)
    assert again == DemoSummary(skipped_customers=5)
    assert _dump(engine) == before


def test_reset_restores_changed_data(engine: Engine) -> None:
    seed_demo(engine)
    with session_scope(engine) as session:
        account = session.exec(select(Account).where(Account.number == "44170923")).one()
        account.balance_cents = 1
        session.add(account)
    seed_demo(engine)
    assert _account(engine, "44170923").balance_cents == 234567


def test_reset_keeps_call_records(engine: Engine, tmp_path: Path) -> None:
    store = CallStore(engine, tmp_path / "spool")
    store.start_call("call-1", "+15550100001", "100", "bank", datetime(2026, 11, 20, tzinfo=UTC))
    seed_demo(engine)
    seed_demo(engine, reset=True)
    assert store.get_call("call-1") is not None


def test_demo_customers_document_every_account(engine: Engine) -> None:
    seed_demo(engine)
    for spec in DEMO_CUSTOMERS:
        for data in spec["accounts"]:
            account = _account(engine, data["number"])
            assert account.balance_cents == to_cents(data["balance"])
            assert len(data["number"]) == 8 and data["number"].isdigit()
            assert pin_matches(data["pin"], account.pin_hash, account.pin_salt)


def test_to_cents_is_exact() -> None:
    assert to_cents("2345.67") == 234567
    assert to_cents("-42.10") == -4210
    assert to_cents("0.00") == 0
    with pytest.raises(ValueError):
        to_cents("1.005")
