from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from voicebot.nlu.slots import interpret_value

TODAY = date(2026, 3, 4)


@pytest.mark.parametrize(
    ("slot_type", "text", "bounds", "expected"),
    [
        ("digits", "four four one seven oh nine two three", (8, 8), "44170923"),
        ("digits", "my account is 4417 0923", (8, 8), "44170923"),
        ("digits", "four four one seven", (8, 8), None),
        ("digits", "4417 0923 1", (8, 8), None),
        ("digits", "one two three four", (4, 6), "1234"),
        ("digits", "one two three four", (None, None), "1234"),
        ("digits", "balance for four four one seven oh nine two three", (8, 8), "44170923"),
        ("digits", "account 4417 0923 and pin 1234", (4, 4), "1234"),
        ("digits", "I want an agent", (None, None), None),
        ("number", "twenty three", (None, None), Decimal(23)),
        ("number", "no idea", (None, None), None),
        ("currency", "twenty dollars and fifty cents", (None, None), Decimal("20.50")),
        ("date", "march third", (None, None), date(2026, 3, 3)),
        ("date", "whenever", (None, None), None),
        ("yes_no", "yeah", (None, None), True),
        ("yes_no", "no thanks", (None, None), False),
        ("yes_no", "purple", (None, None), None),
        ("phrase", "  My  card was   stolen ", (None, None), "My card was stolen"),
        ("phrase", " ... ", (None, None), None),
        ("phrase", "", (None, None), None),
    ],
)
def test_interpret_value(
    slot_type: str, text: str, bounds: tuple[int | None, int | None], expected: Any
) -> None:
    low, high = bounds
    assert interpret_value(slot_type, text, today=TODAY, min_length=low, max_length=high) == expected


@pytest.mark.parametrize("slot_type", ["intent", "colour", ""])
def test_interpret_value_rejects_other_types(slot_type: str) -> None:
    with pytest.raises(ValueError):
        interpret_value(slot_type, "anything", today=TODAY)
