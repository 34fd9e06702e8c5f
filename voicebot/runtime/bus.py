"""A small in-process event bus: calls publish their lifecycle events, whoever cares subscribes.

Storage, the ACD, the web console and metrics subscribe here instead of scraping log lines or strings.
Handlers run synchronously on the publisher's thread (a call's tick), in subscription order, so they must be
quick; a handler that raises is logged and skipped, and never reaches the call or the other subscribers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("voicebot.bus")

E = TypeVar("E")
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[type[Any] | tuple[type[Any], ...], Handler]] = []

    def subscribe(self, handler: Callable[[E], None],
                  kinds: type[E] | tuple[type[Any], ...] = object) -> Callable[[], None]:  # type: ignore[assignment]
        """Call ``handler`` with every published event that is an instance of ``kinds``; returns unsubscribe."""
        entry: tuple[type[Any] | tuple[type[Any], ...], Handler] = (kinds, handler)
        with self._lock:
            self._subscribers = [*self._subscribers, entry]  # copy on write: publish never holds the lock

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not entry]

        return unsubscribe

    def publish(self, event: object) -> None:
        for kinds, handler in self._subscribers:
            if not isinstance(event, kinds):
                continue
            try:
                handler(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", handler, type(event).__name__)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
