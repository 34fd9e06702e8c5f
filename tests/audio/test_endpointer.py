"""voicebot.audio.endpointer: the endpointing state machine, driven by synthetic 20 ms frame patterns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.audio.signals import sine
from voicebot.audio.endpointer import (
    Endpointer,
    EndpointerConfig,
    EndpointerEvent,
    EndpointerState,
    FrameEndpointer,
    NoInputTimeout,
    SpeechEnded,
    SpeechStarted,
)
from voicebot.audio.pcm import Pcm, silence, split_frames
from voicebot.audio.vad import EnergyVad

FRAME = 20


def S(ms: int) -> list[bool]:
    """``ms`` of voiced frames."""
    return [True] * (ms // FRAME)


def Q(ms: int) -> list[bool]:
    """``ms`` of unvoiced frames."""
    return [False] * (ms // FRAME)


def run(
    pattern: list[bool], config: EndpointerConfig | None = None, *, complete: bool = False, start_ms: int = 0
) -> list[EndpointerEvent]:
    """Reset at ``start_ms`` and feed the pattern, frame i starting at ``start_ms + 20 * i``."""
    endpointer = Endpointer(config)
    endpointer.reset(start_ms)
    endpointer.set_complete(complete)
    events: list[EndpointerEvent] = []
    for i, voiced in enumerate(pattern):
        events += endpointer.feed(voiced, start_ms + FRAME * i)
    return events


@dataclass(frozen=True)
class Case:
    name: str
    pattern: list[bool]
    expected: list[EndpointerEvent]
    complete: bool = False
    config: EndpointerConfig = field(default_factory=EndpointerConfig)
    start_ms: int = 0


CASES = [
    Case("nothing before the no-input timeout", Q(4980), []),
    Case("no-input fires exactly at no_input_ms", Q(5000), [NoInputTimeout(5000)]),
    Case("nothing after no-input until reset", Q(6000) + S(1000), [NoInputTimeout(5000)]),
    Case("timers run from the reset time", Q(5000), [NoInputTimeout(12000)], start_ms=7000),
    Case("a 60 ms click neither starts speech nor resets no-input", Q(1000) + S(60) + Q(3940), [NoInputTimeout(5000)]),
    Case("several clicks are still no input", (S(100) + Q(400)) * 10, [NoInputTimeout(5000)]),
    Case(
        "min_speech reached at 120 ms, back-dated to the first voiced frame", Q(300) + S(120), [SpeechStarted(420, 300)]
    ),
    Case("a candidate still below min_speech at the deadline is no input", Q(4960) + S(100), [NoInputTimeout(5000)]),
    Case("speech started just before the deadline cancels no-input", Q(4860) + S(300), [SpeechStarted(4980, 4860)]),
    Case(
        "complete: 800 ms of silence ends the utterance",
        Q(1000) + S(1000) + Q(800),
        [SpeechStarted(1120, 1000), SpeechEnded(2800, "silence", 1000, 2000)],
        complete=True,
    ),
    Case(
        "incomplete: 800 ms of silence is not enough",
        Q(1000) + S(1000) + Q(1180),
        [SpeechStarted(1120, 1000)],
    ),
    Case(
        "incomplete: 1200 ms of silence ends the utterance",
        Q(1000) + S(1000) + Q(1200),
        [SpeechStarted(1120, 1000), SpeechEnded(3200, "silence", 1000, 2000)],
    ),
    Case(
        "pauses shorter than the timeout stay inside the utterance",
        Q(200) + S(500) + Q(780) + S(500) + Q(700) + S(300) + Q(800),
        [SpeechStarted(320, 200), SpeechEnded(3780, "silence", 200, 2980)],
        complete=True,
    ),
    Case(
        "a short burst inside the trailing silence restarts the silence timer",
        S(500) + Q(600) + S(40) + Q(800),
        [SpeechStarted(120, 0), SpeechEnded(1940, "silence", 0, 1140)],
        complete=True,
    ),
    Case(
        "max speech cuts off a long utterance",
        Q(500) + S(16000),
        [SpeechStarted(620, 500), SpeechEnded(15500, "max_speech", 500, 15500)],
    ),
    Case(
        "max speech counts pauses and ends at the last voiced frame when in a pause",
        S(14500) + Q(1000),
        [SpeechStarted(120, 0), SpeechEnded(15000, "max_speech", 0, 14500)],
    ),
    Case(
        "min_speech 0: the first voiced frame starts speech",
        Q(100) + S(20) + Q(300),
        [SpeechStarted(120, 100), SpeechEnded(420, "silence", 100, 120)],
        complete=True,
        config=EndpointerConfig(min_speech_ms=0, complete_silence_ms=300),
    ),
    Case(
        "contiguous rule: a one-frame dropout restarts the count",
        Q(100) + S(80) + Q(20) + S(120),
        [SpeechStarted(320, 200)],
    ),
    Case(
        "window rule: 120 ms voiced within 200 ms tolerates a dropout, start back-dated to the first",
        Q(100) + S(80) + Q(20) + S(40),
        [SpeechStarted(240, 100)],
        config=EndpointerConfig(start_window_ms=200),
    ),
    Case(
        "window rule: sparse voicing never reaches min_speech",
        Q(100) + (S(20) + Q(60)) * 70,
        [NoInputTimeout(5000)],
        config=EndpointerConfig(start_window_ms=200),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_endpointer(case: Case) -> None:
    assert run(case.pattern, case.config, complete=case.complete, start_ms=case.start_ms) == case.expected


def test_state_walk() -> None:
    endpointer = Endpointer()
    assert endpointer.state is EndpointerState.IDLE
    endpointer.reset(0)
    script = [
        (False, EndpointerState.QUIET),
        (True, EndpointerState.STARTING),
        (True, EndpointerState.STARTING),
        (False, EndpointerState.QUIET),  # stopped before min_speech: no event
        *[(True, EndpointerState.STARTING)] * 5,
        (True, EndpointerState.SPEAKING),
        (False, EndpointerState.STOPPING),
        (True, EndpointerState.SPEAKING),
        *[(False, EndpointerState.STOPPING)] * 59,
        (False, EndpointerState.IDLE),
    ]
    events: list[EndpointerEvent] = []
    for i, (voiced, state) in enumerate(script):
        events += endpointer.feed(voiced, FRAME * i)
        assert endpointer.state is state, f"frame {i}"
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]


def test_set_complete_mid_silence_shortens_the_wait() -> None:
    endpointer = Endpointer()
    endpointer.reset(0)
    events: list[EndpointerEvent] = []
    for i, voiced in enumerate(S(500) + Q(2000)):
        at_ms = FRAME * i
        if at_ms == 1000:  # the recognizer's partial result now matches the grammar
            endpointer.set_complete(True)
        events += endpointer.feed(voiced, at_ms)
    assert events[-1] == SpeechEnded(1300, "silence", 0, 500)


def test_set_complete_false_lengthens_the_wait() -> None:
    endpointer = Endpointer()
    endpointer.reset(0)
    endpointer.set_complete(True)
    endpointer.set_complete(False)
    events = [e for i, v in enumerate(S(500) + Q(1200)) for e in endpointer.feed(v, FRAME * i)]
    assert events[-1] == SpeechEnded(1700, "silence", 0, 500)


def test_reset_rearms_after_an_utterance_and_clears_complete() -> None:
    endpointer = Endpointer()
    endpointer.reset(0)
    endpointer.set_complete(True)
    first = [e for i, v in enumerate(S(200) + Q(800)) for e in endpointer.feed(v, FRAME * i)]
    assert first[-1] == SpeechEnded(1000, "silence", 0, 200)
    assert endpointer.state is EndpointerState.IDLE
    endpointer.reset(2000)
    assert not endpointer.complete
    second = [e for i, v in enumerate(Q(5000)) for e in endpointer.feed(v, 2000 + FRAME * i)]
    assert second == [NoInputTimeout(7000)]


def test_frames_before_reset_are_ignored() -> None:
    endpointer = Endpointer()
    assert [endpointer.feed(True, FRAME * i) for i in range(300)] == [[]] * 300
    assert endpointer.state is EndpointerState.IDLE


def test_frame_times_must_increase() -> None:
    endpointer = Endpointer()
    endpointer.reset(0)
    endpointer.feed(False, 20)
    with pytest.raises(ValueError, match="increase"):
        endpointer.feed(False, 20)


def test_other_frame_lengths() -> None:
    config = EndpointerConfig(frame_ms=10, no_input_ms=1000)
    endpointer = Endpointer(config)
    endpointer.reset(0)
    events = [e for i in range(100) for e in endpointer.feed(False, 10 * i)]
    assert events == [NoInputTimeout(1000)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"no_input_ms": 0},
        {"complete_silence_ms": -1},
        {"min_speech_ms": -20},
        {"max_speech_ms": 100, "min_speech_ms": 120},
        {"start_window_ms": 100},
        {"frame_ms": 0},
    ],
)
def test_config_validation(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        EndpointerConfig(**kwargs)


def test_events_are_frozen() -> None:
    event = SpeechStarted(at_ms=120, speech_start_ms=0)
    with pytest.raises(AttributeError):
        event.at_ms = 0  # type: ignore[misc]


# --- FrameEndpointer: raw frames through a VAD. ---


class CountingVad(EnergyVad):
    def __init__(self) -> None:
        super().__init__(threshold_dbfs=-40.0)
        self.calls = 0

    def is_speech(self, frame: Pcm, rate: int) -> bool:
        self.calls += 1
        return super().is_speech(frame, rate)


def _feed_all(endpointer: FrameEndpointer, pcm: Pcm, rate: int) -> list[EndpointerEvent]:
    return [e for i, frame in enumerate(split_frames(pcm, rate)) for e in endpointer.feed(frame, FRAME * i)]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frame_endpointer_with_energy_vad(rate: int) -> None:
    audio = np.concatenate([silence(500, rate), sine(300, 0.6, rate, level_dbfs=-20.0), silence(1500, rate)])
    endpointer = FrameEndpointer(EnergyVad(), rate)
    endpointer.reset(0)
    assert _feed_all(endpointer, audio, rate) == [SpeechStarted(620, 500), SpeechEnded(2300, "silence", 500, 1100)]
    assert endpointer.state is EndpointerState.IDLE


def test_frame_endpointer_does_not_run_the_vad_while_idle() -> None:
    vad = CountingVad()
    endpointer = FrameEndpointer(vad, 8000, EndpointerConfig(no_input_ms=200))
    events = _feed_all(endpointer, silence(100, 8000), 8000)  # not reset yet
    assert (events, vad.calls) == ([], 0)
    endpointer.reset(0)
    assert _feed_all(endpointer, silence(1000, 8000), 8000) == [NoInputTimeout(200)]
    assert vad.calls == 10


def test_frame_endpointer_checks_frame_length() -> None:
    endpointer = FrameEndpointer(EnergyVad(), 8000)
    endpointer.reset(0)
    with pytest.raises(ValueError, match="expected 160 samples"):
        endpointer.feed(np.zeros(320, dtype=np.int16), 0)
