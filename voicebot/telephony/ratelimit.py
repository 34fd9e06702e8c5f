"""Warnings about bad input, rate-limited: one line per key and interval, then a count of what was suppressed.

A flood of garbage datagrams must not become a flood of log lines (issue 8 item 7: 1,500 lines a run).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; True if this one was logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            suppressed = self._suppressed.pop(key, 0)
            self._last[key] = now
            if len(self._last) > 1000:  # keys include ports: forget old ones
                self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        if suppressed:
            message += f" (and {suppressed} more like it in the last {self.interval:.0f} s)"
        self.logger.warning(message, *args)
        return True
