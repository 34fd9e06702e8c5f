import json

import pytest

from voicebot.asr.base import DATE_WORDS, DIGIT_WORDS, NUMBER_WORDS, GrammarSpec
from voicebot.asr.grammars import (
    GARBAGE_WORDS,
    UNK,
    digit_vocabulary,
    grammar_phrases,
    in_grammar,
    jsgf,
    vosk_grammar_json,
    vosk_phrases,
)

PIN = GrammarSpec("digits", ("agent", "main menu"), 4, 4)
MENU = GrammarSpec("phrases", ("Check my balance!", "What's my balance?", "report a lost card", "agent",
                               "check my balance"))


# ----- shared -----


def test_phrases_are_normalized_like_the_nlu_and_deduplicated() -> None:
    assert grammar_phrases(MENU) == ["check my balance", "what is my balance", "report a lost card", "agent"]


def test_a_phrase_with_an_unknown_word_is_skipped_not_shortened() -> None:
    known = {"check", "my", "balance", "agent"}.__contains__
    assert grammar_phrases(MENU, known) == ["check my balance", "agent"]


def test_digit_vocabulary_is_digits_multipliers_then_extra_words() -> None:
    spec = GrammarSpec("digits", extra_words=("twenty", "hundred"))
    assert digit_vocabulary(spec) == [*DIGIT_WORDS, "double", "triple", "twenty", "hundred"]
    assert "oh" not in digit_vocabulary(spec, lambda w: w != "oh")


# ----- Vosk -----


def test_vosk_digits_are_every_pair_of_digit_words_plus_carriers_commands_and_unk() -> None:
    phrases = vosk_phrases(PIN)
    assert phrases is not None
    assert phrases[-1] == UNK
    assert {"four four", "oh seven", "double four", "seven triple"} <= set(phrases)
    assert {"my pin is four", "agent", "main menu"} <= set(phrases)
    assert len(phrases) == len(set(phrases))
    assert all(p == p.lower() for p in phrases)


def test_vosk_phrases_keep_only_known_words_but_always_unk() -> None:
    known = set(DIGIT_WORDS) - {"oh"}
    phrases = vosk_phrases(PIN, known.__contains__)
    assert phrases is not None and phrases[-1] == UNK
    words = {w for p in phrases[:-1] for w in p.split()}
    assert words == known


def test_vosk_large_vocabulary_uses_single_words_and_digit_pairs() -> None:
    date = GrammarSpec("digits", extra_words=NUMBER_WORDS + DATE_WORDS)
    phrases = vosk_phrases(date)
    assert phrases is not None
    assert {"march", "twentieth", "one two"} <= set(phrases)
    assert "march twentieth" not in phrases
    assert len(phrases) < 400


def test_vosk_yes_no_and_phrase_lists() -> None:
    assert vosk_phrases(MENU) == ["check my balance", "what is my balance", "report a lost card", "agent", UNK]
    assert vosk_phrases(GrammarSpec("yes_no", ("yes", "That's right")), None) == ["yes", "that is right", UNK]


def test_vosk_free_speech_and_grammars_with_no_usable_phrase_have_no_grammar() -> None:
    assert vosk_phrases(GrammarSpec.free()) is None
    assert vosk_phrases(MENU, lambda w: False) is None
    assert vosk_grammar_json(GrammarSpec.free()) is None


def test_vosk_json_keeps_non_ascii_words_unescaped() -> None:
    # Vosk's JSON reader does not decode \uXXXX escapes: escaped words would all be "missing".
    text = vosk_grammar_json(GrammarSpec("phrases", ("안녕하세요", "감사합니다")))
    assert text == '["안녕하세요", "감사합니다", "[unk]"]'
    assert json.loads(text) == ["안녕하세요", "감사합니다", UNK]


# ----- JSGF -----


def test_jsgf_bounded_digit_string() -> None:
    text = jsgf(PIN)
    assert text is not None
    assert text.startswith("#JSGF V1.0;\ngrammar voicebot;\n")
    assert "<digit> = zero | oh | one | two | three | four | five | six | seven | eight | nine;" in text
    assert "<unit> = <digit> | (double | triple) <digit>;" in text
    assert "<carrier> = my pin is | my number is | my account number is | the number is | it is | that is;" in text
    # 4 digits: at least 2 units ("double four double one"), at most 4.
    assert "<digits> = [<carrier>] <unit> <unit> [<unit> [<unit>]];" in text
    assert "<phrase> = agent | main menu;" in text
    assert "public <root> = <digits> | <phrase>;" in text


def test_jsgf_unbounded_digits_number_words_and_no_multipliers() -> None:
    loop = jsgf(GrammarSpec("digits"), lambda w: w not in ("double", "triple"))
    assert loop is not None
    assert "<unit>" not in loop and "<digits> = [<carrier>] <digit>+;" in loop
    numbers = jsgf(GrammarSpec("digits", extra_words=("twenty", "hundred", "dollars")))
    assert numbers is not None
    assert "<word> = <unit> | twenty | hundred | dollars;" in numbers
    assert "<digits> = [<carrier>] <word>+;" in numbers
    exact = jsgf(GrammarSpec("digits", (), 3, 5), lambda w: w not in ("double", "triple"))
    assert exact is not None and "<digits> = [<carrier>] <digit> <digit> <digit> [<digit> [<digit>]];" in exact


def test_jsgf_phrases_with_a_garbage_loop_that_excludes_grammar_words() -> None:
    text = jsgf(GrammarSpec("phrases", ("what is my balance", "agent")), garbage=("what", "the", "is", "a"))
    assert text is not None
    assert "<phrase> = what is my balance | agent;" in text
    assert "<garbage> = the | a;" in text
    assert "public <root> = <phrase> | <garbage>+;" in text


def test_garbage_words_avoid_digit_and_yes_no_homophones() -> None:
    assert not {"for", "to", "too", "won", "ate", "know", "oh", "no", "yes", "write", "right"} & set(GARBAGE_WORDS)


def test_jsgf_free_or_empty_is_none() -> None:
    assert jsgf(GrammarSpec.free()) is None
    assert jsgf(MENU, lambda w: False) is None
    assert jsgf(PIN, lambda w: w in ("agent",)) is not None  # digits gone, the command remains
    assert jsgf(GrammarSpec("digits"), lambda w: False) is None


def test_jsgf_never_contains_tokens_it_cannot_parse() -> None:
    text = jsgf(GrammarSpec("phrases", ("pay $20.50", "press 1", "ok")))
    assert text is not None
    assert "<phrase> = press 1 | ok;" in text  # "$20.50" is no word


# ----- in_grammar -----


@pytest.mark.parametrize(("text", "expected"), [
    ("four four one seven", True),
    ("my pin is four four one seven", True),
    ("double four one seven", True),
    ("four four one", False),  # too short
    ("four four one seven two", False),  # too long
    ("it is", False),  # the carrier alone (an FSG partial path)
    ("agent", True),
    ("main menu", True),
    ("four four one banana", False),
    ("", False),
])
def test_in_grammar_digits(text: str, expected: bool) -> None:
    assert in_grammar(PIN, text) is expected


def test_in_grammar_numbers_phrases_and_free() -> None:
    numbers = GrammarSpec("digits", extra_words=NUMBER_WORDS)
    assert in_grammar(numbers, "twenty five")
    assert not in_grammar(numbers, "and")
    assert in_grammar(MENU, "What's my balance")
    assert not in_grammar(MENU, "my balance")
    assert not in_grammar(MENU, "the it and")
    assert in_grammar(GrammarSpec.free(), "anything at all")
    assert not in_grammar(GrammarSpec.free(), "  ")
