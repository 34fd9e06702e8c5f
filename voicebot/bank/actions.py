"""The demo bank's data actions, called by the sample flows through the action registry.

Each action is ``fn(ctx, **args) -> dict`` and works in its own short transaction on ``ctx.engine``.
Amounts leave as decimal strings ("2345.67"); a domain problem (unknown account, no such card) is an
:class:`ActionFailed` with a message that is safe to say in logs (account numbers shown as last 4 only).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from voicebot.services.registry import ActionContext, ActionFailed, ActionRegistry
from voicebot.storage.bank_models import (
    LOCKED_TOO_MANY_ATTEMPTS,
    MAX_PIN_ATTEMPTS,
    Account,
    BankTransaction,
    Card,
    Customer,
    PhoneNumber,
    pin_matches,
)
from voicebot.storage.db import session_scope

#: No 0/O or 1/I: the reference is read out to callers, who write it down.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
MAX_TRANSACTIONS = 50


def format_cents(cents: int) -> str:
    """ "-42.10" for -4210: exact, no float, no thousands separators (the prompt layer formats)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def normalise_phone(raw: str) -> str:
    """E.164 for caller IDs like "555-010-0001", "+1 555 010 0001", "sip:+15550100001@pbx;user=phone".

    Returns "" when there is no usable number (anonymous callers).
    """
    number = str(raw).strip()
    for prefix in ("tel:", "sips:", "sip:"):
        if number.lower().startswith(prefix):
            number = number[len(prefix):]
            break
    number = _PHONE_PUNCTUATION.sub("", number.split("@", 1)[0].split(";", 1)[0])
    if number.startswith("00"):
        number = "+" + number[2:]
    digits = number.removeprefix("+")
    if not digits.isdigit():
        return ""
    if number.startswith("+"):
        return number
    # Without a country code, assume North America: the demo bank's numbers are all +1.
    if len(digits) == 10:
        return "+1" + digits
    return "+" + digits


def _account_number(raw: Any) -> str:
    return re.sub(r"[\s\-]", "", str(raw))


def _masked(number: str) -> str:
    return f"ending in {number[-4:]}" if len(number) >= 4 else "(invalid number)"


def _find_account(session: Session, raw_number: Any) -> Account | None:
    number = _account_number(raw_number)
    return session.exec(select(Account).where(Account.number == number)).first()


def _get_account(session: Session, raw_number: Any) -> Account:
    account = _find_account(session, raw_number)
    if account is None:
        raise ActionFailed(f"no account {_masked(_account_number(raw_number))}")
    return account


def _account_info(account: Account) -> dict[str, Any]:
    return {"number": account.number, "kind": account.kind, "currency": account.currency,
            "locked": account.self_service_locked, "last4": account.number[-4:]}


def _customer_info(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "first_name": customer.first_name, "vip": customer.vip}


def identify_caller(ctx: ActionContext, phone: str) -> dict[str, Any]:
    """The customer whose phone number is calling, with their primary (first) account."""
    number = normalise_phone(phone)
    with session_scope(ctx.engine) as session:
        phone_row = session.exec(select(PhoneNumber).where(PhoneNumber.number == number)).first()
        customer = session.get(Customer, phone_row.customer_id) if number and phone_row else None
        if customer is None:
            return {"found": False, "customer": None, "account": None}
        account = session.exec(
            select(Account).where(Account.customer_id == customer.id).order_by(col(Account.id))
        ).first()
        return {"found": True, "customer": _customer_info(customer),
                "account": _account_info(account) if account else None}


def find_account(ctx: ActionContext, account_number: str) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        account = _find_account(session, account_number)
        if account is None:
            return {"found": False, "account": None, "customer": None}
        customer = session.get(Customer, account.customer_id)
        return {"found": True, "account": _account_info(account),
                "customer": _customer_info(customer) if customer else None}


def verify_pin(ctx: ActionContext, account_number: str, pin: str) -> dict[str, Any]:
    """Check a PIN; the third wrong one locks self-service until staff unlock it."""
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        if account.self_service_locked:
            # Even the right PIN does not open a locked account, or guessing could continue after lock.
            return {"ok": False, "attempts_left": 0, "locked": True}
        by_id = col(Account.id) == account.id
        if pin_matches(str(pin).strip(), account.pin_hash, account.pin_salt):
            if account.failed_pin_attempts:
                session.exec(update(Account).where(by_id).values(failed_pin_attempts=0))
            return {"ok": True, "attempts_left": MAX_PIN_ATTEMPTS, "locked": False}
        # Counted and locked in SQL, not in Python, so two calls guessing at once cannot both slip through.
        session.exec(
            update(Account).where(by_id).values(failed_pin_attempts=col(Account.failed_pin_attempts) + 1)
        )
        session.exec(
            update(Account)
            .where(by_id, col(Account.failed_pin_attempts) >= MAX_PIN_ATTEMPTS,
                   col(Account.self_service_locked).is_(False))
            .values(self_service_locked=True, locked_reason=LOCKED_TOO_MANY_ATTEMPTS)
        )
        session.refresh(account)
        return {"ok": False, "attempts_left": max(0, MAX_PIN_ATTEMPTS - account.failed_pin_attempts),
                "locked": account.self_service_locked}


def balance(ctx: ActionContext, account_number: str) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        return {"balance": format_cents(account.balance_cents),
                "available": format_cents(account.available_cents),
                "currency": account.currency, "kind": account.kind, "last4": account.number[-4:]}


def recent_transactions(ctx: ActionContext, account_number: str, count: int = 3) -> dict[str, Any]:
    """The newest ``count`` transactions (at most :data:`MAX_TRANSACTIONS`), newest first."""
    try:
        limit = max(0, min(int(count), MAX_TRANSACTIONS))
    except (TypeError, ValueError):
        raise ActionFailed("bank.recent_transactions: count must be a whole number") from None
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        rows = session.exec(
            select(BankTransaction)
            .where(BankTransaction.account_id == account.id)
            .order_by(col(BankTransaction.posted_at).desc(), col(BankTransaction.id).desc())
            .limit(limit)
        ).all()
        # kind and magnitude let a prompt say "a payment of 42 dollars" instead of "minus 42 dollars".
        transactions = [{"date": tx.posted_at.date().isoformat(), "amount": format_cents(tx.amount_cents),
                         "kind": "payment" if tx.amount_cents < 0 else "deposit",
                         "magnitude": format_cents(abs(tx.amount_cents)),
                         "description": tx.description} for tx in rows]
        return {"transactions": transactions, "count": len(transactions)}


def _cards_of(session: Session, account: Account) -> list[Card]:
    return list(session.exec(select(Card).where(Card.account_id == account.id).order_by(col(Card.id))).all())


def cards(ctx: ActionContext, account_number: str) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        rows = _cards_of(session, account)
        active = [card.last4 for card in rows if card.status == "active"]
        return {"cards": [{"last4": c.last4, "kind": c.kind, "status": c.status} for c in rows],
                "active_count": len(active), "first_active_last4": active[0] if active else None}


def _new_reference(session: Session) -> str:
    for _ in range(10):
        reference = "LC-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
        if session.exec(select(Card.id).where(Card.block_reference == reference)).first() is None:
            return reference
    # 32**8 references make this unreachable in practice; the unique constraint is the real guard.
    raise ActionFailed("could not generate a unique block reference")


def block_card(ctx: ActionContext, account_number: str, last4: str) -> dict[str, Any]:
    """Block a card; blocking it again is not an error and returns the first block's reference."""
    wanted = re.sub(r"\D", "", str(last4))
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        matches = [card for card in _cards_of(session, account) if card.last4 == wanted]
        if not matches:
            raise ActionFailed(f"no card ending in {wanted or '(nothing)'}")
        # Prefer a card that still works, in case an old blocked card shares the last four digits.
        card = next((c for c in matches if c.status != "blocked"), matches[0])
        already = card.status == "blocked"
        if not already or not card.block_reference:
            card.status = "blocked"
            card.blocked_at = card.blocked_at or ctx.now
            card.block_reference = _new_reference(session)
            session.add(card)
        return {"blocked": True, "already_blocked": already, "reference": card.block_reference,
                "last4": card.last4}


def lock_self_service(
    ctx: ActionContext, account_number: str, reason: str = "locked by flow"
) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)
        account.self_service_locked = True
        account.locked_reason = str(reason) or "locked by flow"
        session.add(account)
        return {"locked": True}


def register_bank_actions(registry: ActionRegistry) -> None:
    """Add the ``bank.*`` actions to ``registry``."""
    specs: list[tuple[str, Any, tuple[str, ...], str]] = [
        ("bank.identify_caller", identify_caller, ("phone",), "Find the customer by caller ID."),
        ("bank.find_account", find_account, ("account_number",), "Look up an account by its number."),
        ("bank.verify_pin", verify_pin, ("account_number", "pin"), "Check a PIN (3 failures lock)."),
        ("bank.balance", balance, ("account_number",), "Balance and available funds."),
        ("bank.recent_transactions", recent_transactions, ("account_number", "count"),
         "Most recent transactions, newest first."),
        ("bank.cards", cards, ("account_number",), "Cards on the account."),
        ("bank.block_card", block_card, ("account_number", "last4"), "Block a lost or stolen card."),
        ("bank.lock_self_service", lock_self_service, ("account_number", "reason"),
         "Lock phone self-service for the account."),
    ]
    from voicebot.bank.lost_card import lost_card_check

    specs.append(("bank.lost_card_check", lost_card_check, ("account_number", "caller_id"),
                  "Allow a lost-card request without a PIN? (locked accounts and rate limits refuse)"))
    for name, fn, params, description in specs:
        registry.register(name, fn, params=params, description=description)
