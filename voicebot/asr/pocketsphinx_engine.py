"""PocketSphinx 5 adapter: the US English model shipped inside the ``pocketsphinx`` wheel, offline.

The only module that imports ``pocketsphinx`` (lazily, so the rest of voicebot runs without it).

* **Decoders are not thread-safe.** Each stream holds its own ``pocketsphinx.Decoder`` for its whole
  life; decoders are pooled by the recognizer and reused by later calls, because creating one costs
  about 0.15 s and 28 MB (acoustic model and dictionary). The 20 MB language model for free speech is
  loaded into a decoder only the first time that decoder needs it (another 0.25 s and ~70 MB).
* **Grammars**: each :class:`~voicebot.asr.base.GrammarSpec` is compiled once per recognizer to JSGF
  (:func:`voicebot.asr.grammars.jsgf`, words checked against the pronunciation dictionary) and added to
  a decoder as a named search the first time that decoder needs it; ``free`` uses the language model.
* **Out-of-grammar speech**: a closed grammar forces any speech onto its nearest phrase, with a high
  posterior. For yes/no and phrase grammars the streaming pass therefore uses a *screening* search
  (the grammar plus a loop of :data:`~voicebot.asr.grammars.GARBAGE_WORDS`, without lattice
  posteriors, which would take seconds on a garbage loop); at the end the buffered utterance is decoded
  again by the plain grammar with posteriors (20-60 ms for a 2-3 s utterance). When the screening pass
  heard garbage, ``screen="confidence"`` (the default) caps the result's confidence at
  :data:`SCREENED_CONFIDENCE`, below the flows' default confirmation threshold, so the flow confirms
  instead of acting on a guess; ``screen="reject"`` returns an empty result; ``screen="off"`` skips the
  screening. Measured through a G.711 round trip on 75 in-grammar and 40 out-of-grammar utterances of
  five synthetic voices: ``off`` got 53 right and let 19 out-of-grammar ones through as confident
  phrases; ``confidence`` got 55 right (13 of them flagged, so confirmed) and flagged or rejected all
  40; ``reject`` rejected all 40 but got only 42 right.
  Digit grammars are never screened (too many garbage words sound like digits: "when"/"one",
  "do"/"two"); they rely on the length check. Any final text that is not a sentence of the grammar
  (a digit string of the wrong length, or the partial path an FSG search returns when no complete
  sentence fits) comes back as an empty result.
* **Confidence** is the smallest word posterior probability of the best path (``bestpath`` lattice
  search, ``Segment.prob``); when no word has one, the whole-hypothesis posterior (``Hypothesis.prob``).
  Acoustic scores are not used: they are not comparable between utterances. N-best alternatives come
  from the lattice (``Decoder.nbest``); they share the probability mass the best path leaves
  (``1 - confidence``) in proportion to their path likelihoods.
* **Channel normalisation**: PocketSphinx normalises cepstra with a running mean that adapts over
  the utterances it hears, starting from ``cmninit``. The library default (``40,3,-1,0,...``) is far
  from telephone audio, so the first utterances of a fresh decoder are badly recognized (measured on
  synthetic voices through G.711: 0 of 22 espeak-ng digit strings). The recognizer therefore starts
  every stream from one shared estimate, :data:`TELEPHONE_CMN` at first, and updates it after every
  utterance, so a new call (or a new decoder) starts where the previous call left off. Per-utterance
  (batch) normalisation was measured too and was worse than the adapted running mean (175 against 195
  of 260 test utterances).
* **Partial results** are the current best path, sent when it changes, with confidence 0 (posteriors
  exist only at the end of an utterance).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from voicebot.asr.accept import screened
from voicebot.asr.base import GrammarSpec, RecognitionResult, RecognizerError, import_engine
from voicebot.asr.grammars import GARBAGE_WORDS, in_grammar, jsgf
from voicebot.events import Hypothesis

if TYPE_CHECKING:
    from voicebot.asr.base import Pcm

__all__ = ["SCREENED_CONFIDENCE", "TELEPHONE_CMN", "PocketSphinxRecognizer", "PocketSphinxStream", "Screen",
           "default_model_dir"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_LM_SEARCH = "voicebot_lm"
#: Named searches kept per decoder before the least recently used one is removed.
_MAX_SEARCHES = 32
#: Lattice paths examined for n-best (many differ only in word timing, hence more than ``nbest``).
_NBEST_PATHS = 30
#: Initial cepstral mean (13 coefficients): the running estimate PocketSphinx converged to on telephone
#: speech (16 synthetic utterances x 5 voices through a G.711 mu-law round trip at 8 kHz, upsampled).
TELEPHONE_CMN = "47.5,33.3,-33.1,40.7,-22.5,-1.8,14.9,-27.5,17.8,-8.6,-0.2,11.4,-14.5"
#: Confidence ceiling of a result whose screening pass heard out-of-grammar speech.
SCREENED_CONFIDENCE = 0.2

Screen = Literal["off", "confidence", "reject"]


def _module() -> Any:
    """The ``pocketsphinx`` package, imported on first use (it ships no type information)."""
    return import_engine("pocketsphinx", "PocketSphinx", "pocketsphinx")


def default_model_dir() -> Path:
    """The US English model inside the ``pocketsphinx`` wheel (``<model>/en-us``)."""
    return Path(_module().get_model_path()) / "en-us"


def _clean_word(word: str) -> str:
    """"that(2)" -> "that": pronunciation variants are spelled with a suffix in the dictionary."""
    return word[: word.index("(")] if word.endswith(")") and "(" in word else word


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+")) or not word


def _clean_text(hypstr: str) -> str:
    return " ".join(w for w in (_clean_word(w) for w in hypstr.split()) if not _is_filler(w))


class _Search:
    """The compiled searches of one grammar: the plain one and, for closed lists, the screening one."""

    def __init__(self, name: str, jsgf_text: str | None, screen: str | None) -> None:
        self.name = name
        self.jsgf = jsgf_text
        self.screen = screen


class _Decoder:
    """A pocketsphinx decoder and the searches already added to it (used by one stream at a time)."""

    def __init__(self, recognizer: PocketSphinxRecognizer) -> None:
        ps = _module()
        started = time.perf_counter()
        model = recognizer.model_dir
        self.decoder: Any = ps.Decoder(
            hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), lm=None, bestpath=True,
            samprate=SAMPLE_RATE, loglevel="FATAL",
        )
        self.initial_cmn: str = self.decoder.get_cmn()
        self.searches: dict[str, None] = {}
        self.has_lm = False
        self.in_utterance = False
        log.debug("pocketsphinx decoder created in %.2f s", time.perf_counter() - started)

    def activate(self, name: str, jsgf_text: str | None, lm_path: Path, *, bestpath: bool = True) -> None:
        """Make ``name`` the active search, adding it first if this decoder does not have it yet."""
        if name == _LM_SEARCH:
            if not self.has_lm:
                started = time.perf_counter()
                self.decoder.add_lm_file(_LM_SEARCH, str(lm_path))
                self.has_lm = True
                log.debug("pocketsphinx language model loaded in %.2f s", time.perf_counter() - started)
        elif name in self.searches:
            self.searches.pop(name)
            self.searches[name] = None
        else:
            if len(self.searches) >= _MAX_SEARCHES:
                oldest = next(iter(self.searches))
                del self.searches[oldest]
                self.decoder.remove_search(oldest)
            # A search reads "bestpath" from the decoder's configuration when it is created.
            self.decoder.config["bestpath"] = bestpath
            try:
                self.decoder.add_jsgf_string(name, jsgf_text)
            finally:
                self.decoder.config["bestpath"] = True
            self.searches[name] = None
        self.decoder.activate_search(name)


class PocketSphinxRecognizer:
    """PocketSphinx with the wheel's US English model (or ``model_dir`` with the same layout).

    ``model_dir`` holds ``en-us/`` (acoustic model), ``cmudict-en-us.dict`` and ``en-us.lm.bin``.
    ``nbest`` bounds the alternatives returned; ``pool_size`` the idle decoders kept for reuse;
    ``screen`` is what the out-of-grammar screening of yes/no and phrase grammars does; ``cmn_init``
    the channel estimate new streams start from (module docstring; None: the library default).
    """

    name = "pocketsphinx"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: Path | None = None, *, nbest: int = 5, pool_size: int = 4,
                 screen: Screen = "confidence", cmn_init: str | None = TELEPHONE_CMN) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        missing = [p for p in ("en-us", "cmudict-en-us.dict", "en-us.lm.bin") if not (self.model_dir / p).exists()]
        if missing:
            raise RecognizerError(f"PocketSphinx model folder {self.model_dir} lacks {', '.join(missing)}")
        self.nbest = nbest
        self.pool_size = pool_size
        if screen not in ("off", "confidence", "reject"):
            raise ValueError(f"screen must be off, confidence or reject, not {screen!r}")
        self.screen = screen
        self._lock = threading.Lock()
        self._idle: list[_Decoder] = []
        self._grammars: dict[GrammarSpec, tuple[_Search, str | None]] = {}
        self._words: frozenset[str] | None = None
        self._closed = False
        self._cmn = cmn_init

    @property
    def channel_cmn(self) -> str | None:
        """The cepstral mean the next stream starts from (updated after every utterance)."""
        with self._lock:
            return self._cmn

    def _learn_cmn(self, cmn: str) -> None:
        with self._lock:
            self._cmn = cmn

    # ----- shared, thread-safe state -----

    def known_word(self, word: str) -> bool:
        """Whether ``word`` is in the pronunciation dictionary (so a grammar may use it)."""
        return word in self._dictionary()

    def _dictionary(self) -> frozenset[str]:
        with self._lock:
            if self._words is None:
                words: set[str] = set()
                with (self.model_dir / "cmudict-en-us.dict").open(encoding="utf-8") as lines:
                    for line in lines:
                        words.add(_clean_word(line.split(" ", 1)[0]))
                self._words = frozenset(words)
            return self._words

    def jsgf_for(self, grammar: GrammarSpec) -> str | None:
        """The JSGF this recognizer uses for ``grammar`` (None: the language model)."""
        return self._search(grammar)[0].jsgf

    def _search(self, grammar: GrammarSpec) -> tuple[_Search, str | None]:
        """The searches of ``grammar`` and the screening JSGF, compiled once per recognizer."""
        with self._lock:
            found = self._grammars.get(grammar)
        if found is not None:
            return found
        text = jsgf(grammar, self.known_word)
        screen = None
        if text is not None and self.screen != "off" and grammar.kind in ("yes_no", "phrases"):
            screen = jsgf(grammar, self.known_word, garbage=GARBAGE_WORDS)
        if text is None and grammar.kind != "free":
            log.warning("no word of the %s grammar is in the PocketSphinx dictionary: recognizing free speech",
                        grammar.kind)
        with self._lock:
            number = len(self._grammars)
            search = _Search(f"g{number}" if text else _LM_SEARCH, text, f"s{number}" if screen else None)
            return self._grammars.setdefault(grammar, (search, screen))

    def lm_path(self) -> Path:
        return self.model_dir / "en-us.lm.bin"

    def _take(self) -> _Decoder:
        with self._lock:
            if self._closed:
                raise RecognizerError("the PocketSphinx recognizer is closed")
            if self._idle:
                return self._idle.pop()
        return _Decoder(self)

    def _give_back(self, decoder: _Decoder) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.pool_size:
                self._idle.append(decoder)

    def prepare(self, grammars: Sequence[GrammarSpec], streams: int) -> None:
        """Keep ``streams`` decoders, each already holding the searches of every grammar in ``grammars``.

        Creating a decoder (~0.1 s) and adding a search to it hold the GIL, so done during calls they stall
        every call's 20 ms loop; done here, before calls come, a stream only activates a search.
        """
        searches = [self._search(grammar) for grammar in dict.fromkeys(grammars)]
        lm = self.lm_path()
        with self._lock:
            self.pool_size = max(self.pool_size, streams)
        decoders = [self._take() for _ in range(streams)]
        try:
            for engine in decoders:
                for search, screen in searches:
                    if search.screen is not None:
                        engine.activate(search.screen, screen, lm, bestpath=False)
                    engine.activate(search.name, search.jsgf, lm)
        finally:
            for engine in decoders:
                self._give_back(engine)

    # ----- Recognizer protocol -----

    def open(self, grammar: GrammarSpec) -> PocketSphinxStream:
        return PocketSphinxStream(self, grammar, self._take(), self._give_back)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._idle.clear()


class PocketSphinxStream:
    """One call's PocketSphinx session (one decoder; not thread-safe)."""

    def __init__(self, recognizer: PocketSphinxRecognizer, grammar: GrammarSpec, engine: _Decoder,
                 give_back: Callable[[_Decoder], None]) -> None:
        self._recognizer = recognizer
        self._give_back = give_back
        self._engine: _Decoder | None = engine
        engine.decoder.set_cmn(recognizer.channel_cmn or engine.initial_cmn)
        self._partial = ""
        self._audio: list[bytes] = []
        self._start_cmn = ""
        self.grammar = grammar
        self._search, self._screen_jsgf = recognizer._search(grammar)
        try:
            self.set_grammar(grammar)
        except BaseException:
            self.close()
            raise

    def _decoder(self) -> _Decoder:
        if self._engine is None:
            raise RecognizerError("the recognition stream is closed")
        return self._engine

    def _activate_streaming(self, engine: _Decoder) -> None:
        """The search that decodes audio as it arrives: the screening search if there is one."""
        lm = self._recognizer.lm_path()
        try:
            if self._search.screen is not None:
                engine.activate(self._search.screen, self._screen_jsgf, lm, bestpath=False)
            else:
                engine.activate(self._search.name, self._search.jsgf, lm)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise RecognizerError(f"PocketSphinx rejected the {self.grammar.kind} grammar: {exc}") from exc

    def set_grammar(self, grammar: GrammarSpec) -> None:
        engine = self._decoder()
        if engine.in_utterance:
            engine.decoder.end_utt()
            engine.in_utterance = False
        self._audio.clear()
        self.grammar = grammar
        self._search, self._screen_jsgf = self._recognizer._search(grammar)
        self._activate_streaming(engine)

    def accept(self, pcm: Pcm) -> RecognitionResult | None:
        if not len(pcm):
            return None  # the decoder cannot take an empty buffer (IndexError in process_raw)
        engine = self._decoder()
        if not engine.in_utterance:
            self._start_cmn = engine.decoder.get_cmn()
            engine.decoder.start_utt()
            engine.in_utterance = True
            self._partial = ""
        data = pcm.astype("<i2", copy=False).tobytes()
        self._audio.append(data)
        engine.decoder.process_raw(data, False, False)
        hyp = engine.decoder.hyp()
        text = _clean_text(hyp.hypstr) if hyp is not None else ""
        if not text or text == self._partial:
            return None
        self._partial = text
        return RecognitionResult(text, 0.0, (), final=False, engine=self._recognizer.name)

    def finish(self) -> RecognitionResult:
        engine = self._decoder()
        if not engine.in_utterance:
            return RecognitionResult.empty(self._recognizer.name)
        decoder = engine.decoder
        decoder.end_utt()
        engine.in_utterance = False
        self._partial = ""
        audio, self._audio = b"".join(self._audio), []
        learned = decoder.get_cmn()
        self._recognizer._learn_cmn(learned)
        if self._search.screen is None:
            return self._result(decoder)
        screened = decoder.hyp()
        heard_grammar = screened is not None and in_grammar(self.grammar, _clean_text(screened.hypstr))
        if not heard_grammar and self._recognizer.screen == "reject":
            return RecognitionResult.empty(self._recognizer.name)
        engine.activate(self._search.name, self._search.jsgf, self._recognizer.lm_path())
        try:
            # The same utterance again, from the same channel estimate, with the plain grammar.
            decoder.set_cmn(self._start_cmn)
            decoder.start_utt()
            decoder.process_raw(audio, False, False)
            decoder.end_utt()
            result = self._result(decoder)
        finally:
            decoder.set_cmn(learned)
            self._activate_streaming(engine)
        if heard_grammar or not result.text:
            return result
        scale = min(1.0, SCREENED_CONFIDENCE / result.confidence) if result.confidence > 0 else 1.0
        nbest = tuple(Hypothesis(h.text, h.confidence * scale) for h in result.nbest)
        return RecognitionResult(result.text, result.confidence * scale, nbest, True, result.engine)

    def _result(self, decoder: Any) -> RecognitionResult:
        """The best path if it is a sentence of the grammar, then the lattice's other in-grammar paths, all
        through the grammar's acceptance check (:func:`voicebot.asr.accept.screened`): a best path outside
        the grammar (the garbage loop, a partial path) leaves its alternatives, at their lower confidence."""
        name = self._recognizer.name
        hyp = decoder.hyp()
        text = _clean_text(hyp.hypstr) if hyp is not None else ""
        if not text:
            return RecognitionResult.empty(name)
        posteriors = [float(s.prob) for s in decoder.seg() if not _is_filler(_clean_word(s.word))]
        confidence = min(posteriors) if posteriors else float(hyp.prob)
        confidence = min(max(confidence, 0.0), 1.0)
        alternatives = self._alternatives(decoder, text)
        rest = sum(score for _, score in alternatives)
        nbest = [Hypothesis(text, confidence)] if in_grammar(self.grammar, text) else []
        for alt, score in alternatives:
            share = (1.0 - confidence) * score / rest if rest > 0 else 0.0
            nbest.append(Hypothesis(alt, round(share, 6)))
        if not nbest:
            return RecognitionResult.empty(name)
        return screened(self.grammar, RecognitionResult(nbest[0].text, nbest[0].confidence, tuple(nbest),
                                                        final=True, engine=name))

    def _alternatives(self, decoder: Any, best: str) -> list[tuple[str, float]]:
        """Other in-grammar texts of the lattice with their path likelihoods, best first."""
        if self._recognizer.nbest <= 1:
            return []
        found: dict[str, float] = {}
        try:
            for count, hyp in enumerate(decoder.nbest()):
                if count >= _NBEST_PATHS or len(found) >= self._recognizer.nbest - 1:
                    break
                text = _clean_text(hyp.hypstr)
                if text and text != best and text not in found and in_grammar(self.grammar, text):
                    found[text] = float(hyp.score)
        except RuntimeError:  # no lattice (e.g. an empty utterance)
            return []
        return sorted(found.items(), key=lambda item: -item[1])

    def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        if engine.in_utterance:
            engine.decoder.end_utt()
            engine.in_utterance = False
        self._audio.clear()
        self._give_back(engine)
