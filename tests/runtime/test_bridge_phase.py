"""The waiting and bridged phases of a call (issue 9): announcements over hold music that an agent's answer
cuts at once, the 20 ms relay both ways, the agent dropping mid-call, the caller hanging up while bridged.
Virtual time with fast fakes (the real legs are in tests/telephony/test_live_queue.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from tests.runtime.call_harness import SPEECH, make_media, run
from tests.runtime.test_call import FakeAcd, ask_for_an_agent, until
from voicebot.runtime.call import AGENT_DROPPED, FRAME
from voicebot.runtime.call_events import Abandoned, AgentDropped, AgentHungUp, CallEnded, PhaseChanged, PromptQueued
from voicebot.runtime.hold_music import hold_music
from voicebot.runtime.ports import BridgeRules

__all__ = ["engine"]
from tests.runtime.call_harness import engine


class FakeLeg:
    """The agent's phone: a steady tone as their voice, and what it was sent."""

    def __init__(self) -> None:
        self.voice = np.full(FRAME, 1234, dtype=np.int16)
        self.sent: list[np.ndarray] = []
        self.ended = False
        self.hung_up = 0
        self.buffered_frames = 0

    def read_frame(self) -> np.ndarray | None:
        return None if self.ended else self.voice.copy()

    def write_frame(self, frame: np.ndarray) -> None:
        self.sent.append(frame.copy())

    def hang_up(self) -> None:
        self.hung_up += 1
        self.ended = True


def queued_call(engine: Engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    acd = FakeAcd()
    call = make_media(engine, tmp_path, [], acd=acd)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    return call, acd


def test_hold_music_is_generated_loops_without_a_click_and_stays_quiet() -> None:
    clip = hold_music()
    assert len(clip) == 16 * 8000 and clip[0] == 0 and abs(int(clip[-1])) < 50
    assert 4000 < np.abs(clip).max() <= 8000  # about -12 dBFS: never louder than the prompts


def test_an_announcement_plays_over_hold_and_an_answer_cuts_it_at_once(engine: Engine, tmp_path: Path) -> None:
    call, _acd = queued_call(engine, tmp_path)
    call.announce("You are number 2 in line.")
    run(call, 5)
    assert call.speaking  # the announcement is playing
    assert [e.text for e in call.events if isinstance(e, PromptQueued)][-1] == "You are number 2 in line."
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    [first] = run(call, 1, frame=SPEECH)
    # the very next frame is the agent's voice: the announcement never delays the bridge
    assert call.phase == "bridged" and not call.speaking
    assert np.array_equal(first, leg.voice)
    assert np.array_equal(leg.sent[0], SPEECH)  # and the caller's frame went to the agent in the same tick


def test_the_bridge_relays_every_frame_both_ways(engine: Engine, tmp_path: Path) -> None:
    call, _acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    out = run(call, 100, frame=SPEECH)
    assert len(leg.sent) == 100 and all(np.array_equal(f, SPEECH) for f in leg.sent)
    assert all(np.array_equal(f, leg.voice) for f in out)


def test_an_agent_dropping_sends_the_caller_back_to_the_queue_with_an_apology(engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 50, frame=SPEECH)
    leg.ended = True  # the agent hung up
    run(call, 1)
    assert call.phase == "queued" and acd.dropped == ["ticket-1"]
    assert [e.agent for e in call.events if isinstance(e, AgentDropped)] == ["alice"]
    assert [e.text for e in call.events if isinstance(e, PromptQueued)][-1] == AGENT_DROPPED
    assert call.playout.holding and not call.finished
    # a second agent takes the caller
    second = FakeLeg()
    call.offer("bob")
    call.bridge("bob", second)
    run(call, 3, frame=SPEECH)
    assert call.phase == "bridged" and len(second.sent) == 3


RULES = BridgeRules(requeue_within_ms=2000, media_timeout_ms=1000, closing_prompt="Thank you for calling. Goodbye.")


def test_an_agent_hanging_up_after_talking_ends_the_call_with_the_closing_prompt(
        engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg, RULES)
    run(call, 150, frame=SPEECH)  # 3 s of conversation: past the 2 s within which a leaving agent is a slip
    leg.ended = True  # the agent hung up
    run(call, 1)
    assert call.phase == "wrap_up" and not call.finished
    assert acd.completed == ["ticket-1"] and acd.reasons == ["agent hung up"] and acd.dropped == []
    assert [e.agent for e in call.events if isinstance(e, AgentHungUp)] == ["alice"]
    assert [e.text for e in call.events if isinstance(e, PromptQueued)][-1] == RULES.closing_prompt
    assert not call.playout.holding and leg.hung_up == 0  # the agent's BYE ended their leg: none sent back
    until(call, lambda: call.finished)  # the closing prompt plays to its end, then the call ends (BYE)
    assert call.ended_by == "agent"
    [ended] = [e for e in call.events if isinstance(e, CallEnded)]
    assert ended.ended_by == "agent" and ended.phase == "wrap_up"
    phases = [(e.before, e.after) for e in call.events if isinstance(e, PhaseChanged)]
    assert phases[-2:] == [("bridged", "wrap_up"), ("wrap_up", "ended")]
    assert acd.completed == ["ticket-1"]  # once


def test_a_caller_hanging_up_during_the_closing_prompt_completes_nothing_twice(engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg, RULES)
    run(call, 150)
    leg.ended = True
    run(call, 5)
    call.hang_up()
    assert call.finished and acd.completed == ["ticket-1"] and acd.cancelled == []


def test_an_agent_leaving_within_the_rules_time_is_a_lost_leg(engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg, RULES)
    run(call, 99)  # 1.98 s: within the 2 s
    leg.ended = True
    run(call, 1)
    assert call.phase == "queued" and acd.dropped == ["ticket-1"] and acd.completed == []


class QuietLeg(FakeLeg):
    """An agent's phone that vanished: no BYE, no audio any more."""

    def __init__(self) -> None:
        super().__init__()
        self.silent = False

    def read_frame(self) -> np.ndarray | None:
        return None if self.silent or self.ended else self.voice.copy()


def test_no_audio_from_the_agent_for_the_media_timeout_is_a_lost_leg(engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = QuietLeg()
    call.offer("alice")
    call.bridge("alice", leg, RULES)
    run(call, 300, frame=SPEECH)  # 6 s of talk: long past the slip window
    leg.silent = True
    run(call, 49)  # 0.98 s of nothing: a gap, not yet a lost leg
    assert call.phase == "bridged" and leg.hung_up == 0
    leg.silent = False
    run(call, 1)
    leg.silent = True
    run(call, 49)
    assert call.phase == "bridged"  # the quiet time starts again after any frame
    run(call, 1)  # 1 s of nothing
    assert call.phase == "queued" and leg.hung_up == 1  # BYE to the phone, in case it is still there
    assert acd.dropped == ["ticket-1"] and acd.completed == []
    assert [e.text for e in call.events if isinstance(e, PromptQueued)][-1] == AGENT_DROPPED


def test_a_caller_hanging_up_while_bridged_ends_the_agent_leg_and_completes_once(
        engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 20, frame=SPEECH)
    call.hang_up()
    assert call.finished and call.ended_by == "caller"
    assert leg.hung_up == 1 and acd.completed == ["ticket-1"] and acd.cancelled == []
    assert acd.reasons == ["caller hung up"]


def test_the_agent_side_finishing_releases_both_legs(engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 5)
    call.finish()
    run(call, 1)
    assert call.finished and call.ended_by == "acd" and leg.hung_up == 1 and acd.completed == ["ticket-1"]


class BurstyLeg(FakeLeg):
    """An agent leg with a backlog of numbered frames (a burst after a stall)."""

    def __init__(self, backlog: int) -> None:
        super().__init__()
        self.frames = [np.full(FRAME, n, dtype=np.int16) for n in range(1, backlog + 1)]

    @property  # type: ignore[override]
    def buffered_frames(self) -> int:
        return len(self.frames)

    @buffered_frames.setter
    def buffered_frames(self, _value: int) -> None:
        pass

    def read_frame(self) -> np.ndarray | None:
        return self.frames.pop(0) if self.frames else None


def test_a_burst_from_the_agent_does_not_become_a_standing_delay(engine: Engine, tmp_path: Path) -> None:
    call, _acd = queued_call(engine, tmp_path)
    leg = BurstyLeg(0)
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 1)
    leg.frames = [np.full(FRAME, n, dtype=np.int16) for n in range(1, 11)]  # ten frames at once
    [out] = run(call, 1)
    assert int(out[0]) == 8 and len(leg.frames) == 2  # the oldest dropped; 40 ms of jitter allowance kept
    [out] = run(call, 1)
    assert int(out[0]) == 9


def test_a_caller_who_chose_a_callback_and_hangs_up_during_the_goodbye_did_not_abandon(
        engine: Engine, tmp_path: Path) -> None:
    call, acd = queued_call(engine, tmp_path)
    run(call, 1, keys="1")
    run(call, 1, keys="1")
    assert acd.callbacks == [("ticket-1", "15550100001")]
    run(call, 5)
    call.hang_up()  # before the goodbye ends
    assert call.finished and acd.cancelled == []
    assert not [e for e in call.events if isinstance(e, Abandoned)]


class ListRecorder:
    """The call's recording as a list of (caller, IVR or agent) frames."""

    path = Path("unused.wav")

    def __init__(self) -> None:
        self.frames: list[tuple[np.ndarray, np.ndarray]] = []

    def write(self, caller: np.ndarray, ivr: np.ndarray) -> None:
        self.frames.append((caller.copy(), ivr.copy()))

    def close(self) -> None:
        pass


def test_caller_audio_caught_up_while_bridged_is_recorded_not_relayed(engine: Engine, tmp_path: Path) -> None:
    # The call's loop fell behind (a stall): the frames that piled up are heard between ticks (Call.hear). The
    # agent hears the caller's newest audio, as the relay treats the agent's own backlog; the recording keeps all.
    call, _acd = queued_call(engine, tmp_path)
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 2, frame=SPEECH)
    recorder = ListRecorder()
    call.recorder = recorder
    sent, now_ms = len(leg.sent), call.now_ms
    older = np.full(FRAME, 777, dtype=np.int16)
    for _ in range(5):
        call.hear(older)
    assert len(leg.sent) == sent  # nothing extra went to the agent's phone
    assert call.now_ms == now_ms + 5 * 20  # the call's clock counts the audio heard
    assert [(int(c[0]), int(i.max())) for c, i in recorder.frames] == [(777, 0)] * 5
    run(call, 1, frame=SPEECH)
    assert len(leg.sent) == sent + 1 and np.array_equal(leg.sent[-1], SPEECH)
