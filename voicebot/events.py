"""What happens to a call: the closed vocabulary of events the flow engine consumes.

Every event carries ``at`` (seconds on the call's clock) because the engine never reads a clock:
time is an input. Events are frozen so a stored (event, actions) log can be replayed exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Hypothesis:
    """One recognition alternative (n-best entry)."""

    text: str
    confidence: float = 1.0


@dataclass(frozen=True)
class CallStarted:
    call_id: str
    caller_id: str
    dialled: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class Utterance:
    """A final recognition result (or typed text in the console channel)."""

    text: str
    confidence: float = 1.0
    nbest: tuple[Hypothesis, ...] = ()
    at: float = 0.0


@dataclass(frozen=True)
class Dtmf:
    """One or more keypad keys, in the order pressed (``0-9 * # A-D``)."""

    keys: str
    at: float = 0.0


@dataclass(frozen=True)
class NoInput:
    """The listen step's no-input timeout expired without speech or keys."""

    at: float = 0.0


@dataclass(frozen=True)
class TimerFired:
    """A timer the engine asked for with :class:`voicebot.actions.StartTimer` expired."""

    name: str
    at: float = 0.0


@dataclass(frozen=True)
class ActionResult:
    """The outcome of a :class:`voicebot.actions.RunAction` request."""

    request_id: str
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    at: float = 0.0


@dataclass(frozen=True)
class HangUp:
    """The caller hung up (or the channel dropped)."""

    at: float = 0.0


Event = CallStarted | Utterance | Dtmf | NoInput | TimerFired | ActionResult | HangUp

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (CallStarted, Utterance, Dtmf, NoInput, TimerFired, ActionResult, HangUp)
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready form with the type name, for the per-call event log."""
    return {"type": type(event).__name__, **asdict(event)}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Inverse of :func:`event_to_dict` (used to replay stored calls)."""
    fields = dict(data)
    cls = EVENT_TYPES[fields.pop("type")]
    if cls is Utterance:
        fields["nbest"] = tuple(Hypothesis(**h) for h in fields.get("nbest", ()))
    return cls(**fields)
