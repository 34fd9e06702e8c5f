"""The pre-qualified handoff: what the agent knows before saying hello.

A typed, versioned model (``schema_version``); its JSON Schema is committed as docs/handoff.schema.json
(``voicebot acd-schema -o docs/handoff.schema.json`` regenerates it; a test keeps it fresh). It is built
from the engine's :class:`voicebot.actions.Handoff` action and the call's steps, stored with the queue
entry, and shown by ``voicebot queues show`` (later the agent console's screen pop).

Secrets never enter it: what the caller said or keyed at a secure node (a PIN) is masked, secure slot
values are masked wherever they would appear, and long digit runs (card numbers) keep their last four.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from voicebot.actions import Action, Handoff, Play, Say
from voicebot.events import Dtmf, Event, Utterance
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.schema import AskNode
from voicebot.flow.state import CallState

HANDOFF_SCHEMA_VERSION = 1
MASK = "***"
#: 12-19 digits (possibly spaced or dashed): a card number; all but the last four are masked.
_CARD = re.compile(r"\b(?:\d[ -]?){8,15}(\d{4})\b")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerInfo(_Model):
    id: int | None = None
    name: str = ""
    first_name: str = ""
    vip: bool = False


class Authentication(_Model):
    #: none: unknown caller; identified: we know who they claim to be; verified: a secret was checked.
    level: Literal["none", "identified", "verified"] = "none"
    #: How: caller_id, account_number, pin (or "" for none).
    method: str = ""


class IntentInfo(_Model):
    name: str
    confidence: float = Field(ge=0.0, le=1.0)


class SlotInfo(_Model):
    name: str
    value: Any = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    masked: bool = False


class TranscriptLine(_Model):
    #: Seconds since the call started.
    at: float
    speaker: Literal["caller", "bot"]
    text: str
    #: dtmf for keys, speech for recognised words, prompt for what the bot said.
    mode: Literal["speech", "dtmf", "prompt"]


class QueueInfo(_Model):
    name: str
    priority: int = 0
    skills: list[str] = Field(default_factory=list)
    enqueued_at: datetime | None = None
    #: Filled when the payload is shown or offered: seconds waited so far and offers made (attempts).
    wait_seconds: float | None = None
    offers: int = 0


class TransferNote(_Model):
    """An agent moved the caller to another queue from the console; the note is for the next agent."""

    from_queue: str
    to_queue: str
    agent: str
    note: str = ""
    at: datetime


class HandoffPayload(_Model):
    """Everything the IVR learned, for the agent (version 1)."""

    schema_version: Literal[1] = 1
    call_id: str
    caller_id: str = ""
    dialled: str = ""
    flow: str = ""
    language: str = "en-US"
    customer: CustomerInfo | None = None
    authentication: Authentication = Authentication()
    #: The last recognised intent, the reason the caller is here.
    intent: IntentInfo | None = None
    intents: list[str] = Field(default_factory=list)
    slots: list[SlotInfo] = Field(default_factory=list)
    #: Nodes visited, in order (the IVR path).
    ivr_path: list[str] = Field(default_factory=list)
    transcript: list[TranscriptLine] = Field(default_factory=list)
    #: Why the handoff happened (the flow's handoff node reason, or the error that caused it).
    reason: str = ""
    #: Values the flow's handoff node attached (``attach:``), secure ones masked.
    attached: dict[str, Any] = Field(default_factory=dict)
    queue: QueueInfo
    #: Transfers between queues by agents, oldest first, each with the agent's note.
    transfers: list[TransferNote] = Field(default_factory=list)


class StepLike(Protocol):
    """One engine step: :class:`voicebot.runtime.session.StepRecord` has this shape."""

    @property
    def event(self) -> Event: ...

    @property
    def actions(self) -> Sequence[Action]: ...

    @property
    def state(self) -> CallState: ...


def handoff_json_schema() -> dict[str, Any]:
    schema = HandoffPayload.model_json_schema()
    schema["$id"] = "https://voicebot.invalid/schemas/handoff.v1.json"
    schema["title"] = "voicebot handoff payload"
    return schema


def mask_digits(text: str) -> str:
    """Card-length digit runs keep only their last four digits."""
    return _CARD.sub(lambda m: MASK + m.group(1), text)


def build_handoff(flow: CompiledFlow, steps: Sequence[StepLike], handoff: Handoff, *,
                  initial: CallState | None = None) -> HandoffPayload:
    """The payload for ``handoff`` from the call's steps (each with the state after it).

    ``initial`` is the state before the first step (default: an empty one).
    """
    state = steps[-1].state if steps else (initial or CallState())
    secrets = {str(state.vars[k]) for k in state.secure_slots if state.vars.get(k) is not None}
    secrets |= {str(state.slots[k]) for k in state.secure_slots if state.slots.get(k) is not None}
    secrets.discard("")

    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return mask_digits(text)

    for step in steps:  # secure values collected and cleared mid-call are secrets too
        secrets |= {str(step.state.slots[k]) for k in step.state.secure_slots if step.state.slots.get(k) is not None}
    secrets.discard("")
    started = state.started_at
    transcript: list[TranscriptLine] = []
    slot_conf: dict[str, float] = {}
    seen: dict[str, Any] = {}
    intent: IntentInfo | None = None
    before = initial or CallState()
    for step in steps:
        event, after = step.event, step.state
        secure = _secure_turn(flow, before)
        confidence = _confidence(event)
        if isinstance(event, Utterance):
            transcript.append(TranscriptLine(at=_rel(event.at, started), speaker="caller", mode="speech",
                                             text=MASK if secure else clean(event.text)))
        elif isinstance(event, Dtmf):
            transcript.append(TranscriptLine(at=_rel(event.at, started), speaker="caller", mode="dtmf",
                                             text=MASK if secure else clean(event.keys)))
        if len(after.intents) > len(before.intents) and confidence is not None:
            intent = IntentInfo(name=after.intents[-1], confidence=confidence)
        for name, value in after.slots.items():
            if before.slots.get(name) != value:
                slot_conf[name] = confidence if confidence is not None else 1.0
                # Kept even when a subflow clears it later: the agent sees a PIN was given (masked).
                seen[name] = value
        for action in step.actions:
            if isinstance(action, Say | Play):
                text = action.text if isinstance(action, Say) else action.fallback_text
                if text:
                    transcript.append(TranscriptLine(at=_rel(event.at, started), speaker="bot", mode="prompt",
                                                     text=clean(text)))
        before = after
    if intent is None and state.intents:
        intent = IntentInfo(name=state.intents[-1], confidence=1.0)
    payload = handoff.payload
    return HandoffPayload(
        call_id=state.call_id or str(payload.get("call_id", "")),
        caller_id=str(payload.get("caller_id") or state.vars.get("caller_id") or ""),
        dialled=str(payload.get("dialled") or state.vars.get("dialled") or ""),
        flow=flow.root,
        language=flow.flows[flow.root].settings.language,
        customer=_customer(state.vars.get("customer")),
        authentication=_authentication(state),
        intent=intent,
        intents=list(state.intents),
        slots=[
            SlotInfo(name=name, value=MASK if name in state.secure_slots else _jsonable(value),
                     confidence=round(slot_conf.get(name, 1.0), 3), masked=name in state.secure_slots)
            for name, value in {**seen, **state.slots}.items()
        ],
        ivr_path=list(state.path),
        transcript=transcript,
        reason=clean(handoff.reason),
        attached={k: _jsonable(v) for k, v in dict(payload.get("attached") or {}).items()},
        queue=QueueInfo(name=handoff.queue, priority=handoff.priority, skills=list(handoff.skills)),
    )


def with_queue_figures(payload: dict[str, Any], enqueued_at: datetime, now: datetime, offers: int) -> dict[str, Any]:
    """A stored payload (JSON) with the queue wait and offers made so far, as shown to an agent."""
    queue = dict(payload.get("queue") or {})
    queue.update(enqueued_at=enqueued_at.isoformat(), wait_seconds=round((now - enqueued_at).total_seconds(), 1),
                 offers=offers)
    return {**payload, "queue": queue}


def _secure_turn(flow: CompiledFlow, before: CallState) -> bool:
    if before.waiting not in ("input", "confirm") or before.flow not in flow.flows:
        return False
    node = flow.flows[before.flow].nodes.get(before.node)
    return isinstance(node, AskNode) and bool(node.secure)


def _confidence(event: Event) -> float | None:
    if isinstance(event, Utterance):
        return max(0.0, min(1.0, event.confidence))
    if isinstance(event, Dtmf):
        return 1.0
    return None


def _rel(at: float, started: float) -> float:
    return round(max(0.0, at - started), 3)


def _customer(value: Any) -> CustomerInfo | None:
    if not isinstance(value, dict):
        return None
    cid = value.get("id")
    return CustomerInfo(id=cid if isinstance(cid, int) else None, name=str(value.get("name") or ""),
                        first_name=str(value.get("first_name") or ""), vip=bool(value.get("vip")))


def _authentication(state: CallState) -> Authentication:
    if state.authenticated:
        return Authentication(level="verified", method="pin" if state.secure_slots else "flow")
    if isinstance(state.vars.get("customer"), dict):
        return Authentication(level="identified",
                              method="account_number" if "account_number" in state.slots else "caller_id")
    return Authentication()


def _jsonable(value: Any) -> Any:
    from voicebot.storage.db import to_jsonable

    return to_jsonable(value)
