"""What a call is given from outside: the ports a call owner drives (each has a fake in the tests).

* :class:`AcdPort`: where a handoff goes when the site has an ACD. ``enqueue`` returns a ticket; the ACD
  later drives the call through :class:`~voicebot.runtime.call.Call`'s transition methods (``offer``,
  ``bridge``, ``hold``, ``transferred``, ``requeue``, ``announce``, ``finish``), from any thread; the call tells the ACD
  what happened on its side (``cancel``: the caller left while waiting; ``complete``: a bridged conversation is over;
  ``agent_dropped``: the agent's leg ended while the caller was still there).
* :class:`AgentLeg`: the agent's side of a bridged call (an outbound SIP channel): 20 ms frames both ways.
* :class:`Recorder`: the call's two-channel recording (caller, IVR or agent), written one 20 ms frame at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from voicebot.actions import Handoff

if TYPE_CHECKING:
    from voicebot.runtime.session import CallSession


class AgentLeg(Protocol):
    """The agent's phone once it answered: what the bridge relays to and from."""

    @property
    def ended(self) -> bool: ...

    @property
    def buffered_frames(self) -> int:
        """Whole frames received from the agent and not read yet."""
        ...

    def read_frame(self) -> np.ndarray | None: ...

    def write_frame(self, frame: np.ndarray) -> None: ...

    def hang_up(self) -> None: ...


@dataclass(frozen=True)
class BridgeRules:
    """What an agent's leg ending means to a bridged caller (from the queue's settings, docs/acd.md).

    The leg is *lost* (the caller is told and goes back to the front of the queue) when it ends within
    ``requeue_within_ms`` of the answer (a slip of the thumb, a phone that dropped at once) or when no audio came
    from the agent for ``media_timeout_ms`` (the phone vanished: BYE to it). An agent hanging up after that ended
    the conversation: the caller hears ``closing_prompt`` and gets BYE."""

    requeue_within_ms: int = 10_000
    media_timeout_ms: int = 20_000
    closing_prompt: str = "Thank you for calling. Goodbye."


class CallControl(Protocol):
    """What the ACD may do to a waiting call (:class:`~voicebot.runtime.call.Call` implements it)."""

    session: CallSession

    def offer(self, agent: str) -> None: ...

    def requeue(self) -> None: ...

    def bridge(self, agent: str, leg: AgentLeg | None = None, rules: BridgeRules | None = None) -> None: ...

    def transferred(self, queue: str, prompt: str) -> None: ...

    def hold(self, on: bool) -> None: ...


    def announce(self, text: str) -> None: ...

    def finish(self) -> None: ...


class AcdPort(Protocol):
    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        """Put the call in the handoff's queue; returns a ticket. ``call`` is the owner to drive later."""
        ...

    def cancel(self, ticket: str) -> None:
        """The caller is gone (hung up, shutdown): take the ticket out of its queue, stop any offer."""
        ...

    def complete(self, ticket: str, reason: str = "caller hung up") -> None:
        """The bridged conversation is over (either side hung up; the call ends the agent's leg itself);
        ``reason`` (who ended it) is kept with the entry."""
        ...

    def request_callback(self, ticket: str, number: str) -> None:
        """The waiting caller chose a callback to ``number``: the same entry keeps its place (the call then ends)."""
        ...

    def agent_dropped(self, ticket: str) -> None:
        """The agent's leg ended while the caller was still there: back to the front of the queue."""
        ...


class Recorder(Protocol):
    path: Path

    def write(self, caller: np.ndarray, ivr: np.ndarray) -> None: ...

    def close(self) -> None: ...
