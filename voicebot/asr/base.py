"""What every speech recognizer offers: grammars, results and the recognizer/stream protocols.

A :class:`Recognizer` is shared by all calls (it owns the loaded model); each call opens its own
:class:`RecognizerStream`, feeds it 16-bit PCM at :attr:`Recognizer.sample_rate` and asks for the final
result when the endpointer says the caller stopped talking. Streams are not thread-safe: one call, one
thread, one stream.

The grammar of a turn is described engine-neutrally by :class:`GrammarSpec`; each adapter compiles it
to what its engine understands (see :mod:`voicebot.asr.grammars`).

Vocabulary of the constrained grammars (all lowercase, as recognizers return them):

* digit strings: ``zero oh one two three four five six seven eight nine`` plus ``double`` and
  ``triple`` ("double four"), optionally after a carrier phrase ("my pin is", "it is", ...);
* numbers (slot type ``number``) add the cardinal words: ``ten`` ... ``nineteen``, ``twenty`` ...
  ``ninety``, ``hundred thousand million``, ``and point minus``;
* amounts (``currency``) add ``dollar dollars cent cents`` to the number words;
* dates (``date``) add the month names, the ordinals ``first`` ... ``nineteenth twentieth thirtieth``,
  ``the of`` and ``today tomorrow yesterday``;
* yes/no answers: :data:`YES_PHRASES` and :data:`NO_PHRASES`.

Every constrained grammar also accepts the phrases of the intents the turn listens for (global commands
such as "agent" or "main menu" during a PIN), so a command is never forced into digits.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from voicebot.actions import Listen
from voicebot.events import Hypothesis

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    #: 1-D 16-bit mono PCM (numpy is needed only by the engine adapters, not to import this module).
    Pcm = npt.NDArray[np.int16]

__all__ = [
    "CARRIER_PHRASES",
    "CURRENCY_WORDS",
    "DATE_WORDS",
    "DIGIT_WORDS",
    "MULTIPLIER_WORDS",
    "NO_PHRASES",
    "NUMBER_WORDS",
    "YES_PHRASES",
    "GrammarKind",
    "GrammarSpec",
    "RecognitionResult",
    "Recognizer",
    "RecognizerError",
    "RecognizerStream",
]

GrammarKind = Literal["digits", "yes_no", "phrases", "free"]

DIGIT_WORDS: tuple[str, ...] = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                "nine")
MULTIPLIER_WORDS: tuple[str, ...] = ("double", "triple")
NUMBER_WORDS: tuple[str, ...] = (
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "million", "and", "point", "minus",
)
CURRENCY_WORDS: tuple[str, ...] = ("dollar", "dollars", "cent", "cents")
DATE_WORDS: tuple[str, ...] = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
    "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth", "thirtieth", "the", "of", "today", "tomorrow",
    "yesterday",
)
#: Optional lead-ins before a digit string.
CARRIER_PHRASES: tuple[str, ...] = ("my pin is", "my number is", "my account number is", "the number is",
                                    "it is", "that is")
YES_PHRASES: tuple[str, ...] = ("yes", "yeah", "yep", "yes please", "sure", "correct", "that is correct",
                                "that is right", "right", "okay", "of course", "absolutely", "go ahead")
NO_PHRASES: tuple[str, ...] = ("no", "nope", "no thanks", "no thank you", "not really", "incorrect",
                               "that is wrong", "wrong", "negative", "no it is not", "that is not right")

_EXTRA_WORDS: dict[str, tuple[str, ...]] = {
    "number": NUMBER_WORDS,
    "currency": NUMBER_WORDS + CURRENCY_WORDS,
    "date": NUMBER_WORDS + DATE_WORDS,
}


class RecognizerError(RuntimeError):
    """A recognizer that cannot be created or used (missing model, missing package, engine failure)."""


def import_engine(module: str, engine: str, package: str) -> Any:
    """The engine's Python package ``module``, imported on first use by its adapter, or a clear error naming
    the pip ``package`` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RecognizerError(f"{engine} is not installed: pip install {package}") from exc


@dataclass(frozen=True)
class GrammarSpec:
    """What the caller may say in one turn, independent of the engine.

    ``kind`` ``"digits"`` is a digit string of ``min_digits``..``max_digits`` digits, spoken word by word
    (``extra_words`` widens it to number, amount or date words); ``"yes_no"`` and ``"phrases"`` are
    closed lists of ``phrases``; ``"free"`` is unconstrained speech (the engine's language model). For
    ``digits`` and ``yes_no``, ``phrases`` lists further phrases that are also accepted (commands).
    """

    kind: GrammarKind
    phrases: tuple[str, ...] = ()
    min_digits: int = 1
    max_digits: int = 32
    #: Words allowed besides the digit words in a ``digits`` grammar (number, currency or date words).
    extra_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("digits", "yes_no", "phrases", "free"):
            raise ValueError(f"unknown grammar kind {self.kind!r}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"bad digit bounds {self.min_digits}..{self.max_digits}")

    @classmethod
    def free(cls) -> GrammarSpec:
        return cls("free")

    @classmethod
    def for_listen(cls, listen: Listen, phrases_by_intent: Mapping[str, Sequence[str]]) -> GrammarSpec:
        """The grammar of a :class:`~voicebot.actions.Listen` turn.

        ``phrases_by_intent`` maps intent names to their phrases (``{n: i.phrases for n, i in
        compiled_flow.intents.items()}``); the phrases of every intent in ``listen.intents`` (the node's
        intents and the active global commands) are included, plus ``listen.phrases``.
        """
        intent_phrases = [p for name in listen.intents for p in phrases_by_intent.get(name, ())]
        phrases = tuple(dict.fromkeys([*listen.phrases, *intent_phrases]))
        slot = listen.slot_type
        if slot == "digits":
            return cls("digits", phrases, listen.min_digits, max(listen.min_digits, listen.max_digits))
        if slot in _EXTRA_WORDS:
            return cls("digits", phrases, extra_words=_EXTRA_WORDS[slot])
        if slot == "yes_no":
            return cls("yes_no", tuple(dict.fromkeys([*YES_PHRASES, *NO_PHRASES, *phrases])))
        if slot == "intent":
            return cls("phrases", phrases) if phrases else cls("free")
        return cls("free")


@dataclass(frozen=True)
class RecognitionResult:
    """A partial (``final=False``) or final recognition result.

    ``text`` is lowercase words as the grammar spells them ("four four one seven"), empty when nothing
    in the grammar was recognized; ``confidence`` is in 0..1 (0 for an empty result); ``nbest`` lists
    the alternatives best first (the first one is ``text``), empty when the engine has none.
    """

    text: str
    confidence: float
    nbest: tuple[Hypothesis, ...] = ()
    final: bool = True
    engine: str = ""

    @classmethod
    def empty(cls, engine: str, final: bool = True) -> RecognitionResult:
        return cls("", 0.0, (), final, engine)


@runtime_checkable
class RecognizerStream(Protocol):
    """One call's recognition session. Not thread-safe; ``finish`` readies it for the next utterance."""

    def accept(self, pcm: Pcm) -> RecognitionResult | None:
        """Feed 16-bit mono PCM at the recognizer's rate; a partial result when the engine has one.

        An empty chunk (a resampler still filling its filter yields one) is accepted and ignored.
        """
        ...

    def finish(self) -> RecognitionResult:
        """The final result of the utterance fed so far; the stream then starts a new utterance."""
        ...

    def set_grammar(self, grammar: GrammarSpec) -> None:
        """Use ``grammar`` from the next utterance on (an utterance in progress is discarded)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class PreviewingStream(RecognizerStream, Protocol):
    """A stream whose engine gives no partial results but can recognize the utterance so far on demand.

    The media loop asks for a preview once the caller has been silent a moment, so that input which already
    completes its grammar ends on the short complete-silence timeout and the preview's result can stand as
    the final one (no decoding left once the silence timeout ends the utterance).
    """

    def preview(self) -> Callable[[], RecognitionResult]:
        """A job that recognizes the audio fed so far; the stream is unchanged and goes on accepting audio.

        The audio is captured now; the job may run on another thread, at the same time as ``accept``.
        """
        ...


@runtime_checkable
class Recognizer(Protocol):
    """A loaded speech engine shared by every call."""

    name: str
    #: The PCM rate :meth:`RecognizerStream.accept` expects (16000 for every engine here).
    sample_rate: int

    def open(self, grammar: GrammarSpec) -> RecognizerStream: ...

    def close(self) -> None: ...


@runtime_checkable
class PreparingRecognizer(Recognizer, Protocol):
    """A recognizer that can build what calls will need before they come (decoders, compiled grammars).

    Building some of it holds Python's GIL (PocketSphinx), which would stall every call's media loop if it
    happened during a call.
    """

    def prepare(self, grammars: Sequence[GrammarSpec], streams: int) -> None:
        """Be ready for ``streams`` simultaneous streams listening with any of ``grammars``."""
        ...
