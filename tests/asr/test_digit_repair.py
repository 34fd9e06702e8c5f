"""Digit strings one digit off (voicebot.asr.digit_repair): which variants are written, and which one is taken."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from voicebot.asr.digit_repair import MAX_VARIANTS, REPAIR_MARGIN, Repair, best_repair, variants
from voicebot.nlu.numbers import digit_spans


def digit_count(text: str) -> int:
    """Digits in ``text`` as the NLU reads them ("oh" is zero, "double seven" two)."""
    return sum(len(span.digits) for span in digit_spans(text.split()))


def test_one_digit_short_each_digit_said_twice_and_a_zero_as_oh_oh() -> None:
    found = variants("six six one two zero eight", 7, 7)
    assert "six six six one two zero eight" in found  # the merged repeat put back
    assert "six six one one two zero eight" in found
    assert "six six one two zero zero eight" in found
    assert "six six one two oh oh eight" in found  # "oh oh" written as one zero
    assert all(digit_count(v) == 7 for v in found)
    assert len(found) == len(set(found))


def test_carrier_words_are_kept() -> None:
    assert "my pin is two oh oh five" in variants("my pin is two zero five", 4, 4)


def test_one_digit_too_many_each_digit_dropped() -> None:
    assert variants("nine nine nine nine nine", 4, 4) == ["nine nine nine nine"]
    assert sorted(variants("one two three four five", 4, 4)) == sorted([
        "two three four five", "one three four five", "one two four five", "one two three five",
        "one two three four"])


@pytest.mark.parametrize("text", [
    "one two three four",  # already acceptable
    "one two",  # two short: not a merged repeat
    "one two three four five six",
    "four double seven",  # "double" already says a digit twice
    "help me",  # no digits
])
def test_no_variants_unless_exactly_one_digit_off(text: str) -> None:
    assert variants(text, 4, 4) == []


def test_a_range_is_repaired_at_its_ends() -> None:
    assert variants("one two three", 4, 8)  # one short of the minimum
    assert variants("one two three four five six seven eight nine", 4, 8)  # one past the maximum
    assert variants("one two three four five", 4, 8) == []


def _scorer(scores: dict[str, float], calls: list[list[str]]) -> object:
    def score(texts: Sequence[str]) -> list[float]:
        calls.append(list(texts))
        return [scores.get(t, -50.0) for t in texts]
    return score


def test_the_most_likely_variant_is_taken_when_nearly_as_likely_as_what_was_heard() -> None:
    calls: list[list[str]] = []
    scores = {"six six one two zero eight": -8.0, "six six one two oh oh eight": -9.7,
              "six six six one two zero eight": -13.0}
    found = best_repair(["six six one two zero eight"], 7, 7, _scorer(scores, calls))  # type: ignore[arg-type]
    assert found == Repair("six six one two oh oh eight", "six six one two zero eight", 1.7)
    assert len(calls) == 1  # the source and every variant scored in one call
    assert calls[0][0] == "six six one two zero eight"


def test_a_variant_far_less_likely_than_what_was_heard_is_not_taken() -> None:
    scores = {"one two three": -5.0, "one one two three": -5.0 - REPAIR_MARGIN - 0.1}
    assert best_repair(["one two three"], 4, 4, _scorer(scores, [])) is None  # type: ignore[arg-type]


def test_nothing_to_repair_scores_nothing() -> None:
    calls: list[list[str]] = []
    assert best_repair(["one two three four", "help"], 4, 4, _scorer({}, calls)) is None  # type: ignore[arg-type]
    assert calls == []


def test_a_source_is_never_its_own_repair_and_variants_are_bounded() -> None:
    calls: list[list[str]] = []
    sources = ["one two three four five six seven", "one two three four five six six", "one two two four five six"]
    best_repair(sources, 8, 8, _scorer({}, calls))  # type: ignore[arg-type]
    scored = calls[0]
    bases = [s for s in scored if s in sources]
    assert len(scored) - len(bases) <= MAX_VARIANTS
    assert len(scored) == len(set(scored))


def test_variants_of_several_sources_compete() -> None:
    scores = {"one two three": -6.0, "one two four": -5.0, "one two four four": -6.5, "one one two three": -6.2}
    found = best_repair(["one two three", "one two four"], 4, 4, _scorer(scores, []))  # type: ignore[arg-type]
    assert found == Repair("one one two three", "one two three", 1.2)
