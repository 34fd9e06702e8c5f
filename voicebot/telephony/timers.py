"""One thread running the SIP timers (retransmissions, ACK wait, ring timeouts): callbacks must be short."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("voicebot.sip")


class Timer:
    """A handle: :meth:`cancel` stops a timer that has not fired yet."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    def __init__(self, name: str = "sip-timers") -> None:
        self._heap: list[tuple[float, int, Timer, Callable[[], None]]] = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def after(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer()
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._count), timer, callback))
            self._cond.notify()
        return timer

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if not self._running:
                    return
                _, _, timer, callback = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                callback()
            except Exception:
                log.exception("SIP timer failed")
