"""Benchmark: Whisper's end of speech -> result for one caller alone, the decodings one after the other against
at the same time, and where the slow utterances spend their time.

Each corpus utterance is recognized exactly as its node of flows/banking.yaml would hear it
(``recognize_utterance``: 8 kHz phone audio, endpointed, the node's grammar; the time is that of
``finish()``, with no preview), by each decoding path in turn (paired, one process, one shared model with
the product's workers and batch size). Paths: ``serial`` (the decodings of an utterance one after the other,
the code before) and ``concurrent`` (a digit turn's two masked decodings at once, its greedy check as soon
as the first has an answer). Printed: p50 / p95 overall and per category, per "route" (the encodings and
decodings an utterance took: the 10 s window, the 30 s fallback, the garbage check), the CPU per utterance,
and every result that differs between the paths (there should be none).

    .venv/bin/python bench/asr_latency.py [--set corpus|batching] [--paths serial concurrent] [--repeat 1]

``--set batching`` is ``bench/asr_batching.py --alone``'s set (12 menu, yes/no and PIN utterances each,
espeak-ng and flite voices); ``corpus`` (default) all 443 utterances of the accuracy corpus.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.asr.base import GrammarSpec
from voicebot.asr.select import WHISPER_WORKERS, whisper_batch
from voicebot.asr.whisper_engine import WhisperRecognizer
from voicebot.audio.pcm import PHONE_RATE
from voicebot.config import load_config
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.speech import node_listen, phrases_by_intent, recognize_utterance
from voicebot.services.registry import default_registry
from voicebot.testing.accuracy import NODES
from voicebot.testing.corpus import Utterance, audio_for, build_corpus

ROOT = Path(__file__).resolve().parent.parent
PATHS = {"serial": False, "concurrent": True}


class Route:
    """Counts the encodings and decodings of the utterance being recognized (wraps the model's decoder)."""

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._lock = threading.Lock()
        self.steps: list[str] = []
        #: CPU ms of each call made synchronously (the serial path), in order: (step, window in s, ms).
        self.cpu: list[tuple[str, int, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)

    def encode(self, features: Any, **options: Any) -> Any:
        with self._lock:
            self.steps.append(f"encode {features.shape[-1] // 100} s")
        before = time.process_time()
        encoded = self._decoder.encode(features, **options)
        self.cpu.append(("encode", features.shape[-1] // 100, (time.process_time() - before) * 1000))
        return encoded

    def generate(self, encoded: Any, prompts: Any, **options: Any) -> Any:
        suppressed = options.get("suppress_tokens") or [-1]
        kind = "greedy check" if options.get("beam_size") == 1 else (
            "5-best" if suppressed == [-1] else "5-best masked")
        with self._lock:
            self.steps.append(f"{kind} {encoded.shape[1] // 50} s")
        before = time.process_time()
        found = self._decoder.generate(encoded, prompts, **options)
        if not options.get("asynchronous"):
            self.cpu.append((kind, encoded.shape[1] // 50, (time.process_time() - before) * 1000))
        return found

    def take(self) -> str:
        with self._lock:
            steps, self.steps = self.steps, []
        return ", ".join(f"{n} x {s}" if n > 1 else s for s, n in Counter(steps).items())

    def take_cpu(self) -> list[tuple[str, int, float]]:
        cpu, self.cpu = self.cpu, []
        return cpu


def critical_path(cpu: list[tuple[str, int, float]]) -> tuple[float, float]:
    """An utterance's encoder and decoder CPU one after the other (what the serial path takes alone), and along
    the concurrent path's critical path with two idle cores: per window, the encoding, then the masked and the
    words-only decodings side by side, the greedy check after the masked one."""
    serial = sum(ms for _step, _window, ms in cpu)
    concurrent = 0.0
    for window in dict.fromkeys(w for _s, w, _ms in cpu):
        steps = [(s, ms) for s, w, ms in cpu if w == window]
        encode = sum(ms for s, ms in steps if s == "encode")
        masked = [ms for s, ms in steps if s == "5-best masked"]
        check = sum(ms for s, ms in steps if s == "greedy check")
        other = sum(ms for s, ms in steps if s == "5-best")
        if len(masked) == 2:  # the first, then the words-only one
            concurrent += encode + other + max(masked[1], masked[0] + check)
        else:
            concurrent += encode + other + sum(masked) + check
    return serial, concurrent


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def chosen(corpus: list[Utterance], which: str) -> list[Utterance]:
    if which == "corpus":
        return corpus
    picked: list[Utterance] = []
    for category in ("intent", "yes_no", "pin4"):  # bench/asr_batching.py's load_work
        picked += [u for u in corpus if u.category == category and u.voice.family in ("espeak", "flite")][:12]
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("corpus", "batching"), default="corpus")
    parser.add_argument("--paths", nargs="+", choices=tuple(PATHS), default=list(PATHS))
    parser.add_argument("--batch", type=int, default=whisper_batch())
    parser.add_argument("--repeat", type=int, default=1, help="times over the set")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "corpus")
    args = parser.parse_args()
    flow = load_flow_with(ROOT / "flows" / "banking.yaml", load_config(), default_registry())
    phrases = phrases_by_intent(flow)
    utterances = chosen(build_corpus(), args.set)
    recognizers = {p: WhisperRecognizer(num_workers=WHISPER_WORKERS, batch=args.batch, concurrent=PATHS[p])
                   for p in args.paths}
    first = recognizers[args.paths[0]]
    route = Route(first.model.model.model)
    first.model.model.model = route  # the model is shared: every recognizer's decodings are counted
    grammars = {c: GrammarSpec.for_listen(node_listen(flow, node)[2], phrases) for c, (node, _slot) in NODES.items()}
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, {len(utterances)} utterances x {args.repeat}, "
          f"batch {args.batch}, {WHISPER_WORKERS} workers, paths {' '.join(args.paths)}", flush=True)
    latency: dict[str, list[float]] = defaultdict(list)
    by_category: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_route: dict[tuple[str, str], list[float]] = defaultdict(list)
    cpu: Counter[str] = Counter()
    alone: dict[str, list[float]] = defaultdict(list)  # the serial path's CPU: sum and concurrent critical path
    differ: list[str] = []
    started = time.strftime("%H:%M:%S", time.gmtime())
    for _ in range(args.repeat):
        for utterance in utterances:
            audio = audio_for(utterance, args.cache)
            texts = {}
            routes = {}
            for path, recognizer in recognizers.items():
                route.take()
                before = time.process_time()
                result, ms, _speech = recognize_utterance(recognizer, grammars[utterance.category], audio, PHONE_RATE)
                cpu[path] += time.process_time() - before
                routes[path] = route.take()
                steps_cpu = route.take_cpu()
                if path == "serial":
                    serial_ms, concurrent_ms = critical_path(steps_cpu)
                    alone["serial"].append(serial_ms)
                    alone["concurrent"].append(concurrent_ms)
                texts[path] = result
                latency[path].append(ms)
                by_category[(path, utterance.category)].append(ms)
                by_route[(path, routes[args.paths[0]])].append(ms)
            if len({repr(r) for r in texts.values()}) > 1:
                differ.append(f"{utterance.category} {utterance.text!r}: " + " / ".join(
                    f"{p} {r.text!r} {r.confidence}" for p, r in texts.items()))
    total = len(utterances) * args.repeat
    print(f"measured {started}-{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}")
    for path in args.paths:
        values = latency[path]
        print(f"\n{path}: end of speech -> result p50 {pct(values, 50):.0f} / p95 {pct(values, 95):.0f} ms "
              f"(p90 {pct(values, 90):.0f}, max {max(values):.0f}), CPU {cpu[path] / total * 1000:.0f} ms per "
              f"utterance (endpointing included)")
        for category in dict.fromkeys(u.category for u in utterances):
            values = by_category[(path, category)]
            print(f"  {category:<10} {len(values):>4}: p50 {pct(values, 50):>4.0f} / p95 {pct(values, 95):>4.0f} ms")
        for (owner, steps), values in sorted(by_route.items(), key=lambda kv: -len(kv[1])):
            if owner == path:
                print(f"  {len(values):>4} x [{steps}]: p50 {pct(values, 50):.0f} / p95 {pct(values, 95):.0f} ms")
    if alone["serial"]:
        print("\nencoder and decoder CPU of the serial path, one after the other / along the concurrent path's "
              "critical path on two idle cores (an estimate of each path alone, insensitive to other processes' load): "
              + ", ".join(f"{p} p50 {pct(v, 50):.0f} / p95 {pct(v, 95):.0f} ms" for p, v in alone.items()))
        for category in dict.fromkeys(u.category for u in utterances):
            rows = [i for i, u in enumerate(utterances * args.repeat) if u.category == category]
            print(f"  {category:<10}: " + ", ".join(
                f"{p} p50 {pct([v[i] for i in rows], 50):.0f} / p95 {pct([v[i] for i in rows], 95):.0f} ms"
                for p, v in alone.items()))
    if len(args.paths) > 1:
        a, b = args.paths[:2]
        paired = [y - x for x, y in zip(latency[a], latency[b], strict=True)]
        print(f"\npaired difference {b} - {a}: median {pct(paired, 50):+.1f} ms")
    print(f"results differing between the paths: {len(differ)}")
    for line in differ:
        print("  " + line)


if __name__ == "__main__":
    main()
