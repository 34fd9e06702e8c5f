"""Shared by the runtime tests: a banking call on virtual time with fast fakes (energy VAD, scripted
recognizer, tone voice)."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from voicebot.asr.base import Recognizer
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import EnergyVad, VadAnalyzer
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.call import FRAME, Call, CallSpeech
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.listen_turn import TurnInputs
from voicebot.runtime.pools import Executors
from voicebot.runtime.ports import AcdPort
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

ROOT = Path(__file__).resolve().parents[2]
SILENCE = np.zeros(FRAME, dtype=np.int16)
SPEECH = (8000 * np.sin(np.arange(FRAME) * 2 * np.pi * 300 / PHONE_RATE)).astype(np.int16)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/media.db")
    create_tables(engine)
    seed_demo(engine)
    return engine


def new_call(session: CallSession, cache: PromptCache, recognizer: Recognizer, vad: VadAnalyzer,
             phrases: dict[str, tuple[str, ...]], /, acd: AcdPort | None = None, **executors: Executor) -> Call:
    """A call on virtual time: every job inline, except the executors given (a pool, a manual pool)."""
    speech = CallSpeech(cache, TurnInputs(recognizer, vad, phrases))
    return Call(session, speech, Executors.inline(**executors), acd=acd)



def make_media(engine: Engine, tmp_path: Path, texts: list[str], acd: AcdPort | None = None,
               **executors: Executor) -> Call:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    clock = ManualClock()
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), clock)
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    media = new_call(session, cache, FakeRecognizer(texts), EnergyVad(), phrases_by_intent(flow), acd=acd,
                     **executors)
    media.start("+15550100001", "+18005550100")
    return media


def run(media: Call, frames: int, frame: np.ndarray = SILENCE, keys: str = "") -> list[np.ndarray]:
    clock = media.session.clock
    out = []
    for index in range(frames):
        out.append(media.tick(frame, keys if index == 0 else ""))
        assert isinstance(clock, ManualClock)
        clock.advance(0.02)
    return out


def until_listening(media: Call, limit: int = 2000) -> int:
    ticks = 0
    while media.speaking and ticks < limit:
        run(media, 1)
        ticks += 1
    return ticks


def kinds(media: Call) -> list[str]:
    return [e.kind for e in media.events]


class FakeClock:
    """The call loop's monotonic clock in nanoseconds (``clock()``, ``sleep``), and the session's clock in seconds
    (``now()``) on the same time: sleeping moves both."""

    def __init__(self, ns: int = 5_000_000_000) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns

    def sleep(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)

    def now(self) -> float:
        return 1_795_000_000.0 + self.ns / 1e9
