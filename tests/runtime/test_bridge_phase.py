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
from voicebot.runtime.call_events import Abandoned, AgentDropped, PromptQueued
from voicebot.runtime.hold_music import hold_music

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
