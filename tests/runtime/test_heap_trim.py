"""voicebot.runtime.heap_trim: freed heap memory given back to the OS now and then (RSS flat over a soak)."""

from __future__ import annotations

import sys
import threading

import pytest

from voicebot.runtime.heap_trim import HeapTrimmer, glibc_trim


def test_the_trimmer_trims_every_interval_until_stopped() -> None:
    done = threading.Event()
    calls: list[int] = []

    def trim() -> int:
        calls.append(1)
        if len(calls) == 3:
            done.set()
        return 1

    trimmer = HeapTrimmer(trim, interval=0.01).start()
    try:
        assert done.wait(10)
    finally:
        trimmer.stop()
    seen = len(calls)
    assert trimmer.trims >= 3 and trimmer.longest_ms >= 0
    assert not (trimmer._thread and trimmer._thread.is_alive())
    assert len(calls) == seen  # nothing after stop()


def test_without_malloc_trim_nothing_runs() -> None:
    trimmer = HeapTrimmer(None, interval=0.01)
    trimmer.trim = None  # a C library without malloc_trim (musl, macOS)
    trimmer.start()
    assert trimmer._thread is None
    trimmer.stop()


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        HeapTrimmer(lambda: 0, interval=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux-only")
def test_glibc_malloc_trim_is_found_and_callable_here() -> None:
    trim = glibc_trim()
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was released, 0: none could be
