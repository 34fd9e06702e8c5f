"""Tables of the web console: tickets, CRM webhook deliveries (and their dead letters), login throttling.

Only :mod:`voicebot.web` writes them. A ticket belongs to a call (``call_id``, no foreign key: like queue
entries, tickets outlive a purge of call records) and to the customer when known, so a customer's history
of calls and tickets is one query each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from voicebot.storage.db import UTCDateTime, utc_now


class Ticket(SQLModel, table=True):
    __tablename__ = "web_ticket"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(index=True)
    entry_id: int | None = Field(default=None, index=True)
    customer_id: int | None = Field(default=None, index=True)
    caller_id: str = Field(default="", index=True)
    #: Login of the agent who wrote it.
    agent: str = ""
    queue: str = ""
    notes: str = ""
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    disposition: str = ""
    #: open while the agent works on it; closed when saved with a disposition (then the webhook fires).
    status: str = Field(default="open", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event for one URL; retried with backoff until delivered or dead (then copied to the dead letters)."""

    __tablename__ = "web_webhook_delivery"
    # One delivery per event and URL, whichever process noticed the event first.
    __table_args__ = (UniqueConstraint("event_key", "url", name="uq_web_webhook_event_url"),)

    id: int | None = Field(default=None, primary_key=True)
    #: e.g. "handoff:42" (queue entry 42) or "ticket.closed:7".
    event_key: str = Field(index=True)
    event: str
    url: str
    body: str
    #: pending | delivered | dead
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
    last_error: str = ""
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookDeadLetter(SQLModel, table=True):
    """A delivery that failed every attempt: kept for an operator to inspect and replay."""

    __tablename__ = "web_webhook_dead_letter"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True)
    event_key: str
    event: str
    url: str
    body: str
    attempts: int
    last_error: str = ""
    failed_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class WebhookCursor(SQLModel, table=True):
    """The last queue entry whose handoff was turned into webhook deliveries."""

    __tablename__ = "web_webhook_cursor"

    name: str = Field(primary_key=True)
    last_id: int = 0


class LoginThrottle(SQLModel, table=True):
    """Failed logins in a row per login name; locked until ``locked_until`` after too many."""

    __tablename__ = "web_login_throttle"

    login: str = Field(primary_key=True)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id, "call_id": ticket.call_id, "entry_id": ticket.entry_id, "customer_id": ticket.customer_id,
        "caller_id": ticket.caller_id, "agent": ticket.agent, "queue": ticket.queue, "notes": ticket.notes,
        "tags": list(ticket.tags), "disposition": ticket.disposition, "status": ticket.status,
        "created_at": ticket.created_at.isoformat(), "closed_at": ticket.closed_at.isoformat() if ticket.closed_at
        else None,
    }
