"""The call owner's phases: the handoff policy with and without an ACD, the ACD driving a waiting call,
the goodbye on shutdown, and what "self-served" means (issue 8 item 8), on virtual time with fast fakes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from tests.runtime.call_harness import SPEECH, Call, engine, make_media, run, until_listening
from voicebot.actions import Handoff
from voicebot.runtime.call import GOODBYE, TRANSITIONS, PhaseError
from voicebot.runtime.call_events import Abandoned, Bridged, CallEnded, Enqueued, Offered, PhaseChanged, PromptPlayed
from voicebot.runtime.ports import CallControl

__all__ = ["engine"]  # the fixture


class FakeAcd:
    """An ACD port that remembers what it was asked (the real ACD comes with the next step of issue 9)."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, Handoff, CallControl]] = []
        self.cancelled: list[str] = []
        self.completed: list[str] = []
        self.reasons: list[str] = []
        self.dropped: list[str] = []
        self.callbacks: list[tuple[str, str]] = []

    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        self.enqueued.append((call_id, handoff, call))
        return f"ticket-{len(self.enqueued)}"

    def cancel(self, ticket: str) -> None:
        self.cancelled.append(ticket)

    def complete(self, ticket: str, reason: str = "caller hung up") -> None:
        self.completed.append(ticket)
        self.reasons.append(reason)

    def agent_dropped(self, ticket: str) -> None:
        self.dropped.append(ticket)

    def request_callback(self, ticket: str, number: str) -> None:
        self.callbacks.append((ticket, number))


def ask_for_an_agent(call: Call) -> None:
    run(call, 10)
    run(call, 1, keys="0")  # "press 0 for an agent", at the main menu


def until(call: Call, done: Callable[[], bool], limit: int = 3000) -> None:
    for _ in range(limit):
        if done():
            return
        run(call, 1)
    raise AssertionError("the call never got there")


def record(call: Call):  # type: ignore[no-untyped-def]
    return call.session.store.get_call(call.call_id)


# ----- the phase table -----------------------------------------------------------------------------

def test_the_phases_a_call_moves_through() -> None:
    assert TRANSITIONS["ivr"] == {"queued", "ended"}
    assert TRANSITIONS["queued"] == {"ringing", "ended"}
    assert TRANSITIONS["ringing"] == {"bridged", "queued", "ended"}
    assert TRANSITIONS["bridged"] == {"wrap_up", "queued", "ended"}  # queued: the agent dropped
    assert TRANSITIONS["ended"] == frozenset()
    for before, afters in TRANSITIONS.items():
        assert before not in afters  # no phase moves to itself


def test_a_transition_the_phase_does_not_allow_is_refused_and_the_call_goes_on(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    call = make_media(engine, tmp_path, [])
    call.bridge("alice")  # nobody is waiting: an ACD bug, never the caller's doing
    with caplog.at_level(logging.ERROR, logger="voicebot.call"):
        run(call, 1)
    assert call.phase == "ivr" and not call.finished
    assert "ACD command refused" in caplog.text and "ivr -> bridged is not a transition" in caplog.text
    assert not any(isinstance(e, Bridged) for e in call.events)
    run(call, 20)
    assert call.speaking  # the greeting goes on
    with pytest.raises(PhaseError):
        call._move("wrap_up")  # the table itself refuses


# ----- the handoff policy --------------------------------------------------------------------------

def test_without_an_acd_a_handoff_ends_the_call_after_the_transfer_prompt(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, [])
    ask_for_an_agent(call)
    until(call, lambda: call.finished)
    assert call.ended_by == "ivr" and call.phase == "ended"
    played = [e.node for e in call.events if isinstance(e, PromptPlayed)]
    assert played and played[-1].startswith("agent")  # the transfer prompt played to its end first
    ended = [e for e in call.events if isinstance(e, CallEnded)]
    assert [(e.outcome, e.phase, e.ended_by) for e in ended] == [("handoff", "ivr", "ivr")]
    assert record(call).outcome == "handoff"


def test_with_an_acd_the_caller_waits_on_hold_until_an_agent_answers(engine: Engine, tmp_path: Path) -> None:
    acd = FakeAcd()
    call = make_media(engine, tmp_path, [], acd=acd)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    [(call_id, handoff, control)] = acd.enqueued
    assert call_id == call.call_id and handoff.queue == "general" and control is call
    assert [e.ticket for e in call.events if isinstance(e, Enqueued)] == ["ticket-1"]
    hold = np.concatenate(run(call, 250))  # five seconds of waiting: hold audio, not silence
    assert np.abs(hold).max() > 1000 and not call.finished
    control.offer("alice")
    run(call, 1)
    assert call.phase == "ringing" and [e.agent for e in call.events if isinstance(e, Offered)] == ["alice"]
    assert np.abs(np.concatenate(run(call, 250))).max() > 1000  # the caller still hears hold audio
    control.requeue()  # alice did not answer: back to the queue, same ticket
    control.offer("bob")
    control.bridge("bob")
    run(call, 1)
    assert call.phase == "bridged" and [e.agent for e in call.events if isinstance(e, Bridged)] == ["bob"]
    assert np.abs(np.concatenate(run(call, 10))).max() == 0  # hold audio stopped at once
    control.finish()
    run(call, 1)
    assert call.finished and call.ended_by == "acd"
    phases = [(e.before, e.after) for e in call.events if isinstance(e, PhaseChanged)]
    assert phases == [("ivr", "queued"), ("queued", "ringing"), ("ringing", "queued"), ("queued", "ringing"),
                      ("ringing", "bridged"), ("bridged", "wrap_up"), ("wrap_up", "ended")]
    assert acd.cancelled == []


def test_a_caller_who_hangs_up_while_queued_is_withdrawn_and_counted_abandoned(
        engine: Engine, tmp_path: Path) -> None:
    acd = FakeAcd()
    call = make_media(engine, tmp_path, [], acd=acd)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    run(call, 100)
    call.hang_up()
    assert call.finished and call.ended_by == "caller" and acd.cancelled == ["ticket-1"]
    [abandoned] = [e for e in call.events if isinstance(e, Abandoned)]
    assert abandoned.phase == "queued" and abandoned.waited_ms == 2020  # from the tick it was enqueued in
    assert [e.phase for e in call.events if isinstance(e, CallEnded)] == ["queued"]


# ----- shutdown ------------------------------------------------------------------------------------

def test_on_shutdown_a_caller_in_the_ivr_hears_the_goodbye_then_the_call_ends(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, [])
    run(call, 50)  # into the greeting
    call.shutdown()
    out = until_goodbye_played(call)
    assert call.finished and call.ended_by == "shutdown"
    prompts = [e.data["text"] for e in call.events if e.kind == "prompt"]
    assert prompts[-1] == GOODBYE
    assert [e.node for e in call.events if isinstance(e, PromptPlayed)][-1] == "shutdown"
    goodbye = call.playout.prompts.render(GOODBYE)
    assert np.array_equal(out[: len(goodbye)], goodbye)  # the greeting was cut; the goodbye played whole
    assert record(call).ended_at is not None


def test_on_shutdown_a_waiting_caller_is_withdrawn_and_hears_the_goodbye(engine: Engine, tmp_path: Path) -> None:
    acd = FakeAcd()
    call = make_media(engine, tmp_path, [], acd=acd)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    call.shutdown()
    until_goodbye_played(call)
    assert call.finished and call.ended_by == "shutdown" and acd.cancelled == ["ticket-1"]


def until_goodbye_played(call: Call) -> np.ndarray:
    frames = []
    for _ in range(1000):
        if call.finished:
            break
        frames += run(call, 1)
    assert call.finished
    return np.concatenate(frames)


# ----- self-served means the caller heard the answer (issue 8 item 8) ------------------------------

def key_the_pin(call: Call) -> None:
    run(call, 1, keys="1")  # balance
    for key in "1234":
        run(call, 5, keys=key)


def test_hanging_up_right_after_the_last_pin_digit_is_not_self_served(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, [])
    key_the_pin(call)
    assert any("the balance is" in e.data.get("text", "") for e in call.events if e.kind == "prompt")
    call.hang_up()
    assert record(call).outcome == "abandoned_during_answer" and record(call).authenticated


def test_hanging_up_during_the_balance_is_not_self_served(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, [])
    key_the_pin(call)
    run(call, 100)  # two seconds into the balance
    assert call.speaking
    call.hang_up()
    assert record(call).outcome == "abandoned_during_answer"


def test_hanging_up_after_hearing_the_whole_balance_is_self_served(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, [])
    key_the_pin(call)
    until(call, lambda: any(isinstance(e, PromptPlayed) and e.node == "balance_say" for e in call.events))
    run(call, 20)  # into "Is there anything else?": the answer is heard, the question need not be
    call.hang_up()
    assert record(call).outcome == "self_served"


def test_a_flow_that_hangs_up_normally_stays_self_served(engine: Engine, tmp_path: Path) -> None:
    call = make_media(engine, tmp_path, ["no"])
    key_the_pin(call)
    until_listening(call)
    run(call, 15, SPEECH)  # "no": nothing else
    until(call, lambda: call.finished)
    assert call.ended_by == "ivr" and record(call).outcome == "self_served"


def test_a_caller_who_interrupts_their_answer_heard_it(engine: Engine, tmp_path: Path) -> None:
    # The caller barges in on the balance ("repeat"): they heard its start and chose to go on.
    call = make_media(engine, tmp_path, ["repeat"])
    key_the_pin(call)
    run(call, 50)
    run(call, 15, SPEECH)
    assert "barge_in" in [e.kind for e in call.events[-10:]]
    run(call, 100)
    call.hang_up()
    assert record(call).outcome == "self_served"

