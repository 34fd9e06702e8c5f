"""One listen turn on its own: every resolution reason, and a turn resolves exactly once."""

from __future__ import annotations

import numpy as np

from voicebot.actions import Listen
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE, frame_samples
from voicebot.audio.vad import EnergyVad
from voicebot.events import NoInput, Utterance
from voicebot.runtime.call_events import CallEvent, TurnEnded
from voicebot.runtime.listen_turn import ListenTurn, TurnInputs
from voicebot.runtime.pools import INLINE

FRAME = frame_samples(PHONE_RATE)
SILENCE = np.zeros(FRAME, dtype=np.int16)
SPEECH = (8000 * np.sin(np.arange(FRAME) * 2 * np.pi * 300 / PHONE_RATE)).astype(np.int16)


class Turn:
    """A turn driven frame by frame on virtual time, its published events collected."""

    def __init__(self, texts: list[str], speaking: bool = False, **listen: object) -> None:
        self.events: list[CallEvent] = []
        self.recognizer = FakeRecognizer(texts)
        inputs = TurnInputs(self.recognizer, EnergyVad(), {"balance": ("balance",)})
        spec = {"node": "menu", "slot_type": "intent", "intents": ("balance",), "no_input_ms": 1000, **listen}
        self.now_ms = 0
        self.turn = ListenTurn(Listen(**spec), inputs, call_id="c1", now_ms=0,  # type: ignore[arg-type]
                               speaking=speaking, recognition=INLINE, publish=self.events.append, now=lambda: 42.0)

    def feed(self, frames: int, frame: np.ndarray = SILENCE, speaking: bool = False) -> bool:
        barged = False
        for _ in range(frames):
            barged = self.turn.hear(frame, self.now_ms, speaking) or barged
            self.turn.collect(self.now_ms)
            self.now_ms += 20
        return barged

    def ended(self) -> list[TurnEnded]:
        return [e for e in self.events if isinstance(e, TurnEnded)]


def test_words_that_were_recognized_resolve_with_match() -> None:
    t = Turn(["balance"])
    t.feed(15, SPEECH)
    t.feed(80)
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "match"
    assert isinstance(resolution.event, Utterance) and resolution.event.text == "balance"
    assert resolution.event.at == 42.0  # on the call's clock
    [ended] = t.ended()
    assert ended.reason == "match" and ended.node == "menu" and ended.speech_start_ms is not None
    assert t.turn.take() is None  # delivered once


def test_speech_the_recognizer_made_nothing_of_resolves_with_nomatch() -> None:
    t = Turn([])
    t.feed(15, SPEECH)
    t.feed(80)
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "nomatch"
    assert isinstance(resolution.event, Utterance) and resolution.event.text == ""


def test_silence_resolves_with_noinput_after_the_timeout() -> None:
    t = Turn([])
    t.feed(45)
    assert not t.turn.resolved
    t.feed(10)
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "noinput" and isinstance(resolution.event, NoInput)
    assert 980 <= t.ended()[0].listened_ms <= 1000  # the frame that completes the timeout


def test_the_no_input_timer_waits_for_the_prompt_to_end() -> None:
    t = Turn([], speaking=True)
    t.feed(100, speaking=True)  # two seconds of prompt: longer than the timeout, no noinput
    assert not t.turn.resolved
    t.feed(55)
    assert t.turn.resolved and t.ended()[0].reason == "noinput"


def test_a_key_resolves_with_dtmf_and_the_speech_after_it_is_not_the_turns() -> None:
    t = Turn(["balance"])
    t.feed(5, SPEECH)
    t.turn.keys(t.now_ms)
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "dtmf" and resolution.event is None
    t.feed(15, SPEECH)
    t.feed(80)
    assert [e.reason for e in t.ended()] == ["dtmf"]
    assert t.recognizer.streams[0].closed


def test_hang_up_resolves_with_hangup_and_closes_the_stream() -> None:
    t = Turn(["balance"])
    t.feed(5, SPEECH)
    t.turn.hang_up(t.now_ms)
    assert [e.reason for e in t.ended()] == ["hangup"]
    assert t.recognizer.streams[0].closed


def test_speech_cut_at_max_speech_resolves_with_maxspeech() -> None:
    t = Turn(["a very long story"], max_speech_ms=600)
    t.feed(60, SPEECH)
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "maxspeech"
    assert isinstance(resolution.event, Utterance) and resolution.event.text == "a very long story"


def test_a_turn_resolves_exactly_once_whatever_comes_after() -> None:
    t = Turn(["balance"])
    t.feed(55)  # noinput
    t.turn.keys(t.now_ms)
    t.feed(15, SPEECH)
    t.feed(80)
    t.turn.hang_up(t.now_ms)
    assert [e.reason for e in t.ended()] == ["noinput"]
    resolution = t.turn.take()
    assert resolution is not None and resolution.reason == "noinput"
    assert t.turn.take() is None


def test_speech_over_a_prompt_that_allows_it_barges_in() -> None:
    t = Turn(["balance"])
    assert t.feed(15, SPEECH, speaking=True)
    t2 = Turn(["balance"], barge_in=False)
    assert not t2.feed(15, SPEECH, speaking=True)  # not even heard while the prompt plays
    assert not t2.turn.resolved
