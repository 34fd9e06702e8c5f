"""One SIP call through its call owner: 20 ms ticks on an absolute schedule, the channel's clean-up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from voicebot.runtime.call import Call
from voicebot.runtime.call_events import CallEvent
from voicebot.runtime.recorder import StereoRecorder

__all__ = ["CallResult", "Channel", "Pacer", "StereoRecorder", "run_call"]

log = logging.getLogger("voicebot.call")

FRAME = 160
TICK_NS = 20_000_000
MAX_CATCH_UP_TICKS = 10  # behind by more than 200 ms (a stall): restart the schedule rather than burst


class Channel(Protocol):
    caller_id: str
    dialled: str

    @property
    def ended(self) -> bool: ...

    def read_frame(self) -> np.ndarray | None: ...

    def write_frame(self, frame: np.ndarray) -> None: ...

    def keys(self) -> str: ...

    def hang_up(self) -> None: ...


@dataclass
class CallResult:
    call_id: str
    ended_by: str  # "ivr", "caller", "agent", "acd", "callback", "shutdown" or "error"
    ticks: int
    late_ticks: int
    resyncs: int
    recording: Path | None
    events: list[CallEvent] = field(default_factory=list)
    #: RTP counters of the channel when it has them (rx_packets, tx_packets, dropped, rtp_port).
    stats: dict[str, int] = field(default_factory=dict)


class Pacer:
    """Ticks at ``start + n * period`` on the monotonic clock: time spent in a tick never accumulates into drift.

    A stall longer than ``max_catch_up`` periods restarts the schedule (rather than sending a burst).
    """

    def __init__(self, period_ns: int = TICK_NS, max_catch_up: int = MAX_CATCH_UP_TICKS,
                 clock: Callable[[], int] = time.monotonic_ns, sleep: Callable[[float], None] = time.sleep) -> None:
        self.period_ns = period_ns
        self.max_catch_up = max_catch_up
        self._clock = clock
        self._sleep = sleep
        self.start = clock()
        self.n = 0
        self.late = 0
        self.resyncs = 0
        self.last_stall_ms = 0.0

    def wait(self) -> bool:
        """Sleep until the next tick is due; False if the schedule had to be restarted after a stall."""
        self.n += 1
        deadline = self.start + self.n * self.period_ns
        now = self._clock()
        if now < deadline:
            self._sleep((deadline - now) / 1e9)
            return True
        self.late += 1
        if now - deadline > self.max_catch_up * self.period_ns:
            self.resyncs += 1
            self.last_stall_ms = (now - deadline) / 1e6
            self.start, self.n = now, 0
            return False
        return True


def run_call(
    channel: Channel,
    call: Call,
    *,
    stop: threading.Event | None = None,
    closing: threading.Event | None = None,
    max_seconds: float = 3600.0,
) -> CallResult:
    """Run one call until it ends (then BYE) or the caller hangs up (then ``call.hang_up()``).

    Ticks are scheduled at ``start + n * 20 ms`` on the monotonic clock, so processing time never accumulates
    into drift. ``closing`` set (the service is shutting down): the caller hears a short goodbye, then BYE.
    ``stop`` set (the grace period is over): the call is ended at once, and BYE is sent.
    """
    call.session.sip_call_id = str(getattr(channel, "sip_call_id", "") or "")
    silence = np.zeros(FRAME, dtype=np.int16)
    # The endpoint's own shutdown hook, where the channel has one (SipEndpoint.request_end sets it): the same
    # request as ``closing``, per call.
    end_requested: threading.Event | None = getattr(channel, "end_requested", None)
    ended_by = "ivr"
    ticks = 0
    pacer: Pacer | None = None
    said_goodbye = False
    try:
        call.start(channel.caller_id, channel.dialled)
        pacer = Pacer()
        limit = int(max_seconds * 50)
        while not call.finished:
            if channel.ended:
                ended_by = "caller"
                call.hang_up()
                break
            if (stop is not None and stop.is_set()) or ticks >= limit:
                ended_by = "shutdown"
                call.end_now("shutdown")
                break
            if not said_goodbye and any(e is not None and e.is_set() for e in (closing, end_requested)):
                said_goodbye = True
                call.shutdown()
            frame = channel.read_frame()
            channel.write_frame(call.tick(frame if frame is not None else silence, channel.keys()))
            ticks += 1
            if not pacer.wait():
                log.warning("call %s: loop stalled %.0f ms; schedule restarted", call.call_id, pacer.last_stall_ms)
        ended_by = call.ended_by or ended_by
        if ended_by in ("ivr", "agent", "acd", "callback") and not channel.ended:
            channel.hang_up()
    except Exception:
        log.exception("call %s failed", call.call_id)
        ended_by = "error"
        raise
    finally:
        if not call.finished:
            call.end_now(ended_by)  # completes the record and closes the recognizer stream
        if ended_by in ("shutdown", "error") and not channel.ended:
            channel.hang_up()
        if call.recorder is not None:
            call.recorder.close()
    late = pacer.late if pacer is not None else 0
    resyncs = pacer.resyncs if pacer is not None else 0
    log.info("call %s ended by %s after %d ticks (%d late, %d resyncs)", call.call_id, ended_by, ticks, late,
             resyncs)
    stats = getattr(channel, "stats", None)
    recording = call.recorder.path if call.recorder is not None else None
    return CallResult(call.call_id, ended_by, ticks, late, resyncs, recording, list(call.events),
                      dict(stats) if isinstance(stats, dict) else {})
