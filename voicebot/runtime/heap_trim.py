"""Give freed heap memory back to the operating system now and then (glibc's ``malloc_trim``).

A long-running ``voicebot serve`` allocates and frees per call (numpy frames, decoder buffers, SQLAlchemy
rows, onnxruntime and CTranslate2 scratch) from many threads. glibc keeps what is freed inside its heaps and
only returns the top of a heap, so RSS grew in steps: +69 MB over 2,000 keypad calls (``bench/sip_soak.py``),
never returned after the last call, while Python's own objects stayed flat (tracemalloc). The same soak with
``malloc_trim(0)`` every few seconds: +4.8 MB from call 200 to 1,000, against +33 MB without
(``docs/benchmarks.md``). Elsewhere (musl, macOS) there is no ``malloc_trim`` and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("voicebot.memory")

#: Seconds between two trims: often enough to keep RSS flat, rare enough to cost nothing measurable.
DEFAULT_INTERVAL = 10.0


def glibc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class HeapTrimmer:
    """``start()`` calls ``trim`` in a daemon thread every ``interval`` seconds until ``stop()``."""

    def __init__(self, trim: Callable[[], int] | None = None, interval: float = DEFAULT_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError("the trim interval must be positive")
        self.trim = trim if trim is not None else glibc_trim()
        self.interval = interval
        self.trims = 0
        self.longest_ms = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HeapTrimmer:
        if self.trim is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="heap-trim", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        assert self.trim is not None
        while not self._stop.wait(self.interval):
            started = time.perf_counter()
            self.trim()
            took = (time.perf_counter() - started) * 1000
            self.trims += 1
            self.longest_ms = max(self.longest_ms, took)
            log.debug("heap trimmed in %.1f ms", took)
