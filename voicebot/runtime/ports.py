"""What a call is given from outside: the ports a call owner drives (each has a fake in the tests).

* :class:`AcdPort`: where a handoff goes when the site has an ACD. ``enqueue`` returns a ticket; the ACD
  later drives the call through :class:`~voicebot.runtime.call.Call`'s transition methods (``offer``,
  ``bridge``, ``requeue``, ``finish``), from any thread; ``cancel`` withdraws a waiting caller who left.
* :class:`Recorder`: the call's two-channel recording (caller, IVR), written one 20 ms frame at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from voicebot.actions import Handoff


class CallControl(Protocol):
    """What the ACD may do to a waiting call (:class:`~voicebot.runtime.call.Call` implements it)."""

    def offer(self, agent: str) -> None: ...

    def requeue(self) -> None: ...

    def bridge(self, agent: str) -> None: ...

    def finish(self) -> None: ...


class AcdPort(Protocol):
    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        """Put the call in the handoff's queue; returns a ticket. ``call`` is the owner to drive later."""
        ...

    def cancel(self, ticket: str) -> None:
        """The caller is gone (hung up, shutdown): take the ticket out of its queue, stop any offer."""
        ...


class Recorder(Protocol):
    path: Path

    def write(self, caller: np.ndarray, ivr: np.ndarray) -> None: ...

    def close(self) -> None: ...
