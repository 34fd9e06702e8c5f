"""Warnings about bad input, rate-limited: one line per key and interval, then a count of what was suppressed.

A flood of garbage datagrams must not become a flood of log lines (issue 8 item 7: 1,500 lines a run), and the
count of what was suppressed must reach the log even when the flood stops: the next warning of the same key
carries it, or :meth:`RateLimitedLog.flush` (the user agent calls it every interval) writes it on its own.
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
        #: the newest suppressed warning of each key (message, args), written by :meth:`flush`
        self._newest: dict[str, tuple[str, tuple[object, ...]]] = {}

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; True if this one was logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                self._newest[key] = (message, args)
                return False
            suppressed = self._suppressed.pop(key, 0)
            self._newest.pop(key, None)
            self._last[key] = now
            if len(self._last) > 1000:  # keys include ports: forget old ones (their counts stay for flush)
                self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        if suppressed:
            message += f" (and {suppressed} more like it in the last {self.interval:.0f} s)"
        self.logger.warning(message, *args)
        return True

    def flush(self) -> int:
        """Write the count of every key whose suppressed warnings are older than ``interval`` and would otherwise
        wait for that key's next warning (which may never come: a flood that stopped). The line is the newest
        suppressed warning with the count of the others. Returns the number of lines written."""
        now = self._clock()
        due: list[tuple[str, int, tuple[str, tuple[object, ...]]]] = []
        with self._lock:
            for key, count in list(self._suppressed.items()):
                last = self._last.get(key)
                if last is not None and now - last < self.interval:
                    continue
                del self._suppressed[key]
                due.append((key, count, self._newest.pop(key)))
                self._last[key] = now  # the next warning of this key within the interval is suppressed again
        for _key, count, (message, args) in due:
            if count > 1:
                message += f" (and {count - 1} more like it in the last {self.interval:.0f} s)"
            self.logger.warning(message, *args)
        return len(due)
