"""Benchmark: time to first audio of prompts (targets: cached <= 5 ms, fresh one-sentence p95 <= 300 ms).

Measures, with the real Piper voice (en_US-joe-medium) and an 8 kHz prompt cache in a temporary folder:

* a cached static prompt served from memory and from disk (``PromptCache.get``, and the first chunk of
  ``PromptCache.stream`` as the channel would ask for it), over 200 lookups each;
* a one-sentence dynamic prompt ("Your balance is ... dollars and ... cents.", a different amount each
  time so nothing is cached) synthesized fresh and resampled to 8 kHz, over 30 prompts;
* Piper's real-time factor (synthesis time / audio duration) at the native 22.05 kHz.

Prints figures only; nothing is asserted.

    .venv/bin/python bench/prompts_latency.py [--lookups 200] [--fresh 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from voicebot.flow.sayas import say_currency
from voicebot.tts.cache import PromptCache
from voicebot.tts.piper_engine import PiperSynthesizer

STATIC = "Welcome to Open Bank. How can I help you today?"
RTF_TEXTS = [
    "Thank you for calling Open Bank.",
    "Please say or key in your eight digit account number.",
    "For your balance, say balance or press 1. For recent transactions, say transactions or press 2.",
    "I'm sorry, our systems are not answering right now. Let me connect you to someone who can help.",
]


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):8.3f} ms   p95 {p95:8.3f} ms   max {ms[-1]:8.3f} ms   (n={len(ms)})"


def timed(action: Callable[[], object], before: Callable[[], None] | None, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        if before:
            before()
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--fresh", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (0: one per core)")
    args = parser.parse_args()

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores ({usable} usable), "
          f"Python {platform.python_version()}")

    started = time.perf_counter()
    voice = PiperSynthesizer(threads=args.threads or None)
    print(f"voice: {voice.voice} at {voice.sample_rate} Hz, {voice.settings}, {args.threads or 'default'} "
          f"onnxruntime threads; "
          f"loaded (with warm-up) in {time.perf_counter() - started:.2f} s")

    with tempfile.TemporaryDirectory() as folder:
        cache = PromptCache(Path(folder), voice)
        report = cache.build([STATIC])
        print(f"build: {report.rendered} rendered in {report.seconds * 1000:.0f} ms")

        print("\n(a) cached static prompt, time to first audio")
        cache.get(STATIC)
        print("  memory, get:          ", percentiles(timed(lambda: cache.get(STATIC), None, args.lookups)))
        print("  memory, stream first: ", percentiles(
            timed(lambda: next(cache.stream(STATIC)), None, args.lookups)))
        print("  disk,   get:          ", percentiles(
            timed(lambda: cache.get(STATIC), cache.clear_memory, args.lookups)))
        print("  disk,   stream first: ", percentiles(
            timed(lambda: next(cache.stream(STATIC)), cache.clear_memory, args.lookups)))

        print("\n(b) one-sentence dynamic prompt synthesized fresh (Piper + resample to 8 kHz), time to first audio")
        rng = random.Random(7)
        firsts: list[float] = []
        spoken: list[float] = []
        for _ in range(args.fresh):
            amount = f"{rng.randint(100, 9999)}.{rng.randint(1, 99):02d}"
            text = f"Your balance is {say_currency(amount)}."
            started = time.perf_counter()
            chunk = next(cache.stream(text))
            firsts.append(time.perf_counter() - started)
            spoken.append(len(chunk) / cache.rate)
        print("  fresh sentence:       ", percentiles(firsts))
        print(f"  audio per sentence: {statistics.mean(spoken):.2f} s on average; e.g. {text!r}")

    print("\n(c) Piper real-time factor (22.05 kHz, no resampling)")
    synth_seconds = audio_seconds = 0.0
    for _ in range(3):
        for text in RTF_TEXTS:
            started = time.perf_counter()
            audio = voice.synthesize(text)
            synth_seconds += time.perf_counter() - started
            audio_seconds += len(audio) / voice.sample_rate
    rtf = synth_seconds / audio_seconds
    print(f"  {audio_seconds:.1f} s of speech in {synth_seconds:.2f} s: real-time factor {rtf:.3f}")


if __name__ == "__main__":
    main()
