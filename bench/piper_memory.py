"""Piper's memory over many different sentences, with and without onnxruntime's CPU memory arena.

Each variant runs in its own process (so neither inherits the other's heap): the packaged voice is loaded,
then ``--rounds`` rounds of ``--threads`` threads each synthesize ``--sentences`` sentences of varying length
(a greeting with a name, an amount, 0-3 extra clauses: the dynamic prompts a server renders per call). RSS is
printed after every round, with the CPU seconds per sentence. Variants: "arena" is onnxruntime's default (the
arena never shrinks); "shrink" what voicebot runs (:class:`voicebot.tts.piper_engine.ShrinkingSession`: the arena
shrunk every ``SHRINK_EVERY`` syntheses); "no-arena" frees each sentence's tensors when it is done. Run it under
the allocator the server runs with (``LD_PRELOAD=libjemalloc.so.2`` as deployed): what the arena saves depends
on it.

    .venv/bin/python bench/piper_memory.py [--rounds 30] [--threads 2] [--sentences 10]

Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time

from proc_status import rss_mb

#: The arena never shrunk (onnxruntime's default), shrunk every SHRINK_EVERY runs (voicebot's), no arena.
VARIANTS = ("arena", "shrink", "no-arena")
NAMES = ("Alice", "Bob Smith", "Carol", "Dmitri Ivanovich", "Eve")


def run_variant(variant: str, rounds: int, threads: int, sentences: int) -> None:
    import onnxruntime  # type: ignore[import-untyped]

    from voicebot.tts import piper_engine

    chosen = piper_engine.session_options

    def options(count: int | None) -> onnxruntime.SessionOptions:
        made = chosen(count)
        made.enable_cpu_mem_arena = variant != "no-arena"
        return made

    piper_engine.session_options = options  # type: ignore[assignment]  # the variant under test
    synth = piper_engine.PiperSynthesizer()
    if variant != "shrink":
        synth._voice.session._every = 0  # never shrunk: onnxruntime's own behaviour

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(sentences):
            amount = rng.randint(0, 999_999) / 100
            synth.synthesize(f"Welcome back, {rng.choice(NAMES)}. Your balance is {amount:,.2f} dollars."
                             + " Is there anything else I can help you with today?" * rng.randint(0, 3))

    label = variant
    print(f"{label:>8} loaded: RSS {rss_mb():.1f} MB", flush=True)
    for number in range(rounds):
        cpu = time.process_time()
        workers = [threading.Thread(target=work, args=(number * 100 + i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        per_sentence = (time.process_time() - cpu) / (threads * sentences)
        print(f"{label:>8} round {number + 1:>3}: RSS {rss_mb():7.1f} MB, "
              f"CPU {per_sentence * 1000:5.0f} ms per sentence", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2, help="syntheses at a time (the server's pool has 2)")
    parser.add_argument("--sentences", type=int, default=10, help="sentences per thread per round")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.rounds, args.threads, args.sentences)
        return 0
    for variant in VARIANTS:
        subprocess.run([sys.executable, __file__, "--variant", variant, "--rounds", str(args.rounds),
                        "--threads", str(args.threads), "--sentences", str(args.sentences)], check=True, timeout=1800)
    return 0


if __name__ == "__main__":
    sys.exit(main())
