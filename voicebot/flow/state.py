"""Per-call state: everything the engine remembers between events, and nothing else.

It is plain data (serialisable with pydantic) so a call can be stored, inspected and replayed, and a
later node of the cluster could resume it from the database.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Waiting = Literal["start", "input", "confirm", "action", "ended"]


class Frame(BaseModel):
    """Where to continue when a subflow returns: the subflow node in the calling flow."""

    flow: str
    node: str


class PendingConfirmation(BaseModel):
    value: Any
    heard: str
    intent: str | None = None
    entities: dict[str, Any] = Field(default_factory=dict)
    #: A low-confidence global command awaiting "yes" (its intent), rather than an answer.
    command: str | None = None


class CallState(BaseModel):
    call_id: str = ""
    flow: str = ""
    node: str = ""
    stack: list[Frame] = Field(default_factory=list)
    waiting: Waiting = "start"
    vars: dict[str, Any] = Field(default_factory=dict)
    #: Values collected by ask/menu nodes (secure ones are masked when recorded).
    slots: dict[str, Any] = Field(default_factory=dict)
    secure_slots: list[str] = Field(default_factory=list)
    #: "node:no_input" / "node:no_match" / "node:attempts" counters of the node being asked.
    counters: dict[str, int] = Field(default_factory=dict)
    dtmf_buffer: str = ""
    #: Keys being collected for a digits-like ask while the inter-digit timer runs.
    collecting: bool = False
    confirmation: PendingConfirmation | None = None
    pending_request: str | None = None
    request_seq: int = 0
    #: The prompts of the current turn, for "repeat".
    last_prompts: list[str] = Field(default_factory=list)
    intents: list[str] = Field(default_factory=list)
    path: list[str] = Field(default_factory=list)
    outcome: str | None = None
    handoff: dict[str, Any] | None = None
    error: str | None = None
    started_at: float = 0.0
    events: int = 0

    @property
    def ended(self) -> bool:
        return self.waiting == "ended"

    @property
    def authenticated(self) -> bool:
        return bool(self.vars.get("authenticated"))

    def recorded_slots(self) -> dict[str, Any]:
        """Slots as stored and shown to agents: secure values never leave the engine."""
        return {k: ("***" if k in self.secure_slots else v) for k, v in self.slots.items()}
