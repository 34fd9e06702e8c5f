"""Tables of the ACD: agents and their state log, queue entries, offers, callback attempts.

Only :mod:`voicebot.acd.store` writes them. A queue entry is the caller's place in line for the whole
of its life: a live wait, an offer that rang out, a callback with retries all keep the same row and
its ``enqueued_at``. ``call_id`` has no foreign key: a callback entry outlives the call it came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from voicebot.storage.db import UTCDateTime, utc_now

#: Entry statuses: in line (waiting, offered), with an agent (dialling: a callback's caller leg is being
#: placed; answered: talking), and final.
ENTRY_ACTIVE = ("waiting", "offered", "dialling", "answered")
ENTRY_FINAL = ("completed", "abandoned", "callback_completed", "callback_failed", "cancelled")


class Agent(SQLModel, table=True):
    __tablename__ = "acd_agent"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(unique=True, index=True)
    name: str = ""
    #: argon2id (voicebot.acd.passwords); never the password itself.
    password_hash: str = ""
    sip_uri: str = ""
    #: skill -> proficiency 1..5
    skills: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="logged_out", index=True)
    state_reason: str = ""
    state_since: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    #: Presence: renewed by heartbeats; when it passes the agent is logged out by the reconciler.
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: When the agent last became available (longest-idle routing).
    available_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The entry the agent is reserved for or talking to.
    current_entry_id: int | None = None
    #: Wrap-up ends at this time (the reconciler makes the agent available then).
    wrap_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    calls_handled: int = 0
    talk_ms: int = 0
    #: "supervisor" may use the supervisor view and force agents' states; None (or "agent"): an agent.
    role: str | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AgentTransition(SQLModel, table=True):
    """Every state change with its time: the raw material of occupancy reports."""

    __tablename__ = "acd_agent_transition"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="acd_agent.id", index=True)
    from_state: str
    to_state: str
    reason: str = ""
    at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)


class QueueEntry(SQLModel, table=True):
    __tablename__ = "acd_queue_entry"
    __table_args__ = (Index("ix_acd_entry_status_queue", "status", "queue"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(index=True)
    queue: str
    priority: int = 0
    caller_id: str = ""
    customer_id: int | None = None
    vip: bool = False
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: The pre-qualified handoff (voicebot.acd.handoff.HandoffPayload as JSON).
    handoff: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: live: the caller is on the line; callback: voicebot calls them back.
    kind: str = "live"
    status: str = Field(default="waiting", index=True)
    #: The caller's place in line: kept through offers, overflows and the switch to a callback.
    enqueued_at: datetime = Field(sa_type=UTCDateTime)
    #: When it entered its current queue (max wait and overflow count from here).
    queued_at: datetime = Field(sa_type=UTCDateTime)
    visited: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    callback_offered: bool = False
    #: Fencing: bumped by every offer; an accept must carry the current value.
    fence: int = 0
    offers: int = 0
    first_offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: On hold from the agent's console since then (None: not on hold); hold_ms: the stretches that ended.
    hold_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hold_ms: int | None = None
    agent_id: int | None = None
    #: The agent who last served this caller before (sticky routing), found at enqueue time.
    sticky_agent_id: int | None = None
    end_reason: str = ""
    #: The node (process) whose call owner holds the live caller; recovery after a restart is per node.
    node: str = ""
    callback_number: str | None = None
    callback_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    callback_attempts: int = 0
    #: A callback waiting out its retry interval is not routed before this.
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Offer(SQLModel, table=True):
    """An entry offered to one agent: a lease that ends accepted, declined, timed out or cancelled."""

    __tablename__ = "acd_offer"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="acd_queue_entry.id", index=True)
    agent_id: int = Field(foreign_key="acd_agent.id", index=True)
    #: The entry's fence at offer time: the fencing token.
    token: int
    status: str = Field(default="pending", index=True)
    offered_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Which router made it (process/node name), for logs.
    router: str = ""


class CallbackAttempt(SQLModel, table=True):
    __tablename__ = "acd_callback_attempt"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="acd_queue_entry.id", index=True)
    attempt: int
    number: str
    agent_id: int | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: answered | no_answer | busy | failed | agent_unreachable
    outcome: str = ""
    detail: str = ""


class RouterCursor(SQLModel, table=True):
    """Round-robin position per queue, shared by every router."""

    __tablename__ = "acd_router_cursor"

    queue: str = Field(primary_key=True)
    last_login: str = ""
