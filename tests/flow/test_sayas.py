"""Say-as rendering of numbers, money, digits, ordinals, dates, times and phone numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from voicebot.flow.sayas import (
    SAY_AS,
    say_currency,
    say_date,
    say_digits,
    say_number,
    say_ordinal,
    say_phone,
    say_spelled,
    say_text,
    say_time,
)

CASES: list[tuple[Callable[..., str], tuple[Any, ...], str]] = [
    # numbers
    (say_number, (0,), "zero"),
    (say_number, (7,), "seven"),
    (say_number, (13,), "thirteen"),
    (say_number, (21,), "twenty-one"),
    (say_number, (45,), "forty-five"),
    (say_number, (90,), "ninety"),
    (say_number, (100,), "one hundred"),
    (say_number, (110,), "one hundred ten"),
    (say_number, ("1205",), "one thousand two hundred five"),
    (say_number, (1000000,), "one million"),
    (say_number, (1001001,), "one million one thousand one"),
    (say_number, (12345678,), "twelve million three hundred forty-five thousand six hundred seventy-eight"),
    (say_number, (2_000_000_000,), "two billion"),
    (say_number, (-15,), "minus fifteen"),
    (say_number, ("3.5",), "three point five"),
    (say_number, (Decimal("3.50"),), "three point five"),
    (say_number, ("-0.25",), "minus zero point two five"),
    (say_number, (Decimal("2.0"),), "two"),
    (say_number, (Decimal("1E+3"),), "one thousand"),
    (say_number, (0.1,), "zero point one"),
    # currency
    (say_currency, ("2345.67",), "two thousand three hundred forty-five dollars and sixty-seven cents"),
    (say_currency, ("1.00",), "one dollar"),
    (say_currency, ("0.01",), "one cent"),
    (say_currency, ("0.50",), "fifty cents"),
    (say_currency, ("0",), "zero dollars"),
    (say_currency, (1,), "one dollar"),
    (say_currency, ("-42.10",), "minus forty-two dollars and ten cents"),
    (say_currency, ("-0.001",), "zero dollars"),
    (say_currency, ("19.999",), "twenty dollars"),
    (say_currency, ("0.005",), "one cent"),
    (say_currency, (Decimal("1.01"),), "one dollar and one cent"),
    (say_currency, ("12.50", "EUR"), "twelve euros and fifty cents"),
    (say_currency, ("1", "eur"), "one euro"),
    (say_currency, ("3.01", "GBP"), "three pounds and one penny"),
    (say_currency, ("0.20", "GBP"), "twenty pence"),
    (say_currency, ("1500", "JPY"), "one thousand five hundred JPY"),
    (say_currency, ("12.50", "CHF"), "twelve point five CHF"),
    # digits
    (say_digits, ("4417",), "four four one seven"),
    (say_digits, ("44-17 90",), "four four one seven nine zero"),
    (say_digits, ("12#",), "one two pound"),
    (say_digits, ("*72",), "star seven two"),
    (say_digits, (305,), "three zero five"),
    # ordinals
    (say_ordinal, (1,), "first"),
    (say_ordinal, (2,), "second"),
    (say_ordinal, (3,), "third"),
    (say_ordinal, (5,), "fifth"),
    (say_ordinal, (8,), "eighth"),
    (say_ordinal, (9,), "ninth"),
    (say_ordinal, (11,), "eleventh"),
    (say_ordinal, (12,), "twelfth"),
    (say_ordinal, (20,), "twentieth"),
    (say_ordinal, (22,), "twenty-second"),
    (say_ordinal, (31,), "thirty-first"),
    (say_ordinal, (100,), "one hundredth"),
    (say_ordinal, (101,), "one hundred first"),
    (say_ordinal, ("1000000",), "one millionth"),
    (say_ordinal, (0,), "zeroth"),
    # dates
    (say_date, ("2026-11-20",), "November twentieth, twenty twenty-six"),
    (say_date, (date(2005, 1, 1),), "January first, two thousand five"),
    (say_date, (date(2000, 2, 29),), "February twenty-ninth, two thousand"),
    (say_date, (date(2010, 7, 4),), "July fourth, twenty ten"),
    (say_date, (date(1999, 12, 31),), "December thirty-first, nineteen ninety-nine"),
    (say_date, (date(1900, 3, 2),), "March second, nineteen hundred"),
    (say_date, ("1905-03-02T10:00",), "March second, nineteen oh five"),
    (say_date, (datetime(2100, 5, 3, 23, 59),), "May third, twenty-one hundred"),
    # times
    (say_time, ("14:05",), "two oh five PM"),
    (say_time, ("9:30",), "nine thirty AM"),
    (say_time, ("00:00",), "twelve AM"),
    (say_time, ("12:00",), "twelve PM"),
    (say_time, (time(12, 45, 10),), "twelve forty-five PM"),
    (say_time, (datetime(2026, 11, 20, 23, 10),), "eleven ten PM"),
    (say_time, ("2026-11-20T07:01:00",), "seven oh one AM"),
    # phone numbers
    (say_phone, ("+15550100001",), "five five five, zero one zero, zero zero zero one"),
    (say_phone, ("(555) 010-0001",), "five five five, zero one zero, zero zero zero one"),
    (say_phone, ("1-555-010-0001",), "five five five, zero one zero, zero zero zero one"),
    (
        say_phone,
        ("+44 20 7183 8750",),
        "plus four four two, zero seven one, eight three eight, seven five zero",
    ),
    (say_phone, ("+3312345678",), "plus three three one, two three four, five six seven eight"),
    (say_phone, ("611",), "six one one"),
    (say_phone, ("5550100",), "five five five, zero one zero zero"),
    # text
    (say_text, (Decimal("1.50"),), "1.50"),
]


@pytest.mark.parametrize(
    ("function", "args", "expected"),
    CASES,
    ids=[f"{function.__name__}{args!r}" for function, args, _ in CASES],
)
def test_say_as(function: Callable[..., str], args: tuple[Any, ...], expected: str) -> None:
    assert function(*args) == expected


ERRORS: list[tuple[Callable[..., str], tuple[Any, ...], str]] = [
    (say_currency, ("abc",), "cannot read 'abc' as an amount of money"),
    (say_currency, ("$5",), "cannot read '$5' as an amount of money"),
    (say_currency, ("5", "dollars"), "currency must be a three-letter code such as USD, got 'dollars'"),
    (say_number, ("1e3",), "cannot read '1e3' as a number"),
    (say_number, ("1,205",), "cannot read '1,205' as a number"),
    (say_number, (Decimal("NaN"),), "cannot say NaN as a number"),
    (say_number, (True,), "cannot say True as a number"),
    (say_number, ([1],), "cannot say a list as a number: [1]"),
    (say_number, (10**21,), "1000000000000000000000 is too large to say"),
    (say_digits, ("12a",), "cannot say '12a' as digits: 'a' is not a digit"),
    (say_digits, (" - ",), "cannot say ' - ' as digits: there are no digits"),
    (say_digits, (-5,), "cannot say -5 as digits: it is negative"),
    (say_ordinal, (-1,), "cannot say -1 as an ordinal: it must be a whole number, 0 or more"),
    (say_ordinal, ("2.5",), "cannot say '2.5' as an ordinal: it must be a whole number, 0 or more"),
    (
        say_date,
        ("20/11/2026",),
        "cannot read '20/11/2026' as a date; write it as YYYY-MM-DD, e.g. 2026-11-20",
    ),
    (
        say_date,
        ("2026-02-30",),
        "cannot read '2026-02-30' as a date; write it as YYYY-MM-DD, e.g. 2026-11-20",
    ),
    (say_date, (20261120,), "cannot say an int as a date: 20261120"),
    (say_time, ("25:00",), "cannot read '25:00' as a time; write it as 24-hour HH:MM, e.g. 14:05"),
    (say_time, ("2pm",), "cannot read '2pm' as a time; write it as 24-hour HH:MM, e.g. 14:05"),
    (say_phone, ("call me",), "cannot read 'call me' as a phone number"),
    (say_phone, ("+",), "cannot read '+' as a phone number"),
    (say_phone, (5550100,), "cannot say 5550100 as a phone number: it must be text"),
]


@pytest.mark.parametrize(
    ("function", "args", "message"),
    ERRORS,
    ids=[f"{function.__name__}{args!r}" for function, args, _ in ERRORS],
)
def test_values_that_cannot_be_said(
    function: Callable[..., str], args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        function(*args)
    assert str(caught.value) == message


def test_registry() -> None:
    assert set(SAY_AS) == {"number", "currency", "digits", "ordinal", "date", "time", "phone", "spell", "text"}
    assert SAY_AS["currency"]("5", "EUR") == "five euros"
    assert SAY_AS["text"](42) == "42"


@pytest.mark.parametrize(
    ("value", "spoken"),
    [
        ("LC-7X2K9MPQ", "L C, seven X two K nine M P Q"),
        ("ab12", "A B one two"),
        (2024, "two zero two four"),
        ("REF 55", "R E F, five five"),
    ],
)
def test_spelled(value: str | int, spoken: str) -> None:
    assert say_spelled(value) == spoken


@pytest.mark.parametrize("value", ["", "--", "a$b", None, True])
def test_spelled_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="cannot spell"):
        say_spelled(value)  # type: ignore[arg-type]
