"""The composition root: one set of services, and calls made from it publish on its bus and record in its store."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from tests.runtime.call_harness import ROOT, run
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.runtime.app import Services, open_services
from voicebot.runtime.call_events import CallBegan, CallEnded, CallEvent
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.pools import Executors, recognition_pool
from voicebot.storage.seed import seed_demo
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer


@pytest.fixture
def services(tmp_path: Path) -> Services:
    services = open_services(database_url=f"sqlite:///{tmp_path}/app.db", spool_dir=tmp_path / "spool")
    seed_demo(services.engine)
    services.use_prompts(PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE))
    return services


def test_a_call_made_by_the_services_publishes_on_their_bus_and_records_in_their_store(
        services: Services, tmp_path: Path) -> None:
    flow = services.load(ROOT / "flows" / "banking.yaml")
    seen: list[CallEvent] = []
    services.bus.subscribe(seen.append, CallEvent)
    call = services.new_call(flow, recognizer=FakeRecognizer([]), clock=ManualClock(), executors=Executors.inline(),
                             recordings_dir=tmp_path / "recordings")
    call.start("+15550100001", "1000")
    run(call, 50)
    call.hang_up()
    call.recorder.close()  # type: ignore[union-attr]
    assert isinstance(seen[0], CallBegan) and isinstance(seen[-1], CallEnded)
    assert {e.call_id for e in seen} == {call.call_id}
    record = services.store.get_call(call.call_id)
    assert record is not None and record.outcome == "abandoned"
    assert record.recording_path == str(tmp_path / "recordings" / f"{call.call_id}.wav")
    with wave.open(record.recording_path) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() == 50 * 160


def test_calls_of_one_flow_share_its_speech_and_the_services_build_things_once(services: Services) -> None:
    flow = services.load(ROOT / "flows" / "banking.yaml")
    recognizer = FakeRecognizer([])
    first = services.new_call(flow, recognizer=recognizer, clock=ManualClock(), executors=Executors.inline())
    second = services.new_call(flow, recognizer=recognizer, clock=ManualClock(), executors=Executors.inline())
    assert first.call_id != second.call_id
    assert services.speech(flow, recognizer) is services.speech(flow, recognizer)
    assert first.playout.prompts is second.playout.prompts is services.prompts()
    assert first.bus is second.bus is services.bus


def test_a_recognizer_that_batches_gets_a_recognition_pool_of_its_size(services: Services) -> None:
    """A batching recognizer (Whisper with VOICEBOT_WHISPER_BATCH) needs more utterances in flight than cores."""
    flow = services.load(ROOT / "flows" / "banking.yaml")
    plain = FakeRecognizer([])
    batching = FakeRecognizer([])
    batching.parallel_jobs = 10  # type: ignore[attr-defined]
    default_pool = services.new_call(flow, recognizer=plain, clock=ManualClock()).ivr.executors.recognition
    wide_pool = services.new_call(flow, recognizer=batching, clock=ManualClock()).ivr.executors.recognition
    assert default_pool is recognition_pool()
    assert wide_pool is recognition_pool(10) and wide_pool is not default_pool
    assert wide_pool._max_workers == 10  # type: ignore[attr-defined]
