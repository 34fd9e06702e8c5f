"""A call's ordered lane of work on a shared pool."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from voicebot.runtime.serial_work import SerialWork


def test_jobs_of_one_lane_run_in_order_and_never_two_at_once() -> None:
    done: list[int] = []
    running = 0
    most = 0
    lock = threading.Lock()

    def job(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1
            done.append(n)
        return n * 10

    with ThreadPoolExecutor(4) as pool:
        lane = SerialWork(pool)
        futures = [lane.submit(lambda n=n: job(n)) for n in range(20)]  # type: ignore[misc]
        assert [f.result(5) for f in futures] == [n * 10 for n in range(20)]
    assert done == list(range(20)) and most == 1
    assert lane.idle


def test_two_lanes_share_the_pool_and_run_side_by_side() -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        slow, fast = SerialWork(pool), SerialWork(pool)
        blocked = slow.submit(lambda: gate.wait(5))
        assert fast.submit(lambda: "through").result(2) == "through"  # not stuck behind the other call
        assert not blocked.done()
        gate.set()
        assert blocked.result(2) is True


def test_without_an_executor_a_job_runs_at_once_and_its_error_is_kept() -> None:
    lane = SerialWork(None)
    assert lane.submit(lambda: 7).result(0) == 7

    def fail() -> None:
        raise ValueError("bad step")

    future = lane.submit(fail)
    assert future.done()
    with pytest.raises(ValueError, match="bad step"):
        future.result()
