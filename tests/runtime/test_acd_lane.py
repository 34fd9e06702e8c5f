"""The ACD port's database writes never run on the call's 20 ms tick (issue 9): a slow ACD (a database busy with
another node's claim) blocks its own lane, while the caller keeps hearing hold audio; the writes still happen in
order (an enqueue still pending when the caller hangs up is cancelled after it lands)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from tests.runtime.call_harness import SPEECH, make_media, run
from tests.runtime.test_bridge_phase import FakeLeg
from tests.runtime.test_call import FakeAcd, ask_for_an_agent, until
from voicebot.actions import Handoff
from voicebot.runtime.call import Call
from voicebot.runtime.call_events import Enqueued
from voicebot.runtime.ports import CallControl

__all__ = ["engine"]
from tests.runtime.call_harness import engine

WAIT_S = 10  # a bound, never a pause: each wait returns as soon as its condition holds


class SlowAcd(FakeAcd):
    """An ACD port whose writes block until the test releases them (a database stuck on a lock)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered: list[str] = []
        self.order: list[str] = []

    def _slow(self, what: str) -> None:
        self.entered.append(what)
        assert self.release.wait(WAIT_S), f"{what} was never released"
        self.order.append(what)

    def enqueue(self, call_id: str, handoff: Handoff, call: CallControl) -> str:
        self._slow("enqueue")
        return super().enqueue(call_id, handoff, call)

    def cancel(self, ticket: str) -> None:
        self._slow("cancel")
        super().cancel(ticket)

    def complete(self, ticket: str, reason: str = "caller hung up") -> None:
        self._slow("complete")
        super().complete(ticket, reason)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="acd-test") as executor:
        yield executor


def eventually(done: Callable[[], bool]) -> None:
    stop = threading.Event()
    for _ in range(WAIT_S * 100):
        if done():
            return
        stop.wait(0.01)
    raise AssertionError("the condition never held")


def slow_call(engine: Engine, tmp_path: Path, pool: ThreadPoolExecutor) -> tuple[Call, SlowAcd]:
    acd = SlowAcd()
    call = make_media(engine, tmp_path, [], acd=acd, acd_writes=pool)  # the rest of the call on virtual time
    return call, acd


def test_a_slow_enqueue_does_not_stop_the_tick_the_caller_hears_hold_audio(
        engine: Engine, tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    call, acd = slow_call(engine, tmp_path, pool)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")  # the tick went on although the enqueue cannot finish
    eventually(lambda: acd.entered == ["enqueue"])
    held = np.concatenate(run(call, 100))  # two seconds of the call while the database is stuck
    assert acd.order == [] and call.ticket is None and not call.finished
    assert np.abs(held).max() > 1000  # hold audio, not dead air
    assert not [e for e in call.events if isinstance(e, Enqueued)]
    acd.release.set()
    eventually(lambda: call.ticket is not None)
    run(call, 1)
    assert [e.ticket for e in call.events if isinstance(e, Enqueued)] == ["ticket-1"]


def test_a_caller_leaving_before_the_enqueue_landed_is_cancelled_after_it(
        engine: Engine, tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    call, acd = slow_call(engine, tmp_path, pool)
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    eventually(lambda: acd.entered == ["enqueue"])
    call.hang_up()  # returns at once: the cancel waits in the call's lane behind the enqueue
    assert call.finished and acd.order == []
    acd.release.set()
    eventually(lambda: acd.order == ["enqueue", "cancel"])
    assert acd.cancelled == ["ticket-1"]


def test_a_slow_complete_does_not_hold_up_the_end_of_a_bridged_call(
        engine: Engine, tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    call, acd = slow_call(engine, tmp_path, pool)
    acd.release.set()  # the enqueue goes through
    ask_for_an_agent(call)
    until(call, lambda: call.phase == "queued")
    eventually(lambda: call.ticket is not None)
    acd.release.clear()  # now the database sticks
    leg = FakeLeg()
    call.offer("alice")
    call.bridge("alice", leg)
    run(call, 20, frame=SPEECH)
    call.hang_up()
    assert call.finished and leg.hung_up == 1  # BYE to the agent at once, not after the database
    eventually(lambda: acd.entered[-1:] == ["complete"])
    assert acd.completed == []
    acd.release.set()
    eventually(lambda: acd.completed == ["ticket-1"])
