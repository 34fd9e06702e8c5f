"""Benchmark: Whisper recognition batched across callers against unbatched, at several numbers of callers.

No SIP and no prompts: only recognition, as the media loop schedules it. Each simulated caller says a corpus
utterance (phone audio of the banking flow's menu, yes/no and PIN nodes, recognized with that node's
grammar), waits for the result, listens to a "prompt" (a pause of 2-6 s, seeded; ``--think 0 0`` keeps the
recognizer saturated, to measure CPU per utterance at full load), and speaks again. Results
go through a recognition pool sized as the product sizes it (``parallel_jobs``). Measured per run: end of
speech -> result p50/p95 (the whole decoding, no preview), utterances decoded, CPU per utterance (this
process, 100 % = one core), the batches' mean size, and whether the results equal the unbatched ones.

Batch sizes alternate within each number of callers (one process, both models loaded), so the other load of
a shared machine falls on both alike.

    .venv/bin/python bench/asr_batching.py [--callers 10 20 30] [--batch 1 8] [--seconds 30] [--think 2 6]
    .venv/bin/python bench/asr_batching.py --micro   # CPU per utterance of each step at batch sizes 1-8
    .venv/bin/python bench/asr_batching.py --alone   # one caller: each utterance by each batch size, paired
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from voicebot.asr.base import GrammarSpec, RecognitionResult
from voicebot.asr.batching import BatchedWhisper
from voicebot.asr.select import WHISPER_WORKERS
from voicebot.asr.whisper_engine import WhisperRecognizer
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE
from voicebot.audio.resample import resample
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.speech import node_listen, phrases_by_intent
from voicebot.services.registry import default_registry
from voicebot.testing.accuracy import NODES
from voicebot.testing.corpus import audio_for, build_corpus

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("intent", "yes_no", "pin4")
PER_CATEGORY = 12


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def load_work(cache: Path) -> list[tuple[GrammarSpec, np.ndarray]]:
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    phrases = phrases_by_intent(flow)
    corpus = build_corpus()
    work = []
    for category in CATEGORIES:
        grammar = GrammarSpec.for_listen(node_listen(flow, NODES[category][0])[2], phrases)
        chosen = [u for u in corpus if u.category == category and u.voice.family in ("espeak", "flite")]
        for utterance in chosen[:PER_CATEGORY]:
            work.append((grammar, resample(audio_for(utterance, cache), PHONE_RATE, ASR_RATE)))
    return work


def run(recognizer: WhisperRecognizer, work: list[tuple[GrammarSpec, np.ndarray]], callers: int,
        seconds: float, reference: dict[int, RecognitionResult], think: tuple[float, float]) -> str:
    pool = ThreadPoolExecutor(recognizer.parallel_jobs, thread_name_prefix="recognize")
    latencies: list[float] = []
    differ = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    decoder = recognizer.model.model.model
    batches_before = len(decoder.batcher.batches) if isinstance(decoder, BatchedWhisper) else 0

    def caller(index: int) -> None:
        nonlocal differ
        rng = random.Random(index)
        time.sleep(rng.uniform(0, min(3.0, think[1])))  # callers do not all start speaking at once
        while time.monotonic() < stop:
            item = rng.randrange(len(work))
            grammar, audio = work[item]
            started = time.perf_counter()
            result = pool.submit(recognizer.transcribe, audio, grammar).result()
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                differ += result != reference[item]
            time.sleep(rng.uniform(*think))

    cpu = time.process_time()
    wall = time.perf_counter()
    with ThreadPoolExecutor(callers) as people:
        list(people.map(caller, range(callers)))
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    pool.shutdown()
    sizes = decoder.batcher.batches[batches_before:] if isinstance(decoder, BatchedWhisper) else []
    mean_batch = f"{sum(sizes) / len(sizes):.2f}" if sizes else "1"
    return (f"p50 {pct(latencies, 50):.0f} p95 {pct(latencies, 95):.0f} ms, {len(latencies)} utterances "
            f"({len(latencies) / wall:.1f}/s), CPU {cpu / wall * 100:.0f}% = {cpu / max(1, len(latencies)) * 1000:.0f} "
            f"ms per utterance, mean batch {mean_batch}, results differing from unbatched {differ}, "
            f"load {os.getloadavg()[0]:.2f}")


def micro(recognizer: WhisperRecognizer, work: list[tuple[GrammarSpec, np.ndarray]], repeats: int = 3) -> None:
    """CPU per utterance of the encoder and of each decoding, alone and in batches of 2, 4 and 8."""
    import ctranslate2  # type: ignore[import-untyped]

    from voicebot.asr.whisper_model import faster_whisper as _module

    handle = recognizer.model
    model = handle.model.model
    if isinstance(model, BatchedWhisper):
        model = model._model  # the model itself, without the batcher
    windows = [np.ascontiguousarray(_module().audio.pad_or_trim(
        handle.model.feature_extractor(audio.astype(np.float32) / 32768.0), 1000), dtype=np.float32)
        for _grammar, audio in work]
    by_kind = {category: work[i * PER_CATEGORY][0] for i, category in enumerate(CATEGORIES)}
    for size in (1, 2, 4, 8):
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.stack(windows[:size])))
        model.encode(features, to_cpu=True)  # warm-up (the first call of a shape allocates)
        started = time.process_time()
        for _ in range(repeats):
            encoded = model.encode(features, to_cpu=True)
        figures = [f"encode {(time.process_time() - started) / repeats / size * 1000:.0f}"]
        encoded = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)))
        for kind, grammar in by_kind.items():
            bias = recognizer.bias_for(grammar)
            prompt = handle.prompt_ids(bias.prompt, bias.hotwords)
            suppress = list(bias.suppress) if bias.suppress is not None else [-1]
            started = time.process_time()
            for _ in range(repeats):
                model.generate(encoded, [prompt] * size, beam_size=5, num_hypotheses=5, max_length=len(prompt) + 40,
                               return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                               suppress_tokens=suppress)
            figures.append(f"5-best {kind} {(time.process_time() - started) / repeats / size * 1000:.0f}")
        free = handle.prompt_ids(None)
        started = time.process_time()
        for _ in range(repeats):
            model.generate(encoded, [free] * size, beam_size=1, max_length=len(free) + 40, suppress_blank=True,
                           suppress_tokens=[-1])
        figures.append(f"greedy check {(time.process_time() - started) / repeats / size * 1000:.0f}")
        print(f"batch {size}: CPU ms per utterance: " + ", ".join(figures), flush=True)


def alone(recognizers: dict[int, WhisperRecognizer], work: list[tuple[GrammarSpec, np.ndarray]]) -> None:
    """One caller: each utterance recognized by each recognizer in turn (paired), twice over the corpus."""
    latencies: dict[int, list[float]] = {batch: [] for batch in recognizers}
    for grammar, audio in work * 2:
        for batch, recognizer in recognizers.items():
            started = time.perf_counter()
            recognizer.transcribe(audio, grammar)
            latencies[batch].append((time.perf_counter() - started) * 1000)
    first = next(iter(recognizers))
    for batch, values in latencies.items():
        paired = [b - a for a, b in zip(latencies[first], values, strict=True)]
        print(f"alone, batch {batch}: p50 {pct(values, 50):.0f} p95 {pct(values, 95):.0f} ms ({len(values)} "
              f"utterances); paired difference to batch {first}: median {pct(paired, 50):+.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, nargs="+", default=[10, 20, 30])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 6.0],
                        help="seconds between a caller's result and its next utterance (0 0: saturate)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voicebot-bench-corpus"))
    parser.add_argument("--micro", action="store_true",
                        help="only CPU per utterance of the encoder and the decodings at batch sizes 1, 2, 4, 8")
    parser.add_argument("--alone", action="store_true", help="only one caller, each utterance by each batch size")
    args = parser.parse_args()
    work = load_work(args.cache)
    if args.micro:
        print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
        micro(WhisperRecognizer(num_workers=1), work)
        return
    recognizers = {b: WhisperRecognizer(num_workers=WHISPER_WORKERS, batch=b) for b in args.batch}
    if args.alone:
        print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
        alone(recognizers, work)
        return
    first = recognizers[args.batch[0]]
    reference = {i: first.transcribe(audio, grammar) for i, (grammar, audio) in enumerate(work)}
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {len(work)} utterances "
          f"({', '.join(CATEGORIES)}), {args.seconds:g} s per run", flush=True)
    for callers in args.callers:
        for batch, recognizer in recognizers.items():
            figures = run(recognizer, work, callers, args.seconds, reference, args.think)
            print(f"{callers:>3} callers, batch {batch}: {figures}", flush=True)


if __name__ == "__main__":
    main()
