"""One entry point that turns an utterance into a slot value of a declared type."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from voicebot.nlu.letters import spoken_code
from voicebot.nlu.normalize import normalize
from voicebot.nlu.numbers import find_digit_strings, parse_digits, parse_number
from voicebot.nlu.values import parse_currency, parse_date, parse_yes_no

__all__ = ["SLOT_TYPES", "interpret_value"]

SLOT_TYPES = ("digits", "number", "currency", "date", "yes_no", "phrase", "pattern")


def _digits(text: str, min_length: int | None, max_length: int | None) -> str | None:
    low = min_length if min_length is not None else 1
    high = max_length if max_length is not None else 10**6
    digits = parse_digits(text)
    if digits is None:
        return None
    if low <= len(digits) <= high:
        return digits
    # The longest run had the wrong length; an edge homophone or a second number may still fit.
    found = find_digit_strings(text, low, high)
    return found[0] if found else None


def pattern_value(text: str, pattern: str | None, min_length: int | None = None,
                  max_length: int | None = None) -> str | None:
    """An alphanumeric code spoken or typed ("S W one A" -> "SW1A") if it matches ``pattern`` in full."""
    code = spoken_code(text)
    if not code or (min_length and len(code) < min_length) or (max_length and len(code) > max_length):
        return None
    if pattern and re.fullmatch(pattern, code) is None:
        return None
    return code


def interpret_value(
    slot_type: str,
    text: str,
    *,
    today: date,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
) -> Any | None:
    """The value of ``text`` as a ``slot_type`` slot, or None if it does not hold one.

    ``min_length``/``max_length`` bound the number of digits of a "digits" slot; a digit string of the
    wrong length is no value at all, so the caller re-prompts rather than accepting half a number.
    """
    if slot_type == "digits":
        return _digits(text, min_length, max_length)
    if slot_type == "number":
        return parse_number(text)
    if slot_type == "currency":
        return parse_currency(text)
    if slot_type == "date":
        return parse_date(text, today)
    if slot_type == "yes_no":
        return parse_yes_no(text)
    if slot_type == "phrase":
        # Free text keeps the caller's wording and case; only blank or punctuation-only input is empty.
        return " ".join(text.split()) if normalize(text) else None
    if slot_type == "pattern":
        return pattern_value(text, pattern, min_length, max_length)
    if slot_type == "intent":
        raise ValueError("slot type 'intent' is resolved by the intent matcher, not interpret_value")
    raise ValueError(f"unknown slot type {slot_type!r} (expected one of: {', '.join(SLOT_TYPES)})")
