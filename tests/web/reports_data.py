"""Known calls for the dashboard and calls-browser tests.

``known_day``: six stored calls on one day (rows as the runtime and the ACD store them, written directly so
the figures are known by hand). ``recorded_call``: a real banking call through the runtime (fake recognizer,
energy VAD, tone voice) with its stereo recording, the caller humming quietly throughout and keying their PIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import select

from voicebot.storage.acd_models import Agent, AgentTransition
from voicebot.storage.call_models import CallEvent, CallRecord
from voicebot.storage.db import session_scope

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def _at(hour: int, minute: int, second: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute, second=second)


def _steps(kind: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    menu = [{"type": "Say", "text": "How can I help you today?", "node": "main_menu"},
            {"type": "Listen", "node": "main_menu", "slot_type": "intent", "secure": False}]
    first: tuple[dict[str, Any], list[dict[str, Any]]] = ({"type": "CallStarted"}, menu)
    if kind == "self_served":
        return [first, ({"type": "Utterance", "text": "opening hours", "confidence": 0.9},
                        [{"type": "Say", "text": "We are open nine to five.", "node": "hours"},
                         {"type": "Hangup", "node": "hours"}])]
    if kind == "ivr_hangup":
        return [first, ({"type": "HangUp"}, [])]
    return [first, ({"type": "Utterance", "text": "agent", "confidence": 0.8},
                    [{"type": "Say", "text": "Connecting you.", "node": "agent"},
                     {"type": "Handoff", "node": "agent"}])]


#: (start, caller, outcome, wait s, talk s, wrap s)
CALLS: list[tuple[datetime, str, str, int | None, int | None, int | None]] = [
    (_at(8, 10), "+15550101001", "self_served", None, None, None),
    (_at(8, 20), "+15550101002", "self_served", None, None, None),
    (_at(8, 40), "+15550101003", "abandoned", None, None, None),
    (_at(8, 50), "+15550101004", "answered", 10, 60, 30),
    (_at(10, 5), "+15550101005", "abandoned_in_queue", 40, None, None),
    (_at(10, 30), "+15550101006", "answered", 30, 120, 30),
]


def known_day(engine: Engine) -> list[str]:
    """The six calls of :data:`CALLS` (ids ``known-1``...), their step logs, and alice's day."""
    ids = []
    with session_scope(engine) as session:
        for number, (start, caller, outcome, wait, talk, wrap) in enumerate(CALLS, 1):
            call_id = f"known-{number}"
            ids.append(call_id)
            queued = wait is not None
            kind = outcome if outcome == "self_served" else "ivr_hangup" if outcome == "abandoned" else "queue"
            session.add(CallRecord(
                id=call_id, caller_id=caller, dialled="+18005550100", flow="banking", started_at=start,
                ended_at=start + timedelta(seconds=30 + (wait or 0) + (talk or 0)), outcome=outcome,
                intents=["speak_to_agent"] if queued else [], nodes=["main_menu"],
                queue="general" if queued else None, enqueued_at=start + timedelta(seconds=20) if queued else None,
                answered_at=start + timedelta(seconds=20 + (wait or 0)) if talk else None,
                agent="alice" if talk else None, wait_ms=wait * 1000 if wait is not None else None,
                talk_ms=talk * 1000 if talk else None, wrap_ms=wrap * 1000 if wrap else None))
            session.flush()
            for seq, (event, actions) in enumerate(_steps(kind), 1):
                session.add(CallEvent(call_id=call_id, seq=seq, at=float(seq * 10), event=event, actions=actions))
        alice = session.exec(select(Agent).where(Agent.login == "alice")).one()
        day = [(_at(8, 0), "logged_out", "available"), (_at(8, 50, 30), "available", "busy"),
               (_at(8, 51, 30), "busy", "wrap_up"), (_at(8, 52), "wrap_up", "available"),
               (_at(10, 30, 50), "available", "busy"), (_at(10, 32, 50), "busy", "wrap_up"),
               (_at(10, 33, 20), "wrap_up", "available"), (_at(12, 0), "available", "logged_out")]
        for at, before, after in day:
            assert alice.id is not None
            session.add(AgentTransition(agent_id=alice.id, from_state=before, to_state=after, at=at))
    return ids


HUM = (100 * np.sin(np.arange(160) * 2 * np.pi * 200 / 8000)).astype(np.int16)  # -53 dBFS: below the VAD


@dataclass
class RecordedCall:
    call_id: str
    path: Path
    #: per 20 ms frame: True while the call listened for secure input (the PIN) before and after the frame
    secure: list[bool]


def recorded_call(engine: Engine, tmp_path: Path, recordings: Path) -> RecordedCall:
    """The banking flow: "1" for the balance, the PIN keyed (a secure step), the balance read out, then the
    caller hangs up. The caller hums (not loud enough to be speech) the whole time, so every frame of the
    caller's channel has sound, except where the recorder blanks it."""
    from tests.runtime.call_harness import ROOT
    from voicebot.asr.fake import FakeRecognizer
    from voicebot.audio.pcm import PHONE_RATE
    from voicebot.audio.vad import EnergyVad
    from voicebot.config import load_config
    from voicebot.runtime.app import load_flow_with
    from voicebot.runtime.call import Call, CallSpeech
    from voicebot.runtime.clock import ManualClock
    from voicebot.runtime.listen_turn import TurnInputs
    from voicebot.runtime.pools import Executors
    from voicebot.runtime.recorder import StereoRecorder
    from voicebot.runtime.session import CallSession
    from voicebot.runtime.speech import phrases_by_intent
    from voicebot.services.registry import default_registry
    from voicebot.storage.calls import CallStore
    from voicebot.tts.cache import PromptCache
    from voicebot.tts.fake import FakeSynthesizer

    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    clock = ManualClock()
    session = CallSession(flow, default_registry(), CallStore(engine, tmp_path / "spool"), clock)
    cache = PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
    recorder = StereoRecorder(recordings / f"{session.call_id}.wav")
    call = Call(session, CallSpeech(cache, TurnInputs(FakeRecognizer([]), EnergyVad(), phrases_by_intent(flow))),
                Executors.inline(), recorder=recorder)
    call.start("+15550100001", "+18005550100")
    secure: list[bool] = []

    def tick(keys: str = "") -> None:
        before = call.listen is not None and call.listen.secure
        call.tick(HUM, keys)
        secure.append(before and call.listen is not None and call.listen.secure)
        clock.advance(0.02)

    for _ in range(25):
        tick()
    tick("1")  # balance: the PIN step follows
    for _ in range(600):  # the PIN prompt, then the step listens (secure)
        tick()
        if call.listen is not None and call.listen.secure and not call.speaking:
            break
    for key in "1234":
        tick(key)
        for _ in range(10):
            tick()
    for _ in range(1500):  # the balance is read out, then the next question listens
        tick()
        if call.listen is not None and not call.listen.secure and not call.speaking:
            break
    for _ in range(25):
        tick()
    call.hang_up()
    recorder.close()
    return RecordedCall(session.call_id, recorder.path, secure)
