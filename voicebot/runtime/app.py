"""The composition root: configuration, database, store, registry, speech, pools and the event bus, built
once and handed to every command (``cli.py``, ``voicebot serve``, ``voicebot simulate``, the demo).

Nothing else wires these together: a command opens the services, asks them for what it needs (a flow, the
recognizer, the prompt cache, a new call) and never builds a store or a recognizer of its own.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from voicebot.asr.base import Recognizer
from voicebot.audio.vad import WebRtcVad
from voicebot.config import Config, load_config
from voicebot.flow.compile import CompiledFlow, load_flow
from voicebot.runtime.bus import EventBus
from voicebot.runtime.call import Call, CallSpeech
from voicebot.runtime.clock import Clock, SystemClock
from voicebot.runtime.listen_turn import TurnInputs
from voicebot.runtime.pools import RECOGNITION_WORKERS, Executors
from voicebot.runtime.ports import AcdPort
from voicebot.runtime.recorder import StereoRecorder
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import make_prompt_cache, make_recognizer, phrases_by_intent
from voicebot.services.registry import ActionRegistry, default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, data_dir, make_engine
from voicebot.tts.cache import PromptCache

VAD_AGGRESSIVENESS = 2


class NotInitialised(RuntimeError):
    """The database has no demo data yet."""


@dataclass
class Services:
    config: Config
    engine: Engine
    registry: ActionRegistry
    store: CallStore
    bus: EventBus = field(default_factory=EventBus)
    #: Set when a site has an ACD (the next step of issue 9); None: a handoff ends the call after its prompt.
    acd: AcdPort | None = None
    _recognizers: dict[str, Recognizer] = field(default_factory=dict, init=False, repr=False)
    _prompts: PromptCache | None = field(default=None, init=False, repr=False)
    _speech: dict[tuple[int, int], tuple[CompiledFlow, Recognizer, CallSpeech]] = field(
        default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def load(self, flow_path: Path) -> CompiledFlow:
        return load_flow_with(flow_path, self.config, self.registry)

    def recognizer(self, engine: str | None = None) -> Recognizer:
        """The speech recognizer (``engine`` overrides ``asr.engine``), built once per engine."""
        name = engine or self.config.asr_engine
        with self._lock:
            if name not in self._recognizers:
                self._recognizers[name] = make_recognizer(self.config, name)
            return self._recognizers[name]

    def prompts(self) -> PromptCache:
        """The prompt voice and its cache (data/prompts), built once."""
        with self._lock:
            if self._prompts is None:
                self._prompts = make_prompt_cache(self.config)
            return self._prompts

    def use_prompts(self, cache: PromptCache) -> None:
        """Calls speak with ``cache`` (tests and benchmarks use a fake voice)."""
        with self._lock:
            self._prompts = cache
            self._speech.clear()

    def speech(self, flow: CompiledFlow, recognizer: Recognizer) -> CallSpeech:
        """What every call of ``flow`` speaks and listens with (built once per flow and recognizer)."""
        key = (id(flow), id(recognizer))
        prompts = self.prompts()
        with self._lock:
            kept = self._speech.get(key)
            if kept is None:
                inputs = TurnInputs(recognizer, WebRtcVad(VAD_AGGRESSIVENESS), phrases_by_intent(flow))
                # The flow and recognizer are kept with it: alive, their ids cannot be reused by others.
                kept = self._speech[key] = (flow, recognizer, CallSpeech(prompts, inputs))
            return kept[2]

    def session(self, flow: CompiledFlow, clock: Clock | None = None) -> CallSession:
        return CallSession(flow, self.registry, self.store, clock or SystemClock(),
                           call_id=uuid.uuid4().hex[:16])

    def new_call(self, flow: CompiledFlow, *, recognizer: Recognizer, clock: Clock | None = None,
                 executors: Executors | None = None, recordings_dir: Path | None = None) -> Call:
        """A call of ``flow``: on the system clock with the shared pools (SIP), or on the given clock with the
        given executors (the simulator: a virtual clock and inline executors)."""
        session = self.session(flow, clock)
        recorder = StereoRecorder(recordings_dir / f"{session.call_id}.wav") if recordings_dir is not None else None
        # A recognizer may want more utterances in flight than the default pool runs (batching across calls).
        shared = executors or Executors.shared(int(getattr(recognizer, "parallel_jobs", RECOGNITION_WORKERS)))
        return Call(session, self.speech(flow, recognizer), shared, bus=self.bus,
                    acd=self.acd, recorder=recorder)


def load_flow_with(flow_path: Path, config: Config, registry: ActionRegistry) -> CompiledFlow:
    grammars = config.grammars_dir if config.grammars_dir.is_dir() else None
    return load_flow(
        flow_path,
        actions={name: registry.params(name) for name in registry.names()},
        queues=list(config.queues),
        grammars_dir=grammars,
    )


def open_services(
    *, config: Config | None = None, database_url: str | None = None, spool_dir: Path | None = None
) -> Services:
    config = config or load_config()
    engine = make_engine(database_url)
    create_tables(engine)  # call-record tables must exist before a call starts
    store = CallStore(engine, spool_dir or data_dir() / "spool")
    return Services(config, engine, default_registry(), store)


def require_demo_data(engine: Engine) -> None:
    from sqlmodel import Session, select

    from voicebot.storage.bank_models import Customer

    if "bank_customer" not in inspect(engine).get_table_names():
        raise NotInitialised("the bank tables are missing: run `voicebot db init --demo` first")
    with Session(engine) as session:
        if session.exec(select(Customer)).first() is None:
            raise NotInitialised("the demo bank has no customers: run `voicebot db init --demo` first")
