"""Spoken and typed numbers: digit strings ("four four one seven") and quantities ("twenty three").

Recognisers return numbers in every shape: words, figures, or a mix, with ASR homophones ("for" for
"four") and fillers. Both parsers first mark which tokens belong to a number, then read each run of
marked tokens. Digit strings and quantities differ in how a run is read: "forty four seventeen" is the
digit string "4417" but the quantity 4417 only because it cannot be read as one cardinal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from voicebot.nlu.normalize import tokenize

__all__ = ["DigitSpan", "NumberSpan", "digit_spans", "find_digit_strings", "number_spans", "parse_digits",
           "parse_number"]

UNITS = {"zero": 0, "nought": 0, "naught": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4,
         "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
# Only trusted next to other digit words: on their own they are ordinary English.
HOMOPHONES = {"for": 4, "fore": 4, "to": 2, "too": 2, "won": 1, "ate": 8}
MULTIPLIERS = {"double": 2, "triple": 3}
# "oh"/"o" are interjections or letters unless a number is next to them.
_WEAK_ZERO = frozenset({"oh", "o"})
# Hesitations and spelled-out separators that may sit inside one spoken digit string.
_FILLERS = frozenset({"dash", "hyphen", "uh", "um", "umm", "er", "erm", "ah", "hmm", "space"})
_MAX_FILLER_GAP = 2

_TYPED_DIGITS = re.compile(r"^\$?\d+(?:[-,./]\d+)*$")
_TYPED_NUMBER = re.compile(r"^-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$")

# Token kinds.
UNIT, OH, TEEN, TEN, SCALE, TYPED, HOMOPHONE, MULT, AND, A, POINT, MINUS, FILLER, WORD = (
    "unit", "oh", "teen", "tens", "scale", "typed", "homophone", "mult", "and", "a", "point", "minus",
    "filler", "word",
)
_SINGLE_WORDS = frozenset({UNIT, OH, HOMOPHONE, MULT})
_NUMERIC = frozenset({UNIT, OH, TEEN, TEN, TYPED, HOMOPHONE})


@dataclass(frozen=True)
class DigitSpan:
    """Tokens ``[start, end)`` of a token list that read as the digit string ``digits``."""

    start: int
    end: int
    digits: str


@dataclass(frozen=True)
class NumberSpan:
    """Tokens ``[start, end)`` of a token list that read as the quantity ``value``."""

    start: int
    end: int
    value: Decimal


_KINDS: dict[str, str] = {
    **dict.fromkeys(UNITS, UNIT), **dict.fromkeys(_WEAK_ZERO, OH), **dict.fromkeys(TEENS, TEEN),
    **dict.fromkeys(TENS, TEN), **dict.fromkeys(SCALES, SCALE), **dict.fromkeys(HOMOPHONES, HOMOPHONE),
    **dict.fromkeys(MULTIPLIERS, MULT), **dict.fromkeys(_FILLERS, FILLER), "and": AND, "a": A, "an": A,
    "point": POINT, "minus": MINUS, "negative": MINUS,
}
_VALUES = {**UNITS, **TEENS, **TENS, **HOMOPHONES}


def classify(word: str) -> str:
    """The kind of a token for number reading (UNIT, TEEN, TYPED, ... or WORD)."""
    kind = _KINDS.get(word)
    if kind is not None:
        return kind
    return TYPED if _TYPED_DIGITS.match(word) or _TYPED_NUMBER.match(word) else WORD


def _runs(accepted: Sequence[bool], kinds: Sequence[str]) -> list[tuple[int, int]]:
    """Maximal runs of accepted tokens, bridging short gaps of fillers."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(kinds)
    while i < n:
        if not accepted[i]:
            i += 1
            continue
        end = i + 1
        while True:
            gap = end
            while gap < n and kinds[gap] == FILLER and gap - end < _MAX_FILLER_GAP:
                gap += 1
            if gap >= n or not accepted[gap]:
                break
            end = gap + 1
        runs.append((i, end))
        i = end
    return runs


def _accept(kinds: Sequence[str], words: Sequence[str], digits: bool) -> list[bool]:
    """Which tokens belong to a number; weak tokens need a numeric neighbour, so iterate to a fixpoint."""
    n = len(kinds)
    accepted = [False] * n

    def kind(i: int) -> str:
        return kinds[i] if 0 <= i < n else ""

    def neighbour(i: int, allowed: frozenset[str]) -> bool:
        return any(0 <= j < n and accepted[j] and kinds[j] in allowed for j in (i - 1, i + 1))

    strong = {UNIT, TEEN, TEN}
    changed = True
    while changed:
        changed = False
        for i, k in enumerate(kinds):
            if accepted[i]:
                continue
            ok = False
            if k in strong:
                ok = True
            elif k == TYPED:
                ok = digits or bool(_TYPED_NUMBER.match(words[i]))
            elif k == OH:
                ok = neighbour(i, _NUMERIC | {SCALE, MULT, POINT}) or kind(i - 1) == MULT
            elif k == SCALE:
                ok = i > 0 and accepted[i - 1] and kinds[i - 1] in (_NUMERIC | {A, SCALE})
            elif k == HOMOPHONE:
                # Typed figures are excluded as anchors: "transfer 2 to savings" has no digit "to".
                ok = digits and (neighbour(i, _SINGLE_WORDS) or kind(i - 1) == MULT)
            elif k == MULT:
                ok = kind(i + 1) in (UNIT, OH, HOMOPHONE) or (kind(i + 1) == TYPED and len(words[i + 1]) == 1)
            elif k == AND:
                ok = i > 0 and accepted[i - 1] and kinds[i - 1] == SCALE and kind(i + 1) in (UNIT, TEEN, TEN)
            elif k == A:
                ok = kind(i + 1) == SCALE
            elif k == POINT:
                ok = not digits and kind(i + 1) in (UNIT, OH, TYPED)
            elif k == MINUS:
                ok = not digits and kind(i + 1) in (UNIT, OH, TEEN, TEN, TYPED, A)
            if ok:
                accepted[i] = changed = True
    return accepted


def cardinal(words: Sequence[str], kinds: Sequence[str], i: int, end: int) -> tuple[Decimal, int] | None:
    """Read one cardinal ("two thousand and five") from ``words[i:end]``: (value, index after it)."""
    total = current = Decimal(0)
    last = ""
    last_scale = 0
    j = i
    while j < end:
        k, w = kinds[j], words[j]
        if k in (UNIT, OH, HOMOPHONE):
            v = _VALUES[w]
            if v == 0:
                if last:
                    break
                return Decimal(0), j + 1
            if last in ("", "hundred", "scale", "and") or (last == TEN and current % 10 == 0):
                current += v
            else:
                break
            last = UNIT
        elif k in (TEEN, TEN):
            if last not in ("", "hundred", "scale", "and"):
                break
            current += _VALUES[w]
            last = k
        elif k == TYPED:
            if last or not _TYPED_NUMBER.match(w):
                break
            current = Decimal(w.replace("$", "").replace(",", "").replace("%", ""))
            last = TYPED
        elif k == A:
            if last or j + 1 >= end or kinds[j + 1] != SCALE:
                break
            current, last = Decimal(1), A
        elif k == SCALE:
            scale = SCALES[w]
            if last not in (UNIT, TEEN, TEN, TYPED, A, "hundred") or current == 0:
                break
            if scale == 100:
                if last == "hundred" or current >= 100:
                    break
                current *= 100
                last = "hundred"
            else:
                if last_scale and scale >= last_scale:
                    break
                total += current * scale
                current, last, last_scale = Decimal(0), "scale", scale
        elif k == AND:
            if last not in ("hundred", "scale") or j + 1 >= end or kinds[j + 1] not in (UNIT, TEEN, TEN):
                break
            last = "and"
        else:
            break
        j += 1
    if not last:
        return None
    return total + current, j


def _render_digits(words: Sequence[str], kinds: Sequence[str], start: int, end: int) -> str:
    out: list[str] = []
    i = start
    while i < end:
        k, w = kinds[i], words[i]
        nxt = kinds[i + 1] if i + 1 < end else ""
        if k == TYPED and not (nxt == SCALE and _TYPED_NUMBER.match(w)):
            out.append("".join(c for c in w if c.isdigit()))
            i += 1
        elif k == MULT:
            if nxt in (UNIT, OH, HOMOPHONE):
                out.append(str(_VALUES[words[i + 1]]) * MULTIPLIERS[w])
                i += 2
            elif nxt == TYPED and len(words[i + 1]) == 1:
                out.append(words[i + 1] * MULTIPLIERS[w])
                i += 2
            else:
                i += 1
        elif k in (UNIT, OH, HOMOPHONE) and nxt != SCALE:
            out.append(str(_VALUES[w]))
            i += 1
        elif k in (UNIT, OH, HOMOPHONE, TEEN, TEN, SCALE, TYPED):
            read = cardinal(words, kinds, i, end)
            if read is None:  # a bare scale word ("hundred") that cannot start a cardinal
                out.append(str(SCALES.get(w, "")))
                i += 1
            else:
                out.append(str(int(read[0])))
                i = read[1]
        else:
            i += 1
    return "".join(out)


def _digit_runs(words: Sequence[str]) -> tuple[list[str], list[tuple[int, int]]]:
    kinds = [classify(w) for w in words]
    return kinds, _runs(_accept(kinds, words, digits=True), kinds)


def digit_spans(words: Sequence[str]) -> list[DigitSpan]:
    """Every spoken or typed digit string in a token list, in order."""
    kinds, runs = _digit_runs(words)
    spans = [DigitSpan(start, end, _render_digits(words, kinds, start, end)) for start, end in runs]
    return [span for span in spans if span.digits]


def parse_digits(text: str) -> str | None:
    """The digit string in ``text`` ("four four one seven" -> "4417"), or None if there is none.

    Digits separated by ordinary words are different numbers; the longest one wins (the first on a tie)
    and callers decide whether its length is acceptable.
    """
    spans = digit_spans(tokenize(text))
    if not spans:
        return None
    return max(spans, key=lambda s: len(s.digits)).digits


def find_digit_strings(text: str, min_length: int, max_length: int) -> list[str]:
    """Digit strings inside a longer utterance whose length is within bounds, in order.

    A homophone at the edge of a run ("balance for four four ...") may be an ordinary word, so a run
    that is too long is retried without it.
    """
    words = tokenize(text)
    kinds, runs = _digit_runs(words)
    found: list[str] = []
    for start, end in runs:
        starts = [start] + ([start + 1] if kinds[start] == HOMOPHONE else [])
        ends = [end] + ([end - 1] if kinds[end - 1] == HOMOPHONE else [])
        candidates = (_render_digits(words, kinds, s, e) for s in starts for e in ends if s < e)
        hit = next((d for d in candidates if min_length <= len(d) <= max_length), None)
        if hit is not None:
            found.append(hit)
    return found


def _fraction(words: Sequence[str], kinds: Sequence[str], i: int, end: int) -> tuple[str, int]:
    digits = []
    while i < end and kinds[i] in (UNIT, OH, TYPED):
        if kinds[i] == TYPED:
            if not words[i].isdigit():
                break
            digits.append(words[i])
        else:
            digits.append(str(UNITS[words[i]]))
        i += 1
    return "".join(digits), i


def _span_value(words: Sequence[str], kinds: Sequence[str], start: int, end: int) -> Decimal | None:
    i, sign = start, 1
    if kinds[i] == MINUS:
        i, sign = i + 1, -1
    value, j = cardinal(words, kinds, i, end) or (Decimal(0), i)
    if j < end and kinds[j] == POINT:
        fraction, j = _fraction(words, kinds, j + 1, end)
        if fraction:
            value += Decimal(f"0.{fraction}")
    if j < end and not any(kinds[x] in (SCALE, POINT, MINUS) for x in range(start, end)):
        # Not one cardinal: a quantity said digit by digit or in pairs ("forty four seventeen").
        try:
            value = Decimal(_render_digits(words, kinds, i, end))
        except InvalidOperation:
            return None
    elif j == i:
        return None
    return sign * value


def number_spans(words: Sequence[str]) -> list[NumberSpan]:
    """Every spoken or typed quantity in a token list, in order."""
    kinds = [classify(w) for w in words]
    runs = _runs(_accept(kinds, words, digits=False), kinds)
    spans = [(start, end, _span_value(words, kinds, start, end)) for start, end in runs]
    return [NumberSpan(start, end, value) for start, end, value in spans if value is not None]


def parse_number(text: str) -> Decimal | None:
    """The first quantity in ``text`` ("one thousand two hundred and five" -> 1205), or None."""
    spans = number_spans(tokenize(text))
    return spans[0].value if spans else None
