import subprocess
import sys

import pytest

from voicebot.actions import Listen
from voicebot.asr.base import (
    CURRENCY_WORDS,
    DATE_WORDS,
    NO_PHRASES,
    NUMBER_WORDS,
    YES_PHRASES,
    GrammarSpec,
    RecognitionResult,
    Recognizer,
    RecognizerStream,
)
from voicebot.asr.fake import FakeRecognizer

PHRASES = {
    "check_balance": ("check my balance", "what is my balance"),
    "lost_card": ("report a lost card",),
    "speak_to_agent": ("agent", "operator"),
    "main_menu": ("main menu",),
    "yes": ("yes", "yeah"),
    "no": ("no", "nope"),
}


def test_digits_turn_keeps_bounds_and_accepts_the_commands() -> None:
    listen = Listen("pin", "digits", intents=("speak_to_agent", "main_menu"), min_digits=4, max_digits=4)
    spec = GrammarSpec.for_listen(listen, PHRASES)
    assert spec == GrammarSpec("digits", ("agent", "operator", "main menu"), 4, 4)


@pytest.mark.parametrize(("slot", "extra"), [("number", NUMBER_WORDS), ("currency", NUMBER_WORDS + CURRENCY_WORDS),
                                             ("date", NUMBER_WORDS + DATE_WORDS)])
def test_number_currency_and_date_turns_are_digit_grammars_with_number_words(slot: str, extra: tuple[str, ...]) -> None:
    spec = GrammarSpec.for_listen(Listen("n", slot, min_digits=3, max_digits=3), PHRASES)  # type: ignore[arg-type]
    assert spec.kind == "digits"
    assert spec.extra_words == extra
    assert (spec.min_digits, spec.max_digits) == (1, 32)  # digit bounds only apply to digit strings
    assert "twenty" in spec.extra_words and "hundred" in spec.extra_words


def test_yes_no_turn_has_the_yes_and_no_variants_and_the_intents_phrases() -> None:
    spec = GrammarSpec.for_listen(Listen("confirm", "yes_no", intents=("yes", "no", "speak_to_agent")), PHRASES)
    assert spec.kind == "yes_no"
    assert set(YES_PHRASES) | set(NO_PHRASES) <= set(spec.phrases)
    assert {"nope", "agent", "operator"} <= set(spec.phrases)
    assert len(spec.phrases) == len(set(spec.phrases))


def test_intent_turn_lists_the_phrases_of_its_intents_and_commands_only() -> None:
    listen = Listen("menu", "intent", intents=("check_balance", "lost_card", "speak_to_agent"),
                    phrases=("balance",))
    spec = GrammarSpec.for_listen(listen, PHRASES)
    assert spec == GrammarSpec("phrases", ("balance", "check my balance", "what is my balance",
                                           "report a lost card", "agent", "operator"))


def test_intent_turn_without_any_phrase_and_phrase_turns_are_free_speech() -> None:
    assert GrammarSpec.for_listen(Listen("menu", "intent", intents=("unknown",)), PHRASES).kind == "free"
    assert GrammarSpec.for_listen(Listen("why", "phrase", intents=("speak_to_agent",)), PHRASES) == GrammarSpec.free()


def test_grammar_spec_is_hashable_and_checked() -> None:
    assert len({GrammarSpec("digits", (), 4, 4), GrammarSpec("digits", (), 4, 4)}) == 1
    with pytest.raises(ValueError, match="digit bounds"):
        GrammarSpec("digits", min_digits=5, max_digits=4)
    with pytest.raises(ValueError, match="unknown grammar kind"):
        GrammarSpec("words")  # type: ignore[arg-type]


def test_empty_result() -> None:
    assert RecognitionResult.empty("x") == RecognitionResult("", 0.0, (), True, "x")


def test_protocols_are_runtime_checkable() -> None:
    fake = FakeRecognizer()
    assert isinstance(fake, Recognizer)
    assert isinstance(fake.open(GrammarSpec.free()), RecognizerStream)


def test_nothing_imports_an_engine_until_a_recognizer_is_created() -> None:
    code = (
        "import sys\n"
        "import voicebot.asr, voicebot.asr.base, voicebot.asr.grammars, voicebot.asr.models, voicebot.asr.fake\n"
        "import voicebot.asr.select, voicebot.asr.vosk_engine, voicebot.asr.pocketsphinx_engine\n"
        "loaded = [m for m in ('vosk', 'pocketsphinx', 'numpy') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
