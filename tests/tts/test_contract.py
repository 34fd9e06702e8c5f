"""The Synthesizer contract, run against the fake and the real Piper adapter alike.

Whatever the cache and the channel rely on is checked here, so the fake cannot drift from the real voice.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from voicebot.audio.pcm import rms_dbfs
from voicebot.tts.base import Synthesizer
from voicebot.tts.fake import FakeSynthesizer

SHORT = "Thank you for calling Open Bank."
THREE = "Welcome to Open Bank. Your call may be recorded. How can I help you today?"


@pytest.fixture(params=["fake", "piper"])
def synth(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        return FakeSynthesizer()
    return request.getfixturevalue("piper_voice")


def test_is_a_synthesizer(synth: Synthesizer) -> None:
    assert isinstance(synth, Synthesizer)
    assert synth.voice and isinstance(synth.voice, str)
    assert isinstance(synth.sample_rate, int) and synth.sample_rate >= 8000
    assert isinstance(synth.settings, str)


def test_synthesize_is_mono_int16_speech_of_plausible_length(synth: Synthesizer) -> None:
    audio = synth.synthesize(SHORT)
    assert audio.dtype == np.int16 and audio.ndim == 1
    assert 0.5 <= len(audio) / synth.sample_rate <= 5.0
    assert rms_dbfs(audio) > -35.0


def test_longer_text_takes_longer(synth: Synthesizer) -> None:
    short = len(synth.synthesize("Hello."))
    long = len(synth.synthesize("Hello. Your balance is one hundred and twelve dollars and fifty cents."))
    assert long > 2 * short


def test_stream_yields_one_array_per_sentence(synth: Synthesizer) -> None:
    parts = list(synth.stream(THREE))
    assert len(parts) == 3
    for part in parts:
        assert part.dtype == np.int16 and part.ndim == 1 and rms_dbfs(part) > -35.0
    whole = synth.synthesize(THREE)
    # Piper's durations vary a little from run to run (its duration predictor is stochastic).
    assert sum(len(p) for p in parts) == pytest.approx(len(whole), rel=0.15)


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_nothing_to_say_is_empty(synth: Synthesizer, text: str) -> None:
    audio = synth.synthesize(text)
    assert audio.dtype == np.int16 and len(audio) == 0
    assert list(synth.stream(text)) == []


def test_concurrent_use(synth: Synthesizer) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def speak(n: int) -> None:
        try:
            results.append(len(synth.synthesize(f"Caller number {n} is speaking now.")))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 4 and all(n / synth.sample_rate > 0.5 for n in results)
