"""The grammar filter every engine's n-best goes through (voicebot/asr/accept.py)."""

from __future__ import annotations

from voicebot.asr.accept import ALTERNATIVE_FACTOR, accepts, looping, rank, resembles, screened, unloop
from voicebot.asr.base import GrammarSpec, RecognitionResult
from voicebot.events import Hypothesis

COMMANDS = ("agent", "say that again", "save that again", "bye", "main menu", "one more time")
PIN = GrammarSpec("digits", COMMANDS, 4, 4)
ACCOUNT = GrammarSpec("digits", COMMANDS, 8, 8)
YES_NO = GrammarSpec("yes_no", ("yes", "no", *COMMANDS))
MENU = GrammarSpec("phrases", ("balance", *COMMANDS))


def test_a_pin_node_never_gets_five_digits_when_an_alternative_has_four() -> None:
    heard = [Hypothesis("one nine nine nine nine", 0.8), Hypothesis("one nine nine nine", 0.6)]
    kept = rank(PIN, heard)
    assert [h.text for h in kept] == ["one nine nine nine"]
    assert kept[0].confidence == round(0.6 * ALTERNATIVE_FACTOR, 4)  # an alternative: lower confidence
    assert rank(PIN, [Hypothesis("one nine nine nine nine", 0.8)]) == ()


def test_oh_and_double_count_as_the_nlu_counts_them() -> None:
    assert accepts(PIN, "seven oh seven oh")
    assert accepts(PIN, "four double seven one")
    assert not accepts(PIN, "double seven one")
    assert accepts(ACCOUNT, "my account number is four four one seven oh nine two three")


def test_commands_pass_in_constrained_turns_but_only_from_the_first_hypothesis() -> None:
    assert accepts(PIN, "save that again") and accepts(YES_NO, "agent please")
    assert not accepts(PIN, "the weather tomorrow")
    kept = rank(PIN, [Hypothesis("four four one", 0.7), Hypothesis("bye", 0.6)])
    assert kept == ()  # the alternative may not be a command
    assert [h.text for h in rank(PIN, [Hypothesis("agent", 0.7)])] == ["agent"]
    assert rank(PIN, [Hypothesis("bye", 0.12)]) == ()  # a forced, improbable command is no command


def test_yes_no_and_menu_turns() -> None:
    assert accepts(YES_NO, "yeah sure") and not accepts(YES_NO, "pizza")
    assert accepts(MENU, "what is my current balance")  # the flow's fuzzy NLU decides at a menu


def test_repetition_loops_are_read_once_or_dropped() -> None:
    assert unloop("yes please yes please yes please") == "yes please"
    assert unloop("correct correct") == "correct"
    assert unloop("one two one two") == "one two one two"  # a PIN
    assert unloop("four four one seven four four one seven", digits_too=True) == "four four one seven"
    assert looping("thank you thank you thank you thank you")
    assert not looping("nine nine nine nine") and looping("nine " * 9, max_digits=8)
    assert [h.text for h in rank(PIN, [Hypothesis("four four one seven four four one seven", 0.5)])] == [
        "four four one seven"]
    assert [h.text for h in rank(YES_NO, [Hypothesis("yes yes", 0.5)])] == ["yes"]


def test_alternatives_never_outrank_the_result_and_duplicates_merge() -> None:
    kept = rank(ACCOUNT, [Hypothesis("four four one seven oh nine two three", 0.4),
                          Hypothesis("four four one seven zero nine two three", 0.9),
                          Hypothesis("four four one seven oh nine two three", 0.3)])
    assert [h.text for h in kept] == ["four four one seven oh nine two three",
                                      "four four one seven zero nine two three"]
    assert kept[1].confidence <= kept[0].confidence


def test_screened_results() -> None:
    result = RecognitionResult("one two three four five", 0.9, (Hypothesis("one two three four five", 0.9),
                                                                 Hypothesis("one two three four", 0.5)), True, "x")
    out = screened(PIN, result)
    assert out.text == "one two three four" and out.engine == "x" and out.nbest[0].text == out.text
    assert screened(PIN, RecognitionResult("pizza", 0.9, (), True, "x")) == RecognitionResult.empty("x")
    assert screened(PIN, RecognitionResult.empty("x")) == RecognitionResult.empty("x")


def test_resembles_tells_out_of_grammar_speech_from_misheard_digits() -> None:
    assert resembles(PIN, "time to 00")  # two of four digits: the constrained decoding may be right
    assert resembles(PIN, "agent please")
    assert not resembles(PIN, "i want to order a large pizza")
    assert not resembles(PIN, "tell me a joke")
    assert resembles(YES_NO, "yeah") and not resembles(YES_NO, "the train leaves at noon")


def test_a_grammar_phrase_among_the_alternatives_goes_first_in_phrase_turns() -> None:
    answers = GrammarSpec("phrases", ("yes", "no", "no thanks", "check my balance"))
    kept = rank(answers, [Hypothesis("no think", 0.55), Hypothesis("no thanks", 0.45)])
    assert [h.text for h in kept] == ["no thanks", "no think"] and kept[0].confidence == 0.45
    # Far less likely than the first choice: the order stands.
    assert rank(answers, [Hypothesis("no think", 0.9), Hypothesis("no thanks", 0.2)])[0].text == "no think"
