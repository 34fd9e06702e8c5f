"""Deterministic demo data for the sample bank flows, documented in :data:`DEMO_CUSTOMERS`.

Everything is fixed (names, numbers, dates, amounts) so flows, docs and tests can rely on it; only the
PIN salts are random, and they never show in any result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.storage.bank_models import (
    LOCKED_TOO_MANY_ATTEMPTS,
    MAX_PIN_ATTEMPTS,
    Account,
    BankTransaction,
    Card,
    Customer,
    LostCardRequest,
    PhoneNumber,
    hash_pin,
)
from voicebot.storage.db import session_scope


def _tx(day: int, hour: int, amount: str, description: str) -> dict[str, Any]:
    return {"posted_at": datetime(2026, 11, day, hour, 0, tzinfo=UTC), "amount": amount,
            "description": description}


#: The demo customers. Amounts are decimal strings; phones are E.164, the first labelled "mobile" and any
#: others "work".
DEMO_CUSTOMERS: list[dict[str, Any]] = [
    {
        "name": "Alice Johnson", "first_name": "Alice", "vip": False,
        "phones": ["+15550100001"],
        "accounts": [{
            "number": "44170923", "kind": "checking", "pin": "1234",
            "balance": "2345.67", "available": "2345.67", "currency": "USD",
            "cards": [{"last4": "5521", "kind": "debit", "status": "active"}],
            "transactions": [
                _tx(2, 9, "3200.00", "Salary ACME Corp"),
                _tx(3, 10, "-1450.00", "Rent Oak Street Apartments"),
                _tx(7, 8, "-4.75", "Coffee Corner"),
                _tx(11, 14, "-86.40", "City Utilities"),
                _tx(15, 16, "59.99", "Refund Online Store"),
                _tx(18, 17, "-38.25", "Gas Station"),
                _tx(20, 18, "-42.10", "Grocery Mart"),
            ],
        }],
    },
    {
        "name": "Bob Smith", "first_name": "Bob", "vip": True,
        "phones": ["+15550100002", "+15550100012"],
        "accounts": [
            {
                "number": "55210087", "kind": "checking", "pin": "4321",
                "balance": "18250.00", "available": "18250.00", "currency": "USD",
                "cards": [{"last4": "9034", "kind": "credit", "status": "active"},
                          {"last4": "7710", "kind": "debit", "status": "active"}],
                "transactions": [
                    _tx(4, 11, "5000.00", "Wire transfer Smith Holdings"),
                    _tx(9, 13, "-812.40", "Skyway Airlines"),
                    _tx(16, 20, "-146.80", "Restaurant Le Jardin"),
                    _tx(19, 22, "-389.00", "Hotel Grand Plaza"),
                ],
            },
            {
                "number": "55210095", "kind": "savings", "pin": "4321",
                "balance": "50000.00", "available": "50000.00", "currency": "USD",
                "cards": [],
                "transactions": [
                    _tx(1, 6, "41.67", "Interest"),
                    _tx(14, 12, "1000.00", "Transfer from checking"),
                ],
            },
        ],
    },
    {
        "name": "Carol Diaz", "first_name": "Carol", "vip": False,
        "phones": ["+15550100003"],
        "accounts": [{
            "number": "66120345", "kind": "checking", "pin": "2468",
            "balance": "512.30", "available": "512.30", "currency": "USD",
            "locked_reason": LOCKED_TOO_MANY_ATTEMPTS,
            "cards": [{"last4": "6604", "kind": "debit", "status": "active"}],
            "transactions": [
                _tx(5, 12, "1200.00", "Payroll Diaz Design"),
                _tx(12, 15, "-64.20", "Pharmacy Plus"),
            ],
        }],
    },
    {
        "name": "Dan Okafor", "first_name": "Dan", "vip": False,
        "phones": ["+15550100004"],
        "accounts": [{
            "number": "73004411", "kind": "checking", "pin": "1357",
            "balance": "0.00", "available": "0.00", "currency": "USD",
            "cards": [], "transactions": [],
        }],
    },
    {
        # No phone on file: the path for callers from unknown numbers.
        "name": "Erin Walsh", "first_name": "Erin", "vip": False,
        "phones": [],
        "accounts": [{
            "number": "81234567", "kind": "checking", "pin": "8642",
            "balance": "975.20", "available": "925.20", "currency": "USD",
            "cards": [{"last4": "4410", "kind": "debit", "status": "active"}],
            "transactions": [
                _tx(6, 9, "1800.00", "Salary Northwind Ltd"),
                _tx(10, 19, "-120.00", "Book Nook"),
                _tx(17, 12, "-50.00", "Electronics Hub"),
            ],
        }],
    },
]


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`seed_demo` created (zero everywhere when everything already existed)."""

    customers: int = 0
    phone_numbers: int = 0
    accounts: int = 0
    transactions: int = 0
    cards: int = 0
    skipped_customers: int = 0


def to_cents(amount: str) -> int:
    """Exact cents for a decimal string such as "2345.67" (never through float)."""
    cents = Decimal(amount) * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"amount {amount!r} has fractions of a cent")
    return int(cents)


def seed_demo(engine: Engine, *, reset: bool = True) -> DemoSummary:
    """Create the demo bank. ``reset`` first deletes all bank rows (call records are kept).

    Without ``reset`` a customer whose account numbers already exist is skipped, so seeding twice never
    duplicates anything.
    """
    counts = dict.fromkeys(("customers", "phone_numbers", "accounts", "transactions", "cards",
                            "skipped_customers"), 0)
    with session_scope(engine) as session:
        if reset:
            # Children first, for the foreign keys.
            for table in (LostCardRequest, Card, BankTransaction, Account, PhoneNumber, Customer):
                session.exec(delete(table))
        for spec in DEMO_CUSTOMERS:
            numbers = [account["number"] for account in spec["accounts"]]
            if session.exec(select(Account.id).where(col(Account.number).in_(numbers))).first():
                counts["skipped_customers"] += 1
                continue
            _add_customer(session, spec, counts)
    return DemoSummary(**counts)


def _add_customer(session: Session, spec: dict[str, Any], counts: dict[str, int]) -> None:
    customer = Customer(name=spec["name"], first_name=spec["first_name"], vip=spec["vip"])
    session.add(customer)
    session.flush()
    assert customer.id is not None  # assigned by the flush
    counts["customers"] += 1
    for index, number in enumerate(spec["phones"]):
        label = "mobile" if index == 0 else "work"
        session.add(PhoneNumber(customer_id=customer.id, number=number, label=label))
        counts["phone_numbers"] += 1
    for data in spec["accounts"]:
        pin_hash, pin_salt = hash_pin(data["pin"])
        locked_reason = data.get("locked_reason")
        account = Account(
            number=data["number"], customer_id=customer.id, kind=data["kind"],
            balance_cents=to_cents(data["balance"]), available_cents=to_cents(data["available"]),
            currency=data["currency"], pin_hash=pin_hash, pin_salt=pin_salt,
            failed_pin_attempts=MAX_PIN_ATTEMPTS if locked_reason else 0,
            self_service_locked=bool(locked_reason), locked_reason=locked_reason,
        )
        session.add(account)
        session.flush()
        assert account.id is not None
        counts["accounts"] += 1
        for tx in data["transactions"]:
            session.add(BankTransaction(account_id=account.id, posted_at=tx["posted_at"],
                                        amount_cents=to_cents(tx["amount"]), description=tx["description"]))
            counts["transactions"] += 1
        for card in data["cards"]:
            session.add(Card(account_id=account.id, last4=card["last4"], kind=card["kind"],
                             status=card["status"]))
            counts["cards"] += 1
