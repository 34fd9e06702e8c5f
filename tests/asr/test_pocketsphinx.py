"""PocketSphinx with its built-in English model, on real synthesized speech (espeak-ng and flite).

Synthetic voices are not callers: espeak-ng's voice in particular is hard for PocketSphinx (its "seven"
comes back as "two"), so these tests assert on utterances that are recognized reliably, to check the
adapter's mechanics end to end (grammars, streaming, confidence, n-best, telephone audio), not accuracy.
Each test gets a new recognizer, so the channel estimate it adapts (see the engine's docstring) does not
depend on which tests ran before: ``phone`` starts from the telephone estimate, ``wideband`` from the
library default (the right start for the 16 kHz synthetic audio).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tests.asr.speech import Pcm, frames, silence, synthesize, telephone
from voicebot.asr.base import NO_PHRASES, YES_PHRASES, GrammarSpec, RecognitionResult
from voicebot.asr.grammars import jsgf

pytest.importorskip("pocketsphinx")

from voicebot.asr.pocketsphinx_engine import (
    SCREENED_CONFIDENCE,
    PocketSphinxRecognizer,
    PocketSphinxStream,
)

COMMANDS = ("agent", "operator", "main menu", "repeat", "help")
PIN = GrammarSpec("digits", COMMANDS, 4, 4)
YES_NO = GrammarSpec("yes_no", tuple(dict.fromkeys([*YES_PHRASES, *NO_PHRASES, *COMMANDS])))
MENU = GrammarSpec("phrases", ("check my balance", "what is my balance", "recent transactions",
                               "report a lost card", "my card was stolen", *COMMANDS))


@pytest.fixture
def recognizer() -> Iterator[PocketSphinxRecognizer]:
    """Wideband audio: starts from the library's default channel estimate."""
    recognizer = PocketSphinxRecognizer(cmn_init=None)
    yield recognizer
    recognizer.close()


@pytest.fixture
def phone() -> Iterator[PocketSphinxRecognizer]:
    """Phone audio: starts from the telephone channel estimate (the default)."""
    recognizer = PocketSphinxRecognizer()
    yield recognizer
    recognizer.close()


def padded(pcm: Pcm) -> Pcm:
    return np.concatenate([silence(200), pcm, silence(300)])


def recognize(stream: PocketSphinxStream, pcm: Pcm) -> tuple[RecognitionResult, list[RecognitionResult]]:
    partials = [p for f in frames(padded(pcm)) if (p := stream.accept(f)) is not None]
    return stream.finish(), partials


def run(recognizer: PocketSphinxRecognizer, grammar: GrammarSpec, pcm: Pcm) -> RecognitionResult:
    stream = recognizer.open(grammar)
    try:
        return recognize(stream, pcm)[0]
    finally:
        stream.close()


@pytest.mark.parametrize("text", ["one two three four", "two zero two five"])
def test_espeak_digit_strings_in_a_pin_grammar(recognizer: PocketSphinxRecognizer, text: str) -> None:
    result = run(recognizer, PIN, synthesize(text))
    assert result.text == text
    assert result.final and result.engine == "pocketsphinx"
    assert 0.0 < result.confidence <= 1.0
    assert result.nbest[0].text == text


def test_flite_four_four_one_seven_wideband_and_through_a_phone_line(
        recognizer: PocketSphinxRecognizer, phone: PocketSphinxRecognizer) -> None:
    speech = synthesize("four four one seven", engine="flite")
    assert run(recognizer, PIN, speech).text == "four four one seven"
    assert run(phone, PIN, telephone(speech)).text == "four four one seven"


@pytest.mark.parametrize("text", ["two zero two five", "zero nine one five"])
def test_espeak_digits_after_a_mu_law_round_trip_at_8_khz(phone: PocketSphinxRecognizer, text: str) -> None:
    assert run(phone, PIN, telephone(synthesize(text))).text == text


def test_the_channel_estimate_is_shared_by_later_streams(phone: PocketSphinxRecognizer) -> None:
    from voicebot.asr.pocketsphinx_engine import TELEPHONE_CMN

    assert phone.channel_cmn == TELEPHONE_CMN
    run(phone, PIN, telephone(synthesize("three one four one")))
    learned = phone.channel_cmn
    assert learned is not None and learned != TELEPHONE_CMN
    stream = phone.open(PIN)
    try:
        assert stream._decoder().decoder.get_cmn() == learned
    finally:
        stream.close()


def test_a_carrier_phrase_before_the_digits(recognizer: PocketSphinxRecognizer) -> None:
    result = run(recognizer, PIN, synthesize("my pin is four four one seven", engine="flite"))
    assert result.text == "my pin is four four one seven"


def test_a_command_during_digit_entry_and_speech_that_is_not_digits(recognizer: PocketSphinxRecognizer) -> None:
    assert run(recognizer, PIN, synthesize("main menu", engine="flite")).text == "main menu"
    assert run(recognizer, PIN, synthesize("check my balance")) == RecognitionResult.empty("pocketsphinx")


def test_yes_no_grammar(recognizer: PocketSphinxRecognizer, phone: PocketSphinxRecognizer) -> None:
    assert run(recognizer, YES_NO, synthesize("yes")).text == "yes"
    assert run(recognizer, YES_NO, synthesize("that is right")).text == "that is right"
    assert run(phone, YES_NO, telephone(synthesize("no thank you", engine="flite"))).text == "no thank you"


def test_intent_phrases_grammar(recognizer: PocketSphinxRecognizer, phone: PocketSphinxRecognizer) -> None:
    result = run(phone, MENU, telephone(synthesize("check my balance")))
    assert result.text == "check my balance"
    assert result.confidence > SCREENED_CONFIDENCE
    assert run(recognizer, MENU, synthesize("report a lost card")).text == "report a lost card"


def test_out_of_grammar_speech_is_flagged_by_low_confidence_or_rejected(recognizer: PocketSphinxRecognizer) -> None:
    pizza = synthesize("I would like to order a pizza", engine="flite")
    flagged = run(recognizer, MENU, pizza)
    assert flagged.text == "" or flagged.confidence <= SCREENED_CONFIDENCE
    rejecting = PocketSphinxRecognizer(screen="reject")
    try:
        assert run(rejecting, MENU, pizza).text == ""
        assert run(rejecting, MENU, synthesize("check my balance", engine="flite")).text == "check my balance"
    finally:
        rejecting.close()


def test_free_speech_uses_the_language_model_with_posteriors_and_nbest(recognizer: PocketSphinxRecognizer) -> None:
    result = run(recognizer, GrammarSpec.free(), synthesize("check my balance", engine="flite"))
    assert result.text == "check my balance"
    assert 0.0 < result.confidence <= 1.0
    assert len(result.nbest) > 1 and result.nbest[0].text == result.text
    # The alternatives share what the best path leaves, lowered once more as alternatives (accept.rank).
    assert sum(h.confidence for h in result.nbest) <= 1.0 + 1e-6
    assert all(h.confidence <= result.confidence for h in result.nbest[1:])
    assert len({h.text for h in result.nbest}) == len(result.nbest)


def test_streaming_gives_partials_then_a_final_and_resets_for_the_next_utterance(
        recognizer: PocketSphinxRecognizer) -> None:
    stream = recognizer.open(PIN)
    try:
        first, partials = recognize(stream, synthesize("one two three four"))
        assert partials and all(not p.final and p.confidence == 0.0 for p in partials)
        assert all(a.text != b.text for a, b in itertools.pairwise(partials))  # only changes
        assert first.text == "one two three four"
        second, _ = recognize(stream, synthesize("two zero two five"))
        assert second.text == "two zero two five"
        assert stream.finish() == RecognitionResult.empty("pocketsphinx")  # nothing since the last one
    finally:
        stream.close()


def test_switching_grammars_on_one_stream_and_mid_utterance(recognizer: PocketSphinxRecognizer) -> None:
    stream = recognizer.open(YES_NO)
    try:
        assert recognize(stream, synthesize("yes"))[0].text == "yes"
        for frame in frames(synthesize("yes"))[:10]:
            stream.accept(frame)
        stream.set_grammar(MENU)  # the half utterance is dropped
        assert recognize(stream, synthesize("check my balance"))[0].text == "check my balance"
        stream.set_grammar(PIN)
        assert recognize(stream, synthesize("one two three four"))[0].text == "one two three four"
    finally:
        stream.close()


@pytest.mark.parametrize("slot", ["number", "currency", "date"])
def test_every_grammar_kind_is_accepted_by_pocketsphinx(recognizer: PocketSphinxRecognizer, slot: str) -> None:
    from voicebot.actions import Listen

    grammar = GrammarSpec.for_listen(Listen("n", slot), {})  # type: ignore[arg-type]
    text = recognizer.jsgf_for(grammar)
    assert text is not None and text == jsgf(grammar, recognizer.known_word)
    stream = recognizer.open(grammar)
    stream.close()


def test_decoders_are_pooled_and_reused(recognizer: PocketSphinxRecognizer) -> None:
    first = recognizer.open(PIN)
    engine = first._engine
    first.close()
    first.close()  # closing twice is harmless
    second = recognizer.open(MENU)
    assert second._engine is engine
    second.close()


def test_prepare_builds_a_decoder_per_call_with_every_search_before_calls_come(
        recognizer: PocketSphinxRecognizer) -> None:
    grammars = [PIN, MENU, GrammarSpec("yes_no", YES_PHRASES + NO_PHRASES)]
    recognizer.prepare(grammars, streams=6)
    ready = list(recognizer._idle)
    assert len(ready) == 6
    # Each decoder holds every search: the digits one, and screening plus plain for the phrase lists.
    assert all(len(engine.searches) == 5 for engine in ready)
    streams = [recognizer.open(grammars[i % 3]) for i in range(6)]
    assert {id(s._engine) for s in streams} == {id(e) for e in ready}  # no decoder was built for a call
    assert all(len(s._engine.searches) == 5 for s in streams if s._engine is not None)  # nor a search
    for stream in streams:
        stream.close()
    # Every decoder goes back to the pool (none is freed: freeing one holds the GIL too).
    assert len(recognizer._idle) == 6
    assert run(recognizer, PIN, synthesize("one two three four")).text == "one two three four"


def test_streams_in_parallel_threads(recognizer: PocketSphinxRecognizer) -> None:
    texts = ["one two three four", "two zero two five", "three one four one"]
    audio = [synthesize(t) for t in texts]
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results[i] = run(recognizer, PIN, audio[i]).text
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert [results[i] for i in range(len(texts))] == texts


def test_an_empty_chunk_is_ignored(recognizer: PocketSphinxRecognizer) -> None:
    empty = np.zeros(0, dtype=np.int16)
    stream = recognizer.open(PIN)
    assert stream.accept(empty) is None
    for frame in frames(np.concatenate([silence(300), synthesize("four four one seven", engine="flite"),
                                        silence(300)])):
        stream.accept(frame)
        stream.accept(empty)
    assert stream.finish().text == "four four one seven"
    stream.close()
