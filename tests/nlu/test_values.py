from datetime import date
from decimal import Decimal

import pytest

from voicebot.nlu.values import parse_currency, parse_date, parse_yes_no

# A Wednesday; dates without a year resolve to the nearest one around it.
TODAY = date(2026, 3, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$20.50", "20.50"),
        ("20.50", "20.50"),
        ("twenty dollars and fifty cents", "20.50"),
        ("twenty dollars fifty", "20.50"),
        ("one hundred and five dollars", "105.00"),
        ("fifty cents", "0.50"),
        ("1,234.5", "1234.50"),
        ("a dollar fifty", "1.50"),
        ("twenty fifty", "20.50"),
        ("nineteen ninety nine", "19.99"),
        ("$5 and 25 cents", "5.25"),
        ("pay 300 dollars please", "300.00"),
        ("five bucks", "5.00"),
        ("two hundred", "200.00"),
        ("three dollars and five cents", "3.05"),
        ("one thousand dollars", "1000.00"),
        ("$1,000,000", "1000000.00"),
        ("twelve dollars 5", "12.05"),
        ("0.005", "0.01"),
        ("nothing", None),
        ("I want an agent", None),
    ],
)
def test_parse_currency(text: str, expected: str | None) -> None:
    result = parse_currency(text)
    if expected is None:
        assert result is None
    else:
        assert result == Decimal(expected)
        assert result is not None and result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-03", date(2026, 3, 3)),
        ("march third", date(2026, 3, 3)),
        ("the third of march", date(2026, 3, 3)),
        ("March 3rd 2025", date(2025, 3, 3)),
        ("3 march 2025", date(2025, 3, 3)),
        ("march 3, 2025", date(2025, 3, 3)),
        ("march twenty first twenty twenty five", date(2025, 3, 21)),
        ("the 21st of june 2024", date(2024, 6, 21)),
        ("twenty fifth of december two thousand twenty five", date(2025, 12, 25)),
        ("tomorrow", date(2026, 3, 5)),
        ("today", date(2026, 3, 4)),
        ("yesterday", date(2026, 3, 3)),
        ("the day after tomorrow", date(2026, 3, 6)),
        ("next friday", date(2026, 3, 6)),
        ("next wednesday", date(2026, 3, 11)),
        ("this friday", date(2026, 3, 6)),
        ("last monday", date(2026, 3, 2)),
        ("on monday", date(2026, 3, 2)),
        ("12/03/2025", date(2025, 12, 3)),
        ("1/2/26", date(2026, 1, 2)),
        # no year: the nearest such date, at most six months away
        ("december 25", date(2025, 12, 25)),
        ("july fourth", date(2026, 7, 4)),
        ("september 10", date(2025, 9, 10)),
        ("12/03", date(2025, 12, 3)),
        ("on the fifteenth", date(2026, 3, 15)),
        ("in 3 days", date(2026, 3, 7)),
        ("two weeks ago", date(2026, 2, 18)),
        ("feb 30", None),
        ("may I check my balance", None),
        ("I want an agent", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text, TODAY) == expected


def test_parse_date_nearest_year_wraps_around_new_year() -> None:
    assert parse_date("january second", date(2025, 12, 30)) == date(2026, 1, 2)
    assert parse_date("december thirtieth", date(2026, 1, 2)) == date(2025, 12, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yes.", True),
        ("yeah", True),
        ("yep", True),
        ("yup", True),
        ("sure", True),
        ("correct", True),
        ("that's right", True),
        ("right", True),
        ("affirmative", True),
        ("ok", True),
        ("okay", True),
        ("please do", True),
        ("absolutely", True),
        ("of course", True),
        ("yes please", True),
        ("uh huh", True),
        ("mm hmm", True),
        ("mhm", True),
        ("yes I'm sure", True),
        ("that is correct", True),
        ("no problem", True),
        ("no", False),
        ("nope", False),
        ("nah", False),
        ("negative", False),
        ("not really", False),
        ("incorrect", False),
        ("that's wrong", False),
        ("no thanks", False),
        ("wrong", False),
        ("not at all", False),
        ("I don't think so", False),
        ("of course not", False),
        # negation wins when both appear
        ("no that's not right", False),
        ("not correct", False),
        ("that is not right", False),
        ("yes no", False),
        ("yeah no", False),
        # neither
        ("I want an agent", None),
        ("the weather is nice", None),
        ("I'm not sure", None),
        ("I don't know", None),
        ("maybe", None),
        ("", None),
    ],
)
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected
