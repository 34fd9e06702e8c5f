import numpy as np
import pytest

from voicebot.asr.base import GrammarSpec, RecognitionResult, Recognizer, RecognizerError
from voicebot.asr.fake import FakeRecognizer, audio_key
from voicebot.events import Hypothesis

PIN = GrammarSpec("digits", (), 4, 4)


def tone(value: int, n: int = 320) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_queue_of_texts_in_order_then_empty() -> None:
    fake = FakeRecognizer(["four four one seven", "yes"])
    assert isinstance(fake, Recognizer)
    stream = fake.open(PIN)
    stream.accept(tone(1))
    assert stream.finish() == RecognitionResult("four four one seven", 1.0, (Hypothesis("four four one seven"),),
                                                True, "fake")
    assert stream.finish().text == "yes"
    assert stream.finish() == RecognitionResult.empty("fake")


def test_results_keyed_by_the_audio_of_the_utterance() -> None:
    first, second = tone(1), tone(2)
    scripted = RecognitionResult("check my balance", 0.4, (Hypothesis("check my balance", 0.4),), True, "fake")
    fake = FakeRecognizer(["from the queue"], {audio_key(first): "agent"})
    fake.add(np.concatenate([second, second]), scripted)
    stream = fake.open(PIN)
    stream.accept(second)
    stream.accept(second)  # the utterance is both chunks
    assert stream.finish() is scripted
    stream.accept(first)
    assert stream.finish().text == "agent"
    stream.accept(tone(3))
    assert stream.finish().text == "from the queue"


def test_partials_grammars_and_closing() -> None:
    fake = FakeRecognizer(["yes"], partials=True)
    stream = fake.open(PIN)
    partial = stream.accept(tone(1))
    assert partial is not None and partial.text == "yes" and not partial.final
    stream.set_grammar(GrammarSpec("yes_no", ("yes", "no")))
    assert [g.kind for g in stream.grammars] == ["digits", "yes_no"]
    assert stream.grammar.kind == "yes_no"
    assert stream.finish().text == "yes"
    assert fake.streams == [stream] and stream.results[0].text == "yes"
    stream.close()
    with pytest.raises(RecognizerError):
        stream.accept(tone(1))
    fake.close()
    with pytest.raises(RecognizerError):
        fake.open(PIN)
