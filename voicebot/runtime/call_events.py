"""What a call publishes as it goes: a closed vocabulary of frozen lifecycle events.

Every event names its call (``call_id``) and when it happened on the call's media timeline (``at_ms``, from
the first tick). ``kind`` is a short stable name for printouts and JSON; ``data`` is the event's own fields as
a dict (what the live demo printout, the simulator's transcript and the benchmarks read).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

TurnReason = Literal["match", "nomatch", "noinput", "dtmf", "hangup", "maxspeech"]
Phase = Literal["ivr", "queued", "ringing", "bridged", "wrap_up", "ended"]


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    kind: ClassVar[str] = "event"
    call_id: str
    at_ms: int

    @property
    def data(self) -> dict[str, Any]:
        fields = asdict(self)
        del fields["call_id"], fields["at_ms"]
        return fields

    def as_json(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "kind": self.kind, **self.data}


# ----- the call as a whole -------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CallBegan(CallEvent):
    kind: ClassVar[str] = "call_started"
    caller_id: str
    dialled: str = ""


@dataclass(frozen=True, kw_only=True)
class PhaseChanged(CallEvent):
    kind: ClassVar[str] = "phase"
    before: Phase
    after: Phase


@dataclass(frozen=True, kw_only=True)
class CallerHungUp(CallEvent):
    kind: ClassVar[str] = "caller_hung_up"
    phase: Phase = "ivr"


@dataclass(frozen=True, kw_only=True)
class CallEnded(CallEvent):
    kind: ClassVar[str] = "call_ended"
    outcome: str | None
    phase: Phase = "ivr"
    ended_by: str = "ivr"  # ivr (the flow ended), caller, agent, shutdown, acd, callback


# ----- the IVR's side: prompts ---------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PromptQueued(CallEvent):
    kind: ClassVar[str] = "prompt"
    text: str
    node: str = ""


@dataclass(frozen=True, kw_only=True)
class RecordingQueued(CallEvent):
    kind: ClassVar[str] = "play"
    path: str
    node: str = ""


@dataclass(frozen=True, kw_only=True)
class PromptPlayed(CallEvent):
    """A prompt (or recording) played to its end, not cut by barge-in or a hang-up."""

    kind: ClassVar[str] = "prompt_played"
    seq: int  # the prompt's number in the call (1, 2, ...)
    node: str = ""


@dataclass(frozen=True, kw_only=True)
class BargeIn(CallEvent):
    kind: ClassVar[str] = "barge_in"
    by: str  # speech or dtmf


# ----- the caller's side: one listen turn ----------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SpeechBegan(CallEvent):
    kind: ClassVar[str] = "speech_started"
    speech_start_ms: int


@dataclass(frozen=True, kw_only=True)
class KeysPressed(CallEvent):
    kind: ClassVar[str] = "dtmf"
    keys: str  # masked (one * per key) at a secure step


@dataclass(frozen=True, kw_only=True)
class NoInputHeard(CallEvent):
    kind: ClassVar[str] = "no_input"


@dataclass(frozen=True, kw_only=True)
class Recognized(CallEvent):
    kind: ClassVar[str] = "recognized"
    text: str
    confidence: float
    engine: str
    speech_start_ms: int
    speech_end_ms: int
    reason: str  # the endpointer's: silence or max_speech
    previewed: bool
    previews: int


@dataclass(frozen=True, kw_only=True)
class TurnEnded(CallEvent):
    """A listen turn resolved, once, with its reason (the flow decides what the input means)."""

    kind: ClassVar[str] = "turn_ended"
    node: str
    reason: TurnReason
    listened_ms: int  # from the start of the turn's listen to its end
    speech_start_ms: int | None = None
    speech_end_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class Answered(CallEvent):
    """Where the time of a spoken turn went after its end (wall-clock ms), for logs and benchmarks."""

    kind: ClassVar[str] = "answered"
    recognize_ms: float
    step_ms: float
    first_audio_ms: float


# ----- the flow's endings and the handoff ----------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class FlowHungUp(CallEvent):
    kind: ClassVar[str] = "hangup"
    outcome: str


@dataclass(frozen=True, kw_only=True)
class HandoffRequested(CallEvent):
    kind: ClassVar[str] = "handoff"
    queue: str
    priority: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class Enqueued(CallEvent):
    kind: ClassVar[str] = "enqueued"
    queue: str
    ticket: str


@dataclass(frozen=True, kw_only=True)
class Offered(CallEvent):
    kind: ClassVar[str] = "offered"
    agent: str


@dataclass(frozen=True, kw_only=True)
class Bridged(CallEvent):
    kind: ClassVar[str] = "bridged"
    agent: str


@dataclass(frozen=True, kw_only=True)
class AgentDropped(CallEvent):
    """The agent's leg ended while the caller was still there: the caller goes back to the front of the queue."""

    kind: ClassVar[str] = "agent_dropped"
    agent: str


@dataclass(frozen=True, kw_only=True)
class AgentHungUp(CallEvent):
    """The agent hung up after the conversation: the call ends (closing prompt, then BYE to the caller)."""

    kind: ClassVar[str] = "agent_hung_up"
    agent: str


@dataclass(frozen=True, kw_only=True)
class HoldChanged(CallEvent):
    """The agent put the caller on hold (``on``) or took them off it, from the console."""

    kind: ClassVar[str] = "hold"
    agent: str
    on: bool


@dataclass(frozen=True, kw_only=True)
class Transferred(CallEvent):
    """The agent transferred the caller to another queue (from the console): their leg got BYE, the caller waits."""

    kind: ClassVar[str] = "transferred"
    agent: str
    queue: str


@dataclass(frozen=True, kw_only=True)
class Abandoned(CallEvent):
    """The caller left while waiting for a person (queued or ringing)."""

    kind: ClassVar[str] = "abandoned"
    phase: Phase
    waited_ms: int
