"""Benchmark: how long one 20 ms tick of a call takes while its prompts are synthesized off the tick.

The figure the old ``tests/runtime/test_media.py`` asserted (every tick under 10 ms), measured here instead of
asserted, because a test cannot time anything on a machine shared with other work. One banking call at a time
(the demo flow, a fresh SQLite file), with the shared pools (as on the SIP endpoint) and a fake voice that
takes ``--synth-ms`` per sentence, so the greeting and the balance are synthesized while the call ticks; the
caller keys 1 and the PIN 1234 and listens to the balance. Ticks run back to back with a short sleep between
them (no pacing: the tick's own cost is what is measured).

Prints figures only; nothing is asserted.

    .venv/bin/python bench/call_tick.py [--calls 5] [--synth-ms 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.audio.vad import EnergyVad
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.call import FRAME, Call, CallSpeech
from voicebot.runtime.clock import SystemClock
from voicebot.runtime.listen_turn import TurnInputs
from voicebot.runtime.pools import Executors
from voicebot.runtime.session import CallSession
from voicebot.runtime.speech import phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.storage.calls import CallStore
from voicebot.storage.db import create_tables, make_engine
from voicebot.storage.seed import seed_demo
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer

ROOT = Path(__file__).resolve().parents[1]
KEYS = {10: "1", 200: "1", 225: "2", 250: "3", 275: "4"}  # tick -> key: the menu choice, then the PIN
TICKS = 900  # 18 s of call: greeting, menu, PIN, balance


def one_call(folder: Path, index: int, synth_ms: int) -> list[float]:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    engine = make_engine(f"sqlite:///{folder}/bench-{index}.db")
    create_tables(engine)
    seed_demo(engine)
    session = CallSession(flow, default_registry(), CallStore(engine, folder / "spool"), SystemClock())
    voice = FakeSynthesizer(sample_rate=PHONE_RATE, delay=synth_ms / 1000)
    cache = PromptCache(folder / f"prompts-{index}", voice, rate=PHONE_RATE)  # empty: every prompt is synthesized
    call = Call(session, CallSpeech(cache, TurnInputs(FakeRecognizer([]), EnergyVad(), phrases_by_intent(flow))),
                Executors.shared())
    silence = np.zeros(FRAME, dtype=np.int16)
    durations = []
    call.start("+15550100001", "+18005550100")
    for tick in range(TICKS):
        began = time.perf_counter()
        call.tick(silence, KEYS.get(tick, ""))
        durations.append((time.perf_counter() - began) * 1000)
        if call.finished:
            break
        time.sleep(0.002)
    call.hang_up()
    engine.dispose()
    return durations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--synth-ms", type=int, default=200)
    args = parser.parse_args()
    ticks: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.calls):
            ticks += one_call(Path(folder), index, args.synth_ms)
    ticks.sort()
    q = statistics.quantiles(ticks, n=100)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.calls} calls, "
          f"{len(ticks)} ticks, synthesis {args.synth_ms} ms a sentence")
    print(f"tick: p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {ticks[-1]:.2f} ms (budget 20 ms)")


if __name__ == "__main__":
    main()
