"""The load-once registry behind the shared Vosk and Whisper models."""

from __future__ import annotations

import threading
import time

from voicebot.asr.shared import SharedModels


def test_concurrent_callers_share_one_load() -> None:
    models: SharedModels[str, object] = SharedModels()
    loads: list[str] = []

    def create(key: str) -> object:
        loads.append(key)
        time.sleep(0.05)  # slow enough that the other threads arrive while it loads
        return object()

    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(models.get("m", create))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["m"] and len({id(r) for r in results}) == 1


def test_forget_drops_matching_keys_only() -> None:
    models: SharedModels[tuple[str, int], str] = SharedModels()
    models.get(("a", 1), lambda k: "a1")
    models.get(("b", 1), lambda k: "b1")
    models.forget(lambda key: key[0] == "a")
    assert models.get(("a", 1), lambda k: "a1-again") == "a1-again"
    assert models.get(("b", 1), lambda k: "b1-again") == "b1"
