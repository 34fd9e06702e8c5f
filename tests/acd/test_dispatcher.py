"""The dispatcher between calls and the ACD (issue 9), driven round by round: a real call on virtual time, a
real AcdService on a SQLite file, fake agent phones. Each ringing, decline, answer, stale answer, caller
hang-up while ringing and announcement. The same over real SIP: tests/telephony/test_live_queue.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.acd.conftest import Clock
from tests.runtime.call_harness import make_media, run
from tests.runtime.test_call import ask_for_an_agent, until
from voicebot.acd.config import parse_acd
from voicebot.acd.dispatcher import HANDOFF_HEADER, AcdDispatcher
from voicebot.acd.hold import hold, resume
from voicebot.acd.service import AcdService
from voicebot.acd.wait_estimate import announcement, estimated_wait
from voicebot.runtime.call import Call
from voicebot.runtime.call_events import HoldChanged, PromptQueued, Transferred
from voicebot.storage.acd_models import QueueEntry
from voicebot.storage.db import session_scope
from voicebot.web.transfer import transfer

__all__ = ["engine"]
from tests.runtime.call_harness import engine


class Phone:
    """A fake agent leg: its outcome is set by the test."""

    def __init__(self, uri: str, caller: str, headers: dict[str, str], ring_timeout: float) -> None:
        self.uri, self.caller, self.headers, self.ring_timeout = uri, caller, headers, ring_timeout
        self.outcome = ""
        self.outcome_reason = ""
        self.ringing = True  # 180 at once (a test may say otherwise)
        self.ended = False
        self.hung_up = 0
        self.buffered_frames = 0

    def read_frame(self) -> np.ndarray | None:
        return np.zeros(160, dtype=np.int16)

    def write_frame(self, frame: np.ndarray) -> None:
        pass

    def hang_up(self) -> None:
        self.hung_up += 1
        if not self.outcome:
            self.outcome = "cancelled"
        self.ended = True


class Rig:
    def __init__(self, engine: Engine, tmp_path: Path, strategy: str = "longest-idle", **live: Any) -> None:
        self.clock = Clock()
        general = {"skills": ["banking"], "offer_timeout_seconds": 15, "strategy": strategy}
        cards = {"skills": ["cards"], "offer_timeout_seconds": 15}
        settings = parse_acd({"queues": {"general": general, "cards": cards},
                              "live": {"enabled": True, "first_announcement_seconds": 2, **live}})
        self.acd = AcdService(engine, settings, clock=self.clock, node="test")
        self.phones: list[Phone] = []
        self.dispatcher = AcdDispatcher(self.acd, self.dial, clock=self.clock)
        self.call: Call = make_media(engine, tmp_path, [], acd=self.dispatcher)

    def dial(self, uri: str, caller: str, headers: dict[str, str], ring_timeout: float) -> Phone:
        phone = Phone(uri, caller, headers, ring_timeout)
        self.phones.append(phone)
        return phone

    def staff(self, *logins: str, skill: str = "banking") -> None:
        for login in logins:
            self.acd.agents.add(login, "pw", sip_uri=f"sip:{login}@127.0.0.1:5099", skills={skill: 3},
                                now=self.acd.now())
            self.acd.agents.login(login, self.acd.now())
            self.clock.advance(1)

    def queue_the_caller(self) -> None:
        ask_for_an_agent(self.call)
        until(self.call, lambda: self.call.phase == "queued")

    def round(self) -> None:
        self.dispatcher.route_once()
        self.dispatcher.poll_legs()
        run(self.call, 1)

    def entry(self) -> QueueEntry:
        with session_scope(self.acd.engine) as session:
            return session.exec(select(QueueEntry).where(QueueEntry.call_id == self.call.call_id)).one()


def test_an_offer_rings_the_agent_with_the_handoff_header_and_an_answer_bridges(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    [phone] = rig.phones
    entry = rig.entry()
    assert phone.uri == "sip:alice@127.0.0.1:5099" and phone.headers == {HANDOFF_HEADER: str(entry.id)}
    assert phone.caller == "+15550100001" and 14 <= phone.ring_timeout <= 15  # what is left of the offer
    assert rig.call.phase == "ringing"
    phone.outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged" and rig.call.leg is phone and rig.entry().status == "answered"
    rig.call.hang_up()
    assert phone.hung_up == 1 and rig.entry().status == "completed"


def test_a_busy_agent_is_declined_and_the_caller_keeps_their_place_for_the_next(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("bob", "alice")
    rig.queue_the_caller()
    rig.round()
    [busy] = rig.phones
    assert busy.uri.startswith("sip:bob@")
    busy.outcome, busy.outcome_reason = "busy", "486 Busy Here"
    rig.round()  # declined: back to queued (and already offered to alice in the same round or the next)
    rig.round()
    assert [p.uri.split("@")[0] for p in rig.phones] == ["sip:bob", "sip:alice"]
    assert rig.call.phase == "ringing"
    phases = [(e.before, e.after) for e in rig.call.events if e.kind == "phase"]
    assert ("ringing", "queued") in phases
    rig.phones[1].outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged" and rig.call.agent == "alice"


def test_a_stale_answer_gets_bye_and_the_caller_keeps_waiting(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    [phone] = rig.phones
    rig.clock.advance(16)  # the offer's lease ran out before the 200 came
    rig.acd.reconcile()
    phone.outcome = "answered"
    rig.dispatcher.poll_legs()
    run(rig.call, 1)
    assert phone.hung_up == 1 and rig.call.phase == "queued" and rig.entry().status == "waiting"


def test_a_caller_leaving_while_the_phone_rings_cancels_it_and_abandons(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    rig.call.hang_up()
    [phone] = rig.phones
    assert phone.hung_up == 1 and phone.outcome == "cancelled"
    assert rig.entry().status == "abandoned"
    assert rig.acd.agents.get("alice").state == "available"


def test_position_then_comfort_announcements_while_waiting(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path, announce_every_seconds=20, comfort_prompt="Thanks for holding.")
    rig.queue_the_caller()  # nobody staffed: the caller waits
    rig.dispatcher.announce_due(rig.clock())
    run(rig.call, 1)
    assert not [e for e in rig.call.events if isinstance(e, PromptQueued) and e.node == "queue"]  # not yet
    rig.clock.advance(2)
    rig.dispatcher.announce_due(rig.clock())
    rig.clock.advance(20)
    rig.dispatcher.announce_due(rig.clock())
    run(rig.call, 1)
    said = [e.text for e in rig.call.events if isinstance(e, PromptQueued) and e.node == "queue"]
    assert said == ["You are next in line.",  # no estimate: nothing measured yet
                    "Thanks for holding. To be called back instead, keeping your place in line, press 1."]


def test_wait_estimates_are_silent_until_measured(engine: Engine) -> None:
    assert estimated_wait(engine, "general", 3) is None
    assert announcement(3, None) == "You are number 3 in line."
    assert announcement(1, 42) == "You are next in line. Your estimated wait is less than a minute."
    assert announcement(4, 130) == "You are number 4 in line. Your estimated wait is about 3 minutes."
    assert announcement(None, 10) is None


def test_callback_keeps_the_place_then_rings_the_agent_first_then_the_caller(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path, callback_uri="sip:{number}@127.0.0.1:5098")
    rig.queue_the_caller()  # nobody staffed yet
    enqueued_at = rig.entry().enqueued_at
    run(rig.call, 1, keys="1")  # "press 1 for a callback"
    said = [e.text for e in rig.call.events if isinstance(e, PromptQueued) and e.node == "callback"]
    assert said[-1].startswith("We'll call you back on 1 5 5 5 0 1 0 0 0 0 1.")
    run(rig.call, 1, keys="1")  # confirm the caller ID
    until(rig.call, lambda: rig.call.finished)
    assert rig.call.ended_by == "callback"
    entry = rig.entry()
    assert entry.kind == "callback" and entry.status == "waiting" and entry.enqueued_at == enqueued_at
    rig.staff("alice")
    rig.dispatcher.route_once()
    [agent] = rig.phones
    assert agent.uri.startswith("sip:alice@") and agent.headers["X-Voicebot-Callback"] == "1"
    agent.outcome = "answered"
    rig.dispatcher.callbacks.poll()
    [_, caller] = rig.phones
    assert caller.uri == "sip:15550100001@127.0.0.1:5098"  # agent first, then the caller
    caller.outcome = "answered"
    rig.dispatcher.callbacks.poll()  # joined: relayed on its own thread until a leg ends
    caller.ended = True
    assert wait_until(lambda: rig.entry().status == "callback_completed")
    assert agent.hung_up == 1  # the caller hung up: BYE to the agent


def test_a_callback_the_caller_does_not_answer_is_retried_in_its_place(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.queue_the_caller()
    run(rig.call, 1, keys="1")
    run(rig.call, 1, keys="2")  # another number
    run(rig.call, 1, keys="5550199#")
    run(rig.call, 1, keys="1")
    until(rig.call, lambda: rig.call.finished)
    rig.staff("alice")
    rig.dispatcher.route_once()
    rig.phones[0].outcome = "answered"
    rig.dispatcher.callbacks.poll()
    caller = rig.phones[1]
    assert caller.uri.startswith("sip:5550199@")
    caller.outcome, caller.outcome_reason = "no_answer", "480 Temporarily Unavailable"
    rig.dispatcher.callbacks.poll()
    assert rig.phones[0].hung_up == 1  # the agent's leg ends
    entry = rig.entry()
    assert entry.status == "waiting" and entry.kind == "callback" and entry.not_before is not None  # retry later


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_the_wait_estimate_is_the_median_handle_time_per_staffing_agent(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice", "bob")
    acd = rig.acd
    for n, talk in enumerate((100, 120, 400)):
        entry = acd.enqueue(f"past-{n}", "general", skills=("banking",))
        [offer, *_] = acd.route().offers
        acd.accept(offer.offer_id, offer.token)
        rig.clock.advance(talk)
        acd.complete(entry.id or 0)
        rig.clock.advance(15)
        for login in ("alice", "bob"):
            acd.agents.heartbeat(login, acd.now())  # the consoles keep their presence
        acd.reconcile()  # wrap-up over
    assert estimated_wait(engine, "general", 3, ("banking",)) == 3 * 120 / 2  # median 120 s, two agents
    assert estimated_wait(engine, "general", 3, ("banking",), min_samples=4) is None  # too few calls to say
    assert estimated_wait(engine, "general", 1, ("vip",)) is None  # nobody staffs it: silent


def test_an_agent_logging_out_while_their_phone_rings_stops_it_and_the_caller_waits_on(
        engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    [phone] = rig.phones
    assert rig.call.phase == "ringing"
    rig.acd.agents.logout("alice", rig.acd.now())  # the ACD cancels the offer
    rig.round()
    assert phone.hung_up == 1 and phone.outcome == "cancelled"  # CANCEL: the phone stops ringing
    assert rig.call.phase == "queued" and rig.entry().status == "waiting"


def test_ring_all_rings_every_free_agent_and_the_first_answer_stops_the_others(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path, strategy="ring-all")
    rig.staff("alice", "bob", "carol")
    rig.queue_the_caller()
    rig.round()
    assert len(rig.phones) == 3 and rig.call.phase == "ringing"
    assert len([e for e in rig.call.events if e.kind == "offered"]) == 1  # one ringing phase for the caller
    rig.phones[1].outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged" and rig.call.leg is rig.phones[1]
    assert [p.hung_up for p in rig.phones] == [1, 0, 1]  # the other two stop ringing (CANCEL)


def test_another_nodes_router_may_offer_our_caller_and_this_node_rings_the_phone(
        engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)  # node "test" holds the caller
    other_acd = AcdService(engine, rig.acd.settings, clock=rig.clock, node="other")
    other_phones: list[Phone] = []
    other = AcdDispatcher(other_acd, lambda *args: other_phones.append(Phone(*args)) or other_phones[-1],
                          clock=rig.clock)
    rig.staff("alice")
    rig.queue_the_caller()
    other.route_once()  # the other node's router makes the offer: not its caller, so it rings nothing
    assert other_phones == [] and rig.phones == []
    rig.round()  # this node finds the pending offer for its caller and rings alice
    [phone] = rig.phones
    assert phone.uri.startswith("sip:alice@") and rig.call.phase == "ringing"
    phone.outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged"


def test_the_caller_is_in_the_ringing_phase_only_once_the_phone_rings(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.dispatcher.route_once()
    [phone] = rig.phones
    phone.ringing = False  # INVITE sent, no 180 yet
    rig.dispatcher.poll_legs()
    run(rig.call, 1)
    assert rig.call.phase == "queued"
    phone.ringing = True  # 180 Ringing
    rig.round()
    assert rig.call.phase == "ringing"


def test_a_transfer_from_the_console_moves_the_live_caller_to_the_new_queues_agent(
        engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.staff("bob", skill="cards")
    rig.queue_the_caller()
    rig.round()
    [first] = rig.phones
    first.outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged" and rig.call.leg is first
    entry = rig.entry()
    transfer(rig.acd, entry.id or 0, "cards", "alice", "lost card, already verified")  # what the console does
    rig.round()  # the dispatcher sees the entry waiting again: the call drops alice's leg and waits
    assert first.hung_up == 1 and rig.call.phase in ("queued", "ringing")
    assert [(e.agent, e.queue) for e in rig.call.events if isinstance(e, Transferred)] == [("alice", "cards")]
    assert [e.text for e in rig.call.events if isinstance(e, PromptQueued)][-1] == rig.acd.settings.live.transfer_prompt
    assert rig.call.playout.holding
    rig.round()
    second = rig.phones[-1]
    assert second.uri == "sip:bob@127.0.0.1:5099" and second.headers == {HANDOFF_HEADER: str(entry.id)}
    second.outcome = "answered"
    rig.round()
    assert rig.call.phase == "bridged" and rig.call.leg is second
    entry = rig.entry()
    assert entry.queue == "cards" and entry.status == "answered"
    assert entry.handoff is not None and entry.handoff["transfers"][0]["note"] == "lost card, already verified"
    assert rig.acd.agents.get("alice").state in ("wrap_up", "available")
    rig.call.hang_up()
    assert second.hung_up == 1 and rig.entry().status == "completed"


def test_a_call_that_ends_as_it_is_transferred_leaves_no_entry_waiting(engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    [first] = rig.phones
    first.outcome = "answered"
    rig.round()
    transfer(rig.acd, rig.entry().id or 0, "cards", "alice", "")
    rig.call.hang_up()  # before the dispatcher's next round saw the transfer
    assert rig.entry().status == "abandoned"  # nobody will be offered a caller who is gone


def test_hold_from_the_console_plays_hold_audio_to_the_caller_and_silence_to_the_agent(
        engine: Engine, tmp_path: Path) -> None:
    rig = Rig(engine, tmp_path)
    rig.staff("alice")
    rig.queue_the_caller()
    rig.round()
    [phone] = rig.phones
    sent: list[np.ndarray] = []
    phone.write_frame = sent.append  # type: ignore[method-assign]
    phone.read_frame = lambda: np.full(160, 999, dtype=np.int16)  # type: ignore[method-assign]
    phone.outcome = "answered"
    rig.round()
    speech = np.full(160, 1500, dtype=np.int16)
    [out] = run(rig.call, 1, frame=speech)
    assert int(out[0]) == 999 and int(sent[-1][0]) == 1500  # talking: both ways
    entry_id = rig.entry().id or 0
    hold(rig.acd, entry_id, "alice")  # the console's Hold button
    rig.round()
    assert rig.call.on_hold and [e.on for e in rig.call.events if isinstance(e, HoldChanged)] == [True]
    out = run(rig.call, 50, frame=speech)
    assert all(not np.any(f) for f in sent[-50:])  # the agent hears nothing of the caller
    assert all(not np.array_equal(f, np.full(160, 999, dtype=np.int16)) for f in out)  # nor the caller the agent
    assert max(int(np.abs(f).max()) for f in out) > 1000  # but the hold music
    rig.clock.advance(20)
    resume(rig.acd, entry_id, "alice")
    rig.round()
    [out] = run(rig.call, 1, frame=speech)
    assert not rig.call.on_hold and int(out[0]) == 999 and int(sent[-1][0]) == 1500
    rig.clock.advance(10)
    rig.call.hang_up()
    entry = rig.entry()
    assert entry.status == "completed" and entry.hold_ms == 20_000


def test_failing_rounds_log_one_traceback_then_their_recovery(engine: Engine, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # The database away (moved, locked): every round fails, 20-50 a second. Before, each wrote an ERROR with its
    # traceback (24 in 5 s against a real serve in the issue 8 audit); now the first does, then a count.
    import logging

    from sqlalchemy.exc import OperationalError

    rig = Rig(engine, tmp_path)
    left = [20]
    poll_legs = rig.dispatcher.poll_legs

    def database_away() -> None:
        if left[0] > 0:
            left[0] -= 1
            raise OperationalError("SELECT ...", {}, Exception("no such table: acd_queue_entry"))
        poll_legs()

    rig.dispatcher.poll_legs = database_away  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="voicebot.acd.live")
    rig.dispatcher.start()
    try:
        assert wait_until(lambda: left[0] == 0 and rig.dispatcher.failures.failures == 0, 20)
    finally:
        rig.dispatcher.stop()
    records = [r for r in caplog.records if r.name == "voicebot.acd.live"]
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None, [r.getMessage() for r in errors]
    assert any(r.getMessage() == "ACD dispatcher round works again after 20 failed rounds" for r in records)


def test_a_failure_log_counts_once_per_interval() -> None:
    import logging

    from voicebot.logs import FailureLog

    lines: list[tuple[int, str, bool]] = []

    class Sink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append((record.levelno, record.getMessage(), record.exc_info is not None))

    logger = logging.getLogger("test.failure_log")
    logger.addHandler(Sink())
    logger.propagate = False
    logger.setLevel(logging.INFO)
    now = [0.0]
    failures = FailureLog(logger, "the round", interval=60.0, clock=lambda: now[0])
    for second in range(0, 150):  # 150 s of one failure a second
        now[0] = float(second)
        try:
            raise RuntimeError("database is locked\nSQL: ...")
        except RuntimeError:
            failures.failed()
    failures.succeeded()
    failures.succeeded()  # (nothing more to say)
    assert lines == [(logging.ERROR, "the round failed", True),
                     (logging.ERROR, "the round still failing: 61 rounds in a row (RuntimeError: database is locked)",
                      False),
                     (logging.ERROR, "the round still failing: 121 rounds in a row (RuntimeError: database is locked)",
                      False),
                     (logging.INFO, "the round works again after 150 failed rounds", False)]
