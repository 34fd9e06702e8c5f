"""What the engine asks the channel to do: the closed vocabulary of actions.

The runtime executes actions in order. ``Say`` and ``Play`` queue audio; ``Listen`` opens input after
the queued prompts (or during them when ``barge_in`` is true); ``RunAction`` asks for a data action
whose result comes back as an :class:`voicebot.events.ActionResult`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SlotType = Literal["digits", "number", "currency", "date", "yes_no", "intent", "phrase", "pattern"]


@dataclass(frozen=True)
class Say:
    text: str
    node: str = ""
    barge_in: bool = True
    #: True for text that was not rendered from variables, so a prompt cache may pre-render it.
    static: bool = False


@dataclass(frozen=True)
class Play:
    """A recorded audio prompt (path relative to the flow file's folder)."""

    path: str
    node: str = ""
    barge_in: bool = True
    #: Spoken instead where the file cannot be played (the text console shows it).
    fallback_text: str = ""


@dataclass(frozen=True)
class Listen:
    """Open input for one ask/menu/confirmation turn."""

    node: str
    slot_type: SlotType
    #: Intent names the recognizer should favour (node intents plus global commands).
    intents: tuple[str, ...] = ()
    #: Phrases for grammar-constrained recognizers (menu words, intent phrases, yes/no).
    phrases: tuple[str, ...] = ()
    min_digits: int = 1
    max_digits: int = 32
    terminator: str = "#"
    #: DTMF keys that resolve this turn at once (menu keys, yes/no keys, global command keys).
    dtmf_keys: tuple[str, ...] = ()
    no_input_ms: int = 5000
    complete_silence_ms: int = 800
    incomplete_silence_ms: int = 1200
    max_speech_ms: int = 15000
    interdigit_ms: int = 3000
    barge_in: bool = True
    #: Secure input (PINs): recordings pause and logs mask what was entered.
    secure: bool = False


@dataclass(frozen=True)
class StartTimer:
    name: str
    ms: int


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class RunAction:
    """Run a registered data action (or ``http``); the result comes back as ActionResult."""

    request_id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int = 5000
    node: str = ""


@dataclass(frozen=True)
class Handoff:
    """Transfer to an ACD queue with everything collected attached."""

    queue: str
    priority: int = 0
    skills: tuple[str, ...] = ()
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    node: str = ""


@dataclass(frozen=True)
class Hangup:
    outcome: str = "completed"
    reason: str = ""
    node: str = ""


Action = Say | Play | Listen | StartTimer | CancelTimer | RunAction | Handoff | Hangup


def action_to_dict(action: Action) -> dict[str, Any]:
    return {"type": type(action).__name__, **asdict(action)}
