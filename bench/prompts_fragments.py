"""Benchmark: first audio of the demo bank's balance sentence, synthesized whole vs digit strings from fragments.

The balance prompt ("For your checking account ending in <four digits>, the balance is <amount>.") is said
on every balance call with different digits and amounts. Measured with the real Piper voice and an 8 kHz
cache in a temporary folder, for ``--calls`` prompts with random digits and amounts, after one warm-up
call:

* ``whole clause``: the first clause synthesized as one piece, as before issue 12 (what a caller waits
  for before the first audio);
* ``fragments``: ``PromptCache.stream``'s first chunk now: the lead-in from memory, then the digits from
  per-digit recordings.

Also prints the durations of both renderings of one clause (the fragments' pauses make it longer). Prints
figures only; nothing is asserted.

    .venv/bin/python bench/prompts_fragments.py [--calls 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from voicebot.flow.sayas import say_currency
from voicebot.tts.cache import PromptCache
from voicebot.tts.piper_engine import PiperSynthesizer

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def prompt(rng: random.Random) -> tuple[str, str]:
    digits = " ".join(rng.choice(DIGITS) for _ in range(4))
    amount = say_currency(Decimal(rng.randrange(100, 999999)) / 100)
    clause = f"For your checking account ending in {digits},"
    return clause, f"{clause} the balance is {amount}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(12)
    synthesizer = PiperSynthesizer()
    with tempfile.TemporaryDirectory() as folder:
        cache = PromptCache(Path(folder), synthesizer)
        next(cache.stream(prompt(rng)[1]))  # warm-up: Piper loaded, the lead-in and some digits recorded
        whole, fragments = [], []
        for _ in range(args.calls):
            clause, text = prompt(rng)
            started = time.perf_counter()
            cache._synthesize(clause)  # the whole clause, as before
            whole.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            next(cache.stream(text))
            fragments.append((time.perf_counter() - started) * 1000)
        clause, text = prompt(rng)
        one = cache._synthesize(clause)
        pieces = list(cache.stream(clause))
    for name, values in (("whole clause", whole), ("fragments", fragments)):
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(f"{name:<13} first audio p50 {statistics.median(values):6.1f} ms, p95 {p95:6.1f} ms (n={len(values)})")
    rate = cache.rate
    print(f"clause duration: whole {len(one) / rate:.2f} s, fragments {sum(len(p) for p in pieces) / rate:.2f} s")


if __name__ == "__main__":
    main()
