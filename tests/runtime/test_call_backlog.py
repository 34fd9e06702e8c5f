"""Caller audio that piled up is caught up: the call loop on a fake clock, with a phone that sends RTP all the time.

A real phone sends a frame every 20 ms, silence included. When the call's loop stalls (a loaded machine, a slow
tick) the frames wait in the receive buffer; read one a tick, they stayed there until the caller paused, and
every decision on the caller's audio (the end of speech, barge-in) came late by the stall. These tests stall
the loop (or delay packets) on a fake clock and check that the delay is gone a few ticks later, that the turn
ends the endpointer's silence after the caller's last word (not that plus the stall), and that the output keeps
one frame a tick. Over real sockets: ``tests/telephony/test_sip_e2e.py`` (a phone that never stops sending).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from tests.runtime.call_harness import ROOT, SILENCE, SPEECH, FakeClock, engine, new_call
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import EnergyVad
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.call import Call
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.telephony.call_loop import JITTER_FRAMES, LATE_FRAME_TICKS, TICK_NS, CallResult, run_call
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

__all__ = ["engine"]  # the fixture

SPEECH_FROM, SPEECH_TO = 50, 100  # the caller speaks from 1 s to 2 s into the call (over the greeting), then is silent


class ContinuousPhone:
    """A caller's phone on the fake clock: frame k is sent at ``k * 20 ms`` (speech, then silence, never a gap)
    and arrives ``delay(k)`` later, in order. The loop stalls ``stall_ms`` inside tick ``stall_at``."""

    caller_id = "+15550100001"
    dialled = "1000"

    def __init__(self, clock: FakeClock, call: Call, *, stall_at: int = -1, stall_ms: int = 0,
                 delay: Callable[[int], int] = lambda k: 0, ticks: int = 250) -> None:
        self.clock, self.call = clock, call
        self.t0 = clock.ns
        self.stall_at, self.stall_ns = stall_at, stall_ms * 1_000_000
        self.delay = delay
        self.limit = ticks
        self.read = 0
        self.arrivals: list[int] = []
        self.written: list[np.ndarray] = []
        self.backlog: list[int] = []  # frames left buffered after each tick
        self.first_ns: dict[str, int] = {}  # fake time of the tick in which the first event of a kind came

    def sent_ns(self, k: int) -> int:
        return self.t0 + k * TICK_NS

    def _arrived(self) -> int:
        while True:  # arrival times never go backwards (one path, in order)
            k = len(self.arrivals)
            at = max(self.arrivals[-1] if self.arrivals else 0, self.sent_ns(k) + self.delay(k) * 1_000_000)
            if at > self.clock.ns:
                return k
            self.arrivals.append(at)

    @property
    def buffered_frames(self) -> int:
        return self._arrived() - self.read

    @property
    def ended(self) -> bool:
        return len(self.written) >= self.limit

    def read_frame(self) -> np.ndarray | None:
        if self.read >= self._arrived():
            return None
        self.read += 1
        return SPEECH if SPEECH_FROM <= self.read - 1 < SPEECH_TO else SILENCE

    def write_frame(self, frame: np.ndarray) -> None:
        self.written.append(frame)
        for event in self.call.events:
            self.first_ns.setdefault(event.kind, self.clock.ns)
        if len(self.written) == self.stall_at:
            self.clock.ns += self.stall_ns  # the tick took this long (a GC pause, a loaded machine)
        self.backlog.append(self.buffered_frames)

    def keys(self) -> str:
        return ""

    def hang_up(self) -> None:
        pass


def banking_call(engine: Engine, tmp_path: Path, clock: FakeClock) -> Call:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), clock)
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    return new_call(session, cache, FakeRecognizer(["balance"]), EnergyVad(), phrases_by_intent(flow))


def call_with(engine: Engine, tmp_path: Path, *, stall_at: int = -1, stall_ms: int = 0,
              delay: Callable[[int], int] = lambda k: 0) -> tuple[ContinuousPhone, CallResult, Call]:
    clock = FakeClock()
    call = banking_call(engine, tmp_path, clock)
    channel = ContinuousPhone(clock, call, stall_at=stall_at, stall_ms=stall_ms, delay=delay)
    return channel, run_call(channel, call, clock=clock, sleep=clock.sleep), call


def turn_lateness_ms(channel: ContinuousPhone, call: Call) -> float:
    """How much later than the endpointer's silence after the last word the turn ended (ms of fake time)."""
    recognized = next(e for e in call.events if e.kind == "recognized")
    waited_ms = recognized.at_ms - int(recognized.data["speech_end_ms"])  # the silence it waited, in audio
    return (channel.first_ns["turn_ended"] - channel.sent_ns(SPEECH_TO)) / 1e6 - waited_ms


# before the words (their onset is in the backlog); in the middle of them; in the silence after them
@pytest.mark.parametrize("stall_at", [45, 60, 110])
def test_a_stalled_loop_catches_up_and_the_turn_ends_on_time(engine: Engine, tmp_path: Path, stall_at: int) -> None:
    channel, result, call = call_with(engine, tmp_path, stall_at=stall_at, stall_ms=500)
    assert result.resyncs == 1  # the stall restarted the schedule (no burst of output)
    assert max(channel.backlog[:stall_at - 1]) <= 1  # on time before the stall
    assert channel.backlog[stall_at - 1] >= 24  # the stall left 500 ms of the caller's audio waiting...
    assert max(channel.backlog[stall_at + 6:]) <= JITTER_FRAMES  # ...and six ticks later it was heard
    assert result.caught_up >= 20 and result.backlog_max_ms >= 480
    # The turn ended the endpointer's silence after the last word, as heard on the wire (not + the stall).
    assert [e.data["text"] for e in call.events if e.kind == "recognized"] == ["balance"]
    assert 0 <= turn_lateness_ms(channel, call) <= 60  # (40: the jitter allowance; 480 with one frame a tick)
    # The caller barged in on the greeting within 140 ms (120 ms of speech count) of their first word reaching
    # the call (stalled before the words: of the loop going on), not once the backlog was read a frame a tick.
    resumed_ns = channel.sent_ns(stall_at - 1) + 500_000_000
    onset_ns = max(channel.sent_ns(SPEECH_FROM), resumed_ns if stall_at < SPEECH_FROM else 0)
    assert 0 < (channel.first_ns["barge_in"] - onset_ns) / 1e6 <= 140
    # Output stayed one frame a tick: nothing extra was sent for the frames caught up.
    assert len(channel.written) == result.ticks


def test_packets_held_up_on_the_way_leave_no_standing_delay(engine: Engine, tmp_path: Path) -> None:
    # A network hiccup holds the caller's packets for 160 ms (during the greeting): those ticks find nothing
    # and hear silence, then eight frames arrive at once. Read one a tick, they stayed 160 ms behind for good.
    channel, result, call = call_with(engine, tmp_path, delay=lambda k: 160 if k == 30 else 0)
    assert max(channel.backlog[:29]) <= 1 and result.backlog_max_ms >= 160  # eight frames (and the tick's own)
    assert max(channel.backlog[40:]) <= JITTER_FRAMES
    assert 0 <= turn_lateness_ms(channel, call) <= 60
    assert len(channel.written) == result.ticks


def test_a_short_stall_is_caught_up_by_the_schedule_alone(engine: Engine, tmp_path: Path) -> None:
    # 100 ms behind: the schedule's own catch-up ticks read the waiting frames one each, so none is heard
    # twice over (as silence by a catch-up tick that found the buffer drained, then as audio).
    channel, result, _call = call_with(engine, tmp_path, stall_at=70, stall_ms=100)
    assert result.resyncs == 0 and result.caught_up == 0
    assert channel.read == len(channel.written)  # one frame read per tick, none replaced by silence
    assert max(channel.backlog[80:]) <= 1


def heard_by(call: Call) -> list[np.ndarray]:
    """Every frame the IVR hears from now on (a tick's own or one caught up), in order."""
    heard: list[np.ndarray] = []
    hear = call.ivr._hear

    def spy(frame: np.ndarray) -> None:
        heard.append(frame)
        hear(frame)

    call.ivr._hear = spy  # type: ignore[method-assign]
    return heard


def speech_as_heard(heard: list[np.ndarray]) -> list[bool]:
    """From the first speech frame to the last: whether each frame heard was speech (False: silence)."""
    is_speech = [bool(np.any(frame)) for frame in heard]
    first, last = is_speech.index(True), len(is_speech) - 1 - is_speech[::-1].index(True)
    return is_speech[first:last + 1]


@pytest.mark.parametrize("late_ticks", [LATE_FRAME_TICKS, 0])
def test_a_packet_a_little_late_is_waited_for_not_replaced_by_silence(engine: Engine, tmp_path: Path,
                                                                    late_ticks: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The sender is 30 ms late with three frames in the middle of the words (its scheduling under load): the
    # ticks that find nothing hear nothing, and the late frames are heard next, so the words reach the
    # recognizer whole. (0: the loop before, which heard silence in their place: 20 ms cut out of a word, and
    # everything after it shifted.)
    monkeypatch.setattr("voicebot.telephony.call_loop.LATE_FRAME_TICKS", late_ticks)
    clock = FakeClock()
    call = banking_call(engine, tmp_path, clock)
    heard = heard_by(call)
    channel = ContinuousPhone(clock, call, delay=lambda k: 30 if k in (60, 75, 90) else 0)
    result = run_call(channel, call, clock=clock, sleep=clock.sleep)
    words = speech_as_heard(heard)
    if late_ticks:
        assert words == [True] * (SPEECH_TO - SPEECH_FROM)  # every frame of the words, nothing in between
        assert [e.data["text"] for e in call.events if e.kind == "recognized"] == ["balance"]
        assert 0 <= turn_lateness_ms(channel, call) <= 100
    else:
        assert words.count(False) == 2 and len(words) == SPEECH_TO - SPEECH_FROM + 2  # 40 ms of silence put in
    assert len(channel.written) == result.ticks  # output one frame a tick either way


class SilentPhone(ContinuousPhone):
    """A phone that stops sending after its words (silence suppression; a test peer between two streams)."""

    def _arrived(self) -> int:
        return min(super()._arrived(), SPEECH_TO)


def test_a_phone_that_stops_sending_is_heard_as_silence_after_a_few_ticks(engine: Engine, tmp_path: Path) -> None:
    clock = FakeClock()
    call = banking_call(engine, tmp_path, clock)
    heard = heard_by(call)
    channel = SilentPhone(clock, call)
    run_call(channel, call, clock=clock, sleep=clock.sleep)
    assert channel.read == SPEECH_TO  # nothing came after the words...
    assert [e.data["text"] for e in call.events if e.kind == "recognized"] == ["balance"]  # ...yet the turn ended
    assert 0 <= turn_lateness_ms(channel, call) <= LATE_FRAME_TICKS * 20 + 20
    assert not any(np.any(frame) for frame in heard[SPEECH_TO:])
