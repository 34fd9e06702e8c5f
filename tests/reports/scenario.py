"""A known day of calls, made by the real runtime and the real ACD, for the report and metrics tests.

Every call is a real :class:`~voicebot.runtime.call.Call` of the banking flow (fast fakes only for the
recognizer, the VAD and the prompt voice) on one virtual clock shared with a real
:class:`~voicebot.acd.service.AcdService` over a SQLite file. A small ACD port (below) connects them the way
the call owner will: enqueue on the flow's handoff, abandon when a waiting caller hangs up, and the test
plays the agent's side (route, accept, complete) at chosen instants, so every wait, talk and wrap-up time
is known to the millisecond.

The calls (``general``: service level 20 s, short abandon 5 s, wrap-up 10 s, max wait 100 s then a callback
offer; one callback attempt) - all keys, except one spoken turn:

=====  =====================================================  ==============================================
call   what happens                                           record outcome
=====  =====================================================  ==============================================
A      balance (key 1, PIN), silence (no input), "blah"        self_served
       (no match, confidence 0.42), key 2 (no): goodbye
B      hangs up during the greeting                           abandoned
C      balance, hangs up right after the PIN                  abandoned_during_answer
D      key 0; answered by alice after 15 s; talk 60 s, of    answered
       which 20 s on hold (from 20 s to 40 s)
E      key 0; hangs up after 3 s                              abandoned_in_queue (short)
F      key 0; hangs up after 40 s                             abandoned_in_queue
G      key 0; hangs up after 12 s                             abandoned_in_queue (within the threshold)
H      key 0; answered after 30 s; talk 90 s                  answered
I      key 0; offered a callback at 101 s, takes it at 102 s;  callback_completed
       alice dials, the caller answers after 5 s; talk 45 s
J      key 0; asks for a callback at 10 s; alice dials, no    callback_failed
       answer after 20 s
=====  =====================================================  ==============================================

Alice logs in for the first call she takes and goes on break after each wrap-up; every offer rings 1 s
before she answers. So her logged-in available time is 1 + 60 + 10 (D), 1 + 90 + 10 (H), 1 + 5 + 45 + 10
(I), 1 + 20 (J) = 254 s, of which talk and wrap-up are 250 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from voicebot.acd.config import AcdSettings, parse_acd
from voicebot.acd.hold import hold, resume
from voicebot.acd.service import AcdService
from voicebot.actions import Handoff
from voicebot.asr.base import RecognitionResult
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import EnergyVad
from voicebot.config import load_config
from voicebot.events import Hypothesis
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.bus import EventBus
from voicebot.runtime.call import FRAME, Call, CallSpeech
from voicebot.runtime.clock import ManualClock
from voicebot.runtime.listen_turn import TurnInputs
from voicebot.runtime.pools import Executors
from voicebot.runtime.ports import CallControl
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine, session_scope
from voicebot.storage.seed import seed_demo
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_794_999_600.0  # 2026-11-18 11:00:00 UTC: on the hour, in the past (reports cut agent time at "now")
TICK = 0.02
SILENCE = np.zeros(FRAME, dtype=np.int16)
SPEECH = (8000 * np.sin(np.arange(FRAME) * 2 * np.pi * 300 / PHONE_RATE)).astype(np.int16)
BLAH = RecognitionResult("blah blah", 0.42, (Hypothesis("blah blah", 0.42),), True, "fake")

ACD = {
    "queues": {"general": {"service_level_seconds": 20, "short_abandon_seconds": 5, "wrap_up_seconds": 10,
                           "max_wait_seconds": 100, "overflow": {"callback": True}}},
    "callbacks": {"attempts": 1},
    "agents": {"lease_seconds": 3600},
}


class ServiceAcd:
    """The ACD port over a real AcdService: what the call owner does on enqueue and on a caller leaving."""

    def __init__(self, service: AcdService) -> None:
        self.service = service
        self.calls: dict[int, CallControl] = {}

    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        entry = self.service.enqueue(call_id, handoff.queue, priority=handoff.priority, skills=handoff.skills)
        assert entry.id is not None
        self.calls[entry.id] = call
        return str(entry.id)

    def cancel(self, ticket: str) -> None:
        with session_scope(self.service.engine) as session:
            entry = session.get(QueueEntry, int(ticket))
        # A caller who chose a callback hangs up and keeps their place: only a live wait is abandoned.
        if entry is not None and entry.kind == "live" and entry.status in ("waiting", "offered"):
            self.service.abandon(int(ticket))


@dataclass
class Day:
    engine: Engine
    clock: ManualClock
    settings: AcdSettings
    service: AcdService
    acd: ServiceAcd
    bus: EventBus
    tmp: Path
    calls: dict[str, Call] = field(default_factory=dict)

    # ----- calls -------------------------------------------------------------------------------------

    def call(self, name: str, texts: list[str | RecognitionResult] | None = None) -> Call:
        flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
        session = CallSession(flow, default_registry(), CallStore(self.engine, self.tmp / "spool"), self.clock,
                              call_id=f"call-{name}")
        cache = PromptCache(self.tmp / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE)
        speech = CallSpeech(cache, TurnInputs(FakeRecognizer(texts or []), EnergyVad(), phrases_by_intent(flow)))
        call = Call(session, speech, Executors.inline(), bus=self.bus, acd=self.acd)
        call.start("+15550100001", "+18005550100")  # a demo customer (PIN 1234)
        self.calls[name] = call
        return call

    def run(self, call: Call, ticks: int, frame: np.ndarray = SILENCE, keys: str = "") -> None:
        for index in range(ticks):
            call.tick(frame, keys if index == 0 else "")
            self.clock.advance(TICK)

    def until(self, call: Call, done: Callable[[], bool], limit: int = 20_000) -> None:
        for _ in range(limit):
            if done():
                return
            self.run(call, 1)
        raise AssertionError(f"call {call.call_id} never got there (phase {call.phase})")

    def until_listening(self, call: Call, node: str) -> None:
        self.until(call, lambda: call.listen is not None and call.listen.node == node and not call.speaking)

    def at(self, call: Call | None, when: float) -> None:
        """Move time to ``when`` (epoch seconds): the call ticks on, or the clock just moves between calls."""
        ticks = round((when - self.clock.now()) / TICK)
        assert ticks >= 0, "time does not run backwards"
        if call is None or call.finished:
            self.clock.advance(ticks * TICK)
        else:
            self.run(call, ticks)

    def queue_for_agent(self, name: str) -> tuple[Call, int, float]:
        """A caller who presses 0 and waits in the queue: (call, entry id, epoch seconds it was enqueued)."""
        call = self.call(name)
        self.run(call, 1, keys="0")
        self.until(call, lambda: call.phase == "queued")
        assert call.ticket is not None
        entry_id = int(call.ticket)
        with session_scope(self.engine) as session:
            entry = session.get(QueueEntry, entry_id)
            assert entry is not None
            enqueued = entry.enqueued_at.replace(tzinfo=UTC).timestamp()
        return call, entry_id, enqueued

    # ----- the agent's side --------------------------------------------------------------------------

    def alice_takes(self, call: Call | None, entry_id: int) -> int:
        """Alice becomes available, is offered the entry, her phone rings 1 s and she answers."""
        agents = self.service.agents
        agents.set_state("alice", "available", self.service.now(), "back")
        result = self.service.route()
        [offer] = [o for o in result.offers if o.entry_id == entry_id]
        if call is not None:
            call.offer("alice")
        self.at(call, self.clock.now() + 1)
        accepted = self.service.accept(offer.offer_id, offer.token)
        if call is not None:
            call.bridge("alice")
        return accepted.entry_id

    def alice_wraps_up_from(self, completed_at: float) -> None:
        """Wrap-up runs its 10 s from the call's end, the reconciler ends it, alice goes on break at once."""
        self.clock.advance(completed_at + 10 - self.clock.now())
        repairs = self.service.reconcile()
        assert repairs.wrap_ups_ended == ["alice"]
        self.service.agents.set_state("alice", "break", self.service.now(), "coffee")

    def hang_up_after(self, call: Call, enqueued: float, seconds: float) -> None:
        self.at(call, enqueued + seconds)
        call.hang_up()


def make_day(tmp: Path, bus: EventBus | None = None, url: str | None = None) -> Day:
    engine = make_engine(url or f"sqlite:///{tmp / 'day.db'}")
    create_tables(engine)
    seed_demo(engine)
    clock = ManualClock(T0)
    settings = parse_acd(ACD)
    service = AcdService(engine, settings, clock=clock.now, node="test")
    service.agents.add("alice", "secret", name="Alice", skills={"banking": 5, "cards": 5, "security": 5},
                       now=service.now())
    return Day(engine, clock, settings, service, ServiceAcd(service), bus or EventBus(), tmp)


def key_the_pin(day: Day, call: Call) -> None:
    day.run(call, 1, keys="1")  # balance
    for key in "1234":
        day.run(call, 5, keys=key)


def play_the_day(day: Day) -> Day:
    # A: self-served, with a no-input and a no-match at "anything else?"
    a = day.call("A", [BLAH])
    key_the_pin(day, a)
    day.until_listening(a, "anything_else")
    day.run(a, 300)  # 6 s of silence: no input (after 5 s), the question again
    day.until_listening(a, "anything_else")
    day.run(a, 15, SPEECH)
    day.run(a, 60)  # the end of speech: "blah blah" matches nothing, the question again
    day.until_listening(a, "anything_else")
    day.run(a, 1, keys="2")  # no
    day.until(a, lambda: a.finished)

    # B: hangs up during the greeting
    b = day.call("B")
    day.run(b, 50)
    b.hang_up()

    # C: hangs up right after keying the PIN, before the balance is heard
    c = day.call("C")
    key_the_pin(day, c)
    c.hang_up()

    # D: answered after 15 s, talk 60 s
    d, entry, enqueued = day.queue_for_agent("D")
    day.service.agents.login("alice", day.service.now(), "break", "not yet")
    day.at(d, enqueued + 14)
    day.alice_takes(d, entry)
    day.at(d, enqueued + 15 + 20)
    hold(day.service, entry, "alice")  # the console's Hold button, 20 s
    day.at(d, enqueued + 15 + 40)
    resume(day.service, entry, "alice")
    day.at(d, enqueued + 15 + 60)
    day.service.complete(entry)
    d.finish()
    day.run(d, 1)
    assert d.finished
    day.alice_wraps_up_from(enqueued + 15 + 60)

    # E: short abandon at 3 s; F: abandons at 40 s; G: abandons at 12 s (within the threshold)
    for name, seconds in (("E", 3), ("F", 40), ("G", 12)):
        call, _entry, enqueued = day.queue_for_agent(name)
        day.hang_up_after(call, enqueued, seconds)

    # H: answered after 30 s, talk 90 s
    h, entry, enqueued = day.queue_for_agent("H")
    day.at(h, enqueued + 29)
    day.alice_takes(h, entry)
    day.at(h, enqueued + 30 + 90)
    day.service.complete(entry)
    h.finish()
    day.run(h, 1)
    day.alice_wraps_up_from(enqueued + 30 + 90)

    # I: offered a callback at 101 s (max wait 100 s, alice on break), takes it at 102 s and hangs up;
    # alice dials, the caller answers 5 s later, they talk 45 s
    i, entry, enqueued = day.queue_for_agent("I")
    day.at(i, enqueued + 101)
    assert [o.entry_id for o in day.service.route().callback_offers] == [entry]
    day.at(i, enqueued + 102)
    day.service.request_callback(entry, "+15550100999")
    i.hang_up()
    day.clock.advance(30)
    day.alice_takes(None, entry)
    day.clock.advance(5)
    day.service.callback_result(entry, "answered")
    day.clock.advance(45)
    completed = day.clock.now()
    day.service.complete(entry)
    day.alice_wraps_up_from(completed)

    # J: asks for a callback at 10 s; alice dials, nobody answers within 20 s: the only attempt failed
    j, entry, enqueued = day.queue_for_agent("J")
    day.at(j, enqueued + 10)
    day.service.request_callback(entry, "+15550100998")
    j.hang_up()
    day.clock.advance(30)
    day.alice_takes(None, entry)
    day.clock.advance(20)
    day.service.callback_result(entry, "no_answer")
    day.service.agents.set_state("alice", "break", day.service.now(), "coffee")
    day.clock.advance(60)
    day.service.agents.logout("alice", day.service.now())
    return day


def epoch(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()
