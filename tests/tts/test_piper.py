"""The real Piper adapter with the packaged en_US-joe-medium voice."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from voicebot.audio.pcm import rms_dbfs


def test_joe_voice_defaults(piper_voice: Any) -> None:
    assert piper_voice.voice == "en_US-joe-medium"
    assert piper_voice.sample_rate == 22050
    assert piper_voice.model_path.name == "en_US-joe-medium.onnx"
    assert "length_scale=1" in piper_voice.settings


def test_sentence_is_speech_at_22050(piper_voice: Any) -> None:
    audio = piper_voice.synthesize("Please say or key in your account number.")
    seconds = len(audio) / 22050
    assert 0.5 <= seconds <= 5.0
    assert rms_dbfs(audio) > -30.0
    # Headroom below full scale (volume 0.89), so resampling to 8 kHz does not need to clip.
    assert int(np.abs(audio.astype(np.int32)).max()) <= int(0.9 * 32767)


def test_length_scale_slows_speech(piper_voice: Any) -> None:
    from voicebot.tts.piper_engine import PiperSynthesizer

    slow = PiperSynthesizer(length_scale=1.5, warm_up=False)
    assert slow.settings != piper_voice.settings
    text = "Your balance is two hundred dollars."
    ratio = len(slow.synthesize(text)) / len(piper_voice.synthesize(text))
    assert 1.25 < ratio < 1.75


def test_stream_yields_first_sentence_before_synthesizing_the_rest(
    piper_voice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    done: list[str] = []
    original = piper_voice.synthesize_sentence

    def counting(sentence: str) -> Any:
        audio = original(sentence)
        done.append(sentence)
        return audio

    monkeypatch.setattr(piper_voice, "synthesize_sentence", counting)
    stream = piper_voice.stream("Welcome to Open Bank. Your call may be recorded. How can I help you today?")
    first = next(stream)
    assert done == ["Welcome to Open Bank."] and len(first) > 0
    assert len(list(stream)) == 2 and len(done) == 3


def test_threads_are_not_serialised_for_espeak_voices(piper_voice: Any) -> None:
    """piper's espeak voices need no lock of ours (see piper_engine's docstring): two calls overlap."""
    inside = threading.Barrier(2, timeout=10)
    original = piper_voice._voice.synthesize

    def meeting(*args: Any, **kwargs: Any) -> Any:
        inside.wait()  # both threads must be inside synthesis at the same time, or this times out
        return original(*args, **kwargs)

    piper_voice._voice.synthesize = meeting
    try:
        threads = [threading.Thread(target=piper_voice.synthesize, args=("Hello.",)) for _ in range(2)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not inside.broken and time.perf_counter() - started < 10
    finally:
        del piper_voice._voice.synthesize


def test_loaded_voice_runs_one_thread_with_the_memory_arena(piper_voice: Any) -> None:
    # One thread per synthesis (an IVR always has other work); the arena kept: without it every sentence's
    # tensors came from the allocator again, ~45 % more CPU under jemalloc (bench/piper_memory.py).
    options = piper_voice._voice.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.enable_cpu_mem_arena is True


def test_the_arena_is_shrunk_every_twentieth_synthesis() -> None:
    from voicebot.tts.piper_engine import SHRINK_EVERY, ShrinkingSession

    class Recording:
        def __init__(self) -> None:
            self.options: list[Any] = []

        def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
            self.options.append(run_options)
            return [input_feed]

        def get_inputs(self) -> list[str]:
            return ["input"]

    inner = Recording()
    session = ShrinkingSession(inner)
    answers = [session.run(None, {"i": n}) for n in range(2 * SHRINK_EVERY)]
    assert answers[0] == [{"i": 0}] and answers[-1] == [{"i": 2 * SHRINK_EVERY - 1}]
    shrunk = [n for n, options in enumerate(inner.options, 1) if options is not None]
    assert shrunk == [SHRINK_EVERY, 2 * SHRINK_EVERY]
    entry = inner.options[SHRINK_EVERY - 1].get_run_config_entry("memory.enable_memory_arena_shrinkage")
    assert entry == "cpu:0"
    assert session.get_inputs() == ["input"]  # everything else is the wrapped session's


def test_the_loaded_voice_runs_through_the_shrinking_session(piper_voice: Any) -> None:
    from voicebot.tts.piper_engine import ShrinkingSession

    assert isinstance(piper_voice._voice.session, ShrinkingSession)
    before = len(piper_voice.synthesize("One."))
    for _ in range(25):  # past a shrink: synthesis goes on alike (Piper's noise varies the length a little)
        assert 0.7 * before < len(piper_voice.synthesize("One.")) < 1.3 * before
