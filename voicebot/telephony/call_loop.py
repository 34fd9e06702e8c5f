"""One SIP call through the media loop: 20 ms ticks on an absolute schedule, recording, clean-up."""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from voicebot.asr.base import Recognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import WebRtcVad
from voicebot.flow.compile import CompiledFlow
from voicebot.runtime.clock import SystemClock
from voicebot.runtime.media import CallMedia, MediaEvent
from voicebot.runtime.session import CallSession
from voicebot.services.registry import ActionRegistry
from voicebot.storage.calls import CallStore
from voicebot.tts.cache import PromptCache

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
    ended_by: str  # "ivr", "caller" or "shutdown"
    ticks: int
    late_ticks: int
    resyncs: int
    recording: Path | None
    events: list[MediaEvent] = field(default_factory=list)
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


class StereoRecorder:
    """Caller left, IVR right, 8 kHz 16-bit, written as the call goes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115  (closed by close())
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(PHONE_RATE)

    def write(self, caller: np.ndarray, ivr: np.ndarray) -> None:
        frames = np.empty((FRAME, 2), dtype="<i2")
        frames[:, 0] = caller
        frames[:, 1] = ivr
        # writeframesraw: writeframes would seek back and patch the header on every 20 ms frame (close() does it)
        self._wav.writeframesraw(frames.tobytes())

    def close(self) -> None:
        self._wav.close()


def run_call(
    channel: Channel,
    *,
    flow: CompiledFlow,
    registry: ActionRegistry,
    store: CallStore,
    prompts: PromptCache,
    recognizer: Recognizer,
    phrases: Mapping[str, Sequence[str]],
    recordings_dir: Path | None,
    stop: threading.Event | None = None,
    on_event: Callable[[MediaEvent], None] | None = None,
    max_seconds: float = 3600.0,
) -> CallResult:
    """Run one call until the flow ends (then BYE) or the caller hangs up (then ``media.hang_up()``).

    Ticks are scheduled at ``start + n * 20 ms`` on the monotonic clock, so processing time never accumulates
    into drift. ``stop`` set (shutdown): the call is ended as if the caller had gone, and BYE is sent.
    """
    session = CallSession(flow, registry, store, SystemClock())
    session.sip_call_id = str(getattr(channel, "sip_call_id", "") or "")
    media = CallMedia(session, prompts, recognizer, WebRtcVad(2), phrases, on_event=on_event)
    recorder: StereoRecorder | None = None
    silence = np.zeros(FRAME, dtype=np.int16)
    ended_by = "ivr"
    ticks = 0
    pacer: Pacer | None = None
    try:
        if recordings_dir is not None:
            recorder = StereoRecorder(recordings_dir / f"{session.call_id}.wav")
            session.recording_path = str(recorder.path)  # written with the record, spooled if need be
        media.start(channel.caller_id, channel.dialled)
        pacer = Pacer()
        limit = int(max_seconds * 50)
        while not media.finished:
            if channel.ended:
                ended_by = "caller"
                media.hang_up()
                break
            if (stop is not None and stop.is_set()) or ticks >= limit:
                ended_by = "shutdown"
                media.hang_up()
                break
            frame = channel.read_frame()
            heard = frame if frame is not None else silence  # no packet: the line is silent
            keys = channel.keys()
            secure = media.listen is not None and media.listen.secure
            out = media.tick(heard, keys)
            channel.write_frame(out)
            if recorder is not None:
                # Paused (silence) while a secure step (the PIN) collects input.
                secure = secure or (media.listen is not None and media.listen.secure)
                recorder.write(silence if secure else heard, silence if secure else out)
            ticks += 1
            if not pacer.wait():
                log.warning("call %s: loop stalled %.0f ms; schedule restarted", session.call_id,
                            pacer.last_stall_ms)
        if media.finished and ended_by == "ivr" and not channel.ended:
            channel.hang_up()
    except Exception:
        log.exception("call %s failed", session.call_id)
        ended_by = "error"
        raise
    finally:
        if not media.finished:
            media.hang_up()  # completes the record and closes the recognizer stream
        if ended_by in ("shutdown", "error") and not channel.ended:
            channel.hang_up()
        session.close()
        if recorder is not None:
            recorder.close()
    late = pacer.late if pacer is not None else 0
    resyncs = pacer.resyncs if pacer is not None else 0
    log.info("call %s ended by %s after %d ticks (%d late, %d resyncs)", session.call_id, ended_by, ticks, late,
             resyncs)
    stats = getattr(channel, "stats", None)
    return CallResult(session.call_id, ended_by, ticks, late, resyncs, recorder.path if recorder else None,
                      list(media.events), dict(stats) if isinstance(stats, dict) else {})
