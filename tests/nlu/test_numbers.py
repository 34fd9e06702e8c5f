from decimal import Decimal

import pytest

from voicebot.nlu.normalize import expand_contractions, normalize, tokenize
from voicebot.nlu.numbers import find_digit_strings, parse_digits, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What's my balance?", "what is my balance"),
        ("I can't find my card's PIN", "i cannot find my card pin"),
        ("It’s $20.50, OK?", "it is $20.50 ok"),
        ("4417-0923", "4417-0923"),
        ("forty-four", "forty four"),
        ("12/03/2025.", "12/03/2025"),
        ("I won't", "i will not"),
        ("1,205 and -4", "1,205 and -4"),
        ("Yes!!!   100%", "yes 100%"),
        ("O'Brien & sons", "obrien and sons"),
        ("I'd like that", "i would like that"),
        ("  \t ", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_expand_contractions_and_tokenize() -> None:
    assert expand_contractions("they're here and we've gone, let's go") == (
        "they are here and we have gone, let us go"
    )
    assert tokenize("Gonna check, it's 4 4.") == ["going", "to", "check", "it", "is", "4", "4"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # spoken digits
        ("four four one seven", "4417"),
        ("one two three four five six seven eight", "12345678"),
        ("Four. Four. One. Seven.", "4417"),
        ("four-four-one-seven", "4417"),
        # typed digits, grouped or separated
        ("4417", "4417"),
        ("4417 0923", "44170923"),
        ("4417-0923", "44170923"),
        ("4, 4, 1, 7", "4417"),
        ("4,4,1,7", "4417"),
        ("4417 oh nine two three", "44170923"),
        # zero words
        ("oh four", "04"),
        ("zero nought o five", "0005"),
        ("nine naught nine", "909"),
        # double / triple
        ("double five", "55"),
        ("triple three", "333"),
        ("double oh seven", "007"),
        ("four double 5 one", "4551"),
        ("one triple two three", "12223"),
        # carrier words
        ("my pin is one two three four", "1234"),
        ("it's 4 4 1 7", "4417"),
        ("account number 4417 0923 please", "44170923"),
        ("um it's four uh four one seven", "4417"),
        ("four dash four one seven", "4417"),
        # homophones next to digit words
        ("four for one seven", "4417"),
        ("two to two", "222"),
        ("won two three", "123"),
        ("my pin is won to three for", "1234"),
        ("four ate one", "481"),
        ("double to", "22"),
        # paired and compound numbers
        ("forty four seventeen", "4417"),
        ("nineteen oh five", "1905"),
        ("twenty three", "23"),
        ("twenty twenty five", "2025"),
        ("four hundred seventeen", "417"),
        ("one hundred and five", "105"),
        ("two thousand twenty five", "2025"),
        # unrelated numbers are not glued together: the longest one wins
        ("my account is 4417 0923 and my pin is 1234", "44170923"),
        ("pin 1234 for account 4417", "1234"),
        # no digits at all
        ("I want an agent", None),
        ("balance for account", None),
        ("transfer it to savings", None),
        ("I ate lunch too", None),
        ("oh no", None),
        ("oh", None),
        ("", None),
    ],
)
def test_parse_digits(text: str, expected: str | None) -> None:
    assert parse_digits(text) == expected


def test_typed_digit_does_not_anchor_homophones() -> None:
    # ASR that writes figures does not mishear "two" as "to", so "to" stays a word.
    assert parse_digits("transfer 2 to savings") == "2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twenty three", "23"),
        ("one thousand two hundred and five", "1205"),
        ("a hundred", "100"),
        ("a thousand", "1000"),
        ("1,205", "1205"),
        ("12", "12"),
        ("three point five", "3.5"),
        ("three point one four", "3.14"),
        ("point five", "0.5"),
        ("3.5", "3.5"),
        ("minus four", "-4"),
        ("negative twelve", "-12"),
        ("-4", "-4"),
        ("two million", "2000000"),
        ("1.5 million", "1500000"),
        ("2 million", "2000000"),
        ("one million two hundred thousand", "1200000"),
        ("seven hundred thousand", "700000"),
        ("twenty five hundred", "2500"),
        ("ninety nine thousand nine hundred and ninety nine", "99999"),
        ("zero", "0"),
        ("eleven", "11"),
        ("$20", "20"),
        ("I have 2 cards", "2"),
        ("send fifty to savings", "50"),
        # said digit by digit or in pairs: not one cardinal, read as digits
        ("four four one seven", "4417"),
        ("forty four seventeen", "4417"),
        ("double five", "55"),
        ("nothing", None),
        ("I want to talk to someone", None),
        ("", None),
    ],
)
def test_parse_number(text: str, expected: str | None) -> None:
    assert parse_number(text) == (None if expected is None else Decimal(expected))


@pytest.mark.parametrize(
    ("text", "low", "high", "expected"),
    [
        ("balance for account 4417 0923", 8, 8, ["44170923"]),
        ("balance for account four four one seven oh nine two three", 8, 8, ["44170923"]),
        # "for" next to "four" is read as a digit, then dropped because nine digits is too many
        ("balance for four four one seven oh nine two three", 8, 8, ["44170923"]),
        ("what is my balance", 8, 8, []),
        ("balance for account 4417", 8, 8, []),
        ("account 4417 0923 pin 1234", 4, 4, ["1234"]),
        ("account 4417 0923 pin 1234", 4, 8, ["44170923", "1234"]),
        ("transactions on 1234 5678 and 8765 4321", 8, 8, ["12345678", "87654321"]),
    ],
)
def test_find_digit_strings(text: str, low: int, high: int, expected: list[str]) -> None:
    assert find_digit_strings(text, low, high) == expected
