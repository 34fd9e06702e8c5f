"""Typed values a caller says: amounts of money, dates and yes/no answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from voicebot.nlu.normalize import normalize
from voicebot.nlu.numbers import TEEN, TEENS, TEN, TENS, UNITS, NumberSpan, cardinal, classify, number_spans

__all__ = ["parse_currency", "parse_date", "parse_yes_no"]

CENT = Decimal("0.01")
_DOLLAR_WORDS = frozenset({"dollar", "dollars", "buck", "bucks", "usd"})
_CENT_WORDS = frozenset({"cent", "cents", "penny", "pennies"})


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _price_pair(words: Sequence[str], span: NumberSpan) -> Decimal | None:
    """Prices said in two groups, "twenty fifty" or "nineteen ninety nine", as dollars and cents."""
    kinds = [classify(w) for w in words]
    first = cardinal(words, kinds, span.start, span.end)
    if first is None or first[1] >= span.end or kinds[first[1]] not in (TEEN, TEN):
        return None
    second = cardinal(words, kinds, first[1], span.end)
    if second is None or second[1] != span.end or second[0] >= 100:
        return None
    return first[0] + second[0] / 100


def _cents_after(words: Sequence[str], spans: Sequence[NumberSpan], i: int) -> Decimal | None:
    """Cents said after the dollars ("... and fifty cents", "... fifty")."""
    if i < len(words) and words[i] == "and":
        i += 1
    span = next((s for s in spans if s.start == i), None)
    if span is None or span.value != span.value.to_integral_value() or not 0 <= span.value < 100:
        return None
    follower = words[span.end] if span.end < len(words) else ""
    if follower in _DOLLAR_WORDS:
        return None
    return span.value / 100


def parse_currency(text: str) -> Decimal | None:
    """An amount of money, quantized to cents ("twenty dollars and fifty cents" -> 20.50), or None."""
    words = normalize(text).split()
    spans = number_spans(words)
    for index, word in enumerate(words):
        if word not in _DOLLAR_WORDS:
            continue
        before = next((s for s in spans if s.end == index), None)
        if before is not None:
            dollars = before.value
        elif index > 0 and words[index - 1] in ("a", "an", "one"):
            dollars = Decimal(1)
        else:
            continue
        cents = _cents_after(words, spans, index + 1)
        return _quantize(dollars + (cents or 0))
    for span in spans:
        if span.end < len(words) and words[span.end] in _CENT_WORDS:
            return _quantize(span.value / 100)
        if words[span.start].lstrip("-").startswith("$"):
            cents = _cents_after(words, spans, span.end)
            return _quantize(span.value + (cents or 0))
    if not spans:
        return None
    pair = _price_pair(words, spans[0])
    return _quantize(pair if pair is not None else spans[0].value)


MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
          "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
          "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12}
WEEKDAYS = {"monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2, "weds": 2,
            "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4, "saturday": 5, "sunday": 6}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
            "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
            "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
            "nineteenth": 19, "twentieth": 20, "thirtieth": 30}
_RELATIVE = (("day after tomorrow", 2), ("day before yesterday", -2), ("tomorrow", 1), ("yesterday", -1),
             ("today", 0), ("tonight", 0), ("this morning", 0), ("this afternoon", 0), ("this evening", 0))
_ISO = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")
_SLASHED = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b")
_TYPED_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_OFFSET = re.compile(r"\b(?:in (\S+(?: \S+)?) (days?|weeks?)|(\S+(?: \S+)?) (days?|weeks?) ago)\b")


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(today: date, month: int, day: int) -> date | None:
    """A month and day without a year: the closest such date to today, past or future."""
    candidates = [d for y in (today.year - 1, today.year, today.year + 1) if (d := _make(y, month, day))]
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d < today))


def _day_at(words: Sequence[str], i: int) -> tuple[int, int] | None:
    """A day of the month starting at ``words[i]``: ("twenty first", "3rd", "15", "three")."""
    if i >= len(words):
        return None
    word = words[i]
    nxt = words[i + 1] if i + 1 < len(words) else ""
    day: int | None = None
    end = i + 1
    if word in ("twenty", "thirty") and (nxt in ORDINALS or nxt in UNITS) and nxt not in ("oh", "o"):
        day, end = TENS[word] + ORDINALS.get(nxt, UNITS.get(nxt, 0)), i + 2
    elif word in ORDINALS:
        day = ORDINALS[word]
    elif word in TEENS or word in TENS or (word in UNITS and word not in ("oh", "o")):
        day = TEENS.get(word, TENS.get(word, UNITS.get(word)))
    elif match := _TYPED_ORDINAL.match(word):
        day = int(match.group(1))
    if day is None or not 1 <= day <= 31:
        return None
    return day, end


def _year_at(words: Sequence[str], i: int) -> int | None:
    if i < len(words) and words[i] in ("of", "in"):
        i += 1
    spans = number_spans(words[i : i + 6])
    if not spans or spans[0].start != 0:
        return None
    value = spans[0].value
    return int(value) if value == int(value) and 1900 <= value <= 2199 else None


def _with_year(today: date, year: int | None, month: int, day: int) -> date | None:
    return _make(year, month, day) if year is not None else _nearest(today, month, day)


def _named_month(words: Sequence[str], today: date) -> date | None:
    for i, word in enumerate(words):
        if word not in MONTHS:
            continue
        month = MONTHS[word]
        # "the third of march", "3 march 2025": tried first so "... of december two thousand" keeps its year.
        for k in range(max(0, i - 3), i):
            read = _day_at(words, k)
            if read and (read[1] == i or (read[1] == i - 1 and words[i - 1] == "of")):
                return _with_year(today, _year_at(words, i + 1), month, read[0])
        # "march third 2025", "march the 3rd"
        j = i + 2 if i + 1 < len(words) and words[i + 1] == "the" else i + 1
        if read := _day_at(words, j):
            return _with_year(today, _year_at(words, read[1]), month, read[0])
    return None


def _weekday(words: Sequence[str], today: date) -> date | None:
    for i, word in enumerate(words):
        if word not in WEEKDAYS:
            continue
        ahead = (WEEKDAYS[word] - today.weekday()) % 7
        before = words[i - 1] if i > 0 else ""
        if before in ("next", "coming"):
            return today + timedelta(days=ahead or 7)
        if before == "this":
            return today + timedelta(days=ahead)
        if before in ("last", "past", "previous"):
            return today - timedelta(days=(7 - ahead) % 7 or 7)
        # A bare weekday is the nearest one, like a date without a year.
        return today + timedelta(days=ahead if ahead <= 3 else ahead - 7)
    return None


def _offset(normalized: str, today: date) -> date | None:
    for match in _OFFSET.finditer(normalized):
        ahead = match.group(1) is not None
        amount, unit = (match.group(1), match.group(2)) if ahead else (match.group(3), match.group(4))
        spans = number_spans(amount.split())
        count = int(spans[-1].value) if spans else (1 if amount.split()[-1] in ("a", "an") else None)
        if count is None:
            continue
        days = count * (7 if unit.startswith("week") else 1)
        return today + timedelta(days=days if ahead else -days)
    return None


def parse_date(text: str, today: date) -> date | None:
    """A calendar date ("march third", "next friday", "12/03/2025" as US month/day), or None.

    Without a year the nearest such date is meant, so a date is never more than six months away.
    """
    normalized = normalize(text)
    if match := _ISO.search(normalized):
        return _make(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if match := _SLASHED.search(normalized):
        month, day, year = int(match.group(1)), int(match.group(2)), match.group(3)
        if year is None:
            return _nearest(today, month, day)
        return _make(int(year) + (2000 if len(year) == 2 else 0), month, day)
    words = normalized.split()
    found = _named_month(words, today)
    if found is not None:
        return found
    padded = f" {normalized} "
    for phrase, days in _RELATIVE:
        if f" {phrase} " in padded:
            return today + timedelta(days=days)
    found = _weekday(words, today) or _offset(normalized, today)
    if found is not None:
        return found
    # "on the fifteenth": a day of the month alone.
    for i, word in enumerate(words[:-1]):
        if word == "the" and (read := _day_at(words, i + 1)) and words[i + 1] not in UNITS:
            return min((d for m in range(1, 13) if (d := _nearest(today, m, read[0]))),
                       key=lambda d: abs((d - today).days), default=None)
    return None


_YES = frozenset({"yes", "yeah", "yea", "ya", "yah", "yep", "yup", "sure", "correct", "right", "affirmative",
                  "ok", "okay", "okey", "alright", "absolutely", "definitely", "certainly", "exactly",
                  "indeed", "aye", "yess", "yesh", "uhhuh", "mhm", "positive", "true", "fine"})
_YES_PHRASES = ("please do", "of course", "go ahead", "all right", "uh huh", "mm hmm", "sounds good", "that is it",
                "you got it", "i do", "that is me", "why not", "by all means", "for sure",
                "you bet", "that works", "do it")
_NO = frozenset({"no", "nope", "nah", "naw", "negative", "incorrect", "wrong", "nay", "never", "false",
                 "cancel", "neither", "nono"})
_NO_PHRASES = ("not really", "not at all", "no thanks", "no thank you", "do not", "does not", "is not",
               "that is not", "not that", "i do not", "not quite", "no way", "not now",
               "please do not", "i did not", "it is not", "not me", "not yet", "course not")
# Answers that are neither: they must not be read as "no" because they contain "not" or "no".
_UNSURE = ("not sure", "do not know", "no idea", "maybe", "perhaps", "not certain", "i guess", "dunno",
           "no clue", "unsure", "i forget", "i forgot", "can not remember", "cannot remember",
           "do not remember")
# Idioms that say yes with a negative word in them.
_YES_IDIOMS = re.compile(r"\b(?:no problem|no worries|why not|not a problem|no doubt)\b")
_NOT_BEFORE_YES = re.compile(r"\bnot (?:\w+ )?(?:" + "|".join(sorted(_YES)) + r")\b")


def _has_phrase(padded: str, phrases: Sequence[str]) -> bool:
    return any(f" {p} " in padded for p in phrases)


def parse_yes_no(text: str) -> bool | None:
    """True for an affirmative answer, False for a negative one, None if it is neither.

    Negation wins ("no that's not right" is False) because confirming something the caller rejected
    costs more than asking again.
    """
    normalized = _YES_IDIOMS.sub("yes", normalize(text))
    padded = f" {normalized} "
    if _has_phrase(padded, _UNSURE):
        return None
    words = set(normalized.split())
    if words & _NO or _has_phrase(padded, _NO_PHRASES) or _NOT_BEFORE_YES.search(normalized):
        return False
    if words & _YES or _has_phrase(padded, _YES_PHRASES):
        return True
    return None
