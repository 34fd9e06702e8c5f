"""Digit strings one digit off: a merged repeat or a doubled digit, mended by the acoustic model's own scores.

Whisper tiny.en writes a digit said twice in a row once ("six six six one two zero eight" for "six six six one
two oh oh eight", "six nine nine seven" for "six nine nine nine seven"), or a digit twice that was said once.
Every hypothesis of the n-best then has one digit too few, a digit node of fixed length accepts
none of them, and the caller is asked again however clearly they spoke. The beam search cannot be told to
write exactly eight digits, but the model can say how likely a given string is: :func:`variants` writes the
strings one edit away that have an acceptable length (each digit said twice, each zero as "oh oh"; a digit
dropped when there is one too many), the engine scores them against the
audio (forced decoding) together with the hypotheses they came from, and :func:`best_repair` takes the most
likely variant when it is nearly as likely as the unrepaired hypothesis itself.

Measured on the corpus: "six six six one two oh oh eight" scores 1.7 nats below the merged seven-digit
hypothesis and 3.4 nats above any other eight-digit variant. A repaired string is an alternative, not the
engine's first choice: the engine gives it a confidence the flow confirms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voicebot.asr.accept import DIGIT_WORDS
from voicebot.nlu.numbers import MULTIPLIERS

__all__ = ["MAX_VARIANTS", "REPAIR_MARGIN", "Repair", "best_repair", "variants"]

#: How far (nats of total log-probability) a repaired string may score below the best hypothesis it was made
#: from and still be taken.
REPAIR_MARGIN = 2.5
#: Variants scored at most per utterance (each costs a forced decoding of the string: ~9 ms of CPU).
MAX_VARIANTS = 16

def variants(text: str, min_digits: int, max_digits: int) -> list[str]:
    """The strings one edit away from ``text`` (a normalized transcript) whose digit count is acceptable,
    when ``text`` has exactly one digit too few or too many; otherwise none."""
    words = text.split()
    if any(word in MULTIPLIERS for word in words):
        # "double" already says a digit twice: its digit count is right or wrong for other reasons.
        return []
    positions = [i for i, word in enumerate(words) if word in DIGIT_WORDS]
    count = len(positions)
    found: list[list[str]] = []
    if count == min_digits - 1:
        for i in positions:
            found.append([*words[:i + 1], words[i], *words[i + 1:]])  # said twice, written once
            if words[i] == "zero":
                found.append([*words[:i], "oh", "oh", *words[i + 1:]])  # "oh oh" written as one zero
    elif count == max_digits + 1:
        for i in positions:
            found.append([*words[:i], *words[i + 1:]])  # a digit written twice, said once
    out = dict.fromkeys(" ".join(v) for v in found)
    out.pop(text, None)
    return list(out)


@dataclass(frozen=True)
class Repair:
    """A repaired string, the hypothesis it came from, and how much less likely it is than that one (nats)."""

    text: str
    source: str
    shortfall: float


def best_repair(sources: Sequence[str], min_digits: int, max_digits: int,
                score: Callable[[Sequence[str]], Sequence[float]],
                margin: float = REPAIR_MARGIN) -> Repair | None:
    """The most likely variant of any of ``sources`` (best first), if it scores within ``margin`` nats of the
    best-scoring source. ``score`` gives each string's total log-probability given the audio, in one call."""
    candidates: dict[str, str] = {}
    for source in sources:
        for variant in variants(source, min_digits, max_digits):
            if variant not in sources:
                candidates.setdefault(variant, source)
    if not candidates:
        return None
    chosen = list(candidates)[:MAX_VARIANTS]
    bases = list(dict.fromkeys(candidates[v] for v in chosen))
    scores = list(score([*bases, *chosen]))
    best_base = max(scores[:len(bases)])
    index = max(range(len(chosen)), key=lambda i: scores[len(bases) + i])
    shortfall = best_base - scores[len(bases) + index]
    if shortfall > margin:
        return None
    return Repair(chosen[index], candidates[chosen[index]], round(shortfall, 3))
