"""A scripted recognizer for fast tests: no model, no audio processing.

Results are looked up by the audio's identity (the exact samples fed since the utterance began) or,
failing that, taken from a queue of texts in order; anything else is an empty result. Every stream
records the grammars it was given, so tests can check what a turn listened for.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from voicebot.asr.base import GrammarSpec, RecognitionResult, RecognizerError
from voicebot.events import Hypothesis

if TYPE_CHECKING:
    from voicebot.asr.base import Pcm

__all__ = ["FakePreviewStream", "FakeRecognizer", "FakeStream", "audio_key"]

Script = str | RecognitionResult


def audio_key(pcm: Pcm | bytes) -> str:
    """The identity of a piece of audio: a hash of its 16-bit little-endian samples."""
    data = pcm if isinstance(pcm, bytes) else pcm.astype("<i2", copy=False).tobytes()
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _result(script: Script, engine: str) -> RecognitionResult:
    if isinstance(script, RecognitionResult):
        return script
    return RecognitionResult(script, 1.0 if script else 0.0, (Hypothesis(script, 1.0),) if script else (),
                             True, engine)


class FakeRecognizer:
    """``by_audio`` maps :func:`audio_key` of an utterance's audio to its result; ``texts`` is a queue."""

    name = "fake"
    sample_rate = 16000

    def __init__(self, texts: Iterable[Script] = (), by_audio: Mapping[str, Script] | None = None,
                 *, partials: bool = False, previews: bool = False) -> None:
        self.queue: deque[Script] = deque(texts)
        self.by_audio: dict[str, Script] = dict(by_audio or {})
        self.partials = partials
        #: Streams offer :meth:`FakePreviewStream.preview` (as Whisper's do); a preview takes the next result.
        self.previews = previews
        self.streams: list[FakeStream] = []
        self.closed = False

    def add(self, pcm: Pcm | bytes, script: Script) -> None:
        """Script the result of an utterance made of exactly this audio."""
        self.by_audio[audio_key(pcm)] = script

    def open(self, grammar: GrammarSpec) -> FakeStream:
        if self.closed:
            raise RecognizerError("the fake recognizer is closed")
        stream = FakePreviewStream(self, grammar) if self.previews else FakeStream(self, grammar)
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        self.closed = True

    def next_result(self, audio: bytes) -> RecognitionResult:
        found = self.by_audio.get(audio_key(audio))
        if found is not None:
            return _result(found, self.name)
        if self.queue:
            return _result(self.queue.popleft(), self.name)
        return RecognitionResult.empty(self.name)


class FakeStream:
    def __init__(self, owner: FakeRecognizer, grammar: GrammarSpec) -> None:
        self.owner = owner
        self.grammars: list[GrammarSpec] = [grammar]
        self.results: list[RecognitionResult] = []
        self._audio: list[bytes] = []
        self.closed = False

    @property
    def grammar(self) -> GrammarSpec:
        return self.grammars[-1]

    def accept(self, pcm: Pcm) -> RecognitionResult | None:
        if self.closed:
            raise RecognizerError("the recognition stream is closed")
        self._audio.append(pcm.astype("<i2", copy=False).tobytes())
        if not self.owner.partials:
            return None
        upcoming = self.owner.by_audio.get(audio_key(b"".join(self._audio)))
        if upcoming is None and self.owner.queue:
            upcoming = self.owner.queue[0]
        if upcoming is None:
            return None
        text = upcoming.text if isinstance(upcoming, RecognitionResult) else upcoming
        return RecognitionResult(text, 0.0, (), final=False, engine=self.owner.name) if text else None

    def finish(self) -> RecognitionResult:
        if self.closed:
            raise RecognizerError("the recognition stream is closed")
        audio, self._audio = b"".join(self._audio), []
        result = self.owner.next_result(audio)
        self.results.append(result)
        return result

    def set_grammar(self, grammar: GrammarSpec) -> None:
        self._audio.clear()
        self.grammars.append(grammar)

    def close(self) -> None:
        self.closed = True


class FakePreviewStream(FakeStream):
    """A fake stream of an engine without partials that recognizes on demand (see ``PreviewingStream``).

    A preview is a recognition: it takes the next scripted result, as :meth:`finish` would.
    """

    def preview(self) -> Callable[[], RecognitionResult]:
        if self.closed:
            raise RecognizerError("the recognition stream is closed")
        audio = b"".join(self._audio)
        return lambda: self.owner.next_result(audio)
