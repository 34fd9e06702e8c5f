"""Models loaded once per process and shared by every call: a load-once registry for adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedModels(Generic[K, V]):
    """Each key is loaded once; callers asking for a key being loaded wait for that one loader
    rather than loading a second copy (a speech model can take seconds and hundreds of MB)."""

    def __init__(self) -> None:
        self._loaded: dict[K, V] = {}
        self._loading: dict[K, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: K, create: Callable[[K], V]) -> V:
        with self._lock:
            found = self._loaded.get(key)
            if found is not None:
                return found
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                found = self._loaded.get(key)
            if found is not None:
                return found
            value = create(key)
            with self._lock:
                self._loaded[key] = value
            return value

    def forget(self, matches: Callable[[K], bool]) -> None:
        """Drop the shared values whose key matches (freed once nobody uses them); for tests."""
        with self._lock:
            for key in [k for k in self._loaded if matches(k)]:
                del self._loaded[key]
