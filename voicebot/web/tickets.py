"""Tickets (notes, tags, disposition saved with a call) and a customer's history of calls and tickets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, or_, select

from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.bank_models import Account, BankTransaction
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import session_scope
from voicebot.storage.web_models import Ticket

MAX_NOTES = 10_000
MAX_TAGS = 20
_TAG = re.compile(r"^[\w][\w .:/-]{0,39}$")


class TicketError(ValueError):
    """Bad ticket input (shown to the agent)."""


def parse_tags(text: str) -> list[str]:
    tags = []
    for raw in text.split(","):
        tag = raw.strip().lower()
        if not tag:
            continue
        if not _TAG.match(tag):
            raise TicketError(f"tag {tag[:40]!r}: letters, digits, spaces and . : / - only (40 at most)")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise TicketError(f"at most {MAX_TAGS} tags")
    return tags


def save_ticket(engine: Engine, entry: QueueEntry, agent: str, notes: str, tags: list[str], disposition: str,
                now: datetime, close: bool) -> Ticket:
    """The agent's ticket for this call (one per agent and entry; saving again updates it)."""
    if len(notes) > MAX_NOTES:
        raise TicketError(f"notes are limited to {MAX_NOTES} characters")
    if close and not disposition:
        raise TicketError("choose a disposition to close the ticket")
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.entry_id == entry.id, Ticket.agent == agent)
                              .order_by(col(Ticket.id).desc())).first()
        if ticket is None or ticket.status == "closed":
            ticket = Ticket(call_id=entry.call_id, entry_id=entry.id, customer_id=entry.customer_id,
                            caller_id=entry.caller_id, agent=agent, queue=entry.queue, created_at=now)
        ticket.notes, ticket.tags, ticket.disposition = notes, tags, disposition
        if close:
            ticket.status, ticket.closed_at = "closed", now
        session.add(ticket)
        session.flush()
        session.refresh(ticket)
        return ticket


def tickets_for_entry(engine: Engine, entry_id: int) -> list[Ticket]:
    with session_scope(engine) as session:
        return list(session.exec(select(Ticket).where(Ticket.entry_id == entry_id).order_by(col(Ticket.id))).all())


@dataclass(frozen=True)
class History:
    calls: list[CallRecord]
    tickets: list[Ticket]
    transactions: list[dict[str, Any]]


def customer_history(engine: Engine, customer_id: int | None, caller_id: str, *, exclude_call: str = "",
                     limit: int = 10) -> History:
    """The customer's (or, unknown, the caller ID's) previous calls and tickets and last transactions."""
    if customer_id is None and not caller_id:
        return History([], [], [])
    with session_scope(engine) as session:
        if customer_id is not None and caller_id:
            who_calls: Any = or_(col(CallRecord.customer_id) == customer_id, col(CallRecord.caller_id) == caller_id)
        elif customer_id is not None:
            who_calls = col(CallRecord.customer_id) == customer_id
        else:
            who_calls = col(CallRecord.caller_id) == caller_id
        calls = list(session.exec(select(CallRecord).where(who_calls, CallRecord.id != exclude_call)
                                  .order_by(col(CallRecord.started_at).desc()).limit(limit)).all())
        who_tickets = (Ticket.customer_id == customer_id) if customer_id is not None else (
            Ticket.caller_id == caller_id)
        tickets = list(session.exec(select(Ticket).where(who_tickets)
                                    .order_by(col(Ticket.created_at).desc()).limit(limit)).all())
        transactions: list[dict[str, Any]] = []
        if customer_id is not None:
            rows = session.exec(select(BankTransaction, Account).join(Account)
                                .where(Account.customer_id == customer_id)
                                .order_by(col(BankTransaction.posted_at).desc()).limit(limit)).all()
            transactions = [{"posted_at": tx.posted_at, "account": "…" + account.number[-4:], "kind": account.kind,
                             "amount_cents": tx.amount_cents, "description": tx.description,
                             "currency": account.currency} for tx, account in rows]
    return History(calls, tickets, transactions)
