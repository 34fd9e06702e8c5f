"""A stand-in voice for fast tests: deterministic tones, as long as the text would take to say.

Each sentence becomes one tone (its pitch derived from the sentence, so different sentences differ
and the same sentence is bit-identical in every process) followed by a short silence. Its duration
grows with the text's length, at a speaking rate close to a real voice's, so timing logic (barge-in,
prompt lengths, resampling ratios) can be tested without loading a model.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator

import numpy as np

from voicebot.tts.base import Pcm, split_sentences

#: Roughly 14 characters a second, about the speed of the Piper voices.
SECONDS_PER_CHAR = 0.07
SENTENCE_GAP_SECONDS = 0.1


class FakeSynthesizer:
    """A :class:`voicebot.tts.base.Synthesizer` that makes tones; counts calls for cache tests.

    ``delay`` seconds are slept per sentence, to imitate synthesis time in streaming tests.
    """

    def __init__(self, sample_rate: int = 16000, voice: str = "fake", delay: float = 0.0) -> None:
        self.voice = voice
        self.sample_rate = sample_rate
        self.settings = "tone"
        self.delay = delay
        self._lock = threading.Lock()
        #: Sentences synthesized so far, in order (a cache test checks what was *not* synthesized).
        self.sentences: list[str] = []

    @property
    def calls(self) -> int:
        return len(self.sentences)

    def synthesize(self, text: str) -> Pcm:
        parts = list(self.stream(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def stream(self, text: str) -> Iterator[Pcm]:
        for sentence in split_sentences(text):
            yield self._sentence(sentence)

    def _sentence(self, sentence: str) -> Pcm:
        with self._lock:
            self.sentences.append(sentence)
        if self.delay:
            time.sleep(self.delay)
        rate = self.sample_rate
        # crc32, not hash(): hash() of a str changes between processes, and the disk cache outlives one.
        frequency = 300.0 + zlib.crc32(sentence.encode()) % 600
        t = np.arange(round(len(sentence) * SECONDS_PER_CHAR * rate)) / rate
        tone = 0.3 * 32767 * np.sin(2 * np.pi * frequency * t)
        gap = np.zeros(round(SENTENCE_GAP_SECONDS * rate))
        return np.concatenate([tone, gap]).astype(np.int16)
