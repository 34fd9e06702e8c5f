"""Each call listens with a VAD of its own (the bug: one WebRTC VAD served every call of a flow).

The WebRTC VAD adapts to its stream and holds "speech" for a few frames after speech ends, so one instance
fed by concurrent calls heard one caller's words in another caller's silence: at 15 simultaneous speaking
callers (bench/sip_speaking.py) a caller who had not said a word barged in on their own greeting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from tests.audio.signals import noise, vowel
from tests.runtime.call_harness import ROOT, engine  # noqa: F401 (fixture)
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE, split_frames
from voicebot.audio.vad import EnergyVad, WebRtcVad
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.call import Call, CallSpeech
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.listen_turn import TurnInputs
from voicebot.runtime.pools import Executors
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer


def test_for_call_gives_a_webrtc_vad_of_its_own_and_shares_a_stateless_one() -> None:
    webrtc = TurnInputs(FakeRecognizer([]), WebRtcVad(3), {})
    mine = webrtc.for_call().vad
    assert mine is not webrtc.vad and isinstance(mine, WebRtcVad) and mine.aggressiveness == 3
    energy = TurnInputs(FakeRecognizer([]), EnergyVad(), {})
    assert energy.for_call().vad is energy.vad


def test_one_callers_speech_is_not_heard_in_another_callers_line_noise(engine: Engine,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    # One CallSpeech for the flow, as the app builds it, with the production VAD.
    speech = CallSpeech(cache, TurnInputs(FakeRecognizer([]), WebRtcVad(2), phrases_by_intent(flow)))
    clock = ManualClock()
    calls = [Call(CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), clock), speech,
                  Executors.inline()) for _ in range(2)]
    for call in calls:
        call.start("+15550100001", "+18005550100")
    talker, quiet = calls
    # The talker speaks over the greeting (barge-in); the other caller's line carries faint noise only.
    words = split_frames(np.concatenate([noise(0.3, PHONE_RATE, seed=1), vowel(2.0, PHONE_RATE)]), PHONE_RATE)
    hiss = split_frames(noise(2.3, PHONE_RATE, seed=2), PHONE_RATE)
    for said, heard in zip(words, hiss, strict=True):
        talker.tick(said, "")
        quiet.tick(heard, "")
        clock.advance(0.02)
    assert any(e.kind == "speech_started" for e in talker.events)
    assert not [e for e in quiet.events if e.kind in ("speech_started", "barge_in")]
