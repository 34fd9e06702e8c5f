"""How sure Whisper is: confidences from CTranslate2's scores, and the checks between a turn's decodings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from voicebot.asr.accept import ALTERNATIVE_FACTOR, accepts
from voicebot.asr.base import GrammarSpec
from voicebot.asr.grammars import grammar_phrases
from voicebot.events import Hypothesis
from voicebot.nlu.slots import interpret_value

__all__ = ["cross_checked", "hypothesis_confidence", "plainly_said", "pooled_confidences", "total_logprob"]

#: No-speech probability that real speech reaches anyway in the 10 s window (up to 0.17 measured on clear
#: synthetic digits, against 0.05 in the 30 s window): only what exceeds it lowers the confidence.
_SPEECH_NOISE = 0.2

def hypothesis_confidence(score: float, length: int, no_speech: float) -> float:
    """A hypothesis' confidence: ``exp`` of its mean token log-probability (counted as faster-whisper does,
    end of text included), lowered by the part of the no-speech probability above :data:`_SPEECH_NOISE`.

    CTranslate2's ``score`` is the cumulative log-probability divided by the length (length penalty 1).
    """
    logprob = score * length / (length + 1)
    speech = min(1.0, (1.0 - no_speech) / (1.0 - _SPEECH_NOISE))
    return min(1.0, max(0.0, math.exp(logprob) * speech))


def plainly_said(grammar: GrammarSpec, first: str, result: str) -> bool:
    """Whether ``result`` may stand on the masked decoding alone (the free pass heard something else but
    scored no better): a value of the node, or one of its command phrases exactly as the engine's first
    choice ``first`` said it ("help", not "bye bye bye" made of "I want to order a large pizza")."""
    if accepts(grammar, result, command=False):
        return True
    return first == result and result in grammar_phrases(grammar)


def cross_checked(grammar: GrammarSpec, kept: tuple[Hypothesis, ...],
                   words: tuple[Hypothesis, ...]) -> tuple[Hypothesis, ...]:
    """A digit turn's result from its two decodings: ``kept`` (numerals or words) and ``words`` (words only).

    Both say the same: the better confidence of the two. They differ: the first decoding's result at a
    confidence the flow confirms (:data:`ALTERNATIVE_FACTOR`), since one of them misheard a digit. Only
    the second has an answer: it, likewise lowered. Measured on the corpus, tiny.en writing numerals
    merges repeated digits ("6 6 6 1 2 0 8" for "six six six one two oh oh eight") and writing words
    drops others; each is right where the other fails on about one digit string in twenty.
    """
    if not kept or not words:
        return tuple(Hypothesis(h.text, round(h.confidence * ALTERNATIVE_FACTOR, 4)) for h in kept or words)
    if _value(grammar, kept[0].text) == _value(grammar, words[0].text):
        return (Hypothesis(kept[0].text, max(kept[0].confidence, words[0].confidence)), *kept[1:])
    return tuple(Hypothesis(h.text, round(h.confidence * ALTERNATIVE_FACTOR, 4)) for h in kept)


#: Any day: digit strings do not depend on it.
_SOME_DAY = date(2000, 1, 1)


def _value(grammar: GrammarSpec, text: str) -> str:
    """What a digit turn takes from ``text``: its digits, or the text itself (a command)."""
    value = interpret_value("digits", text, today=_SOME_DAY, min_length=grammar.min_digits,
                            max_length=grammar.max_digits)
    return str(value) if value is not None else text


def total_logprob(score: float, length: int) -> float:
    """A hypothesis' total log-probability from CTranslate2's length-normalized ``score`` (see
    :func:`hypothesis_confidence`)."""
    return score * length


def pooled_confidences(texts: Sequence[str], scores: Sequence[float], lengths: Sequence[int],
                       no_speech: float) -> list[float]:
    """The confidence of each hypothesis from the probability of its words however they were written:
    the n-best hypotheses that normalize to the same text ("Help." "Help" "help?" "Help!") share one
    probability, their sum, scored as :func:`hypothesis_confidence` scores one hypothesis (the mean log-probability
    over the tokens of the hypothesis, end of text included).

    Whisper writes a word said alone with or without a full stop, capitalized or not: each spelling takes
    part of the probability, and "agent" said clearly came out at 0.35, below the flow's confirmation
    threshold.
    """
    mass: dict[str, float] = {}
    for text, score, length in zip(texts, scores, lengths, strict=True):
        mass[text] = mass.get(text, 0.0) + math.exp(total_logprob(score, length))
    speech = min(1.0, (1.0 - no_speech) / (1.0 - _SPEECH_NOISE))
    return [min(1.0, max(0.0, math.exp(math.log(max(mass[text], 1e-300)) / (length + 1)) * speech))
            for text, length in zip(texts, lengths, strict=True)]


