"""Values rendered as words for text-to-speech, in US English.

TTS engines guess how to read "1205", "$2,345.67" or "11/20" and guess differently from one
another; prompts that spell the words out sound the same on every engine and in every test. Every
function is pure and raises :class:`ValueError` with a readable message for a value it cannot say,
so a bad variable fails loudly instead of being read out as garbage.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "SAY_AS",
    "say_currency",
    "say_date",
    "say_digits",
    "say_number",
    "say_ordinal",
    "say_phone",
    "say_spelled",
    "say_text",
    "say_time",
]

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_LIMIT = 1000 ** len(_SCALES)  # the first number with no scale word

_DIGIT_WORDS = dict(zip("0123456789", _ONES[:10], strict=True))
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# Plain decimal notation only: exponents, "NaN", "Infinity" and thousands separators are
# rejected so that "1e3" or "1,205" never gets read as something the caller did not mean.
_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _a(value: object) -> str:
    """The value's type name with its article, for messages: "a list", "an int"."""
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiouAEIOU" else f"a {name}"


def _to_decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"cannot say {value!r} as {what}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot say {value} as {what}")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"cannot say {value!r} as {what}")
        # repr() is the shortest text that round-trips: 0.1 stays "0.1".
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL_RE.fullmatch(text):
            return Decimal(text)
        raise ValueError(f"cannot read {value!r} as {what}")
    raise ValueError(f"cannot say {_a(value)} as {what}: {value!r}")


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest:
        if rest < 20:
            words.append(_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    return words


def _int_words(n: int) -> str:
    """Words for a whole number >= 0: 1205 -> "one thousand two hundred five" (no "and")."""
    if n == 0:
        return "zero"
    if n >= _LIMIT:
        raise ValueError(f"{n} is too large to say")
    groups: list[str] = []
    scale = 0
    while n:
        n, chunk = divmod(n, 1000)
        if chunk:
            words = _below_thousand(chunk)
            if _SCALES[scale]:
                words.append(_SCALES[scale])
            groups.insert(0, " ".join(words))
        scale += 1
    return " ".join(groups)


def say_number(n: int | float | Decimal | str) -> str:
    """A number in words: "1205" -> "one thousand two hundred five", "-3.5" -> "minus three point
    five". Digits after the point are read one by one; trailing zeros after it are not read."""
    value = _to_decimal(n, "a number")
    negative = value < 0
    whole, _, fraction = format(abs(value), "f").partition(".")
    fraction = fraction.rstrip("0")
    words = _int_words(int(whole))
    if fraction:
        words += " point " + " ".join(_DIGIT_WORDS[d] for d in fraction)
    return f"minus {words}" if negative else words


# code -> (unit, units, subunit, subunits)
_CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
}
_CODE_RE = re.compile(r"[A-Za-z]{3}")
# A private context so rounding never depends on what other code set as the thread's context.
_MONEY_CTX = Context(prec=40, traps=[InvalidOperation])


def say_currency(amount: Decimal | int | float | str, currency: str = "USD") -> str:
    """An amount of money: "2345.67" -> "two thousand three hundred forty-five dollars and
    sixty-seven cents". USD, EUR and GBP get unit words; any other ISO code is read as
    "<number> <CODE>". Amounts are rounded half-up to the cent first."""
    if not isinstance(currency, str) or not _CODE_RE.fullmatch(currency.strip()):
        raise ValueError(f"currency must be a three-letter code such as USD, got {currency!r}")
    code = currency.strip().upper()
    value = _to_decimal(amount, "an amount of money")
    if code not in _CURRENCIES:
        return f"{say_number(value)} {code}"
    try:
        rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=_MONEY_CTX)
        cents = int(_MONEY_CTX.multiply(rounded, 100))
    except InvalidOperation:
        raise ValueError(f"{amount!r} is too large to say as money") from None
    unit, units, subunit, subunits = _CURRENCIES[code]
    whole, rest = divmod(abs(cents), 100)
    parts: list[str] = []
    if whole or not rest:
        parts.append(f"{_int_words(whole)} {unit if whole == 1 else units}")
    if rest:
        parts.append(f"{_int_words(rest)} {subunit if rest == 1 else subunits}")
    text = " and ".join(parts)
    # Sign from the rounded amount: -0.001 is "zero dollars", not "minus zero dollars".
    return f"minus {text}" if cents < 0 else text


_KEY_WORDS = {**_DIGIT_WORDS, "#": "pound", "*": "star"}


def say_digits(value: str | int) -> str:
    """Digits one by one, as for an account or PIN: "4417" -> "four four one seven". Spaces and
    dashes are skipped; keypad keys '#' and '*' are "pound" and "star"."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"cannot say {value!r} as digits")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"cannot say {value} as digits: it is negative")
    words: list[str] = []
    for char in str(value):
        if char.isspace() or char == "-":
            continue
        if char not in _KEY_WORDS:
            raise ValueError(f"cannot say {value!r} as digits: {char!r} is not a digit")
        words.append(_KEY_WORDS[char])
    if not words:
        raise ValueError(f"cannot say {value!r} as digits: there are no digits")
    return " ".join(words)


def _ordinal_word(word: str) -> str:
    if word in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[word]
    if word.endswith("y"):
        return word[:-1] + "ieth"
    return word + "th"


def say_ordinal(n: int | Decimal | str) -> str:
    """An ordinal: 1 -> "first", 22 -> "twenty-second", 101 -> "one hundred first"."""
    value = _to_decimal(n, "an ordinal")
    if value < 0 or value != value.to_integral_value():
        raise ValueError(f"cannot say {n!r} as an ordinal: it must be a whole number, 0 or more")
    words = _int_words(int(value))
    # Only the last word changes ("one hundred twenty-one" -> "... twenty-first").
    head, space, last = words.rpartition(" ")
    tens, hyphen, ones = last.rpartition("-")
    last = f"{tens}-{_ordinal_word(ones)}" if hyphen else _ordinal_word(last)
    return f"{head}{space}{last}"


def _say_year(year: int) -> str:
    """Years the way they are spoken: 2026 "twenty twenty-six", 2005 "two thousand five",
    1900 "nineteen hundred", 1905 "nineteen oh five"."""
    if not 1000 <= year <= 9999:
        return _int_words(year)
    century, rest = divmod(year, 100)
    if rest < 10 and century % 10 == 0:
        return _int_words(year)
    if rest == 0:
        return f"{_int_words(century)} hundred"
    if rest < 10:
        return f"{_int_words(century)} oh {_ONES[rest]}"
    return f"{_int_words(century)} {_int_words(rest)}"


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            pass
        raise ValueError(f"cannot read {value!r} as a date; write it as YYYY-MM-DD, e.g. 2026-11-20")
    raise ValueError(f"cannot say {_a(value)} as a date: {value!r}")


def say_date(value: date | datetime | str) -> str:
    """A date: "2026-11-20" -> "November twentieth, twenty twenty-six"."""
    day = _parse_date(value)
    return f"{_MONTHS[day.month - 1]} {say_ordinal(day.day)}, {_say_year(day.year)}"


_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?")


def _parse_time(value: Any) -> time:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        text = value.strip()
        match = _TIME_RE.fullmatch(text)
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            second = int(match.group(3) or 0)
            if hour < 24 and minute < 60 and second < 60:
                return time(hour, minute, second)
        else:
            try:
                return datetime.fromisoformat(text).time()
            except ValueError:
                pass
        raise ValueError(f"cannot read {value!r} as a time; write it as 24-hour HH:MM, e.g. 14:05")
    raise ValueError(f"cannot say {_a(value)} as a time: {value!r}")


def say_time(value: time | datetime | str) -> str:
    """A clock time, 12-hour: "14:05" -> "two oh five PM", "09:30" -> "nine thirty AM",
    "00:00" -> "twelve AM". Seconds are not read."""
    moment = _parse_time(value)
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    if moment.minute == 0:
        return f"{_int_words(hour)} {suffix}"
    minute = f"oh {_ONES[moment.minute]}" if moment.minute < 10 else _int_words(moment.minute)
    return f"{_int_words(hour)} {minute} {suffix}"


def _groups(digits: str) -> list[str]:
    """Split for reading aloud in groups of three, with four-digit groups at the end to absorb the
    remainder (never a lone digit or pair); up to five digits are one group."""
    if len(digits) <= 5:
        return [digits]
    count, remainder = divmod(len(digits), 3)
    sizes = [3] * (count - remainder) + [4] * remainder
    out: list[str] = []
    start = 0
    for size in sizes:
        out.append(digits[start : start + size])
        start += size
    return out


def say_phone(number: str) -> str:
    """A phone number digit by digit in groups: "+15550100001" -> "five five five, zero one zero,
    zero zero zero one". North American numbers (+1 and ten digits, or ten digits alone) drop the
    country code and use 3-3-4 groups; others are read with "plus" and groups of 3-4 digits."""
    if not isinstance(number, str):
        raise ValueError(f"cannot say {number!r} as a phone number: it must be text")
    text = re.sub(r"[\s().-]", "", number)
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"cannot read {number!r} as a phone number")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
        plus = False
    groups = [digits[:3], digits[3:6], digits[6:]] if len(digits) == 10 and not plus else _groups(digits)
    spoken = ", ".join(" ".join(_DIGIT_WORDS[d] for d in group) for group in groups)
    return f"plus {spoken}" if plus else spoken


def say_text(value: object) -> str:
    """The value as plain text (``str()``), for values that need no special reading."""
    return str(value)


def say_spelled(value: str | int) -> str:
    """A reference or code read out character by character: "LC-7X2K" -> "L C, seven X two K".

    Letters stay letters (a voice reads a lone capital as its name); digits become words so no
    voice reads "72" as seventy-two; a dash or space becomes a short pause (a comma).
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"cannot spell {value!r}")
    groups: list[list[str]] = [[]]
    for char in str(value).strip():
        if char in " -_/.":
            if groups[-1]:
                groups.append([])
        elif char.isdigit():
            groups[-1].append(_KEY_WORDS[char])
        elif char.isalpha() and char.isascii():
            groups[-1].append(char.upper())
        else:
            raise ValueError(f"cannot spell {value!r}: {char!r} is not a letter or digit")
    spoken = ", ".join(" ".join(g) for g in groups if g)
    if not spoken:
        raise ValueError(f"cannot spell {value!r}: there is nothing to spell")
    return spoken


SAY_AS: dict[str, Callable[..., str]] = {
    "number": say_number,
    "currency": say_currency,
    "digits": say_digits,
    "ordinal": say_ordinal,
    "date": say_date,
    "time": say_time,
    "phone": say_phone,
    "spell": say_spelled,
    "text": say_text,
}
"""Say-as formats by the name prompts use (``{balance:currency}``)."""
