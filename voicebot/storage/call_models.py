"""Tables that record calls: one summary row per call, its step log, and handoff requests.

Only :class:`voicebot.storage.calls.CallStore` writes them. ``customer_id`` deliberately has no foreign
key to the bank tables: call records must outlive a reset of the demo bank.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from voicebot.storage.db import UTCDateTime, utc_now

#: Values of CallRecord.outcome used by the runtime (others are allowed, e.g. from custom channels).
OUTCOMES = ("self_served", "handoff", "hangup_by_caller", "abandoned", "error")
#: Outcomes the ACD sets (voicebot.acd.store) once a handed-off call meets its queue; they are final, so
#: the session's later "handoff" does not overwrite them.
ACD_OUTCOMES = ("answered", "abandoned_in_queue", "callback_completed", "callback_failed")


class CallRecord(SQLModel, table=True):
    __tablename__ = "call_record"

    #: The call id the channel assigned, so logs, recordings and this row share one key.
    id: str = Field(primary_key=True)
    caller_id: str = ""
    dialled: str = ""
    flow: str = ""
    #: The SIP Call-ID header of the call (empty for text and simulated calls), to match the PBX's records.
    sip_call_id: str = Field(default="", index=True)
    started_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = None
    authenticated: bool = False
    customer_id: int | None = None
    intents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    slots: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    nodes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    handoff: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    recording_path: str | None = None
    error: str | None = None
    # ----- the queue (set by voicebot.acd.store): times of the call's first queue visit ----------
    queue: str | None = None
    enqueued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    offered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Login of the agent who answered.
    agent: str | None = None
    wait_ms: int | None = None
    #: Answer to the end of the conversation, less the time on hold (``hold_ms``, from the agent's console).
    talk_ms: int | None = None
    hold_ms: int | None = None
    wrap_ms: int | None = None


class CallEvent(SQLModel, table=True):
    """One engine step: the event fed in and the actions that came out (enough to replay the call)."""

    __tablename__ = "call_event"
    # A step logged twice (e.g. once directly and once from the spool) must not be stored twice.
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_event_call_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call_record.id", index=True)
    seq: int
    #: Seconds on the call's own clock, as carried by the event.
    at: float
    event: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class HandoffRequest(SQLModel, table=True):
    """A caller waiting for an agent; the ACD takes rows with status "waiting"."""

    __tablename__ = "handoff_request"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call_record.id", index=True)
    queue: str = Field(index=True)
    priority: int = 0
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = ""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    status: str = Field(default="waiting", index=True)
