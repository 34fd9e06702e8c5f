"""One SIP call through its call owner: 20 ms ticks on an absolute schedule, the channel's clean-up.

Caller audio is read faster than real time when it has piled up. The receive buffer falls behind whenever the
loop does (a stall longer than the catch-up window restarts the schedule rather than bursting out audio, and a
packet that arrives just after its tick waits a tick longer). Reading one frame a tick, the buffer never got its
delay back while the caller's phone kept sending (a real phone sends RTP all the time, silence included): every
end of speech and every barge-in was heard late by that much, up to the buffer's 1 s. So each tick first hears
the frames beyond a small jitter allowance (at most ``MAX_BACKLOG_FRAMES`` a tick, so one call catching up cannot
starve the others), in order, as caller audio without output (:meth:`Call.hear`); the call's clock counts every
frame heard, so the endpointer's silence timeout is counted in audio, not in ticks. Output stays one frame a tick
on the schedule.

A tick whose frame has not arrived hears nothing (up to :data:`LATE_FRAME_TICKS` in a row), rather than silence:
with silence put in its place, a packet a few milliseconds late cut 20 ms out of the middle of a word and pushed
the rest later (measured: with 30 speaking callers on 2 cores, about one call in 30 had its "what's my balance"
heard as "what might i challenge").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from voicebot.runtime.call import Call
from voicebot.runtime.call_events import CallEvent
from voicebot.runtime.recorder import StereoRecorder

__all__ = ["LATE_FRAME_TICKS", "CallResult", "Channel", "Pacer", "StereoRecorder", "run_call"]

log = logging.getLogger("voicebot.call")

FRAME = 160
TICK_NS = 20_000_000
MAX_CATCH_UP_TICKS = 10  # behind by more than 200 ms (a stall): restart the schedule rather than burst
#: Caller audio left buffered after a tick's reads (40 ms): late packets are absorbed, never a standing delay.
JITTER_FRAMES = 2
#: Ticks in a row with no caller frame that the IVR waits through, hearing nothing, before silence stands in:
#: a packet a little late (sender or network jitter) is heard on the next tick instead of being replaced by
#: 20 ms of silence in the middle of a word; past that the phone has stopped sending (silence suppression, a
#: pause in a test peer's stream) and silence lets the endpointer see the end of speech.
LATE_FRAME_TICKS = 3
#: Frames of a backlog heard in one tick besides the tick's own (5: a backlog drains at 6x real time, 500 ms of
#: it in 100 ms); bounded so that a call catching up takes a bounded share of the CPU the other calls need.
MAX_BACKLOG_FRAMES = 5


class Channel(Protocol):
    caller_id: str
    dialled: str

    @property
    def ended(self) -> bool: ...

    def read_frame(self) -> np.ndarray | None: ...

    def write_frame(self, frame: np.ndarray) -> None: ...

    def keys(self) -> str: ...

    def hang_up(self) -> None: ...


@runtime_checkable
class Buffered(Protocol):
    """A channel that says how much caller audio waits to be read (the SIP channel does): its backlog is caught up."""

    @property
    def buffered_frames(self) -> int: ...


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
    #: Caller frames heard to catch up a backlog (besides one frame a tick), and the largest backlog seen (ms).
    caught_up: int = 0
    backlog_max_ms: int = 0


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

    def overdue(self) -> int:
        """Ticks already due after the current one (a catch-up burst is coming: each of them reads a frame)."""
        return max(0, (self._clock() - self.start) // self.period_ns - self.n)


class Backlog:
    """How many buffered caller frames to hear before a tick's own, and what was caught up (for the result)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel if isinstance(channel, Buffered) else None
        self.caught_up = 0
        self.max_frames = 0

    def extra(self, pacer: Pacer) -> int:
        """Frames to hear now: those beyond this tick's own, the jitter allowance and the ticks already due."""
        if self._channel is None:
            return 0
        buffered = self._channel.buffered_frames
        self.max_frames = max(self.max_frames, buffered)
        return max(0, min(MAX_BACKLOG_FRAMES, buffered - 1 - JITTER_FRAMES - pacer.overdue()))


def run_call(
    channel: Channel,
    call: Call,
    *,
    stop: threading.Event | None = None,
    closing: threading.Event | None = None,
    max_seconds: float = 3600.0,
    clock: Callable[[], int] = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> CallResult:
    """Run one call until it ends (then BYE) or the caller hangs up (then ``call.hang_up()``).

    Ticks are scheduled at ``start + n * 20 ms`` on the monotonic clock (``clock`` and ``sleep``: the schedule's,
    for tests), so processing time never accumulates into drift; caller audio that piled up is caught up (module
    docstring). ``closing`` set (the service is shutting down): the caller hears a short goodbye, then BYE.
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
    backlog = Backlog(channel)
    said_goodbye = False
    missing = 0  # ticks in a row without a caller frame
    try:
        call.start(channel.caller_id, channel.dialled)
        pacer = Pacer(clock=clock, sleep=sleep)
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
            for _ in range(backlog.extra(pacer)):
                older = channel.read_frame()
                if older is None:
                    break
                call.hear(older)  # older than this tick's frame: heard first, in order
                backlog.caught_up += 1
            frame = channel.read_frame()
            missing = 0 if frame is not None else missing + 1
            heard = frame if frame is not None else (None if missing <= LATE_FRAME_TICKS else silence)
            channel.write_frame(call.tick(heard, channel.keys()))
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
    log.info("call %s ended by %s after %d ticks (%d late, %d resyncs, %d caller frames caught up)", call.call_id,
             ended_by, ticks, late, resyncs, backlog.caught_up)
    stats = getattr(channel, "stats", None)
    recording = call.recorder.path if call.recorder is not None else None
    return CallResult(call.call_id, ended_by, ticks, late, resyncs, recording, list(call.events),
                      dict(stats) if isinstance(stats, dict) else {}, backlog.caught_up, backlog.max_frames * 20)
