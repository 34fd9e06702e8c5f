"""Clocks: whatever needs "now" takes one, so tests and simulations run on virtual time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """Virtual time that moves only when told to (conversation tests, the text console)."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:  # 2026-11-18, inside the demo data
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._now += seconds
