"""The prompt cache: synthesized prompts as 8 kHz WAV files on disk and decoded arrays in memory.

Static prompts are rendered once (``build``, at deployment or start-up) and then served in microseconds
from memory or a few milliseconds from disk; a call never waits for a static prompt to be synthesized.
Entries are keyed by a SHA-256 of everything that changes the audio (text, voice, its native rate and
settings, the output rate), so a changed voice or setting can never serve stale audio; old files are
simply no longer looked up.

Every sentence of a rendered prompt is also stored under its own key. Dynamic prompts are streamed
sentence by sentence, each looked up first, so "Welcome back, Alice. How can I help you today?" only
synthesizes its first sentence; a long sentence that has to be synthesized is made clause by clause
(:func:`~voicebot.tts.base.split_clauses`), so its first clause plays while the rest is made. Audio made from a
dynamic prompt is *not* stored: it holds caller data
(names, balances) that has no business on disk, and it is rarely said twice.

Digit strings in dynamic prompts ("ending in zero nine two three") are played as classic IVRs play
numbers, from one recording per digit word (stored like static prompts: a lone digit is no caller data),
trimmed and spaced; the words before such a string ("For your checking account ending in") are the same on
every call and are kept in memory (never on disk), so the next call's prompt starts playing without
waiting for synthesis. Amounts and dates are still synthesized as sentences: assembled from fragments they
sounded choppy.

Files are written to a temporary name and renamed into place, so concurrent builds (several workers
starting at once) and crashes never leave a half-written prompt behind; a file that still cannot be
read is treated as missing and rendered again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicebot.audio.pcm import PHONE_RATE, Pcm, read_wav, write_wav
from voicebot.audio.resample import resample
from voicebot.tts.base import Synthesizer, split_clauses, split_sentences

#: Bump when the audio pipeline changes (resampler, file format) so old entries are not served.
FORMAT_VERSION = 1
#: Default memory budget: 10 minutes of audio (9.6 MB at 8 kHz), far more than a flow's prompts.
DEFAULT_MEMORY_SECONDS = 600.0
#: A digit string of at least this many words in a dynamic prompt is played from per-digit recordings.
MIN_DIGIT_RUN = 3
#: Pause after each digit of a digit string played from recordings.
DIGIT_GAP_MS = 50
#: Samples quieter than this (16-bit) at either end of a digit recording are its silence.
_SILENCE = 200
_DIGIT_WORDS = frozenset({"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"})


@dataclass(frozen=True)
class BuildReport:
    rendered: int  # texts that needed synthesis (some of their sentences may have been cached)
    cached: int  # texts already in the cache
    seconds: float


class PromptCache:
    """Prompt audio at ``rate`` Hz for one synthesizer; thread-safe.

    Returned arrays are read-only and shared between callers: copy before modifying.
    """

    def __init__(
        self,
        directory: Path,
        synthesizer: Synthesizer,
        rate: int = PHONE_RATE,
        memory_seconds: float = DEFAULT_MEMORY_SECONDS,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.synthesizer = synthesizer
        self.rate = rate
        self.max_samples = int(memory_seconds * rate)
        identity = [FORMAT_VERSION, synthesizer.voice, synthesizer.sample_rate, synthesizer.settings, rate]
        # Hash the fixed part once; a lookup then only hashes the text (a copy of a sha256 is cheap).
        self._prefix = hashlib.sha256(json.dumps(identity).encode() + b"\0")
        self._memory: OrderedDict[str, Pcm] = OrderedDict()
        self._memory_samples = 0
        self._lock = threading.Lock()

    # --- lookups ----------------------------------------------------------------------------------------------

    def key(self, text: str) -> str:
        h = self._prefix.copy()
        h.update(_normal(text).encode())
        return h.hexdigest()

    def path(self, text: str) -> Path:
        return self._path(self.key(text))

    def get(self, text: str) -> Pcm | None:
        """The cached audio of ``text`` (memory, else disk), or None; never synthesizes."""
        return self._get(self.key(text))

    @property
    def memory_samples(self) -> int:
        return self._memory_samples

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._memory_samples = 0

    # --- rendering --------------------------------------------------------------------------------------------

    def render(self, text: str) -> Pcm:
        """The audio of ``text``: cached, or synthesized sentence by sentence and stored."""
        key = self.key(text)
        found = self._get(key)
        if found is not None:
            return found
        sentences = _sentences(text)
        if len(sentences) == 1:
            # One sentence: the text's own entry is the sentence's entry.
            return self._store(key, self._synthesize(sentences[0]), memory=True)
        parts = [self._sentence(sentence, store=True, memory=False) for sentence in sentences]
        return self._store(key, _concat(parts), memory=True)

    def build(self, texts: Iterable[str]) -> BuildReport:
        """Render every text not yet cached (duplicates once); cached ones are loaded into memory."""
        started = time.perf_counter()
        rendered = cached = 0
        for text in dict.fromkeys(texts):
            # A read, not an existence check: an unreadable file must be rendered again.
            if self._get(self.key(text)) is not None:
                cached += 1
            else:
                self.render(text)
                rendered += 1
        return BuildReport(rendered, cached, time.perf_counter() - started)

    def stream(self, text: str) -> Iterator[Pcm]:
        """The audio of a (dynamic) prompt, one array per sentence, each yielded as soon as it is ready.

        Cached sentences (and a fully cached text) come from the cache; the others are synthesized and
        resampled but not stored (see the module's docstring). Sentences are produced on demand: the
        consumer plays one while the next is made, at a real-time factor far below 1.
        """
        whole = self._get(self.key(text))
        if whole is not None:
            yield whole
            return
        for sentence in _sentences(text):
            cached = self._get(self.key(sentence))
            if cached is not None:
                if len(cached):
                    yield cached
                continue
            for piece in split_clauses(sentence):  # a long uncached sentence: clause by clause, first audio sooner
                fragments = _fragments(piece)
                for index, (words, digits) in enumerate(fragments):
                    before_digits = index + 1 < len(fragments) and bool(fragments[index + 1][1])
                    audio = self._digits(digits) if digits else self._lead_in(words, memory=before_digits)
                    if len(audio):
                        yield audio

    def _lead_in(self, text: str, *, memory: bool) -> Pcm:
        """The words of a clause; those before a digit string ("For your checking account ending in") are
        kept in memory (never on disk), since the same template says them on every call."""
        key = self.key(text)
        found = self._get(key)
        if found is not None:
            return found
        audio = self._synthesize(text)
        if not memory:
            return _frozen(audio)
        # Piper ends a phrase with its own pause; the digits that follow bring theirs.
        return self._remember(key, _frozen(_trimmed(audio, self.rate)))

    def _digits(self, words: list[str]) -> Pcm:
        """A spoken digit string from one cached recording per digit word, as IVRs play recorded numbers:
        each trimmed of its silence and followed by a short pause. A lone digit word is no caller data,
        so its recording is stored like a static prompt."""
        gap = np.zeros(self.rate * DIGIT_GAP_MS // 1000, dtype=np.int16)
        parts: list[Pcm] = []
        for word in words:
            parts += [_trimmed(self._sentence(word, store=True, memory=True), self.rate), gap]
        return _frozen(_concat(parts))

    # --- internals --------------------------------------------------------------------------------------------

    def _sentence(self, sentence: str, *, store: bool, memory: bool) -> Pcm:
        key = self.key(sentence)
        found = self._get(key)
        if found is not None:
            return found
        audio = self._synthesize(sentence)
        return self._store(key, audio, memory=memory) if store else _frozen(audio)

    def _synthesize(self, text: str) -> Pcm:
        native = self.synthesizer.synthesize(text)
        if self.synthesizer.sample_rate == self.rate or not len(native):
            return native
        return resample(native, self.synthesizer.sample_rate, self.rate)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.wav"

    def _get(self, key: str) -> Pcm | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        path = self._path(key)
        try:
            audio, rate = read_wav(path)
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            # Truncated or foreign file (a crash before the rename cannot cause this, a full disk can):
            # a miss, so the prompt is rendered and the file replaced.
            return None
        if rate != self.rate:
            return None
        return self._remember(key, _frozen(audio))

    def _store(self, key: str, audio: Pcm, *, memory: bool) -> Pcm:
        audio = _frozen(audio)
        # A temporary name unique to this process and thread, in the same directory so the rename is
        # atomic (same file system); readers see the old file or the new one, never a partial one.
        tmp = self.directory / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            write_wav(tmp, audio, self.rate)
            os.replace(tmp, self._path(key))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self._remember(key, audio) if memory else audio

    def _remember(self, key: str, audio: Pcm) -> Pcm:
        if len(audio) > self.max_samples:
            return audio  # larger than the whole budget: serve it, but do not flush everything else
        with self._lock:
            previous = self._memory.pop(key, None)
            if previous is not None:
                self._memory_samples -= len(previous)
            self._memory[key] = audio
            self._memory_samples += len(audio)
            while self._memory_samples > self.max_samples:
                _, evicted = self._memory.popitem(last=False)
                self._memory_samples -= len(evicted)
        return audio


def _normal(text: str) -> str:
    """Whitespace-insensitive text: line breaks in a YAML prompt must not make a second entry."""
    return " ".join(text.split())


def _sentences(text: str) -> list[str]:
    return [_normal(sentence) for sentence in split_sentences(text)]


def _frozen(audio: Pcm) -> Pcm:
    audio = np.ascontiguousarray(audio, dtype=np.int16)
    audio.flags.writeable = False
    return audio


def _concat(parts: list[Pcm]) -> Pcm:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _fragments(clause: str) -> list[tuple[str, list[str]]]:
    """``clause`` as (words, []) and ("", digit words) parts: runs of :data:`MIN_DIGIT_RUN` or more digit
    words ("zero nine two three") are split out; a clause without one is returned whole."""
    tokens = clause.split()
    bare = [t.strip(".,;:!?").lower() for t in tokens]
    parts: list[tuple[str, list[str]]] = []
    start = i = 0
    while i < len(tokens):
        end = i
        while end < len(tokens) and bare[end] in _DIGIT_WORDS:
            end += 1
        if end - i >= MIN_DIGIT_RUN:
            if i > start:
                parts.append((" ".join(tokens[start:i]), []))
            parts.append(("", bare[i:end]))
            start = i = end
        else:
            i = max(end, i + 1)
    if not parts:
        return [(clause, [])]
    if start < len(tokens):
        rest = " ".join(tokens[start:])
        if rest.strip(".,;:!? "):
            parts.append((rest, []))
    return parts


def _trimmed(audio: Pcm, rate: int) -> Pcm:
    """``audio`` without its leading and trailing silence (10 ms of margin kept)."""
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > _SILENCE)
    if not len(loud):
        return audio
    margin = rate // 100
    return audio[max(0, loud[0] - margin):loud[-1] + margin]
