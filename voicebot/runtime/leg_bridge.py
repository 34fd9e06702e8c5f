"""Two call legs joined with no call owner between them: a placed callback (the agent's leg and the caller's).

Relays 20 ms frames both ways on an absolute schedule (start + n * 20 ms on the monotonic clock, so time spent
relaying never accumulates into drift) until either leg ends, then hangs up the other (BYE).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from voicebot.runtime.ports import AgentLeg

FRAME = 160
PERIOD_S = 0.02
JITTER_FRAMES = 2  # received audio held beyond the frame relayed now (40 ms)
MAX_LATE_S = 0.2  # behind by more than this (a stall): restart the schedule rather than send a burst


def relay_legs(one: AgentLeg, other: AgentLeg, stop: threading.Event | None = None, max_seconds: float = 3600.0) -> int:
    """Relay until a leg ends (or ``stop``, or ``max_seconds``); hang up both; the number of frames relayed."""
    silence = np.zeros(FRAME, dtype=np.int16)
    start = time.monotonic()
    n = 0
    try:
        while not one.ended and not other.ended and n < max_seconds / PERIOD_S:
            if stop is not None and stop.is_set():
                break
            for leg in (one, other):  # bursts never turn into a standing delay (see Call._relay)
                for _ in range(max(0, leg.buffered_frames - 1 - JITTER_FRAMES)):
                    leg.read_frame()
            a, b = one.read_frame(), other.read_frame()
            other.write_frame(a if a is not None else silence)
            one.write_frame(b if b is not None else silence)
            n += 1
            delay = start + n * PERIOD_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > MAX_LATE_S:
                start = time.monotonic() - n * PERIOD_S  # the next frame is due a period from now
    finally:
        for leg in (one, other):
            if not leg.ended:
                leg.hang_up()
    return n
